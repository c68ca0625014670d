"""A repository's requirements (a collection from a tarball in the repo) and every inventory
type, end to end with a real executor; each job's ``job.started`` names the hosts it used."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from nats.js import JetStreamContext

from playledger_common.settings import ExecutorSettings
from playledger_schemas.commands import (
    DynamicInventory,
    GitInventory,
    GitPlaybookSource,
    JobOptions,
    JobSpec,
    UrlInventory,
)
from playledger_schemas.events import JobError, JobSucceeded
from tests.executor.support import running_executor
from tests.sources.gitrepos import GitRepo
from tests.sources.support import inventory_server, run, started, stdout

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
LOCAL_VARS = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
PLAY = """- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.debug:
        msg: "{{ inventory_hostname }} colour={{ colour | default('none') }} tier={{ tier | default('none') }}"
"""


def collection_tarball(tmp_path: Path) -> bytes:
    """``acme.tools`` with a role ``hello``, built with ``ansible-galaxy collection build``."""
    src = tmp_path / "collection-src"
    subprocess.run(
        [BIN / "ansible-galaxy", "collection", "init", "acme.tools", "--init-path", src],
        check=True,
        capture_output=True,
    )
    tasks = src / "acme/tools/roles/hello/tasks"
    tasks.mkdir(parents=True)
    (tasks / "main.yml").write_text("- ansible.builtin.debug:\n    msg: hello from the collection\n")
    out = tmp_path / "collection-out"
    subprocess.run(
        [BIN / "ansible-galaxy", "collection", "build", src / "acme/tools", "--output-path", out],
        check=True,
        capture_output=True,
    )
    return (out / "acme-tools-1.0.0.tar.gz").read_bytes()


def spec(source: Any, inventory: Any) -> JobSpec:
    return JobSpec(source=source, inventory=inventory, options=JobOptions())


async def test_requirements_install_a_collection_from_a_tarball_cached_by_the_files_hash(
    js: JetStreamContext, settings: ExecutorSettings, repos: Path, tmp_path: Path
) -> None:
    requirements = "collections:\n  - name: vendor/acme-tools-1.0.0.tar.gz\n    type: file\n"
    play = "- hosts: all\n  gather_facts: false\n  roles:\n    - acme.tools.hello\n"
    inventory_file = json.dumps({"all": {"hosts": {"localhost": LOCAL_VARS}}})
    repo = GitRepo(repos / "req.git")
    repo.commit(
        {
            "requirements.yml": requirements,
            "vendor/acme-tools-1.0.0.tar.gz": collection_tarball(tmp_path),
            "site.yml": play,
            "hosts.json": inventory_file,
        }
    )
    inventory = GitInventory(repo=repo.url, path="hosts.json")
    source = GitPlaybookSource(repo=repo.url, path="site.yml")
    async with running_executor(settings):
        terminal, events = await run(js, "req1", spec(source, inventory))
        assert isinstance(terminal, JobSucceeded), terminal
        assert "hello from the collection" in stdout(events)
        # The same requirements.yml, the tarball gone: the install cached by the file's hash is used.
        repo.commit({"requirements.yml": requirements, "site.yml": play, "hosts.json": inventory_file})
        terminal, _ = await run(js, "req2", spec(source, inventory))
        assert isinstance(terminal, JobSucceeded), terminal
        # A requirements file that cannot be installed is a precise, terminal error.
        broken = "collections:\n  - name: vendor/missing-1.0.0.tar.gz\n    type: file\n"
        repo.commit({"requirements.yml": broken, "site.yml": play, "hosts.json": inventory_file})
        terminal, _ = await run(js, "req3", spec(source, inventory))
    assert isinstance(terminal, JobError)
    assert terminal.data.reason is not None
    assert terminal.data.reason.startswith("installing requirements.yml with ansible-galaxy failed: "), (
        terminal
    )
    assert len(list((settings.source_cache_dir or Path()).glob("galaxy/*"))) == 1


async def test_git_inventory_directory_with_group_and_host_vars_and_a_constructed_plugin(
    js: JetStreamContext, settings: ExecutorSettings, repos: Path
) -> None:
    repo = GitRepo(repos / "inv.git")
    sha = repo.commit(
        {
            "site.yml": PLAY,
            "prod/hosts.yml": json.dumps({"all": {"children": {"web": {"hosts": {"web1": {}, "web2": {}}}}}}),
            "prod/group_vars/all.yml": json.dumps(LOCAL_VARS),
            "prod/group_vars/web.yml": "colour: blue\n",
            "prod/host_vars/web2.yml": "colour: green\n",
            "prod/zz_constructed.yml": (
                "plugin: ansible.builtin.constructed\nstrict: true\nuse_vars_plugins: true\n"
                "compose:\n  tier: \"'front' if colour == 'blue' else 'back'\"\n"
            ),
        }
    )
    async with running_executor(settings):
        terminal, events = await run(
            js,
            "git-inv",
            spec(GitPlaybookSource(repo=repo.url, path="site.yml"), GitInventory(repo=repo.url, path="prod")),
        )
    assert isinstance(terminal, JobSucceeded), terminal
    data = started(events).data
    assert data.hosts == ["web1", "web2"]
    assert data.inventory_commit == sha
    out = stdout(events)
    assert "web1 colour=blue tier=front" in out
    assert "web2 colour=green tier=back" in out


@pytest.fixture(name="inventory_server")
def fx_inventory_server() -> Iterator[tuple[str, dict[str, Any]]]:
    with inventory_server() as served:
        yield served


async def test_url_inventories_in_every_format_and_their_failures(
    js: JetStreamContext,
    settings: ExecutorSettings,
    repos: Path,
    inventory_server: tuple[str, dict[str, Any]],
) -> None:
    base, state = inventory_server
    local = " ".join(f"{k}={v}" for k, v in LOCAL_VARS.items())
    state["bodies"] = {
        "/inv.json": json.dumps({"all": {"hosts": {"j1": LOCAL_VARS}}}).encode(),
        "/inv.yml": f"all:\n  hosts:\n    y1: {json.dumps(LOCAL_VARS)}\n    y2: {json.dumps(LOCAL_VARS)}\n".encode(),
        "/inv.ini": f"[web]\ni1 {local}\n".encode(),
        "/broken.ini": b"[web\nthis is not an inventory\n",
    }
    repo = GitRepo(repos / "u.git")
    repo.commit({"site.yml": PLAY})
    source = GitPlaybookSource(repo=repo.url, path="site.yml")
    cases = {
        "json": (UrlInventory(url=f"{base}/inv.json", format="json", headers={"X-Team": "ops"}), ["j1"]),
        "yaml": (UrlInventory(url=f"{base}/inv.yml", format="yaml"), ["y1", "y2"]),
        "ini": (UrlInventory(url=f"{base}/inv.ini", format="ini"), ["i1"]),
    }
    async with running_executor(settings):
        for job_id, (inventory, hosts) in cases.items():
            terminal, events = await run(js, f"url-{job_id}", spec(source, inventory))
            assert isinstance(terminal, JobSucceeded), (job_id, terminal)
            assert started(events).data.hosts == hosts
            assert started(events).data.inventory_sha256 is not None
        missing, _ = await run(js, "url-404", spec(source, UrlInventory(url=f"{base}/nope.yml")))
        broken, _ = await run(
            js, "url-bad", spec(source, UrlInventory(url=f"{base}/broken.ini", format="ini"))
        )
        small = settings.__class__(
            **{**{f: getattr(settings, f) for f in settings.__struct_fields__}, "inventory_max_bytes": 1024}
        )
    state["bodies"]["/big.json"] = b" " * 4096
    async with running_executor(small):
        big, _ = await run(js, "url-big", spec(source, UrlInventory(url=f"{base}/big.json", format="json")))
    assert any(h.get("X-Team") == "ops" for h in state["headers"])
    assert isinstance(missing, JobError)
    assert missing.data.reason == f"inventory URL {base}/nope.yml answered HTTP 404"
    assert isinstance(broken, JobError)
    assert (broken.data.reason or "").startswith("ansible could not read the inventory: ")
    assert isinstance(big, JobError)
    assert big.data.reason == f"inventory at {base}/big.json is larger than the limit of 1024 bytes"


async def test_dynamic_inventory_from_the_generator_plugin(
    js: JetStreamContext, settings: ExecutorSettings, repos: Path
) -> None:
    repo = GitRepo(repos / "d.git")
    repo.commit({"site.yml": PLAY})
    inventory = DynamicInventory(
        plugin="ansible.builtin.generator",
        config={
            "hosts": {"name": "{{ app }}-{{ env }}", "vars": LOCAL_VARS},
            "layers": {"app": ["api", "web"], "env": ["prod"]},
        },
    )
    async with running_executor(settings):
        terminal, events = await run(
            js, "dyn", spec(GitPlaybookSource(repo=repo.url, path="site.yml"), inventory)
        )
        bad, _ = await run(
            js,
            "dyn-bad",
            spec(
                GitPlaybookSource(repo=repo.url, path="site.yml"),
                DynamicInventory(plugin="ansible.builtin.generator", config={"plugin": "x"}),
            ),
        )
    assert isinstance(terminal, JobSucceeded), terminal
    assert started(events).data.hosts == ["api-prod", "web-prod"]
    assert "api-prod colour=none" in stdout(events)
    assert isinstance(bad, JobError)
    assert (
        bad.data.reason
        == "$.spec.inventory.config: must not contain 'plugin' (it is the inventory's own field)"
    )
