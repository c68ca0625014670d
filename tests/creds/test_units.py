"""Pure parts of the credentials work: masking, the runner kwargs that carry secrets, sealing, KEK files."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import get_args

import msgspec
import pytest
from cryptography.exceptions import InvalidTag

from playledger_api.creds.bodies import NewCredential
from playledger_api.creds.validate import check_secret
from playledger_common.credentials import (
    AnySecret,
    AwsSecret,
    EnvSecret,
    GalaxyTokenSecret,
    GitSecret,
    HttpHeadersSecret,
    JobSecrets,
    PasswordSecret,
    SshKeySecret,
    VaultPasswordSecret,
    checkout_references,
    job_references,
    type_of,
)
from playledger_common.kekfile import KeyringError, parse_key_file, single_key
from playledger_common.sealing import Recipient, job_aad, seal
from playledger_executor.inventories import request_headers
from playledger_executor.redact import MASK, Redactor
from playledger_executor.requirements import GalaxyAuth, cache_key
from playledger_executor.runspec import BECOME_PROMPT, PASSPHRASE_PROMPT, runner_kwargs, vault_prompt
from playledger_executor.sources import Playbook
from playledger_executor.worker import Event, LooseEvent, Status, WorkerProcess
from playledger_schemas.commands import (
    CollectionRoleSource,
    DynamicInventory,
    GitPlaybookSource,
    InlineInventory,
    JobCredentials,
    JobSpec,
    LocalSource,
    StoredInventory,
    UrlInventory,
)

pytestmark = pytest.mark.unit

KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\nAAAAMwAAAAtzc2g\n-----END OPENSSH PRIVATE KEY-----\n"


def test_every_form_of_every_secret_is_masked_in_one_pass() -> None:
    redactor = Redactor(["hunter2!", 'quo"te\\d', KEY])
    line = json.dumps(
        {
            "stdout": f"pw hunter2! b64 {base64.b64encode(b'hunter2!').decode()} key {KEY}",
            "res": {"cmd": 'echo quo"te\\d', "lines": KEY.splitlines()},
        }
    ).encode()
    masked = redactor.line(line)
    data = json.loads(masked)  # still valid JSON
    text = json.dumps(data)
    for form in (
        "hunter2!",
        base64.b64encode(b"hunter2!").decode(),
        "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ",
        'quo\\"te',
    ):
        assert form not in text
    assert MASK in data["stdout"]
    assert data["res"]["lines"][1] == MASK
    assert Redactor(["ab\n-\nlonger line"]).text("- x -") == "- x -"  # lines too short to hide anything stay


def test_a_mask_that_would_break_the_json_falls_back_to_masking_the_strings() -> None:
    redactor = Redactor(['", "'])
    raw = json.dumps({"a": 'x", "y', "b": "z"}).encode()
    assert redactor.scrub(json.loads(raw)) == {"a": f"x{MASK}y", "b": "z"}


async def _worker_items(path: Path, lines: list[dict[str, object]], secrets: list[str]) -> list[object]:
    """What ``WorkerProcess.stream`` yields for these worker lines, read from a real pipe."""
    path.write_bytes(b"".join(json.dumps(line).encode() + b"\n" for line in [*lines, {"eof": True}]))
    worker = await WorkerProcess.start(["cat", str(path)], linger_s=0.1, redactor=Redactor(secrets))
    items = [item async for item in worker.stream()]
    await worker.wait()
    return items


async def test_the_worker_stream_masks_lines_decoded_once_and_lines_the_mask_breaks(tmp_path: Path) -> None:
    """Both decode paths of ``WorkerProcess.stream`` publish only masked text: the typed one
    (``Event``) and the general one a mask that breaks the JSON falls back to (``LooseEvent``)."""
    secret, breaking = "hunter2-hunter2", '", "'
    ok = {
        "event": "runner_on_ok",
        "counter": 1,
        "uuid": "u1",
        "stdout": f"ok {secret}",
        "pid": 3,
        "event_data": {"res": {"msg": secret}},
    }
    status, typed = await _worker_items(tmp_path / "a", [{"status": "starting"}, ok], [secret])
    assert isinstance(status, Status)
    assert isinstance(typed, Event)
    assert typed.data.stdout == f"ok {MASK}"
    assert typed.data.event_data == {"res": {"msg": MASK}}
    assert secret.encode() not in msgspec.json.encode(typed.data)
    odd = {"event": "runner_on_ok", "counter": 2, "uuid": "u2", "stdout": f"x{breaking}y", "pid": 3}
    (loose,) = await _worker_items(tmp_path / "b", [odd], [breaking])
    assert isinstance(loose, LooseEvent)
    assert loose.data["stdout"] == f"x{MASK}y"
    assert loose.data["uuid"] == "u2"  # keys and other values survive the fallback


def test_without_secrets_nothing_is_built_or_changed() -> None:
    redactor = Redactor([])
    assert not redactor.active
    assert redactor.line(b'{"x": 1}') == b'{"x": 1}'


def _spec() -> JobSpec:
    return JobSpec(source=LocalSource(path="site.yml"), inventory=InlineInventory(hosts=["h"]))


def test_secrets_reach_runner_as_ssh_key_and_prompt_answers_never_on_the_command_line() -> None:
    secrets = JobSecrets(
        ssh=SshKeySecret(private_key=KEY.rstrip("\n"), passphrase="pp", username="deploy"),
        become_password=PasswordSecret(password="bp", username="app"),
        vault_password=VaultPasswordSecret(password="vp", vault_id="prod"),
    )
    playbook = Playbook(playbook="site.yml", project_dir=Path("/p"))
    kwargs = runner_kwargs(_spec(), playbook, "inventory/hosts.json", "job-1", secrets)
    assert kwargs["ssh_key"] == KEY
    assert kwargs["passwords"] == {PASSPHRASE_PROMPT: "pp", BECOME_PROMPT: "bp", vault_prompt("prod"): "vp"}
    assert kwargs["cmdline"] == "--user deploy --ask-become-pass --become-user app --vault-id prod@prompt"
    assert "envvars" not in kwargs
    for value in ("pp", "bp", "vp"):
        assert value not in kwargs["cmdline"].split()
    plain = runner_kwargs(
        _spec(),
        playbook,
        "inventory/hosts.json",
        "job-1",
        JobSecrets(vault_password=VaultPasswordSecret(password="v")),
    )
    assert plain["cmdline"] == "--ask-vault-pass"
    assert plain["passwords"] == {vault_prompt(None): "v"}


def test_prompts_match_what_ssh_add_and_ansible_print() -> None:
    import re

    long_path = "/tmp/" + "x" * 200 + "/artifacts/job-1/ssh_key_data"
    assert re.search(PASSPHRASE_PROMPT, f"Enter passphrase for {long_path}: "[-100:], re.M)
    assert re.search(BECOME_PROMPT, "BECOME password: ", re.M)
    assert re.search(vault_prompt(None), "Vault password: ", re.M)
    assert re.search(vault_prompt("prod"), "Vault password (prod): ", re.M)


def test_a_sealed_payload_opens_only_with_its_key_and_its_job() -> None:
    recipient = Recipient()
    sealed = seal(b"secret", recipient.public_key, job_aad("j", 1))
    assert recipient.open(sealed, job_aad("j", 1)) == b"secret"
    with pytest.raises(InvalidTag):
        recipient.open(sealed, job_aad("j", 2))
    with pytest.raises(InvalidTag):
        Recipient().open(sealed, job_aad("j", 1))


def test_key_files_and_keys_are_checked_without_echoing_key_material() -> None:
    good = base64.b64encode(b"k" * 32).decode()
    ring = parse_key_file(f"# comment\nnew {good}\nold {base64.b64encode(b'o' * 32).decode()}\n", "f")
    assert ring.current == "new"
    assert set(ring.keys) == {"new", "old"}
    for text, message in (
        ("", "no key in it"),
        ("k1", "expected '<id> <base64 key>'"),
        (f"k1 {good}\nk1 {good}", "appears twice"),
        ("k1 c2hvcnQ=", "must be 32 bytes"),
        ("k1 !!!", "not base64"),
    ):
        with pytest.raises(KeyringError, match=message) as error:
            parse_key_file(text, "f")
        assert good not in str(error.value)
    assert single_key(good).current.startswith("env-")


def test_every_secret_type_has_a_create_body_that_adds_its_name() -> None:
    bodies = get_args(NewCredential)
    assert {type_of(cls.__base__) for cls in bodies} == {type_of(cls) for cls in get_args(AnySecret)}
    for cls in bodies:
        assert type_of(cls) == type_of(cls.__base__)
        assert {f.name for f in msgspec.structs.fields(cls)} - {
            f.name for f in msgspec.structs.fields(cls.__base__)
        } == {"name"}


def test_git_env_and_aws_secrets_are_checked_and_reach_runner_as_its_environment() -> None:
    assert check_secret(GitSecret(token="t", private_key=KEY))[0] == [
        ("token", "give a token (HTTPS) or a private_key (SSH), one of them")
    ]
    assert check_secret(GitSecret(token="t", known_hosts="h"))[0] == [
        ("known_hosts", "only for an SSH private_key")
    ]
    assert [
        f for f, _ in check_secret(EnvSecret(env={"ANSIBLE_CONFIG": "x", "Path": "y", "OK": "z"}))[0]
    ] == [
        "env.ANSIBLE_CONFIG",
        "env.Path",
    ]
    secrets = JobSecrets(
        cloud=AwsSecret(access_key_id="AKIA0123456789ABCD", secret_access_key="sk", region="eu-west-1"),
        env=EnvSecret(env={"APP_TOKEN": "at"}),
    )
    playbook = Playbook(
        playbook="site.yml", project_dir=Path("/p"), envvars={"ANSIBLE_COLLECTIONS_PATH": "/c"}
    )
    kwargs = runner_kwargs(_spec(), playbook, "inventory/hosts.json", "job-1", secrets)
    assert kwargs["envvars"] == {
        "ANSIBLE_COLLECTIONS_PATH": "/c",
        "AWS_ACCESS_KEY_ID": "AKIA0123456789ABCD",
        "AWS_SECRET_ACCESS_KEY": "sk",
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "APP_TOKEN": "at",
    }
    assert kwargs["suppress_env_files"] is True
    assert set(secrets.values()) == {"AKIA0123456789ABCD", "sk", "at"}


def test_a_checkout_gets_git_and_only_for_a_dynamic_inventory_its_environment() -> None:
    credentials = JobCredentials(git="repo", cloud="aws", env="app", become_password="become")
    inline = JobSpec(
        source=LocalSource(path="site.yml"), inventory=InlineInventory(hosts=["h"]), credentials=credentials
    )
    dynamic = msgspec.structs.replace(inline, inventory=DynamicInventory(plugin="ansible.builtin.generator"))
    assert checkout_references(inline) == {"git": ("repo", "git")}
    assert checkout_references(dynamic) == {
        "git": ("repo", "git"),
        "cloud": ("aws", "aws"),
        "env": ("app", "env"),
    }
    assert checkout_references(msgspec.structs.replace(inline, credentials=JobCredentials())) == {}


def test_galaxy_and_inventory_credentials_reach_a_checkout_only_where_preparing_uses_them() -> None:
    credentials = JobCredentials(git="repo", galaxy="hub", become_password="become")
    url = UrlInventory(url="https://cmdb/inv", credential="cmdb")
    local = JobSpec(source=LocalSource(path="site.yml"), inventory=url, credentials=credentials)
    assert checkout_references(local) == {"git": ("repo", "git"), "inventory": ("cmdb", "http_headers")}
    for source in (
        GitPlaybookSource(repo="https://x/r.git", path="site.yml"),
        CollectionRoleSource(collection="acme.tools", role="hello"),
    ):
        spec = msgspec.structs.replace(local, source=source)
        assert checkout_references(spec)["galaxy"] == ("hub", "galaxy_token")
    assert job_references(local)["become_password"] == ("become", "password")
    # a stored inventory's credential counts once job.queued resolved it, and its type decides
    unresolved = msgspec.structs.replace(local, inventory=StoredInventory(name="cmdb"))
    assert "inventory" not in job_references(unresolved)
    resolved = msgspec.structs.replace(
        unresolved, inventory=StoredInventory(name="cmdb", version=3, resolved=url)
    )
    assert job_references(resolved)["inventory"] == ("cmdb", "http_headers")
    dynamic = StoredInventory(
        name="d", version=1, resolved=DynamicInventory(plugin="ansible.builtin.generator")
    )
    cloudy = JobSpec(source=LocalSource(path="a.yml"), inventory=dynamic, credentials=JobCredentials(env="e"))
    assert checkout_references(cloudy) == {"env": ("e", "env")}


def test_a_galaxy_token_is_ansible_galaxys_server_environment_and_its_installs_are_cached_apart() -> None:
    secret = GalaxyTokenSecret(url="https://hub/api/", token="tok-1", auth_url="https://sso/token")
    assert secret.environment() == {
        "ANSIBLE_GALAXY_SERVER_LIST": "playledger",
        "ANSIBLE_GALAXY_SERVER_PLAYLEDGER_URL": "https://hub/api/",
        "ANSIBLE_GALAXY_SERVER_PLAYLEDGER_TOKEN": "tok-1",
        "ANSIBLE_GALAXY_SERVER_PLAYLEDGER_AUTH_URL": "https://sso/token",
    }
    assert secret.values() == ["tok-1"]
    body = b"collections: [acme.tools]\n"
    keys = {
        cache_key(body, None),
        cache_key(body, GalaxyAuth("hub", {})),
        cache_key(body, GalaxyAuth("b", {})),
    }
    assert len(keys) == 3
    assert "tok" not in repr(GalaxyAuth("hub", secret.environment()))


def test_stored_headers_override_the_commands_and_mask_their_tokens() -> None:
    secret = HttpHeadersSecret(headers={"Authorization": "Bearer abc123", "X-Api-Key": "k-9"})
    assert secret.values() == ["Bearer abc123", "abc123", "k-9"]
    given = {"authorization": "none", "X-Team": "ops"}
    assert request_headers(given, secret.headers) == {
        "X-Team": "ops",
        "Authorization": "Bearer abc123",
        "X-Api-Key": "k-9",
    }
    assert request_headers(given, None) == given
