"""Install Swift, Keystone and memcached for :func:`swift_server`, once, into a per-user cache.

Layout under ``$FSSPEC_RESEARCH_CACHE`` (default ``~/.cache/fsspec-research``):

- ``swift-<version>/``: a venv with ``swift``; ``keystonemiddleware`` is added to the same venv the first
  time a Keystone server is requested (its own marker file), so tempauth-only users never pay for it.
- ``keystone-<version>/``: a venv with ``keystone``, and a template DB (``db_sync`` + ``bootstrap``) that
  every Keystone start copies.

A venv counts as installed only when its marker file exists; a venv without one (a broken earlier install)
is removed and built again. A file lock keeps concurrent processes from installing at the same time.
memcached comes from Debian (``apt-get``) when it is not on ``PATH``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

SWIFT_VERSION = "2.38.3"
KEYSTONE_VERSION = "30.0.0"
KEYSTONEMIDDLEWARE_VERSION = "13.0.1"


@dataclass(frozen=True)
class Installation:
    """Where the installed programs are."""

    swift_venv: str
    keystone_venv: str | None
    memcached: str

    @property
    def swift_python(self) -> str:
        return os.path.join(self.swift_venv, "bin", "python")

    def swift_bin(self, name: str) -> str:
        return os.path.join(self.swift_venv, "bin", name)

    def keystone_bin(self, name: str) -> str:
        assert self.keystone_venv is not None, "installed without keystone"
        return os.path.join(self.keystone_venv, "bin", name)


def cache_dir() -> str:
    """The cache folder: ``$FSSPEC_RESEARCH_CACHE`` or ``~/.cache/fsspec-research``."""
    return os.path.expanduser(os.environ.get("FSSPEC_RESEARCH_CACHE") or "~/.cache/fsspec-research")


def _tail(path: str, lines: int = 40) -> str:
    """The last lines of a log, without pip's harmless 'Location ... is ignored' warnings."""
    try:
        with open(path, errors="replace") as f:
            text = [ln for ln in f.read().splitlines() if not _is_noise(ln)]
    except FileNotFoundError:
        return ""
    return "\n".join(text[-lines:])


def _is_noise(line: str) -> bool:
    return line.startswith("WARNING: Location ") and " is ignored" in line


def _run(cmd: list[str], log: str, what: str, env: dict[str, str] | None = None) -> None:
    with open(log, "a") as out:
        out.write(f"$ {' '.join(cmd)}\n")
        out.flush()
        rc = subprocess.call(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    if rc != 0:
        raise RuntimeError(f"{what} failed (exit {rc}); log {log}:\n{_tail(log)}")


@contextlib.contextmanager
def _locked(root: str) -> Iterator[None]:
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, ".install.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _marker(venv: str, name: str = "installed") -> str:
    return os.path.join(venv, f".fsspec-research-{name}")


def _pip_install(venv: str, packages: list[str], log: str, marker: str) -> None:
    if os.path.exists(marker):
        return
    print(f"fsspec_research.testing.swift: installing {' '.join(packages)} into {venv}", file=sys.stderr)
    cmd = [os.path.join(venv, "bin", "python"), "-m", "pip", "install", "--disable-pip-version-check"]
    _run([*cmd, "--no-input", "-q", *packages], log, f"pip install {' '.join(packages)}")
    with open(marker, "w") as f:
        f.write(" ".join(packages) + "\n")


def _venv(path: str, packages: list[str], log: str) -> None:
    """Create the venv at ``path`` with ``packages`` unless its marker file says it is complete."""
    if os.path.exists(_marker(path)):
        return
    if os.path.lexists(path):
        if os.lstat(path).st_uid != os.getuid():
            raise RuntimeError(f"{path} is incomplete and owned by another user; remove it")
        shutil.rmtree(path)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(log)
    _run([sys.executable, "-m", "venv", path], log, f"creating venv {path}")
    _pip_install(path, packages, log, _marker(path))


def _memcached() -> str:
    found = shutil.which("memcached") or shutil.which("memcached", path="/usr/bin:/usr/sbin:/usr/local/bin")
    if found:
        return found
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    log = os.path.join(cache_dir(), "memcached-install.log")
    install = [*sudo, "apt-get", "install", "-y", "-q", "--no-install-recommends", "memcached"]
    print("fsspec_research.testing.swift: installing memcached with apt-get", file=sys.stderr)
    try:
        _run(install, log, "apt-get install memcached", env)
    except RuntimeError:  # stale or missing package lists
        _run([*sudo, "apt-get", "update", "-q"], log, "apt-get update", env)
        _run(install, log, "apt-get install memcached", env)
    found = shutil.which("memcached", path="/usr/bin:/usr/sbin:/usr/local/bin")
    if not found:
        raise RuntimeError(f"memcached not found after apt-get install; log {log}:\n{_tail(log)}")
    return found


def install(keystone: bool = False) -> Installation:
    """Install what :func:`swift_server` needs (idempotent, fast when already installed)."""
    root = cache_dir()
    swift_venv = os.path.join(root, f"swift-{SWIFT_VERSION}")
    keystone_venv = os.path.join(root, f"keystone-{KEYSTONE_VERSION}") if keystone else None
    with _locked(root):
        memcached = _memcached()
        _venv(swift_venv, [f"swift=={SWIFT_VERSION}"], swift_venv + ".log")
        if keystone_venv is not None:
            ksm = f"keystonemiddleware=={KEYSTONEMIDDLEWARE_VERSION}"
            _pip_install(swift_venv, [ksm], swift_venv + ".log", _marker(swift_venv, ksm))
            _venv(keystone_venv, [f"keystone=={KEYSTONE_VERSION}"], keystone_venv + ".log")
            from .keystone import template

            template(keystone_venv, timeout=600)  # seconds of keystone-manage, outside any start timeout
    return Installation(swift_venv, keystone_venv, memcached)
