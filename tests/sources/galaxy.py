"""A Galaxy server of the smallest real shape ``ansible-galaxy collection install`` reads (API v3):
collections built with ``ansible-galaxy collection build``, served over HTTP on a free port; with a
``token``, every request without ``Authorization: Token <token>`` gets 401 (as galaxy_ng answers)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from tests.httpserve import serving


@contextmanager
def galaxy_server(
    tarballs: dict[tuple[str, str, str], bytes], token: str | None = None
) -> Iterator[tuple[str, list[str]]]:
    """``{(namespace, name, version): tarball}`` served as Galaxy v3; the URL and every request path
    (a refused one prefixed ``401 ``)."""
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            pass

        def do_GET(self) -> None:
            if token is not None and self.headers.get("Authorization") != f"Token {token}":
                requests.append(f"401 {self.path}")
                return self._json({"errors": [{"status": "401", "detail": "Authentication required."}]}, 401)
            requests.append(self.path)
            base = f"http://127.0.0.1:{self.server.server_address[1]}"
            path = self.path.split("?", 1)[0]
            parts = [p for p in path.split("/") if p]
            if parts == ["api"]:
                return self._json({"available_versions": {"v3": "v3/"}})
            if parts[:3] == ["api", "v3", "collections"] and len(parts) >= 5:
                ns, name = parts[3], parts[4]
                versions = sorted(v for (n, c, v) in tarballs if (n, c) == (ns, name))
                if not versions:
                    return self._json({"errors": [{"detail": "Not found."}]}, 404)
                if len(parts) == 5:
                    latest = versions[-1]
                    return self._json({"namespace": ns, "name": name, "highest_version": {"version": latest}})
                if parts[5:] == ["versions"]:
                    data = [{"version": v, "href": f"{path}{v}/"} for v in versions]
                    return self._json({"meta": {"count": len(data)}, "links": {"next": None}, "data": data})
                if len(parts) == 7 and parts[5] == "versions" and parts[6] in versions:
                    body = tarballs[(ns, name, parts[6])]
                    filename = f"{ns}-{name}-{parts[6]}.tar.gz"
                    return self._json(
                        {
                            "namespace": {"name": ns},
                            "collection": {"name": name},
                            "version": parts[6],
                            "href": path,
                            "download_url": f"{base}/download/{filename}",
                            "artifact": {"filename": filename, "sha256": hashlib.sha256(body).hexdigest()},
                            "metadata": {"dependencies": {}},
                            "signatures": [],
                        }
                    )
            if parts[:1] == ["download"] and len(parts) == 2:
                for (ns, name, version), body in tarballs.items():
                    if parts[1] == f"{ns}-{name}-{version}.tar.gz":
                        self.send_response(200)
                        self.send_header("Content-Length", str(len(body)))
                        self.end_headers()
                        self.wfile.write(body)
                        return None
            return self._json({"errors": [{"detail": "Not found."}]}, 404)

        def _json(self, value: object, status: int = 200) -> None:
            body = json.dumps(value).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with serving(Handler) as url:
        yield f"{url}/", requests


def build_collection(work: Path, namespace: str, name: str, version: str, role: str, message: str) -> bytes:
    """A collection with one role printing ``message``, built by ``ansible-galaxy collection build``."""
    import subprocess
    import sys

    galaxy = Path(sys.executable).parent / "ansible-galaxy"
    src = work / f"src-{namespace}-{name}-{version}"
    subprocess.run(
        [galaxy, "collection", "init", f"{namespace}.{name}", "--init-path", src],
        check=True,
        capture_output=True,
    )
    root = src / namespace / name
    meta = root / "galaxy.yml"
    meta.write_text(meta.read_text().replace("version: 1.0.0", f"version: {version}"))
    tasks = root / "roles" / role / "tasks"
    tasks.mkdir(parents=True)
    (tasks / "main.yml").write_text(
        f"- ansible.builtin.debug:\n    msg: \"{message} {{{{ greeting | default('') }}}}\"\n"
    )
    out = work / f"out-{namespace}-{name}-{version}"
    subprocess.run(
        [galaxy, "collection", "build", root, "--output-path", out], check=True, capture_output=True
    )
    return (out / f"{namespace}-{name}-{version}.tar.gz").read_bytes()
