"""Start background processes, record them as ``name pid starttime`` in ``DIR/pids``, stop exactly those.

Each process runs in a session of its own. A PID (with its process group, for children it forked) is
signalled only while its start time in ``/proc/PID/stat`` still matches the recorded one, so a reused PID
is never hit. Nothing is ever killed by name.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Proc:
    """A started process: its name (also its log file's stem), PID and kernel start time."""

    name: str
    pid: int
    starttime: int

    def alive(self) -> bool:
        """Whether this very process (same PID and start time) still runs and is no zombie."""
        stat = _stat(self.pid)
        return stat is not None and stat[1] == self.starttime and stat[0] != "Z"


def _stat(pid: int) -> tuple[str, int] | None:
    """``(state, starttime)`` of ``pid`` from ``/proc/PID/stat``, or ``None`` when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    return fields[0], int(fields[19])


def pids_file(directory: str) -> str:
    return os.path.join(directory, "pids")


def read_pids(directory: str) -> list[Proc]:
    """The processes recorded in ``DIR/pids`` (empty when there is no such file)."""
    try:
        with open(pids_file(directory)) as f:
            rows = [line.split() for line in f if line.strip()]
    except FileNotFoundError:
        return []
    return [Proc(name, int(pid), int(start)) for name, pid, start in rows]


def spawn(
    directory: str, name: str, cmd: list[str], env: dict[str, str] | None = None, stdout: int | None = None
) -> tuple[Proc, subprocess.Popen[bytes]]:
    """Start and record ``cmd`` in a new session; stderr (and stdout unless given) to ``DIR/log/NAME.log``."""
    log = open(os.path.join(directory, "log", f"{name}.log"), "ab")  # noqa: SIM115
    with log:
        popen = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log if stdout is None else stdout,
            stderr=log,
            env=env,
            cwd=directory,
            start_new_session=True,  # a Ctrl-C in the terminal is the caller's to handle, via stop()
        )
    stat = _stat(popen.pid)
    proc = Proc(name, popen.pid, stat[1] if stat else 0)
    with open(pids_file(directory), "a") as f:
        f.write(f"{proc.name} {proc.pid} {proc.starttime}\n")
    return proc, popen


def stop(directory: str, grace: float = 10.0) -> list[Proc]:
    """SIGTERM the live recorded processes, SIGKILL after ``grace`` s; returns the ones that were alive."""
    procs = [p for p in read_pids(directory) if p.alive()]
    for p in procs:
        _signal(p, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(p.alive() for p in procs) and time.monotonic() < deadline:
        _reap(procs)
        time.sleep(0.05)
    for p in procs:
        if p.alive():
            _signal(p, signal.SIGKILL)
    while any(p.alive() for p in procs) and time.monotonic() < deadline + 5:
        _reap(procs)
        time.sleep(0.05)
    _reap(procs)
    if not any(p.alive() for p in procs):  # else keep the record, for another try
        with contextlib.suppress(FileNotFoundError):
            os.unlink(pids_file(directory))
    return procs


def _signal(p: Proc, sig: int) -> None:
    """Signal ``p`` (alive, just checked) and, as it leads its own process group, its forked children."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(p.pid) == p.pid:
            os.killpg(p.pid, sig)  # e.g. the container-updater's sweep children
        else:
            os.kill(p.pid, sig)


def _reap(procs: list[Proc]) -> None:
    """Collect those of ``procs`` that are zombie children of this process."""
    for p in procs:
        if _stat(p.pid) == ("Z", p.starttime):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(p.pid, os.WNOHANG)
