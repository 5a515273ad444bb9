"""SB1, SB2, SB4 and SB5: B1, B2, B4 and B5 of BENCHMARKS.md on ``swift://`` against a real Swift.

One Swift (``swift_server``, tempauth, https by default) sits behind the WAN model (``NetemProcess``:
netem in a child process, so its event loop does not take this process's interpreter lock from the
clients it measures, as a real network would not): every client, ours and the baselines, logs in
through the Netem address, and tempauth names that address in the storage URL
it hands out, so all requests cross the model. Requests are the client requests the proxy logged (its
access log; SLO segment subrequests excluded), bytes are what Netem delivered (TLS records included).
Test objects are plain (non-SLO) objects uploaded straight to the proxy, outside the model.

Baselines: python-swiftclient (``Connection`` loops, ``SwiftService`` download and SLO upload), bare
aiohttp range requests, fsspec's HTTP filesystem with the token header, and swiftspec 0.0.4 (installed
on demand into ``benchmarks/.vendor``, never into the venv, whose ``swift`` entry point it would take).
``SB2T`` sweeps ``min_part_size`` for SB2's read, ``SB4T`` ``part_size`` for SB4's ``cat_file``, ``SB5T``
``segment_size`` x ``upload_concurrency`` for ``put``.
"""

from __future__ import annotations

import asyncio
import filecmp
import hashlib
import json
import os
import random
import ssl
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import fsspec
import swiftclient.client
import swiftclient.service
from fsspec.asyn import AsyncFileSystem, sync
from fsspec.implementations.http import HTTPFileSystem
from fsspec.registry import _registry

from fsspec_research.swift import SwiftFileSystem
from fsspec_research.testing import NetemProcess
from fsspec_research.testing.swift import swift_server
from fsspec_research.testing.swift.process import read_pids

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

SWIFT_CASES = ("SB1", "SB2", "SB2T", "SB4", "SB4T", "SB5", "SB5T")
SWIFTSPEC = "swiftspec==0.0.4"
VENDOR = Path(__file__).parent / ".vendor" / "swiftspec-0.0.4"
GiB = 1024 * MiB


def load_swiftspec() -> type:
    """swiftspec's filesystem class, pip-installed into ``VENDOR`` on first use; ``swift`` stays ours.

    (swiftspec's import registers its class as ``swift``, which fails while ours is registered.)
    """
    if not (VENDOR / "swiftspec").is_dir():
        pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(VENDOR)]
        subprocess.run([*pip, SWIFTSPEC], check=True)
    if str(VENDOR) not in sys.path:
        sys.path.append(str(VENDOR))
    ours = _registry.pop("swift", None)
    try:
        import swiftspec
    finally:
        _registry.pop("swift", None)
        if ours is not None:
            fsspec.register_implementation("swift", SwiftFileSystem, clobber=True)
    return swiftspec.SWIFTFileSystem


class ProxyLog:
    """Client requests served by the Swift proxy, from its access log: the ``stats.requests`` and
    ``reset_stats`` of a test server. Middleware subrequests (SLO segments) carry a swift_source."""

    def __init__(self, path: str) -> None:
        self.path, self._offset = path, 0
        self.methods: Counter[str] = Counter()
        self.reset_stats()

    def reset_stats(self) -> None:
        self._scan()
        self.methods = Counter()

    @property
    def stats(self) -> SimpleNamespace:
        self._scan()
        return SimpleNamespace(requests=sum(self.methods.values()))

    def _scan(self) -> None:
        with open(self.path, "rb") as f:
            f.seek(self._offset)
            data = f.read()
        end = data.rfind(b"\n") + 1
        self._offset += end
        for line in data[:end].decode("utf-8", "replace").splitlines():
            fields = line.partition("proxy-server: ")[2].split()
            # client_ip remote_addr time method path protocol status ... request_time source
            if len(fields) > 16 and fields[5].startswith("HTTP/") and fields[16] == "-":
                self.methods[fields[3]] += 1


class Sched:
    """Where the wall time of timed runs went, from ``/proc/.../schedstat``: the fractions of it the proxy,
    the object server and this process's event-loop thread (``fsspecIO``) spent on a CPU (run) and
    runnable but waiting for one (wait), this process's CPU use, and netem's (a child process: the WAN
    model). run + wait near 1: CPU-bound; a large wait: starved by the machine's other load."""

    def __init__(self, server_directory: str, netem_pid: int) -> None:
        pids = {p.name: p.pid for p in read_pids(server_directory)}
        threads = {t.name: t.native_id for t in threading.enumerate()}
        self.tasks = {
            "proxy": f"/proc/{pids['proxy-server']}/task",
            "object-server": f"/proc/{pids['object-server']}/task",
            "fsspec loop": f"/proc/self/task/{threads['fsspecIO']}",
            "netem": f"/proc/{netem_pid}/task",
        }
        self.samples: dict[str, list[dict[str, tuple[float, float]]]] = {}

    def _read(self) -> dict[str, tuple[float, float]]:
        out = {}
        for name, path in self.tasks.items():
            dirs = [path] if not path.endswith("/task") else [f"{path}/{t}" for t in os.listdir(path)]
            run = wait = 0
            for d in dirs:
                with open(f"{d}/schedstat") as f:
                    r, w, _ = f.read().split()
                run, wait = run + int(r), wait + int(w)
            out[name] = (run / 1e9, wait / 1e9)
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        out["process CPU"] = ((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 0.0)
        return out

    def wrap(self, label: str, fn: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            before, t0 = self._read(), time.perf_counter()
            try:
                return fn()
            finally:
                wall, after = time.perf_counter() - t0, self._read()
                self.samples.setdefault(label, []).append(
                    {k: ((after[k][0] - v[0]) / wall, (after[k][1] - v[1]) / wall) for k, v in before.items()}
                )

        return run

    def wrap_all(self, runners: dict[str, Callable[[], Any]]) -> dict[str, Callable[[], Any]]:
        return {label: self.wrap(label, fn) for label, fn in runners.items()}

    def notes(self, labels: Iterable[str]) -> list[str]:
        out = []
        for label in labels:
            runs = self.samples.pop(label, [])
            if not runs:
                continue

            def share(key: str, i: int, runs: list = runs) -> float:
                return statistics.median(r[key][i] for r in runs)

            keys = ("proxy", "object-server", "fsspec loop")
            parts = [f"{k} {share(k, 0):.2f}+{share(k, 1):.2f}" for k in keys]
            out.append(
                f"profile {label}: run+wait {', '.join(parts)}; process CPU {share('process CPU', 0):.2f} "
                f"(netem's process {share('netem', 0):.2f}); medians over {len(runs)} runs"
            )
        return out


class SwiftBench:
    """A Swift behind netem, its test objects, and the clients under test (all through netem)."""

    container = "bench"

    def run_exact(self, case: str, runners: dict, reps: int, candidate: str, expected: object) -> list:
        """Alternate ``runners``, each checked byte-exact against ``expected``; swiftspec rows, whose
        off-by-one ranges return wrong bytes, are marked in the table instead of failing the run."""
        wrong = {k for k in runners if k.startswith("swiftspec")}
        return run_alternating(
            case, self.sched.wrap_all(runners), self.counters, reps, candidate,
            lambda out: out == expected, may_be_wrong=wrong,
        )  # fmt: skip

    @stops_on_failure
    def __init__(self, workdir: Path, tls: bool = True) -> None:
        self._stack = ExitStack()
        self.workdir = workdir
        self.srv = self._stack.enter_context(swift_server(tls=tls, directory=workdir / "swift"))
        self.tls = tls
        self.net = self._stack.enter_context(
            NetemProcess(("127.0.0.1", self.srv.proxy_port), latency=RTT / 2, bandwidth=STREAM_BW)
        )
        self.log = ProxyLog(self.srv.log_file)
        self.counters = Counters(self.log, self.net)
        self.up_counters = Counters(self.log, self.net, upload=True)
        ca, user, key = self.srv.ca_file, self.srv.storage_options["user"], self.srv.storage_options["key"]
        self.ssl: Any = ssl.create_default_context(cafile=ca) if ca else True
        self.host = f"127.0.0.1:{self.net.port}"
        self.auth_url = f"{self.srv.scheme}://{self.host}/auth/v1.0"
        self.options = dict(self.srv.storage_options, auth_url=self.auth_url)
        self.fs = SwiftFileSystem(skip_instance_cache=True, **self.options)
        self.loop = self.fs.loop
        self.sched = Sched(self.srv.directory, self.net.pid)
        self.storage_url, self.token = swiftclient.client.get_auth(self.auth_url, user, key, cacert=ca)
        if not self.storage_url.startswith(f"{self.srv.scheme}://{self.host}/"):
            raise RuntimeError(f"tempauth's storage URL {self.storage_url} bypasses the WAN model")
        self.root = f"swift://{self.host}/{self.srv.account}/{self.container}"
        self.direct = swiftclient.client.Connection(
            self.srv.storage_options["auth_url"], user, key, cacert=ca
        )
        self.direct.put_container(self.container)
        self.sizes: dict[str, int] = {}
        self._session: aiohttp.ClientSession | None = None
        self._swiftspec: Any = None

    def object(self, name: str, size: int, seed: int) -> Path:
        """Seeded random local file ``name``, uploaded as one plain object straight to the proxy."""
        path = self.workdir / name
        if name not in self.sizes:
            rng = random.Random(seed)
            with open(path, "wb") as f:
                for off in range(0, size, 16 * MiB):
                    f.write(rng.randbytes(min(16 * MiB, size - off)))
            with open(path, "rb") as f:
                self.direct.put_object(self.container, name, f, content_length=size)
            self.sizes[name] = size
        return path

    def path(self, name: str) -> str:
        return f"{self.root}/{name}"

    def url(self, name: str) -> str:
        return f"{self.storage_url}/{self.container}/{name}"

    # clients
    def native(self) -> swiftclient.client.Connection:
        """python-swiftclient on one keep-alive connection, with the token tempauth gave over netem."""
        return swiftclient.client.Connection(
            preauthurl=self.storage_url, preauthtoken=self.token, cacert=self.srv.ca_file, retries=0
        )

    def service(self) -> swiftclient.service.SwiftService:
        opts = {
            "os_storage_url": self.storage_url,
            "os_auth_token": self.token,
            "os_cacert": self.srv.ca_file,
        }
        return self._stack.enter_context(swiftclient.service.SwiftService(opts))

    async def _client(self, **_: Any) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=self.ssl))

    def swiftspec(self) -> Any:
        if self._swiftspec is None:
            cls = load_swiftspec()
            auth = [{"url": self.storage_url, "token": self.token}]
            self._swiftspec = cls(auth=auth, get_client=self._client, skip_instance_cache=True)
        return self._swiftspec

    def http(self) -> HTTPFileSystem:
        """fsspec's HTTP filesystem on the storage URL, sending the token."""
        return HTTPFileSystem(
            headers={"X-Auth-Token": self.token}, get_client=self._client, skip_instance_cache=True
        )

    # bare aiohttp: the ceiling of the server and proxy
    def raw_get(self, name: str, ranges: list[tuple[int, int]], parallelism: int) -> list[bytes]:
        """The ranges as bare parallel GETs (no planning, no checks), ``parallelism`` at a time."""
        return self.raw_get_batches(name, [[span] for span in ranges], parallelism)

    def raw_get_batches(
        self, name: str, batches: list[list[tuple[int, int]]], parallelism: int
    ) -> list[bytes]:
        """Each batch of ranges as one bare GET (a multi-range one for several), ``parallelism`` at a
        time; the bodies are read, not parsed."""

        async def run() -> list[bytes]:
            if self._session is None:
                self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256, ssl=self.ssl))
            sem = asyncio.Semaphore(parallelism)

            async def one(spans: list[tuple[int, int]]) -> bytes:
                ranges = ",".join(f"{lo}-{hi - 1}" for lo, hi in spans)
                headers = {"X-Auth-Token": self.token, "Range": f"bytes={ranges}"}
                async with sem, self._session.get(self.url(name), headers=headers) as r:  # type: ignore[union-attr]
                    r.raise_for_status()
                    return await r.read()

            return list(await asyncio.gather(*(one(spans) for spans in batches)))

        return sync(self.loop, run)

    def raw_throughput(self, name: str) -> tuple[float, list[str]]:
        """Best bytes/s of bare parallel range GETs (16 x 8 MiB thrice, 64 x 1 MiB twice), and notes on
        where their time went."""
        best = 0.0
        for streams, part, tries in ((16, 8 * MiB, 3), (64, MiB, 2)):
            ranges = [(i * part, (i + 1) * part) for i in range(streams)]
            run = self.sched.wrap("raw ceiling", lambda r=ranges, n=streams: self.raw_get(name, r, n))
            for _ in range(tries):
                best = max(best, streams * part / _timed(run))
        return best, [
            f"Swift raw ceiling {best / MiB:.0f} MiB/s (best bare parallel GETs through netem)",
            *self.sched.notes(["raw ceiling"]),
            f"{_load()} on {os.cpu_count()} cores at the start",
        ]

    def slo_matches(self, name: str, local: Path) -> bool:
        """Whether ``name`` is an SLO whose segments (MD5-verified by Swift on upload) are the local file."""
        headers, body = self.direct.get_object(self.container, name, query_string="multipart-manifest=get")
        if headers.get("x-static-large-object") != "True":
            return False
        with open(local, "rb") as f:
            for seg in json.loads(body):
                if hashlib.md5(f.read(seg["bytes"])).hexdigest() != seg["hash"]:
                    return False
            return f.read(1) == b""

    def close(self) -> None:
        if self._session is not None:
            sync(self.loop, self._session.close)
        self._stack.close()


def _load() -> str:
    return f"load average {os.getloadavg()[0]:.1f}"


def case_sb1(b: SwiftBench, reps: int, nranges: int = 256, length: int = 16 * 1024) -> CaseReport:
    name = "obj256"
    local = b.object(name, 256 * MiB, 42).read_bytes()
    rng = random.Random(1)
    starts = sorted(rng.randrange(0, len(local) - length) for _ in range(nranges))
    rng.shuffle(starts)
    ends = [s + length for s in starts]
    paths = [b.path(name)] * nranges
    expected = [local[s:e] for s, e in zip(starts, ends)]
    conn = b.native()

    def native_loop() -> list[bytes]:
        return [
            conn.get_object(b.container, name, headers={"Range": f"bytes={s}-{e - 1}"})[1]
            for s, e in zip(starts, ends)
        ]

    candidate = "swift:// cat_ranges"
    runners = {
        candidate: lambda: b.fs.cat_ranges(paths, starts, ends),
        "fsspec default cat_ranges on swift://": lambda: sync(
            b.loop, AsyncFileSystem._cat_ranges, b.fs, paths, starts, ends
        ),
        "native loop (swiftclient get_object)": native_loop,
    }
    if b.tls:  # swiftspec speaks https only
        spec = b.swiftspec()
        runners["swiftspec 0.0.4 cat_ranges (fsspec default)"] = lambda: spec.cat_ranges(paths, starts, ends)
    results = b.run_exact("SB1", runners, reps, candidate, expected)
    cand = next(r for r in results if r.candidate)
    parallelism = b.fs.concurrency
    model = latency_limit(cand.requests, parallelism, cand.bytes_moved, b.aggregate_bw)
    plan = b.fs._plan([b.fs._strip_protocol(p) for p in paths], starts, ends, None, None, {})
    jobs = [[(plan.requests[r].start, plan.requests[r].end) for r in job] for job in plan.jobs()]
    raw = b.sched.wrap("raw floor", lambda: b.raw_get_batches(name, jobs, parallelism))
    floor = statistics.median(_timed(raw) for _ in range(5))
    proxy_cpu = statistics.median(r["proxy"][0] for r in b.sched.samples["raw floor"]) * floor / len(jobs)
    conn.close()
    return CaseReport(
        "SB1",
        f"{nranges} ranges of {length // 1024} KiB, one cat_ranges",
        results,
        nranges * length,
        max(model, floor),
        "<= 1.3x the latency limit, >= 8x the native loop",
        [
            f"limit = max(WAN model {model:.3f} s for {cand.requests} requests at parallelism {parallelism}, "
            f"raw floor {floor:.3f} s: the {len(plan.requests)} planned ranges in {len(jobs)} bare parallel "
            "GETs, batched as the plan batches them)",
            "fsspec's default _cat_ranges calls swift://'s _cat_file per range, which HEADs before its GET",
            "swiftspec asks bytes=start-end (HTTP ranges include the end): one byte too many per range",
            f"the proxy spends {proxy_cpu * 1000:.1f} ms of CPU per GET (raw floor runs)",
            *b.sched.notes([*runners, "raw floor"]),
            _load(),
        ],
    )


B2_OFFSET, B2_READ, B2_BLOCK = 16 * MiB + 12345, 64 * MiB, 4 * MiB


def _reader(fs: Any, url: str, cache_type: str) -> Callable[[], bytes]:
    """SB2's workload: open with ``cache_type`` and 4 MiB blocks, seek, one 64 MiB read."""

    def run() -> bytes:
        with fs.open(url, "rb", cache_type=cache_type, block_size=B2_BLOCK) as f:
            f.seek(B2_OFFSET)
            return f.read(B2_READ)

    return run


def case_sb2(b: SwiftBench, reps: int) -> CaseReport:
    name, read, block = "obj256", B2_READ, B2_BLOCK
    local = b.object(name, 256 * MiB, 42).read_bytes()
    offset = B2_OFFSET
    expected = local[offset : offset + read]
    reader = _reader

    http = b.http()
    candidate = "swift:// blockcache"
    runners = {
        candidate: reader(b.fs, b.path(name), "blockcache"),
        "fsspec http blockcache (token header)": reader(http, b.url(name), "blockcache"),
        "fsspec http readahead (token header)": reader(http, b.url(name), "readahead"),
    }
    if b.tls:
        spec = b.swiftspec()
        runners["swiftspec 0.0.4 blockcache"] = reader(spec, b.path(name), "blockcache")
        runners["swiftspec 0.0.4 readahead"] = reader(spec, b.path(name), "readahead")
    results = b.run_exact("SB2", runners, reps, candidate, expected)
    blocks = -(-(offset + read) // block) - offset // block
    limit = latency_limit(blocks, b.fs.concurrency, blocks * block, b.aggregate_bw) + RTT
    return CaseReport(
        "SB2",
        f"one {read // MiB} MiB read, blockcache {block // MiB} MiB",
        results,
        read,
        limit,
        ">= 4x fsspec blockcache",
        ["limit includes the HEAD of open (one RTT)", *b.sched.notes(runners), _load()],
    )


def case_sb2t(b: SwiftBench, reps: int) -> CaseReport:
    """SB2's read with ``min_part_size`` settings (the candidate is the default)."""
    local = b.object("obj256", 256 * MiB, 42).read_bytes()
    expected = local[B2_OFFSET : B2_OFFSET + B2_READ]
    runners = {}
    for mib in (None, 1, 2, 4, 8):
        fs = SwiftFileSystem(
            skip_instance_cache=True, **b.options, **({"min_part_size": mib * MiB} if mib else {})
        )
        label = f"min_part_size {fs.min_part_size / MiB:g} MiB" + ("" if mib else " (default)")
        runners[label] = _reader(fs, b.path("obj256"), "blockcache")
    results = run_alternating(
        "SB2T", b.sched.wrap_all(runners), b.counters, reps, next(iter(runners)), lambda out: out == expected
    )
    return CaseReport(
        "SB2T", "SB2's read, part size tuning", results, B2_READ, None, "pick defaults",
        [*b.sched.notes(runners), _load()],
    )  # fmt: skip


def case_sb4(b: SwiftBench, reps: int, size: int = GiB, streams: int = 16) -> list[CaseReport]:
    name = "obj1g"
    local_path = b.object(name, size, 7)
    local = local_path.read_bytes()
    conn, svc = b.native(), b.service()
    part = size // streams
    out = b.workdir / "download.bin"

    def get_object() -> bytes:
        return b"".join(conn.get_object(b.container, name, resp_chunk_size=MiB)[1])

    def download() -> Path:
        for res in svc.download(b.container, [name], {"out_file": str(out)}):
            if not res["success"]:
                raise RuntimeError(f"SwiftService.download failed: {res.get('error')}")
        return out

    def get() -> Path:
        b.fs.get(b.path(name), str(out))
        return out

    cand_mem, cand_get = "swift:// cat_file", "swift:// get"
    raw_name = f"raw {streams} x {part // MiB} MiB ranges (aiohttp)"
    to_memory = {
        cand_mem: lambda: b.fs.cat_file(b.path(name)),
        raw_name: lambda: b.raw_get(name, [(i * part, (i + 1) * part) for i in range(streams)], streams),
        "swiftclient get_object (streamed)": get_object,
    }
    to_file = {cand_get: get, "SwiftService.download": download}

    def check(got: Any) -> bool:
        if isinstance(got, Path):
            return filecmp.cmp(got, local_path, shallow=False)
        return (got if isinstance(got, bytes) else b"".join(got)) == local

    # one alternation of all five, so that both reports see the same machine load
    results = run_alternating(
        "SB4", b.sched.wrap_all({**to_memory, **to_file}), b.counters, reps, cand_mem, check, warmup=False,
        prepare=lambda: out.unlink(missing_ok=True),  # every get writes a new file, as into a fresh path
    )  # fmt: skip
    conn.close()
    mem = [r for r in results if r.name in to_memory]
    files = [r for r in results if r.name in to_file]
    for r in files:
        r.case, r.candidate = "SB4get", r.name == cand_get
    memory = peak_memory_of_get(b.options, b.path(name), out)
    fs_part = b.fs._part_size_for(size)
    bound = 2 * fs_part * b.fs.concurrency
    cand = next(r for r in mem if r.candidate)
    raw = next(r for r in mem if r.name == raw_name)
    ceiling = max(b.aggregate_bw, size / raw.median)
    limit = latency_limit(cand.requests, b.fs.concurrency, size, ceiling)
    goal = ">= 0.9x raw; >= 1.0x native"
    return [
        CaseReport(
            "SB4", f"{size // MiB} MiB object to memory", mem, size, limit, goal,
            [
                f"limit with the better of the raw ceiling and the raw row: {ceiling / MiB:.0f} MiB/s",
                *b.sched.notes(to_memory), _load(),
            ],
        ),
        CaseReport(
            "SB4get",
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
                *b.sched.notes(to_file),
                _load(),
            ],
        ),
    ]  # fmt: skip


def case_sb4t(b: SwiftBench, reps: int, size: int = GiB) -> CaseReport:
    """SB4's ``cat_file`` with ``part_size`` settings (the candidate is the default), beside raw GETs.

    A read is never split into fewer parts than ``concurrency`` allows, so larger parts come with
    fewer streams; each label names the part size and stream count the read really used."""
    local = b.object("obj1g", size, 7).read_bytes()
    runners = {}
    for mib, streams in ((None, None), (16, 64), (32, 32), (64, 16)):
        tuned = {"part_size": mib * MiB, "concurrency": streams} if mib else {}
        fs = SwiftFileSystem(skip_instance_cache=True, **b.options, **tuned)
        part = fs._part_size_for(size)
        label = f"cat_file {part // MiB} MiB parts x {min(fs.concurrency, -(-size // part))} streams"
        runners[label + ("" if mib else " (default)")] = lambda fs=fs: fs.cat_file(b.path("obj1g"))
    part = size // 16
    runners["raw 16 x 64 MiB ranges (aiohttp)"] = lambda: b.raw_get(
        "obj1g", [(i * part, (i + 1) * part) for i in range(16)], 16
    )
    results = run_alternating(
        "SB4T",
        b.sched.wrap_all(runners),
        b.counters,
        reps,
        next(iter(runners)),
        lambda got: (got if isinstance(got, bytes) else b"".join(got)) == local,
        warmup=False,
    )
    return CaseReport(
        "SB4T", "SB4's cat_file, part size tuning", results, size, None, "pick defaults",
        [*b.sched.notes(runners), _load()],
    )  # fmt: skip


_MEMORY_PROBE = """
import json, sys, time, tracemalloc
from fsspec_research.swift import SwiftFileSystem
options, path, out = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
fs = SwiftFileSystem(skip_instance_cache=True, **options)
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
    A fresh process, since this one holds the allocator arenas of earlier cases."""
    cmd = [sys.executable, "-c", _MEMORY_PROBE, json.dumps(options), path, str(out)]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def case_sb5(b: SwiftBench, reps: int, size: int = GiB, segment: int = 32 * MiB) -> CaseReport:
    local = b.object("obj1g", size, 7)
    svc = b.service()

    def upload() -> str:
        obj = swiftclient.service.SwiftUploadObject(str(local), object_name="put-swiftclient")
        for res in svc.upload(b.container, [obj], {"segment_size": segment, "use_slo": True}):
            if not res["success"]:
                raise RuntimeError(f"SwiftService.upload failed: {res.get('error')}")
        return "put-swiftclient"

    candidate = "swift:// put"
    native = f"SwiftService.upload (SLO, {segment // MiB} MiB segments, 10 segment threads)"
    runners = {candidate: _putter(b.fs, local, b.path("put-fsr")), native: upload}
    results = run_alternating(
        "SB5",
        b.sched.wrap_all(runners),
        b.up_counters,
        reps,
        candidate,
        lambda n: b.slo_matches(n, local),
        warmup=False,
    )
    return CaseReport(
        "SB5",
        f"put {size // MiB} MiB",
        results,
        size,
        None,
        ">= 1.0x native",
        [
            f"swift:// defaults: segment_size {b.fs.upload_part_size // MiB} MiB, "
            f"upload_concurrency {b.fs.upload_concurrency}; bytes moved = bytes up",
            "byte-exact: each SLO segment's MD5 (verified by Swift at upload) against the local file",
            "swift:// put writes uniquely named segments, then deletes those of the object it replaced (a "
            "manifest GET and 32 DELETEs per run); SwiftService names segments by file mtime and size, so "
            "it overwrites the same segments and deletes none",
            *b.sched.notes(runners),
            _load(),
        ],
    )


def case_sb5t(b: SwiftBench, reps: int, size: int = GiB) -> CaseReport:
    """put with segment_size x upload_concurrency settings (the candidate is the default)."""
    local = b.object("obj1g", size, 7)
    configs: list[dict[str, int]] = [{}]  # the defaults first: the candidate
    configs += [{"segment_size": s * MiB, "upload_concurrency": c} for s, c in TUNING]
    runners = {}
    for i, opts in enumerate(configs):
        fs = SwiftFileSystem(skip_instance_cache=True, **b.options, **opts)
        label = f"segment_size {fs.upload_part_size // MiB} MiB, upload_concurrency {fs.upload_concurrency}"
        runners[label + ("" if opts else " (default)")] = _putter(fs, local, b.path(f"put-tune-{i}"))
    candidate = next(iter(runners))
    results = run_alternating(
        "SB5T",
        b.sched.wrap_all(runners),
        b.up_counters,
        reps,
        candidate,
        lambda n: b.slo_matches(n, local),
        warmup=False,
    )
    return CaseReport(
        "SB5T", f"put {size // MiB} MiB, tuning", results, size, None, "pick defaults",
        [*b.sched.notes(runners), _load()],
    )  # fmt: skip


TUNING = [(16, 16), (32, 16), (64, 8), (64, 16), (128, 8)]  #: SB5T's (segment MiB, concurrency) pairs


def _putter(fs: SwiftFileSystem, local: Path, target: str) -> Any:
    def put() -> str:
        fs.put(str(local), target)
        return target.rsplit("/", 1)[1]

    return put


def _timed(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run_swift(workdir: Path, reps: int, cases: list[str], tls: bool = True) -> list[CaseReport]:
    unknown = [c for c in cases if c.startswith("SB") and c not in SWIFT_CASES]
    if unknown:
        raise ValueError(f"unknown Swift cases {unknown}; known: {', '.join(SWIFT_CASES)}")
    os.environ.setdefault("FSSPEC_RESEARCH_SWIFT_TIMEOUT", "180")  # a loaded 2-core machine starts slowly
    bench = SwiftBench(workdir, tls=tls)
    try:
        bench.object("obj256", 256 * MiB, 42)
        bench.aggregate_bw, ceiling = bench.raw_throughput("obj256")
        reports: list[CaseReport] = []
        if "SB1" in cases:
            reports.append(case_sb1(bench, reps))
        if "SB2" in cases:
            reports.append(case_sb2(bench, reps))
        if "SB2T" in cases:
            reports.append(case_sb2t(bench, reps))
        if "SB4" in cases:
            reports += case_sb4(bench, reps)
        if "SB4T" in cases:
            reports.append(case_sb4t(bench, reps))
        if "SB5" in cases:
            reports.append(case_sb5(bench, reps))
        if "SB5T" in cases:
            reports.append(case_sb5t(bench, reps))
        for rep in reports:
            rep.notes += ceiling
        return reports
    finally:
        bench.close()
