"""PB1, PB2, PB4, PB5 and PB6: B1, B2, B4, B5 and B6 of BENCHMARKS.md on ``pfs://``.

The PFS gRPC server of ``fsspec_research.testing`` (``pfs_server``, threads of this process, pure-Python
protobuf) sits behind the WAN model: every client, ours and the baselines, connects to the Netem port, so
every RPC crosses it. gRPC puts all streams of a channel on one TCP connection, so the per-connection cap
applies per channel: ``pfs://`` spreads reads over ``connections`` channels (default 4), python-pachyderm
uses one. Requests are the RPCs the server received (each reader's tally by method is in the notes);
bytes are what Netem delivered (down; up for PB5). Test files go straight to the server port with
python-pachyderm, outside the model.

A GetFile takes an offset and no length, and the server sends the file from there in 19 MiB messages
(pachd's); a ranged read costs at least its first whole message before the client can cancel.

Baselines: fsspec's default implementations on ``pfs://``, a minimal fsspec file on python-pachyderm (one
GetFile from the offset, read, cancel per cache fetch), and python-pachyderm itself: a get_file loop,
``get_file().read()``, ``get_file_tar``, ``put_file_bytes`` in a ``commit()``, ``walk_file``; and bare
parallel GetFile streams on channels of their own (the raw ceiling).

Sizes scale with ``--size-mib`` S (default 256, the sizes of BENCHMARKS.md): PB1 reads S ranges of 16 KiB
from an S-sized file (BENCHMARKS.md: 256 of 256 MiB), PB2 reads S/4 from S/16 of it, PB4 and PB5 move
4 x S, PB6 lists 100 directories of 100 x S/256 files.
"""

from __future__ import annotations

import contextlib
import filecmp
import hashlib
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import fsspec
import grpc
from fsspec.spec import AbstractBufferedFile
from python_pachyderm.proto.v2.pfs import pfs_pb2, pfs_pb2_grpc
from python_pachyderm.service import GRPC_CHANNEL_OPTIONS

from fsspec_research.pfs import PFSFileSystem
from fsspec_research.testing import Netem, pfs_server

from .harness import RTT, STREAM_BW, CaseReport, Counters, MiB, run_alternating, stops_on_failure

PFS_CASES = ("PB1", "PB2", "PB4", "PB5", "PB6")
GiB = 1024 * MiB
MESSAGE = 19 * MiB  #: bytes per GetFile message (pachd's, the test server's default)
REPO = "test"
BRANCH = ("test", "master")


@dataclass(frozen=True)
class Sizes:
    """The workload sizes for a file size ``ranged`` (``--size-mib``; 256 MiB gives BENCHMARKS.md's)."""

    ranged: int  #: PB1 and PB2 file
    whole: int  #: PB4 and PB5 file
    per_directory: int  #: PB6 files in each of 100 directories
    nranges: int  #: PB1 ranges

    @classmethod
    def scaled(cls, size: int) -> Sizes:
        return cls(size, 4 * size, max(1, round(100 * size / (256 * MiB))), max(8, size // MiB))

    @property
    def b2(self) -> tuple[int, int]:
        """PB2's offset and read length."""
        return self.ranged // 16 + 12345, self.ranged // 4


class RPCCounts:
    """The PFS server's RPC counters as a test server's ``stats.requests`` and ``reset_stats`` for
    :class:`~benchmarks.harness.Counters`: requests are all RPCs received.

    It also keeps the full RPC tally of each reader's last timed run: readers wrapped with :meth:`label`
    file the counts when they return.
    """

    def __init__(self, srv: Any, cold: Callable[[], None]) -> None:
        self.srv = srv
        self.cold = cold  #: run before every timed run: no reader starts on another's streams
        self.tallies: dict[str, Counter[str]] = {}

    @property
    def stats(self) -> SimpleNamespace:
        return SimpleNamespace(requests=sum(self.srv.rpc_counts.values()))

    def reset_stats(self) -> None:
        self.cold()
        self.srv.reset_counts()

    def label(self, name: str, fn: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            try:
                return fn()
            finally:
                self.tallies[name] = Counter(self.srv.rpc_counts)

        return run

    def tally(self, name: str) -> str:
        counts = self.tallies.get(name, Counter())
        return ", ".join(f"{k} {v}" for k, v in counts.most_common())

    def notes(self, names: Iterable[str]) -> list[str]:
        return [f"RPCs of {name} (last run): {self.tally(name)}" for name in names]


class Sched:
    """Where the wall time of timed runs went, from ``/proc/self/task/*/schedstat``: the fractions of it
    this process's threads spent on a CPU (run) and runnable but waiting for one (wait), grouped as the
    PFS server's handlers (Python), gRPC core's threads (C: polling, HTTP/2 framing), netem's loop and the
    clients (every other thread); and the process's CPU use. The Python threads share one interpreter
    lock: a group's run time is also time the others could not run."""

    GROUPS = ("server", "grpc core", "netem", "clients")

    def __init__(self) -> None:
        self.samples: dict[str, list[dict[str, tuple[float, float]]]] = {}

    @staticmethod
    def _group(name: str | None, comm: str) -> str:
        if name is None:  # not a Python thread
            return "grpc core" if comm.startswith(("grpc", "event_engine", "lifeguard")) else "clients"
        return "server" if name.startswith("pfs-server") else "netem" if name == "netem" else "clients"

    def _read(self) -> dict[int, tuple[str, float, float]]:
        names = {t.native_id: t.name for t in threading.enumerate()}
        out = {}
        for tid in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{tid}/schedstat") as f:
                    run, wait, _ = f.read().split()
                with open(f"/proc/self/task/{tid}/comm") as f:
                    comm = f.read().strip()
            except (FileNotFoundError, ProcessLookupError):
                continue
            out[int(tid)] = (self._group(names.get(int(tid)), comm), int(run) / 1e9, int(wait) / 1e9)
        return out

    @staticmethod
    def _cpu() -> float:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def wrap(self, label: str, fn: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            before, cpu, t0 = self._read(), self._cpu(), time.perf_counter()
            try:
                return fn()
            finally:
                wall, after = time.perf_counter() - t0, self._read()
                share = {g: [0.0, 0.0] for g in self.GROUPS}
                for tid, (group, r, w) in after.items():
                    _, r0, w0 = before.get(tid, (group, 0.0, 0.0))
                    share[group][0] += (r - r0) / wall
                    share[group][1] += (w - w0) / wall
                sample = {g: (r, w) for g, (r, w) in share.items()}
                sample["process CPU"] = ((self._cpu() - cpu) / wall, 0.0)
                self.samples.setdefault(label, []).append(sample)

        return run

    def notes(self, labels: Iterable[str]) -> list[str]:
        out = []
        for label in labels:
            runs = self.samples.pop(label, [])
            if not runs:
                continue

            def share(key: str, i: int, runs: list = runs) -> float:
                return statistics.median(r[key][i] for r in runs)

            parts = [f"{k} {share(k, 0):.2f}+{share(k, 1):.2f}" for k in self.GROUPS]
            out.append(
                f"profile {label}: run+wait {', '.join(parts)}; process CPU {share('process CPU', 0):.2f}; "
                f"medians over {len(runs)} runs"
            )
        return out


def _channel(port: int) -> grpc.Channel:
    """A gRPC channel to 127.0.0.1:``port`` on a TCP connection of its own (python-pachyderm's options)."""
    options = [*GRPC_CHANNEL_OPTIONS, ("grpc.use_local_subchannel_pool", 1)]
    return grpc.insecure_channel(f"127.0.0.1:{port}", options=options)


def _file_message(path: str) -> Any:
    repo = pfs_pb2.Repo(name=REPO, type="user", project=pfs_pb2.Project(name="default"))
    commit = pfs_pb2.Commit(branch=pfs_pb2.Branch(name="master", repo=repo))
    return pfs_pb2.File(commit=commit, path=path)


class RawReaders:
    """Bare GetFile streams, the ceiling of server and model: ``n`` threads, each with a channel (a TCP
    connection) of its own; a read opens a stream at its start, takes whole messages until it has its
    bytes and cancels the stream."""

    def __init__(self, port: int, path: str, n: int) -> None:
        self.n, self.path = n, path
        self._channels = [_channel(port) for _ in range(n)]
        self._stubs = [pfs_pb2_grpc.APIStub(c) for c in self._channels]
        self._local = threading.local()
        self._next = iter(range(n))
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(n, thread_name_prefix="raw-pfs")

    def _stub(self) -> Any:
        if not hasattr(self._local, "stub"):
            with self._lock:
                self._local.stub = self._stubs[next(self._next)]
        return self._local.stub

    def _one(self, lo: int, hi: int) -> bytes:
        stream = self._stub().GetFile(pfs_pb2.GetFileRequest(file=_file_message(self.path), offset=lo))
        chunks, got = [], 0
        try:
            for message in stream:
                chunks.append(message.value)
                got += len(message.value)
                if got >= hi - lo:
                    break
        finally:
            stream.cancel()
        data = b"".join(chunks)[: hi - lo]
        if len(data) != hi - lo:
            raise OSError(f"short read: {len(data)} of {hi - lo} bytes at {lo}")
        return data

    def read(self, ranges: list[tuple[int, int]]) -> list[bytes]:
        return list(self._pool.map(lambda r: self._one(*r), ranges))

    def close(self) -> None:
        self._pool.shutdown()
        for c in self._channels:
            c.close()


def whole_spans(size: int, n: int) -> list[tuple[int, int]]:
    """``[0, size)`` cut into ``n`` contiguous spans of whole messages (none wasted at a span's end)."""
    messages = -(-size // MESSAGE)
    per = -(-messages // n)
    starts = [i * per * MESSAGE for i in range(n) if i * per * MESSAGE < size]
    return [(lo, min(size, lo + per * MESSAGE)) for lo in starts]


class NativeFile(AbstractBufferedFile):
    """What a plain fsspec backend on python-pachyderm does: every fetch of its cache is one GetFile from
    the offset, a read of the bytes asked for, and a cancel."""

    def _fetch_range(self, start: int, end: int) -> bytes:
        f = self.fs.client.get_file(BRANCH, self.path, offset=start)
        try:
            return f.read(end - start)
        finally:
            f.close()


class NativeFileSystem(fsspec.AbstractFileSystem):
    """Just enough filesystem around :class:`NativeFile` (``info`` is python-pachyderm's inspect_file)."""

    protocol = "pachyderm-bench"
    cachable = False

    def __init__(self, client: Any) -> None:
        super().__init__()
        self.client = client

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        return {"name": path, "size": self.client.inspect_file(BRANCH, path).size_bytes, "type": "file"}

    def _open(self, path, mode="rb", block_size=None, autocommit=True, cache_options=None, **kwargs):
        return NativeFile(self, path, mode, block_size, autocommit, cache_options=cache_options, **kwargs)


class PFSBench:
    """A PFS server behind netem, its test files, and the clients under test (all through netem)."""

    @stops_on_failure
    def __init__(self, workdir: Path, sizes: Sizes) -> None:
        self._stack = ExitStack()
        self.workdir, self.sizes = workdir, sizes
        self.srv = self._stack.enter_context(pfs_server())
        self.net = self._stack.enter_context(
            Netem((self.srv.host, self.srv.port), latency=RTT / 2, bandwidth=STREAM_BW)
        )
        self.options = {**self.srv.storage_options, "port": self.net.port}
        self.fs = PFSFileSystem(skip_instance_cache=True, **self.options)
        # pfs:// keeps a read's stream open (idle) for a read continuing it, across calls: cancel them
        # before every timed run, or a run would start on data the previous one's streams fetched
        self.rpc = RPCCounts(self.srv, self.fs.streams.close)
        self.counters = Counters(self.rpc, self.net)
        self.up_counters = Counters(self.rpc, self.net, upload=True)
        self.sched = Sched()
        self.direct = self.srv.client()  # straight to the server: test files and checks
        self.native = self.srv.client(port=self.net.port)  # python-pachyderm through netem
        self.files: dict[str, Path] = {}
        self.aggregate_bw = 0.0
        self._raw: dict[tuple[str, int, int], RawReaders] = {}

    @staticmethod
    def path(name: str) -> str:
        return f"{REPO}@master/{name}"

    def file(self, name: str, size: int, seed: int) -> Path:
        """Seeded random local file ``name``, put straight to the server as ``/name`` in one commit."""
        if name not in self.files:
            local = self.workdir / name
            rng = random.Random(seed)
            with open(local, "wb") as f:
                for off in range(0, size, 16 * MiB):
                    f.write(rng.randbytes(min(16 * MiB, size - off)))
            with self.direct.commit(REPO, "master") as commit, open(local, "rb") as f:
                self.direct.put_file_bytes(commit, f"/{name}", f)
            self.files[name] = local
        return self.files[name]

    def raw(self, name: str, n: int, port: int | None = None) -> RawReaders:
        """``n`` bare GetFile readers of ``/name`` on channels of their own (through netem by default)."""
        key = (name, n, port or self.net.port)
        if key not in self._raw:
            self._raw[key] = RawReaders(key[2], f"/{name}", n)
            self._stack.callback(self._raw[key].close)
        return self._raw[key]

    def run(self, case: str, runners: dict, reps: int, candidate: str, check: Callable, **kw: Any) -> list:
        """Alternate the ``runners`` (profiled, their RPCs tallied) under ``check``."""
        counters = kw.pop("counters", self.counters)
        wrapped = {k: self.sched.wrap(k, self.rpc.label(k, fn)) for k, fn in runners.items()}
        return run_alternating(case, wrapped, counters, reps, candidate, check, **kw)

    def notes(self, names: Iterable[str]) -> list[str]:
        names = list(names)
        return [*self.rpc.notes(names), *self.sched.notes(names)]

    def raw_throughput(self, name: str) -> tuple[float, list[str]]:
        """Best bytes/s of bare parallel GetFile streams through netem (4 and 8 channels, thrice each), and
        the same straight to the server port (the emulator's own ceiling), and notes."""
        size = self.sizes.whole
        best = {}
        for label, port in (("netem", self.net.port), ("direct", self.srv.port)):
            best[label] = 0.0
            for n in (4, 8):
                some = whole_spans(size, n)
                spans = [some[i % len(some)] for i in range(n)]  # a small file: streams repeat spans
                nbytes = sum(hi - lo for lo, hi in spans)
                raw = self.raw(name, n, port)
                run = self.sched.wrap(f"raw ceiling ({label})", lambda r=raw, s=spans: r.read(s))
                for _ in range(2):
                    best[label] = max(best[label], nbytes / _timed(run))
        return best["netem"], [
            f"PFS raw ceiling {best['netem'] / MiB:.0f} MiB/s (best bare parallel GetFile streams through "
            "netem, 4 or 8 channels, each reading whole 19 MiB messages); straight to the server port "
            f"{best['direct'] / MiB:.0f} MiB/s",
            *self.sched.notes(["raw ceiling (netem)", "raw ceiling (direct)"]),
            f"{_load()} on {os.cpu_count()} cores at the start",
        ]

    def close(self) -> None:
        self.fs.close()
        self._stack.close()


def _load() -> str:
    return f"load average {os.getloadavg()[0]:.1f}"


def _timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def pfs_limit(requests: int, parallelism: int, connections: int, nbytes: int, aggregate_bw: float) -> float:
    """The WAN limit with requests ``parallelism`` at a time but bytes over ``connections`` TCP
    connections (gRPC channels): ``ceil(requests / parallelism) x RTT + bytes / min(streams x per-stream
    bw, server throughput)``, streams = min(requests, connections)."""
    streams = max(1, min(requests, connections))
    return math.ceil(requests / parallelism) * RTT + nbytes / min(streams * STREAM_BW, aggregate_bw)


def case_pb1(b: PFSBench, reps: int, length: int = 16 * 1024) -> CaseReport:
    name = "file-ranged"
    nranges = b.sizes.nranges
    local = b.file(name, b.sizes.ranged, 42).read_bytes()
    rng = random.Random(1)
    starts = sorted(rng.randrange(0, len(local) - length) for _ in range(nranges))
    rng.shuffle(starts)
    ends = [s + length for s in starts]
    path = b.path(name)
    paths = [path] * nranges
    expected = [local[s:e] for s, e in zip(starts, ends)]

    def native_loop() -> list[bytes]:
        out = []
        for s, e in zip(starts, ends):
            f = b.native.get_file(BRANCH, f"/{name}", offset=s)
            out.append(f.read(e - s))
            f.close()
        return out

    candidate = "pfs:// cat_ranges"
    runners = {
        candidate: lambda: b.fs.cat_ranges(paths, starts, ends),
        "fsspec default cat_ranges on pfs://": lambda: fsspec.AbstractFileSystem.cat_ranges(
            b.fs, paths, starts, ends
        ),
        "native loop (python-pachyderm get_file(offset), read, close per range)": native_loop,
    }
    # the baselines move a whole message per range: no untimed first run (checked on the first timed one)
    results = b.run("PB1", runners, reps, candidate, lambda out: out == expected, warmup=False)
    cand = next(r for r in results if r.candidate)
    plan = b.fs._plan(paths, starts, ends, None, None, {})
    ranges = [(r.start, r.end) for r in plan.requests]
    planned = sum(e - s for s, e in ranges)
    connections = b.fs.client.connections
    limit = pfs_limit(len(ranges), b.fs.concurrency, connections, planned, b.aggregate_bw) + RTT
    return CaseReport(
        "PB1",
        f"{nranges} ranges of {length // 1024} KiB, one cat_ranges",
        results,
        nranges * length,
        limit,
        "<= 1.3x the latency limit, >= 8x the native loop",
        [
            f"limit: the {len(ranges)} planned reads ({planned / MiB:.1f} MiB: ranges closer than a 19 MiB "
            f"message are merged) at parallelism {b.fs.concurrency} over {connections} connections, at "
            f"min({connections} x 50 MiB/s, raw ceiling), plus one round trip to pin the commit; candidate "
            f"moved {cand.bytes_moved / MiB:.1f} MiB",
            "a GetFile has no length: each range of the native loop and of the default cat_ranges costs "
            "its first whole message (19 MiB, or the rest of the file) plus what flow control let through "
            "before the cancel",
            "fsspec's default cat_ranges calls pfs://'s cat_file per range, in turn (an info each)",
            *b.notes(runners),
            _load(),
        ],
    )


def _reader(fs: Any, path: str, cache_type: str, offset: int, read: int, block: int) -> Callable[[], bytes]:
    """PB2's workload: open with ``cache_type`` and ``block`` blocks, seek, one read."""

    def run() -> bytes:
        with fs.open(path, "rb", cache_type=cache_type, block_size=block) as f:
            f.seek(offset)
            return f.read(read)

    return run


def case_pb2(b: PFSBench, reps: int, block: int = 4 * MiB) -> CaseReport:
    name = "file-ranged"
    local = b.file(name, b.sizes.ranged, 42).read_bytes()
    offset, read = b.sizes.b2
    expected = local[offset : offset + read]
    plain = NativeFileSystem(b.native)
    candidate = "pfs:// blockcache"
    runners = {
        candidate: _reader(b.fs, b.path(name), "blockcache", offset, read, block),
        "fsspec blockcache on python-pachyderm (GetFile+read+cancel per block)": _reader(
            plain, f"/{name}", "blockcache", offset, read, block
        ),
        "fsspec readahead on python-pachyderm (GetFile+read+cancel per fetch)": _reader(
            plain, f"/{name}", "readahead", offset, read, block
        ),
    }
    results = b.run("PB2", runners, reps, candidate, lambda out: out == expected)
    blocks = -(-(offset + read) // block) - offset // block
    span = blocks * block
    requests = max(1, -(-span // b.fs.part_size))
    connections = b.fs.client.connections
    limit = pfs_limit(requests, b.fs.concurrency, connections, span, b.aggregate_bw) + 2 * RTT
    return CaseReport(
        "PB2",
        f"one {read // MiB} MiB read, blockcache {block // MiB} MiB",
        results,
        read,
        limit,
        ">= 4x fsspec blockcache",
        [
            f"limit: the {blocks} blocks ({span / MiB:.0f} MiB) as {requests} message-sized reads over "
            f"{connections} connections, plus the round trips of open (InspectCommit, InspectFile)",
            "a block fetched on its own still costs a whole 19 MiB message on the wire",
            *b.notes(runners),
            _load(),
        ],
    )


def case_pb4(b: PFSBench, reps: int, streams: int = 8) -> list[CaseReport]:
    name = "file-whole"
    size = b.sizes.whole
    local_path = b.file(name, size, 7)
    local = local_path.read_bytes()
    path = b.path(name)
    spans = whole_spans(size, streams)
    raw = b.raw(name, len(spans))
    out = b.workdir / "download.bin"

    def native_read() -> bytes:
        f = b.native.get_file(BRANCH, f"/{name}")
        try:
            return f.read()
        finally:
            f.close()

    def native_tar() -> bytes:
        tar = b.native.get_file_tar(BRANCH, f"/{name}")
        member = tar.next()
        return tar.extractfile(member).read()

    def get() -> Path:
        b.fs.get(path, str(out))
        return out

    def native_get() -> Path:
        f = b.native.get_file(BRANCH, f"/{name}")
        try:
            with open(out, "wb") as dst:
                shutil.copyfileobj(f, dst, 16 * MiB)
        finally:
            f.close()
        return out

    cand_mem, cand_get = "pfs:// cat_file", "pfs:// get"
    raw_name = f"raw {len(spans)} GetFile streams x {(spans[0][1] - spans[0][0]) // MiB} MiB (a channel each)"
    to_memory = {
        cand_mem: lambda: b.fs.cat_file(path),
        raw_name: lambda: raw.read(spans),
        "python-pachyderm get_file().read()": native_read,
        "python-pachyderm get_file_tar (extract to memory)": native_tar,
    }
    to_file = {
        cand_get: get,
        "python-pachyderm get_file + copyfileobj to a file": native_get,
    }

    def check(got: Any) -> bool:
        if isinstance(got, Path):
            return filecmp.cmp(got, local_path, shallow=False)
        return (b"".join(got) if isinstance(got, list) else got) == local

    # one alternation of all, so that both reports see the same machine load
    fresh = lambda: out.unlink(missing_ok=True)  # noqa: E731 (every get writes a new file, as into a fresh path)
    results = b.run("PB4", {**to_memory, **to_file}, reps, cand_mem, check, warmup=False, prepare=fresh)
    mem = [r for r in results if r.name in to_memory]
    files = [r for r in results if r.name in to_file]
    for r in files:
        r.case, r.candidate = "PB4get", r.name == cand_get
    memory = peak_memory_of_get(b.options, path, out)
    fs_part = b.fs._part_size_for(size)
    bound = 2 * fs_part * b.fs.concurrency
    raw_row = next(r for r in mem if r.name == raw_name)
    ceiling = max(b.aggregate_bw, size / raw_row.median)
    reads = -(-size // fs_part)
    connections = b.fs.client.connections
    limit = pfs_limit(reads, b.fs.concurrency, connections, size, ceiling) + RTT
    goal = ">= 0.9x raw; >= 1.0x native"
    return [
        CaseReport(
            "PB4", f"{size // MiB} MiB file to memory", mem, size, limit, goal,
            [
                f"limit with the better of the raw ceiling and the raw row: {ceiling / MiB:.0f} MiB/s, "
                f"{reads} GetFile streams (parts) at parallelism {b.fs.concurrency} over {connections} "
                f"connections (at most {connections * STREAM_BW / MiB:.0f} MiB/s), plus the pin's round trip",
                "python-pachyderm reads on one channel (one connection: 50 MiB/s at most); get_file_tar "
                "makes the server build the tar in memory first",
                *b.notes(to_memory), _load(),
            ],
        ),
        CaseReport(
            "PB4get",
            f"{size // MiB} MiB file to a local file",
            files,
            size,
            limit,
            f"{goal}; peak memory <= 2 x block x parallelism = {bound // MiB} MiB",
            [
                "each get writes a new file: the previous run's is removed, untimed, before every run",
                f"peak memory of one get in a fresh process (untimed, {memory['wall']:.1f} s): tracemalloc "
                f"peak {memory['traced'] / MiB:.0f} MiB, peak RSS growth {memory['rss'] / MiB:.0f} MiB; "
                f"block (part) {fs_part // MiB} MiB x parallelism {b.fs.concurrency}",
                *b.notes(to_file),
                _load(),
            ],
        ),
    ]  # fmt: skip


_MEMORY_PROBE = """
import json, sys, time, tracemalloc
from fsspec_research.pfs import PFSFileSystem
options, path, out = json.loads(sys.stdin.read()), sys.argv[1], sys.argv[2]
fs = PFSFileSystem(skip_instance_cache=True, **options)
fs.info(path)
def status(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field + ":"))
before = status("VmRSS")
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # VmHWM := VmRSS
tracemalloc.start()
t0 = time.perf_counter()
fs.get(path, out)
wall = time.perf_counter() - t0
traced = tracemalloc.get_traced_memory()[1]
print(json.dumps({"traced": traced, "rss": status("VmHWM") - before, "wall": wall}))
"""


def peak_memory_of_get(options: dict[str, Any], path: str, out: Path) -> dict[str, float]:
    """Peak memory of one ``get`` in a fresh process (through netem too): tracemalloc's peak of the
    Python allocations made during the call, and peak RSS growth (VmHWM, reset by ``clear_refs``).
    A fresh process, since this one holds the server, netem's queues and earlier cases' arenas."""
    cmd = [sys.executable, "-c", _MEMORY_PROBE, path, str(out)]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, input=json.dumps(options))
    return json.loads(done.stdout)


def _sha256(path: Path) -> bytes:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(16 * MiB):
            digest.update(chunk)
    return digest.digest()


def case_pb5(b: PFSBench, reps: int) -> CaseReport:
    size = b.sizes.whole
    local = b.file("file-whole", size, 7)
    checksum = _sha256(local)
    repos = {"fsr": "put-fsr", "native": "put-native"}

    def put() -> tuple[str, str]:
        b.fs.put(str(local), f"{repos['fsr']}@master/upload")
        return repos["fsr"], "/upload"

    def native_put() -> tuple[str, str]:
        with b.native.commit(repos["native"], "master") as commit, open(local, "rb") as f:
            b.native.put_file_bytes(commit, "/upload", f)
        return repos["native"], "/upload"

    def fresh_repos() -> None:  # untimed, before every run: every upload goes to a new repo
        for repo in repos.values():
            with contextlib.suppress(Exception):
                b.direct.delete_repo(repo, force=True)
            b.direct.create_repo(repo)
            with b.direct.commit(repo, "master"):
                pass  # a finished (empty) head, as the test repo has
        b.fs.invalidate_cache()

    def check(target: tuple[str, str]) -> bool:
        info = b.direct.inspect_file((target[0], "master"), target[1])
        return info.hash == checksum and info.size_bytes == size

    candidate = "pfs:// put"
    runners = {
        candidate: put,
        "python-pachyderm put_file_bytes(fileobj) in commit()": native_put,
    }
    fresh_repos()
    try:
        results = b.run(
            "PB5", runners, reps, candidate, check, warmup=False, counters=b.up_counters, prepare=fresh_repos
        )
    finally:
        for repo in repos.values():
            with contextlib.suppress(Exception):
                b.direct.delete_repo(repo, force=True)
    return CaseReport(
        "PB5",
        f"put {size // MiB} MiB",
        results,
        size,
        None,
        ">= 1.0x native",
        [
            f"pfs:// defaults: part size {b.fs.upload_part_size // MiB} MiB, upload_concurrency "
            f"{b.fs.upload_concurrency}; one commit, a ModifyFile per part appended in order (parts wait "
            "their turn), 19 MiB messages; bytes moved = bytes up",
            "python-pachyderm: one ModifyFile stream on one channel, the file read in its chunks",
            "every run writes to a repo made new (untimed) before it; byte-exact: the server's SHA-256 of "
            "the stored file against the local file's",
            *b.notes(runners),
            _load(),
        ],
    )


def make_tree(b: PFSBench, top: str, directories: int, per_directory: int) -> list[str]:
    """``directories`` directories of ``per_directory`` small files under ``/top``, in one ModifyFile of
    one commit straight on the server; returns the files' fsspec names, sorted."""
    files = [f"/{top}/d{i:03d}/f{j:04d}" for i in range(directories) for j in range(per_directory)]
    with b.direct.commit(REPO, "master") as commit, b.direct.modify_file_client(commit) as mfc:
        for p in files:
            mfc.put_file_from_bytes(p, p.encode())
    return sorted(f"{REPO}@master{p}" for p in files)


def case_pb6(b: PFSBench, reps: int, directories: int = 100) -> CaseReport:
    top = "tree"
    expected = make_tree(b, top, directories, b.sizes.per_directory)
    walk_fs = PFSFileSystem(skip_instance_cache=True, use_listings_cache=False, **b.options)

    def native_walk() -> list[str]:
        infos = b.native.walk_file(BRANCH, f"/{top}")
        return sorted(f"{REPO}@master{i.file.path}" for i in infos if i.file_type == pfs_pb2.FileType.FILE)

    candidate = "pfs:// find"
    runners = {
        candidate: lambda: b.fs.find(b.path(top)),
        "per-directory ls walk (fsspec default find, no listing cache)": lambda: (
            fsspec.AbstractFileSystem.find(walk_fs, b.path(top))
        ),
        "python-pachyderm walk_file": native_walk,
    }
    try:
        results = b.run("PB6", runners, reps, candidate, lambda out: out == expected)
    finally:
        walk_fs.close()
    return CaseReport(
        "PB6",
        f"find over {len(expected)} files in {directories} directories",
        results,
        0,
        None,
        ">= 5x the walk",
        [
            "requests = all RPCs; bytes moved = bytes down",
            "pfs:// find is one WalkFile stream (after the InspectCommit that pins the branch); the walk "
            "pins and lists each directory (ListFile) in turn",
            *b.notes(runners),
            _load(),
        ],
    )


def run_pfs(workdir: Path, reps: int, size: int, cases: list[str]) -> list[CaseReport]:
    unknown = [c for c in cases if c.startswith("PB") and c not in PFS_CASES]
    if unknown:
        raise ValueError(f"unknown PFS cases {unknown}; known: {', '.join(PFS_CASES)}")
    bench = PFSBench(workdir, Sizes.scaled(size))
    try:
        bench.file("file-whole", bench.sizes.whole, 7)
        bench.aggregate_bw, ceiling = bench.raw_throughput("file-whole")
        reports: list[CaseReport] = []
        if "PB1" in cases:
            reports.append(case_pb1(bench, reps))
        if "PB2" in cases:
            reports.append(case_pb2(bench, reps))
        if "PB4" in cases:
            reports += case_pb4(bench, reps)
        if "PB5" in cases:
            reports.append(case_pb5(bench, reps))
        if "PB6" in cases:
            reports.append(case_pb6(bench, reps))
        for rep in reports:
            rep.notes += ceiling
        return reports
    finally:
        bench.close()
