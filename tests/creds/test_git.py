"""Jobs whose playbook lives in a private git repository, fetched with a stored ``git`` credential:
an HTTPS token (dulwich's smart-HTTP server, basic auth) and an SSH deploy key (Debian's sshd
running ``git-upload-pack``). The secret reaches no argv, no event, no log; a wrong one fails the
job naming the repository, not the secret; a job without it cannot use the credentialed mirror."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from playledger_executor.redact import MASK
from tests.creds.conftest import LOGIN_USER, SshTarget, keypair
from tests.creds.support import add, credentials_stack, nowhere, run, stdout_of
from tests.sources.gitrepos import GitHttpServer, GitRepo
from tests.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PLAY = """
- name: from a private repository
  hosts: all
  gather_facts: false
  tasks:
    - name: say where
      ansible.builtin.debug:
        msg: private playbook ran
"""
TOKEN = "ghp_private-token-0123456789abcdef"


@pytest.fixture(name="stack")
def fx_stack(nats_url: str, database_url: str, tmp_path: Path) -> Iterator[Stack]:
    settings = {"PLAYLEDGER_SOURCE_ALLOW_HTTP": "true"}
    with credentials_stack(nats_url, database_url, tmp_path, settings) as stack:
        yield stack


def _job(repo: str, credentials: dict[str, str]) -> dict[str, Any]:
    return {
        "source": {"type": "playbook", "repo": repo, "path": "site.yml"},
        "inventory": {
            "type": "inline",
            "hosts": ["localhost"],
            "host_vars": {"localhost": {"ansible_connection": "local"}},
        },
        "credentials": credentials,
    }


def test_a_private_https_repository_is_fetched_with_a_stored_token(stack: Stack, tmp_path: Path) -> None:
    repos = tmp_path / "repos"
    GitRepo(repos / "ops.git").commit({"site.yml": PLAY})
    with GitHttpServer(repos) as server, httpx.Client(base_url=stack.url, headers=stack.headers) as client:
        server.token = TOKEN
        add(client, "deploy-token", "git", token=TOKEN)
        add(client, "wrong-token", "git", token="ghp_not-the-token-42")
        url = server.url("ops.git")

        ok = run(client, _job(url, {"git": "deploy-token"}))
        assert ok["status"] == "successful", ok
        assert "private playbook ran" in stdout_of(client, ok["id"])

        bare = run(client, _job(url, {}))  # the credentialed mirror is not this job's
        assert bare["status"] == "error"
        assert "authentication failed" in bare["failure_reason"], bare
        wrong = run(client, _job(url, {"git": "wrong-token"}))
        assert wrong["status"] == "error"
        assert "its git credential was refused" in wrong["failure_reason"], wrong
        nowhere(stack, client, [ok["id"], bare["id"], wrong["id"]], TOKEN, "ghp_not-the-token-42")


def test_a_private_repository_over_ssh_is_fetched_with_a_deploy_key(
    stack: Stack, ssh_target: SshTarget, tmp_path: Path
) -> None:
    assert shutil.which("git-upload-pack") or Path("/usr/lib/git-core/git-upload-pack").exists()
    home = Path(f"/home/{LOGIN_USER}")
    GitRepo(home / "repos" / "ops.git").commit({"site.yml": PLAY})
    subprocess.run(["chown", "-R", f"{LOGIN_USER}:", str(home / "repos")], check=True)
    key, public = keypair(tmp_path, "deploy", passphrase="deploy passphrase 1")
    ssh_target.authorize(public)
    known = subprocess.run(
        ["ssh-keyscan", "-p", str(ssh_target.port), "127.0.0.1"], capture_output=True, text=True, check=True
    ).stdout
    url = f"ssh://{LOGIN_USER}@127.0.0.1:{ssh_target.port}{home}/repos/ops.git"
    with httpx.Client(base_url=stack.url, headers=stack.headers) as client:
        add(client, "deploy-key", "git", private_key=key, passphrase="deploy passphrase 1", known_hosts=known)
        ok = run(client, _job(url, {"git": "deploy-key"}))
        assert ok["status"] == "successful", ok
        assert "private playbook ran" in stdout_of(client, ok["id"])
        nowhere(stack, client, [ok["id"]], key.splitlines()[1], "deploy passphrase 1")
    leftovers = [p for p in (stack.work / "executor-work").rglob("*") if p.name.startswith("git_")]
    assert leftovers == []


ENV_PLAY = """
- name: secret environment
  hosts: all
  gather_facts: false
  tasks:
    - name: the env and aws credentials are ansible's environment
      ansible.builtin.assert:
        that:
          - lookup('env', 'APP_TOKEN') | hash('sha256') == '{app}'
          - lookup('env', 'AWS_SECRET_ACCESS_KEY') | hash('sha256') == '{aws}'
          - lookup('env', 'AWS_REGION') == 'eu-west-1'
    - name: echo them (masked)
      ansible.builtin.debug:
        msg: "{{{{ lookup('env', 'APP_TOKEN') }}}} {{{{ lookup('env', 'AWS_SECRET_ACCESS_KEY') }}}}"
"""


def test_env_and_aws_credentials_are_the_environment_of_ansible_and_masked(
    nats_url: str, database_url: str, tmp_path: Path
) -> None:
    app, aws = "app-token-9f8e7d6c5b4a", "aws/secret+key-0123456789ABCDEFGH"
    play = ENV_PLAY.format(
        app=hashlib.sha256(app.encode()).hexdigest(), aws=hashlib.sha256(aws.encode()).hexdigest()
    )
    with (
        credentials_stack(nats_url, database_url, tmp_path, None, **{"env.yml": play}) as stack,
        httpx.Client(base_url=stack.url, headers=stack.headers) as client,
    ):
        add(client, "app-env", "env", env={"APP_TOKEN": app})
        add(
            client,
            "aws-key",
            "aws",
            access_key_id="AKIAEXAMPLE0123456",
            secret_access_key=aws,
            region="eu-west-1",
        )
        refused = client.post(
            "/api/v1/credentials", json={"name": "bad", "type": "env", "env": {"LD_PRELOAD": "x"}}
        )
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["path"] == "$.env.LD_PRELOAD", refused.text
        body = {
            "source": {"type": "local", "path": "env.yml"},
            "inventory": {
                "type": "inline",
                "hosts": ["localhost"],
                "host_vars": {"localhost": {"ansible_connection": "local"}},
            },
            "credentials": {"env": "app-env", "cloud": "aws-key"},
        }
        ok = run(client, body)
        assert ok["status"] == "successful", stdout_of(client, ok["id"])
        assert f"{MASK} {MASK}" in stdout_of(client, ok["id"])

        # A dynamic inventory's plugin reads the same environment when the hosts are listed,
        # before job.started records them (here the host's name says whether it saw the token).
        seen = "{{ 'env-seen' if lookup('env', 'APP_TOKEN') | hash('sha256') == '%s' else 'env-missing' }}"
        listed = run(
            client,
            {
                **body,
                "inventory": {
                    "type": "dynamic",
                    "plugin": "ansible.builtin.generator",
                    "config": {
                        "hosts": {
                            "name": seen % hashlib.sha256(app.encode()).hexdigest() + "-{{ app }}",
                            "vars": {"ansible_connection": "local"},
                        },
                        "layers": {"app": ["api"]},
                    },
                },
            },
        )
        assert listed["status"] == "successful", stdout_of(client, listed["id"])
        assert "ok: [env-seen-api]" in stdout_of(client, listed["id"])
        nowhere(stack, client, [ok["id"], listed["id"]], app, aws, "AKIAEXAMPLE0123456")
