"""Start a one-node Swift (and optionally Keystone) in a directory, wait until it serves, stop it again."""

from __future__ import annotations

import contextlib
import getpass
import glob
import json
import os
import select
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable
from typing import Any

from . import keystone as ks
from .config import TEMPAUTH_USERS, Ports, free_ports, write_swift
from .handle import SwiftServerHandle
from .install import Installation, install
from .process import Proc, pids_file, read_pids, spawn
from .process import stop as stop_processes
from .scripts import script

TIMEOUT_ENV = "FSSPEC_RESEARCH_SWIFT_TIMEOUT"


def default_timeout() -> float:
    """Start timeout in seconds: ``$FSSPEC_RESEARCH_SWIFT_TIMEOUT`` or 60."""
    return float(os.environ.get(TIMEOUT_ENV) or 60)


def log_tails(directory: str, lines: int = 25) -> str:
    """The last lines of every log in ``DIR/log``, for error messages."""
    out = []
    for path in sorted(glob.glob(os.path.join(directory, "log", "*.log"))):
        with open(path, errors="replace") as f:
            tail = f.read().splitlines()[-lines:]
        if tail:
            out.append(f"--- {path}\n" + "\n".join(tail))
    return "\n".join(out)


DIR_ENV = "FSSPEC_RESEARCH_SWIFT_DIR"


def _env(directory: str) -> dict[str, str]:
    """The environment of started processes: ours, without Python path overrides, plus DIR as a marker."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    return {**env, DIR_ENV: directory}


class _Start:
    """One start: the steps, the processes started so far, the deadline."""

    def __init__(
        self, directory: str, inst: Installation, keystone: bool, tls: bool, deadline: float
    ) -> None:
        self.dir, self.inst, self.keystone, self.tls, self.deadline = directory, inst, keystone, tls, deadline
        self.scheme = "https" if tls else "http"
        self.ca_file = os.path.join(directory, "tls", "ca.pem") if tls else None
        self.procs: list[Proc] = []
        self.lock = threading.Lock()  # the keystone thread spawns too
        self.cancelled = False
        self.ssl: ssl.SSLContext | None = None

    def spawn(self, name: str, cmd: list[str], stdout: int | None = None) -> subprocess.Popen[bytes]:
        with self.lock:
            if self.cancelled:
                raise RuntimeError("start cancelled")
            proc, popen = spawn(self.dir, name, cmd, _env(self.dir), stdout)
            self.procs.append(proc)
        return popen

    def cancel(self) -> None:
        """Refuse further spawns, so that stopping what was recorded stops everything."""
        with self.lock:
            self.cancelled = True

    def remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"start timed out (${TIMEOUT_ENV} to change)")
        return left

    def run_tool(self, what: str, cmd: list[str]) -> None:
        log = os.path.join(self.dir, "log", "setup.log")
        with open(log, "ab") as out:
            rc = subprocess.run(
                cmd, stdout=out, stderr=subprocess.STDOUT, env=_env(self.dir), timeout=self.remaining()
            )
        if rc.returncode != 0:
            raise RuntimeError(f"{what} failed (exit {rc.returncode})")

    def wait(self, what: str, probe: Callable[[], bool]) -> None:
        """Poll ``probe`` until true; fail at once if a started process died, or at the deadline."""
        while True:
            with contextlib.suppress(OSError):
                if probe():
                    return
            with self.lock:
                dead = [p.name for p in self.procs if not p.alive()]
            if dead:
                raise RuntimeError(f"{', '.join(dead)} exited while waiting for {what}")
            if time.monotonic() > self.deadline:
                raise TimeoutError(f"timed out waiting for {what} (${TIMEOUT_ENV} to change)")
            time.sleep(0.05)

    def http(self, url: str, method: str = "GET", headers: dict[str, str] | None = None) -> tuple[int, Any]:
        req = urllib.request.Request(url, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=5, context=self.ssl) as resp:
                resp.read()
                return resp.status, resp.headers
        except urllib.error.HTTPError as e:
            return e.code, e.headers

    def syslog_sink(self) -> int:
        popen = self.spawn(
            "syslog-sink", [self.inst.swift_python, script("syslog_sink"), self.log_file], subprocess.PIPE
        )
        assert popen.stdout is not None
        with popen.stdout:
            if not select.select([popen.stdout], [], [], min(10.0, self.remaining()))[0]:
                raise RuntimeError("the syslog sink did not report its port")
            return int(popen.stdout.readline())

    @property
    def log_file(self) -> str:
        return os.path.join(self.dir, "log", "swift.log")

    def run(self) -> SwiftServerHandle:
        etc = os.path.join(self.dir, "etc")
        syslog_port = self.syslog_sink()
        ports = Ports(*free_ports(7 if self.keystone else 5))
        if self.tls and not os.path.exists(os.path.join(self.dir, "tls", "ca.pem")):
            self.run_tool(
                "certificates", [self.inst.swift_python, script("certs"), os.path.join(self.dir, "tls")]
            )
        if self.ca_file:
            self.ssl = ssl.create_default_context(cafile=self.ca_file)
        boot = _Thread(lambda: self.keystone_boot(ports)) if self.keystone else None  # the slowest: first
        write_swift(self.dir, ports, syslog_port, self.tls)
        rings = [self.inst.swift_python, script("rings"), etc, str(ports.account), str(ports.container)]
        self.run_tool("ring building", [*rings, str(ports.object)])
        memcached = f"-l 127.0.0.1 -p {ports.memcached} -U 0 -m 64".split()
        as_root = ["-u", getpass.getuser()] if os.geteuid() == 0 else []  # memcached refuses root otherwise
        self.spawn("memcached", [self.inst.memcached, *memcached, *as_root])
        servers = ["account-server", "container-server", "object-server", "proxy-server"]
        for name in servers + (["proxy-server-keystone"] if self.keystone else []):
            program = self.inst.swift_bin("swift-" + name.removesuffix("-keystone"))
            self.spawn(name, [program, f"{etc}/{name}.conf"])
        updater = [self.inst.swift_python, script("updater"), etc, f"{etc}/container-server.conf"]
        self.spawn("container-updater", updater)
        for name, port in zip(servers, (ports.account, ports.container, ports.object)):
            self.wait(name, lambda p=port: self.http(f"http://127.0.0.1:{p}/healthcheck")[0] == 200)
        proxy = f"{self.scheme}://127.0.0.1:{ports.proxy}"
        self.wait("proxy-server", lambda: self.http(f"{proxy}/info")[0] == 200)
        self.wait("a tempauth round trip", lambda: self.tempauth_ok(proxy))
        keystone = None
        if boot is not None:
            boot.join(self.remaining())
            keystone = self.keystone_setup(ports)
        return self.handle(ports, keystone)

    def tempauth_ok(self, proxy: str) -> bool:
        """Whether tester gets a token (tokens live in memcached) and can list the account with it."""
        status, got = self.http(
            f"{proxy}/auth/v1.0", headers={"X-Auth-User": "test:tester", "X-Auth-Key": "testing"}
        )
        token = {"X-Auth-Token": got["X-Auth-Token"]} if status == 200 else {}
        return bool(token) and self.http(got["X-Storage-Url"], headers=token)[0] // 100 == 2

    def keystone_boot(self, ports: Ports) -> None:
        """Prepare DIR/keystone and start keystone (runs in a thread, beside the Swift start)."""
        assert self.inst.keystone_venv is not None
        conf = ks.write_config(self.dir, self.inst.keystone_venv, self.remaining())
        tls = [f"{self.dir}/tls/server.pem", f"{self.dir}/tls/server.key"] if self.tls else []
        wsgi = [self.inst.keystone_bin("python"), script("keystone_wsgi"), conf, str(ports.keystone), *tls]
        self.spawn("keystone", wsgi)

    def keystone_setup(self, ports: Ports) -> dict[str, Any]:
        auth_url = f"{self.scheme}://127.0.0.1:{ports.keystone}/v3"
        proxy = f"{self.scheme}://127.0.0.1:{ports.keystone_proxy}"
        self.wait("keystone", lambda: self.http(auth_url)[0] == 200)
        self.wait("proxy-server-keystone", lambda: self.http(f"{proxy}/healthcheck")[0] == 200)
        verify: str | bool = self.ca_file or True
        password = ks.admin_password(self.dir)
        projects = ks.setup(auth_url, password, proxy, verify)
        ks.check(auth_url, verify)
        return {
            "auth_url": auth_url,
            "admin_password": password,
            "project_id": projects["test"],
            "project_id2": projects["test2"],
            "storage_url": f"{proxy}/v1/AUTH_{projects['test']}",
            "storage_url2": f"{proxy}/v1/AUTH_{projects['test2']}",
            "proxy_port": ports.keystone_proxy,
            "users": {user: ks.options(auth_url, user, self.ca_file) for user in ks.USERS},
        }

    def handle(self, ports: Ports, keystone: dict[str, Any] | None) -> SwiftServerHandle:
        verify = {"verify": self.ca_file} if self.ca_file else {}
        tempauth = f"{self.scheme}://127.0.0.1:{ports.proxy}"
        users = {
            name: {"auth_url": f"{tempauth}/auth/v1.0", "user": f"{a}:{u}", "key": k, **verify}
            for name, (a, u, k, _) in TEMPAUTH_USERS.items()
        }
        if keystone is None:
            port, account, opts = ports.proxy, "AUTH_test", users["tester"]
        else:
            port, account = ports.keystone_proxy, f"AUTH_{keystone['project_id']}"
            opts = keystone["users"]["tester"]
        host = f"127.0.0.1:{port}"
        s3 = {"endpoint_url": tempauth, "key": "test:tester", "secret": "testing", "region_name": "us-east-1"}
        return SwiftServerHandle(
            protocol="swift",
            storage_options=dict(opts),
            root=f"swift://{host}/{account}",
            host=host,
            account=account,
            storage_url=f"{self.scheme}://{host}/v1/{account}",
            proxy_port=port,
            scheme=self.scheme,
            ca_file=self.ca_file,
            directory=self.dir,
            log_file=self.log_file,
            users=users,
            tempauth_storage_options=dict(users["tester"]),
            tempauth_root=f"swift://127.0.0.1:{ports.proxy}/AUTH_test",
            tempauth_storage_url=f"{tempauth}/v1/AUTH_test",
            s3={**s3, **verify},
            keystone=keystone,
        )


class _Thread(threading.Thread):
    """A thread whose exception is re-raised by :meth:`join`."""

    def __init__(self, target: Callable[[], None]) -> None:
        super().__init__(daemon=True)
        self._fn = target
        self._error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self._fn()
        except BaseException as e:
            self._error = e

    def join(self, timeout: float | None = None) -> None:
        super().join(timeout)
        if self.is_alive():
            raise TimeoutError("keystone bootstrap timed out")
        if self._error is not None:
            raise self._error


def start(
    directory: str, keystone: bool = False, tls: bool = False, timeout: float | None = None
) -> SwiftServerHandle:
    """Install if needed, then start Swift (and Keystone) in ``directory``; stops everything on failure."""
    inst = install(keystone)
    directory = os.path.abspath(directory)
    os.makedirs(os.path.join(directory, "log"), exist_ok=True)
    if any(p.alive() for p in read_pids(directory)):
        raise RuntimeError(f"a server is already running in {directory}; stop it first")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(pids_file(directory))
    if os.path.exists("/etc/swift/swift.conf"):  # swift parses storage policies from there at import
        warnings.warn(
            "/etc/swift/swift.conf exists; its storage policies apply to swift_server", stacklevel=2
        )
    deadline = time.monotonic() + (default_timeout() if timeout is None else timeout)
    starter = _Start(directory, inst, keystone, tls, deadline)
    try:
        return starter.run()
    except BaseException as e:
        starter.cancel()
        stop(directory)
        if not isinstance(e, Exception):
            raise
        raise RuntimeError(f"swift_server failed to start in {directory}: {e}\n{log_tails(directory)}") from e


def stop(directory: str) -> list[Proc]:
    """Stop the processes recorded in ``DIR/pids``; returns those that were still running."""
    return stop_processes(os.path.abspath(directory))


def handle_json(handle: SwiftServerHandle) -> str:
    """The handle's fields as JSON, without the keystone admin password."""
    return json.dumps(handle.to_dict(), indent=2)
