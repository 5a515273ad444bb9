"""IB1, IB2, IB4, IB5 and IB6: B1, B2, B4, B5 and B6 of BENCHMARKS.md on ``irods://``.

The iRODS protocol server of ``fsspec_research.testing`` (``irods_server``, threads of this process) sits
behind the WAN model: every client, ours and the baselines, connects to the Netem port, so every API call
crosses it. Requests are the API calls the server received on the data path (open, seek, read, write, close
and the descriptor and replica APIs; IB6: the GenQueries); each reader's full API tally is in the notes.
Bytes are what Netem delivered (down; up for IB5). Test objects go straight to the server port with
python-irodsclient ("PRC"), outside the model.

Baselines: fsspec's default implementations on ``irods://``, a minimal fsspec file on PRC (one open, seek and
read per cache fetch), and PRC itself: a seek+read loop, bare parallel reads (a descriptor per thread),
parallel get and put, and ``iRODSCollection.walk``. PRC caps the threads of a parallel get or put at
``os.cpu_count()``; rows marked "cap lifted" patch that cap away, as a machine with more cores would.

Sizes scale with ``--size-mib`` S (default 256, the sizes of BENCHMARKS.md): IB1 and IB2 read an S-sized
object (IB2: S/4 from S/16), IB4 and IB5 move 4 x S, IB6 lists 100 collections of 100 x S/256 objects.
"""

from __future__ import annotations

import base64
import contextlib
import filecmp
import hashlib
import json
import os
import queue
import random
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock

import fsspec
import irods.parallel
from fsspec.spec import AbstractBufferedFile
from irods.api_number import api_number
from irods.data_object import chunks
from irods.keywords import FORCE_CHKSUM_KW, FORCE_FLAG_KW
from irods.manager.data_object_manager import DataObjectManager
from irods.message import OpenedDataObjRequest, StringStringMap, iRODSMessage
from irods.session import iRODSSession

from fsspec_research.irods import IRODSFileSystem
from fsspec_research.testing import Netem, irods_server

from .harness import (
    RTT,
    STREAM_BW,
    CaseReport,
    Counters,
    MiB,
    latency_limit,
    run_alternating,
    stops_on_failure,
)

IRODS_CASES = ("IB1", "IB2", "IB4", "IB5", "IB6")
GiB = 1024 * MiB

#: API numbers of the iRODS protocol and their names in the notes
API_NAMES = {
    601: "create", 602: "open", 673: "close", 674: "lseek", 675: "read", 676: "write",
    20000: "descriptor info", 20004: "replica close", 10220: "resource info", 702: "GenQuery",
    110000: "login", 703: "login", 704: "login", 629: "checksum", 627: "rename", 696: "copy",
    615: "unlink", 681: "mkcoll", 20007: "touch",
}  # fmt: skip
DATA_APIS = frozenset({601, 602, 673, 674, 675, 676, 20000, 20004, 10220})
GEN_QUERY = frozenset({702})


@dataclass(frozen=True)
class Sizes:
    """The workload sizes for an object size ``ranged`` (``--size-mib``; 256 MiB gives BENCHMARKS.md's)."""

    ranged: int  #: IB1 and IB2 object
    whole: int  #: IB4 and IB5 object
    per_collection: int  #: IB6 objects in each of 100 collections

    @classmethod
    def scaled(cls, size: int) -> Sizes:
        return cls(size, 4 * size, max(1, round(100 * size / (256 * MiB))))

    @property
    def b2(self) -> tuple[int, int]:
        """IB2's offset and read length."""
        return self.ranged // 16 + 12345, self.ranged // 4


class APICounts:
    """The iRODS server's API counters as a test server's ``stats.requests`` and ``reset_stats`` for
    :class:`~benchmarks.harness.Counters`: requests are the calls of the APIs in ``apis``.

    It also keeps the full API tally of each reader's last timed run: readers wrapped with
    :meth:`label` file the counts when they return.
    """

    def __init__(self, srv: Any, apis: Iterable[int] = DATA_APIS) -> None:
        self.srv = srv
        self.apis = frozenset(apis)
        self.tallies: dict[str, Counter[int]] = {}

    @property
    def stats(self) -> SimpleNamespace:
        counts = self.srv.api_counts
        return SimpleNamespace(requests=sum(counts[a] for a in self.apis))

    def reset_stats(self) -> None:
        self.srv.reset_counts()

    def label(self, name: str, fn: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            try:
                return fn()
            finally:
                self.tallies[name] = Counter(self.srv.api_counts)

        return run

    def tally(self, name: str) -> str:
        counts = self.tallies.get(name, Counter())
        parts: Counter[str] = Counter()
        for api, n in counts.items():
            parts[API_NAMES.get(api, str(api))] += n
        return ", ".join(f"{k} {v}" for k, v in sorted(parts.items(), key=lambda kv: -kv[1]))

    def notes(self, names: Iterable[str]) -> list[str]:
        return [f"API calls of {name} (last run): {self.tally(name)}" for name in names]


class Sched:
    """Where the wall time of timed runs went, from ``/proc/self/task/*/schedstat``: the fractions of it
    this process's threads spent on a CPU (run) and runnable but waiting for one (wait), grouped as the
    iRODS server's agents, netem's loop and the clients (every other thread); and the process's CPU use.
    Everything shares one interpreter lock: a group's run time is also time the others could not run."""

    def __init__(self) -> None:
        self.samples: dict[str, list[dict[str, tuple[float, float]]]] = {}

    @staticmethod
    def _group(name: str) -> str:
        return "server" if name.startswith("irods-") else "netem" if name == "netem" else "clients"

    def _read(self) -> dict[int, tuple[str, float, float]]:
        names = {t.native_id: t.name for t in threading.enumerate()}
        out = {}
        for tid in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{tid}/schedstat") as f:
                    run, wait, _ = f.read().split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            out[int(tid)] = (self._group(names.get(int(tid), "")), int(run) / 1e9, int(wait) / 1e9)
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
                share = {g: [0.0, 0.0] for g in ("server", "netem", "clients")}
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

            parts = [f"{k} {share(k, 0):.2f}+{share(k, 1):.2f}" for k in ("server", "netem", "clients")]
            out.append(
                f"profile {label}: run+wait {', '.join(parts)}; process CPU {share('process CPU', 0):.2f}; "
                f"medians over {len(runs)} runs"
            )
        return out


class RawReaders:
    """Bare PRC reads, the ceiling of server and model: ``n`` threads, each with its own descriptor of
    ``path`` (opened once, on its own connection), seeking and reading straight into a buffer with PRC's
    raw file (no buffering layer), or, ``pipelined``, sending the seek and the read in one write before
    collecting both replies (the server answers a connection's requests in order): one round trip. (Two
    writes would not do: PRC's sockets keep Nagle's algorithm, which holds the second request back until
    the first is acknowledged, a round trip later.)"""

    def __init__(self, session: iRODSSession, path: str, n: int) -> None:
        self.n = n
        self._free: queue.SimpleQueue = queue.SimpleQueue()
        self._files = [session.data_objects.open(path, "r") for _ in range(n)]
        for f in self._files:
            self._free.put(f.raw)
        self._pool = ThreadPoolExecutor(n, thread_name_prefix="raw-prc")

    def _one(self, lo: int, hi: int, pipelined: bool) -> bytearray:
        raw = self._free.get()
        try:
            buf = bytearray(hi - lo)
            if pipelined:
                seek = _opened_request(raw.desc, "DATA_OBJ_LSEEK_AN", offset=lo)
                read = _opened_request(raw.desc, "DATA_OBJ_READ_AN", length=hi - lo)
                raw.conn.socket.sendall(seek.pack() + read.pack())
                raw.conn.recv()
                got = len(raw.conn.recv_into(buf).bs)
            else:
                raw.seek(lo)
                got = raw.readinto(buf)
            if got != hi - lo:
                raise OSError(f"short read: {got} of {hi - lo} bytes at {lo}")
            return buf
        finally:
            self._free.put(raw)

    def read(self, ranges: list[tuple[int, int]], pipelined: bool = False) -> list[bytearray]:
        """The ranges, ``n`` at a time (one seek and one read each)."""
        return list(self._pool.map(lambda r: self._one(*r, pipelined), ranges))

    def close(self) -> None:
        self._pool.shutdown()
        for f in self._files:
            with contextlib.suppress(Exception):
                f.close()


def _opened_request(desc: int, api: str, offset: int = 0, length: int = 0) -> iRODSMessage:
    """PRC's request message for ``api`` on open descriptor ``desc`` (as ``seek_file``/``read_file`` send)."""
    body = OpenedDataObjRequest(
        l1descInx=desc, len=length, whence=os.SEEK_SET, oprType=0, offset=offset, bytesWritten=0,
        KeyValPair_PI=StringStringMap(),
    )  # fmt: skip
    return iRODSMessage("RODS_API_REQ", msg=body, int_info=api_number[api])


class PRCFile(AbstractBufferedFile):
    """What a plain fsspec backend on PRC does: every fetch of its cache is one PRC open, seek and read."""

    def _fetch_range(self, start: int, end: int) -> bytes:
        with self.fs.session.data_objects.open(self.path, "r") as f:
            f.seek(start)
            return f.read(end - start)


class PRCFileSystem(fsspec.AbstractFileSystem):
    """Just enough filesystem around :class:`PRCFile` (``info`` is PRC's ``data_objects.get``)."""

    protocol = "prc-bench"
    cachable = False

    def __init__(self, session: iRODSSession) -> None:
        super().__init__()
        self.session = session

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        return {"name": path, "size": self.session.data_objects.get(path).size, "type": "file"}

    def _open(self, path, mode="rb", block_size=None, autocommit=True, cache_options=None, **kwargs):
        return PRCFile(self, path, mode, block_size, autocommit, cache_options=cache_options, **kwargs)


@contextlib.contextmanager
def prc_threads_uncapped() -> Iterator[None]:
    """Lift PRC's cap of parallel-transfer threads at ``multiprocessing.cpu_count()``."""
    with mock.patch.object(irods.parallel.multiprocessing, "cpu_count", lambda: 1024):
        yield


class IRODSBench:
    """An iRODS server behind netem, its test objects, and the clients under test (all through netem)."""

    user = "alice"

    @stops_on_failure
    def __init__(self, workdir: Path, sizes: Sizes) -> None:
        self._stack = ExitStack()
        self.workdir, self.sizes = workdir, sizes
        self.srv = self._stack.enter_context(irods_server())
        self.net = self._stack.enter_context(
            Netem(("127.0.0.1", self.srv.port), latency=RTT / 2, bandwidth=STREAM_BW)
        )
        self.api = APICounts(self.srv)
        self.counters = Counters(self.api, self.net)
        self.up_counters = Counters(self.api, self.net, upload=True)
        self.sched = Sched()
        self.options = dict(self.srv.options_for(self.user), port=self.net.port)
        self.fs = IRODSFileSystem(skip_instance_cache=True, **self.options)
        self.direct = self._session(self.srv.port)  # straight to the server: test objects and checks
        self.native = self._session(self.net.port)  # PRC through netem
        self.root = f"/{self.srv.zone}/home/{self.user}/bench"
        self.direct.collections.create(self.root)
        self.objects: dict[str, Path] = {}
        self.aggregate_bw = 0.0
        self._raw: dict[tuple[str, int], RawReaders] = {}

    def _session(self, port: int) -> iRODSSession:
        session = iRODSSession(**{**self.srv.options_for(self.user), "port": port})
        self._stack.callback(session.cleanup)
        return session

    def path(self, name: str) -> str:
        return f"{self.root}/{name}"

    def object(self, name: str, size: int, seed: int) -> Path:
        """Seeded random local file ``name``, put straight to the server as one data object."""
        if name not in self.objects:
            local = self.workdir / name
            rng = random.Random(seed)
            with open(local, "wb") as f:
                for off in range(0, size, 16 * MiB):
                    f.write(rng.randbytes(min(16 * MiB, size - off)))
            self.direct.data_objects.put(str(local), self.path(name), **{FORCE_FLAG_KW: ""})
            self.objects[name] = local
        return self.objects[name]

    def raw(self, name: str, n: int) -> RawReaders:
        """``n`` bare PRC descriptors of ``name`` through netem (kept open)."""
        key = (name, n)
        if key not in self._raw:
            self._raw[key] = RawReaders(self.native, self.path(name), n)
            self._stack.callback(self._raw[key].close)
        return self._raw[key]

    def run(self, case: str, runners: dict, reps: int, candidate: str, check: Callable, **kw: Any) -> list:
        """Alternate the ``runners`` (profiled, their API calls tallied) under ``check``."""
        counters = kw.pop("counters", self.counters)
        wrapped = {k: self.sched.wrap(k, self.api.label(k, fn)) for k, fn in runners.items()}
        return run_alternating(case, wrapped, counters, reps, candidate, check, **kw)

    def notes(self, names: Iterable[str]) -> list[str]:
        names = list(names)
        return [*self.api.notes(names), *self.sched.notes(names)]

    def raw_throughput(self, name: str) -> tuple[float, list[str]]:
        """Best bytes/s of bare parallel PRC reads (8 x S/16 and 16 x S/32, thrice each), and notes."""
        best = 0.0
        size = self.sizes.ranged
        for streams in (8, 16):
            part = size // (2 * streams)
            raw = self.raw(name, streams)
            ranges = [(i * part, (i + 1) * part) for i in range(streams)]
            run = self.sched.wrap("raw ceiling", lambda r=ranges, raw=raw: raw.read(r))
            for _ in range(3):
                best = max(best, streams * part / _timed(run))
        return best, [
            f"iRODS raw ceiling {best / MiB:.0f} MiB/s (best bare parallel PRC reads through netem)",
            *self.sched.notes(["raw ceiling"]),
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


def case_ib1(b: IRODSBench, reps: int, nranges: int = 256, length: int = 16 * 1024) -> CaseReport:
    name = "obj-ranged"
    local = b.object(name, b.sizes.ranged, 42).read_bytes()
    rng = random.Random(1)
    starts = sorted(rng.randrange(0, len(local) - length) for _ in range(nranges))
    rng.shuffle(starts)
    ends = [s + length for s in starts]
    path = b.path(name)
    paths = [path] * nranges
    expected = [local[s:e] for s, e in zip(starts, ends)]

    def native_loop() -> list[bytes]:
        with b.native.data_objects.open(path, "r") as f:
            out = []
            for s, e in zip(starts, ends):
                f.seek(s)
                out.append(f.read(e - s))
            return out

    candidate = "irods:// cat_ranges"
    runners = {
        candidate: lambda: b.fs.cat_ranges(paths, starts, ends),
        "fsspec default cat_ranges on irods://": lambda: fsspec.AbstractFileSystem.cat_ranges(
            b.fs, paths, starts, ends
        ),
        "native loop (PRC open, seek+read per range)": native_loop,
    }
    results = b.run("IB1", runners, reps, candidate, lambda out: out == expected)
    cand = next(r for r in results if r.candidate)
    parallelism = b.fs.concurrency
    plan = b.fs._plan(paths, starts, ends, None, None, {})
    ranges = [(r.start, r.end) for r in plan.requests]
    model = latency_limit(len(ranges), parallelism, cand.bytes_moved, b.aggregate_bw)
    raw = b.raw(name, parallelism)
    floor_run = b.sched.wrap("raw floor", lambda: raw.read(ranges, pipelined=True))
    floor = statistics.median(_timed(floor_run) for _ in range(5))
    server_cpu = statistics.median(r["server"][0] for r in b.sched.samples["raw floor"]) * floor
    return CaseReport(
        "IB1",
        f"{nranges} ranges of {length // 1024} KiB, one cat_ranges",
        results,
        nranges * length,
        max(model, floor),
        "<= 1.3x the latency limit, >= 8x the native loop",
        [
            f"limit = max(WAN model {model:.3f} s for the {len(ranges)} planned ranges at parallelism "
            f"{parallelism}, raw floor {floor:.3f} s: the same ranges as bare lseek+read on {parallelism} "
            "open PRC descriptors, each pair sent in one write)",
            "a ranged read on an open descriptor is an lseek and a read, one round trip when both go out "
            "in one write; requests = data-path calls (GenQueries and logins in the tallies)",
            "PRC's buffered file sends a tell (lseek) after each seek: three round trips per range",
            "fsspec's default cat_ranges calls irods://'s cat_file per range, in turn",
            f"the server spends {server_cpu / len(ranges) * 1000:.1f} ms of CPU per lseek+read "
            "(raw floor runs)",
            *b.notes(runners),
            *b.sched.notes(["raw floor"]),
            _load(),
        ],
    )


def _reader(fs: Any, path: str, cache_type: str, offset: int, read: int, block: int) -> Callable[[], bytes]:
    """IB2's workload: open with ``cache_type`` and ``block`` blocks, seek, one read."""

    def run() -> bytes:
        with fs.open(path, "rb", cache_type=cache_type, block_size=block) as f:
            f.seek(offset)
            return f.read(read)

    return run


def case_ib2(b: IRODSBench, reps: int, block: int = 4 * MiB) -> CaseReport:
    name = "obj-ranged"
    local = b.object(name, b.sizes.ranged, 42).read_bytes()
    offset, read = b.sizes.b2
    expected = local[offset : offset + read]
    plain = PRCFileSystem(b.native)
    path = b.path(name)
    candidate = "irods:// blockcache"
    runners = {
        candidate: _reader(b.fs, path, "blockcache", offset, read, block),
        "fsspec blockcache on PRC (open+seek+read per block)": _reader(
            plain, path, "blockcache", offset, read, block
        ),
        "fsspec readahead on PRC (open+seek+read per fetch)": _reader(
            plain, path, "readahead", offset, read, block
        ),
    }
    results = b.run("IB2", runners, reps, candidate, lambda out: out == expected)
    blocks = -(-(offset + read) // block) - offset // block
    limit = latency_limit(blocks, b.fs.concurrency, blocks * block, b.aggregate_bw) + RTT
    return CaseReport(
        "IB2",
        f"one {read // MiB} MiB read, blockcache {block // MiB} MiB",
        results,
        read,
        limit,
        ">= 4x fsspec blockcache",
        [
            f"limit: {blocks} blocks, each an lseek and a read in one write on an open descriptor (one "
            "round trip), plus the catalog query of open (one round trip)",
            *b.notes(runners),
            _load(),
        ],
    )


def case_ib4(b: IRODSBench, reps: int, streams: int = 16, threads: int = 16) -> list[CaseReport]:
    name = "obj-whole"
    size = b.sizes.whole
    local_path = b.object(name, size, 7)
    local = local_path.read_bytes()
    path = b.path(name)
    part = size // streams
    raw = b.raw(name, streams)
    out = b.workdir / "download.bin"

    def prc_read() -> bytes:
        with b.native.data_objects.open(path, "r") as f:
            return b"".join(chunks(f, DataObjectManager.READ_BUFFER_SIZE))

    def get() -> Path:
        b.fs.get(path, str(out))
        return out

    def prc_get(uncapped: bool) -> Callable[[], Path]:
        def run() -> Path:
            with prc_threads_uncapped() if uncapped else contextlib.nullcontext():
                b.native.data_objects.get(path, str(out), num_threads=threads, **{FORCE_FLAG_KW: ""})
            return out

        return run

    cand_mem, cand_get = "irods:// cat_file", "irods:// get"
    raw_name = f"raw {streams} x {part // MiB} MiB reads (PRC, a descriptor per thread)"
    cpus = os.cpu_count() or 1
    to_memory = {
        cand_mem: lambda: b.fs.cat_file(path),
        raw_name: lambda: raw.read([(i * part, (i + 1) * part) for i in range(streams)]),
        "PRC open + read (8 MiB chunks, one descriptor)": prc_read,
    }
    to_file = {
        cand_get: get,
        f"PRC parallel get (num_threads={threads}, capped at {min(cpus, threads)})": prc_get(False),
        f"PRC parallel get, {threads} threads (cap lifted)": prc_get(True),
    }

    def check(got: Any) -> bool:
        if isinstance(got, Path):
            return filecmp.cmp(got, local_path, shallow=False)
        return (b"".join(got) if isinstance(got, list) else got) == local

    # one alternation of all, so that both reports see the same machine load
    results = b.run(  # every get writes a new file, as into a fresh path
        "IB4", {**to_memory, **to_file}, reps, cand_mem, check, warmup=False,
        prepare=lambda: out.unlink(missing_ok=True),
    )  # fmt: skip
    mem = [r for r in results if r.name in to_memory]
    files = [r for r in results if r.name in to_file]
    for r in files:
        r.case, r.candidate = "IB4get", r.name == cand_get
    memory = peak_memory_of_get(b.options, path, out)
    fs_part = b.fs._part_size_for(size)
    bound = 2 * fs_part * b.fs.concurrency
    raw_row = next(r for r in mem if r.name == raw_name)
    ceiling = max(b.aggregate_bw, size / raw_row.median)
    reads = b.api.tallies[cand_mem][675]  # the seek before a read goes with it
    limit = latency_limit(reads, b.fs.concurrency, size, ceiling)
    goal = ">= 0.9x raw; >= 1.0x native"
    return [
        CaseReport(
            "IB4", f"{size // MiB} MiB object to memory", mem, size, limit, goal,
            [
                f"limit with the better of the raw ceiling and the raw row: {ceiling / MiB:.0f} MiB/s, "
                f"{reads} reads (each with its lseek) at parallelism {b.fs.concurrency}",
                *b.notes(to_memory), _load(),
            ],
        ),
        CaseReport(
            "IB4get",
            f"{size // MiB} MiB object to a local file",
            files,
            size,
            limit,
            f"{goal}; peak memory <= 2 x block x parallelism = {bound // MiB} MiB",
            [
                "each get writes a new file: the previous run's is removed, untimed, before every run",
                f"peak memory of one get in a fresh process (untimed, {memory['wall']:.1f} s): tracemalloc "
                f"peak {memory['traced'] / MiB:.0f} MiB, peak RSS growth {memory['rss'] / MiB:.0f} MiB; "
                f"block (part) {fs_part // MiB} MiB x parallelism {b.fs.concurrency}",
                f"PRC caps a parallel transfer's threads at os.cpu_count() = {cpus} on this machine",
                *b.notes(to_file),
                _load(),
            ],
        ),
    ]  # fmt: skip


_MEMORY_PROBE = """
import json, sys, time, tracemalloc
from fsspec_research.irods import IRODSFileSystem
options, path, out = json.loads(sys.stdin.read()), sys.argv[1], sys.argv[2]
fs = IRODSFileSystem(skip_instance_cache=True, **options)
fs.info(path, metadata=False)
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


def _sha2(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(16 * MiB):
            digest.update(chunk)
    return "sha2:" + base64.b64encode(digest.digest()).decode()


def case_ib5(b: IRODSBench, reps: int, threads: int = 16) -> CaseReport:
    size = b.sizes.whole
    local = b.object("obj-whole", size, 7)
    checksum = _sha2(local)
    targets = {k: b.path(f"put-{k}") for k in ("fsr", "prc", "prc-uncapped", "prc-verified", "fsr-over")}

    def put(target: str) -> Callable[[], str]:
        def run() -> str:
            b.fs.put(str(local), target)
            return target

        return run

    def prc_put(target: str, uncapped: bool) -> Callable[[], str]:
        def run() -> str:
            with prc_threads_uncapped() if uncapped else contextlib.nullcontext():
                b.native.data_objects.put(str(local), target, num_threads=threads, **{FORCE_FLAG_KW: ""})
            return target

        return run

    def prc_put_verified(target: str) -> Callable[[], str]:
        """PRC's put with what irods:// guarantees: the server's SHA-256 checked against the local file's."""

        def run() -> str:
            with ThreadPoolExecutor(1) as pool:
                local_sum = pool.submit(_sha2, local)  # hashed while the put runs
                prc_put(target, True)()
                stored = b.native.data_objects.chksum(target, **{FORCE_CHKSUM_KW: ""})
            if stored != local_sum.result():
                raise OSError(f"checksum mismatch after put: {stored}")
            return target

        return run

    def remove_new_targets() -> None:  # untimed, before every run: each put makes a new object
        for key in ("fsr", "prc", "prc-uncapped", "prc-verified"):
            with contextlib.suppress(Exception):
                b.direct.data_objects.unlink(targets[key], force=True)

    def check(target: str) -> bool:
        stored = b.direct.data_objects.chksum(target, **{FORCE_CHKSUM_KW: ""})
        return stored == checksum and b.direct.data_objects.get(target).size == size

    cpus = os.cpu_count() or 1
    candidate = "irods:// put (new object)"
    over = "irods:// put over an existing object"
    runners = {
        candidate: put(targets["fsr"]),
        f"PRC parallel put (num_threads={threads}, capped at {min(cpus, threads)})": prc_put(
            targets["prc"], False
        ),
        f"PRC parallel put, {threads} threads (cap lifted)": prc_put(targets["prc-uncapped"], True),
        f"PRC parallel put, {threads} threads (cap lifted) + server SHA-256 checked": prc_put_verified(
            targets["prc-verified"]
        ),
        over: put(targets["fsr-over"]),
    }
    b.direct.data_objects.put(str(local), targets["fsr-over"], **{FORCE_FLAG_KW: ""})  # what `over` replaces
    try:
        results = b.run(
            "IB5", runners, reps, candidate, check, warmup=False, counters=b.up_counters,
            prepare=remove_new_targets,
        )  # fmt: skip
    finally:
        remove_new_targets()
        with contextlib.suppress(Exception):
            b.direct.data_objects.unlink(targets["fsr-over"], force=True)
    return CaseReport(
        "IB5",
        f"put {size // MiB} MiB",
        results,
        size,
        None,
        ">= 1.0x native",
        [
            f"irods:// defaults: part size {b.fs.upload_part_size // MiB} MiB, upload_concurrency "
            f"{b.fs.upload_concurrency}; bytes moved = bytes up",
            "each put but the last row's makes a new object (the previous one removed, untimed, before "
            "every run); irods:// writes a hidden object, checks the server's SHA-256 and renames it; over "
            "an existing object it copies in place on the server and checksums the target again",
            "byte-exact: the server's SHA-256 of the object (forced) against the local file's",
            f"PRC caps a parallel transfer's threads at os.cpu_count() = {cpus} on this machine",
            *b.notes(runners),
            _load(),
        ],
    )


def make_tree(b: IRODSBench, top: str, collections: int, per_collection: int) -> list[str]:
    """``collections`` collections of ``per_collection`` empty objects under ``top``, made straight on
    the server with PRC (touch on several connections); returns the objects' paths, sorted."""
    colls = [f"{top}/c{i:03d}" for i in range(collections)]
    paths = [f"{c}/o{j:04d}" for c in colls for j in range(per_collection)]
    for c in colls:
        b.direct.collections.create(c)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(b.direct.data_objects.touch, paths))
    return sorted(paths)


def case_ib6(b: IRODSBench, reps: int, collections: int = 100) -> CaseReport:
    top = b.path("tree")
    expected = make_tree(b, top, collections, b.sizes.per_collection)
    walk_fs = IRODSFileSystem(skip_instance_cache=True, use_listings_cache=False, **b.options)

    def prc_walk() -> list[str]:
        coll = b.native.collections.get(top)
        return sorted(o.path for _, _, objs in coll.walk() for o in objs)

    candidate = "irods:// find"
    runners = {
        candidate: lambda: b.fs.find(top),
        "per-collection ls walk (fsspec default find, no listing cache)": lambda: (
            fsspec.AbstractFileSystem.find(walk_fs, top)
        ),
        "PRC walk (iRODSCollection.walk)": prc_walk,
    }
    b.api.apis = GEN_QUERY
    try:
        results = b.run("IB6", runners, reps, candidate, lambda out: out == expected)
    finally:
        b.api.apis = DATA_APIS
        walk_fs.close()
    return CaseReport(
        "IB6",
        f"find over {len(expected)} objects in {collections} collections",
        results,
        0,
        None,
        ">= 5x the walk",
        [
            "requests = GenQuery calls (pages included); bytes moved = bytes down",
            *b.notes(runners),
            _load(),
        ],
    )


def run_irods(workdir: Path, reps: int, size: int, cases: list[str]) -> list[CaseReport]:
    unknown = [c for c in cases if c.startswith("IB") and c not in IRODS_CASES]
    if unknown:
        raise ValueError(f"unknown iRODS cases {unknown}; known: {', '.join(IRODS_CASES)}")
    bench = IRODSBench(workdir, Sizes.scaled(size))
    try:
        bench.object("obj-ranged", bench.sizes.ranged, 42)
        bench.aggregate_bw, ceiling = bench.raw_throughput("obj-ranged")
        reports: list[CaseReport] = []
        if "IB1" in cases:
            reports.append(case_ib1(bench, reps))
        if "IB2" in cases:
            reports.append(case_ib2(bench, reps))
        if "IB4" in cases:
            reports += case_ib4(bench, reps)
        if "IB5" in cases:
            reports.append(case_ib5(bench, reps))
        if "IB6" in cases:
            reports.append(case_ib6(bench, reps))
        for rep in reports:
            rep.notes += ceiling
        return reports
    finally:
        bench.close()
