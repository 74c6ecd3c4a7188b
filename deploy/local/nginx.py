"""nginx in front of local replicas, from deploy/nginx/pricing.conf, run in the foreground."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[1] / "nginx" / "pricing.conf"


class NginxUnavailableError(RuntimeError):
    """nginx is not installed here."""


def nginx_bin() -> Path:
    """The nginx binary (on PATH, else Debian's /usr/sbin/nginx)."""
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if found is None:
        raise NginxUnavailableError("nginx not installed: apt-get install nginx")
    return Path(found)


def render(directory: Path, listen: str, upstreams: list[str]) -> str:
    """The configuration for `upstreams` (host:port) behind `listen`, files under `directory`."""
    servers = "\n".join(f"        server {u} max_fails=1 fail_timeout=2s;" for u in upstreams)
    user = "user root;" if os.geteuid() == 0 else ""
    text = TEMPLATE.read_text(encoding="utf-8")
    for key, value in (
        ("{dir}", str(directory)),
        ("{listen}", listen),
        ("{servers}", servers),
        ("{user}", user),
    ):
        text = text.replace(key, value)
    return text


def start(directory: Path, listen: str, upstreams: list[str]) -> subprocess.Popen[bytes]:
    """Write the configuration, check it with `nginx -t`, start nginx; return its process."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "tmp").mkdir(exist_ok=True)
    conf = directory / "nginx.conf"
    conf.write_text(render(directory, listen, upstreams), encoding="utf-8")
    binary = str(nginx_bin())
    checked = subprocess.run(
        [binary, "-t", "-q", "-c", str(conf), "-p", str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    if checked.returncode != 0:
        raise RuntimeError(f"nginx -t refused {conf}: {checked.stderr}")
    log = (directory / "nginx.out").open("ab")
    proc = subprocess.Popen(
        [binary, "-c", str(conf), "-p", str(directory)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    time.sleep(0.2)
    if proc.poll() is not None:
        raise RuntimeError(f"nginx exited: {(directory / 'error.log').read_text()[-2000:]}")
    return proc
