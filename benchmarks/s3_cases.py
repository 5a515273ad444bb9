"""S3B1-S3B4: B1-B4 of BENCHMARKS.md on ``s3r://`` and on ``parallel::s3://`` against plain s3fs.

The S3 server is ``testing.s3_server`` (moto) in a child process, so that its request handling does not
share this process's interpreter lock with the clients under test; every client, ours and the
baselines, reaches it through the WAN model (``NetemProcess``: netem in a child process too), while test
objects are uploaded straight to it.
Requests are those the server counted, bytes are what Netem delivered.

Each case has two candidates, ``s3r://`` (the S3 backend) and ``parallel::s3://`` (the range core in
front of plain s3fs, with its defaults: on an object store a read is split into 16 parts at most, as
``s3r://`` splits it), timed in one alternation with the baselines: s3fs with its default ``readahead``
cache, its ``blockcache``, its own ``cat_ranges`` and ``cat_file``/``get``, boto3 in a loop (the native
client) and bare parallel ranged GETs through aiobotocore (the server's own ceiling).
"""

from __future__ import annotations

import asyncio
import dataclasses
import filecmp
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import numpy as np
import s3fs
from fsspec.asyn import sync

from fsspec_research.parallel import ParallelFileSystem
from fsspec_research.s3 import ResearchS3FileSystem
from fsspec_research.testing import NetemProcess

from .harness import (
    RTT,
    STREAM_BW,
    CaseReport,
    Counters,
    MiB,
    Result,
    latency_limit,
    run_alternating,
    stops_on_failure,
)

S3_CASES = ("S3B1", "S3B2", "S3B3", "S3B4")
GiB = 1024 * MiB
B2_OFFSET, B2_READ, B2_BLOCK = 16 * MiB + 12345, 64 * MiB, 4 * MiB

_SERVER = """
import json, sys
from fsspec_research.testing import s3_server
with s3_server() as srv:
    print(json.dumps({"endpoint": srv.endpoint_url, "bucket": srv.bucket, "port": srv.port}), flush=True)
    for line in sys.stdin:
        if line.strip() == "reset":
            srv.reset_stats()
        print(json.dumps({"requests": srv.stats.requests}), flush=True)
"""


class ServerProcess:
    """``s3_server`` in a child process; ``stats.requests`` and ``reset_stats`` as a test server has them."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        info = json.loads(self.proc.stdout.readline())  # type: ignore[union-attr]
        self.endpoint, self.bucket, self.port = info["endpoint"], info["bucket"], info["port"]

    def _ask(self, command: str) -> int:
        self.proc.stdin.write(command + "\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        return json.loads(self.proc.stdout.readline())["requests"]  # type: ignore[union-attr]

    @property
    def stats(self) -> SimpleNamespace:
        return SimpleNamespace(requests=self._ask("stats"))

    def reset_stats(self) -> None:
        self._ask("reset")

    def close(self) -> None:
        self.proc.stdin.close()  # type: ignore[union-attr]
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class S3Bench:
    """moto in a child process behind netem, its test objects, and the clients under test."""

    @stops_on_failure
    def __init__(self, workdir: Path) -> None:
        self._stack = ExitStack()
        self.workdir = workdir
        self.server = ServerProcess()
        self._stack.callback(self.server.close)
        self.net = self._stack.enter_context(
            NetemProcess(("127.0.0.1", self.server.port), latency=RTT / 2, bandwidth=STREAM_BW)
        )
        self.counters = Counters(self.server, self.net)
        self.bucket = self.server.bucket
        self.endpoint = f"http://127.0.0.1:{self.net.port}"  # through the WAN model
        self.s3fs_options = {
            "endpoint_url": self.endpoint,
            "key": "testing",
            "secret": "testing",
            "client_kwargs": {"region_name": "us-east-1"},
        }
        self.s3r = ResearchS3FileSystem(
            skip_instance_cache=True, endpoint_url=self.endpoint, key="testing", secret="testing"
        )
        self.plain = s3fs.S3FileSystem(skip_instance_cache=True, **self.s3fs_options)
        self.parallel = ParallelFileSystem(  # as parallel::s3:// with the same options makes it
            target_protocol="s3",
            target_options={**self.s3fs_options, "skip_instance_cache": True},
            skip_instance_cache=True,
        )
        raw_options = {**self.s3fs_options, "config_kwargs": {"max_pool_connections": 128}}
        self.raw = s3fs.S3FileSystem(skip_instance_cache=True, **raw_options)
        self.direct = s3fs.S3FileSystem(  # uploads, straight to the server (slow to assemble 1 GiB)
            skip_instance_cache=True,
            **{**self.s3fs_options, "endpoint_url": self.server.endpoint},
            config_kwargs={"read_timeout": 600},
        )
        self.sizes: dict[str, int] = {}
        self.aggregate_bw = 0.0

    def object(self, name: str, size: int, seed: int) -> Path:
        """Seeded random local file ``name``, uploaded once straight to the server."""
        path = self.workdir / name
        if name not in self.sizes:
            rng = random.Random(seed)
            with open(path, "wb") as f:
                for off in range(0, size, 16 * MiB):
                    f.write(rng.randbytes(min(16 * MiB, size - off)))
            self.upload(path, name)
        return path

    def upload(self, path: Path, name: str) -> None:
        self.direct.put_file(str(path), f"{self.bucket}/{name}")
        self.sizes[name] = path.stat().st_size

    def key(self, name: str) -> str:
        return f"{self.bucket}/{name}"

    def raw_get(self, name: str, ranges: list[tuple[int, int]], parallelism: int) -> list[bytes]:
        """The ranges as bare parallel ranged GetObject calls (no planning, no checks)."""

        async def run() -> list[bytes]:
            sem = asyncio.Semaphore(parallelism)

            async def one(lo: int, hi: int) -> bytes:
                async with sem:
                    resp = await self.raw._call_s3(
                        "get_object", Bucket=self.bucket, Key=name, Range=f"bytes={lo}-{hi - 1}"
                    )
                    try:
                        return await resp["Body"].read()
                    finally:
                        resp["Body"].close()

            return list(await asyncio.gather(*(one(lo, hi) for lo, hi in ranges)))

        return sync(self.raw.loop, run)

    def raw_throughput(self, name: str) -> float:
        """Best bytes/s of bare parallel ranged GETs (16 x 8 MiB thrice, 64 x 1 MiB twice)."""
        best = 0.0
        for streams, part, tries in ((16, 8 * MiB, 3), (64, MiB, 2)):
            part = min(part, self.sizes[name] // streams)
            ranges = [(i * part, (i + 1) * part) for i in range(streams)]
            for _ in range(tries):
                best = max(
                    best, streams * part / _timed(lambda r=ranges, n=streams: self.raw_get(name, r, n))
                )
        return best

    def close(self) -> None:
        self._stack.close()


def _split(results: list[Result], case: str, candidate: str, others: set[str]) -> list[Result]:
    """The rows of one report: ``candidate`` marked as such, the other candidates left out."""
    return [
        dataclasses.replace(r, case=case, candidate=r.name == candidate)
        for r in results
        if r.name not in others or r.name == candidate
    ]


def _two_reports(
    results: list[Result],
    case: str,
    candidates: tuple[str, str],
    make: Callable[[str, list[Result]], CaseReport],
) -> list[CaseReport]:
    s3r, par = candidates
    return [
        make(case, _split(results, case, s3r, {par})),
        make(case + "p", _split(results, case + "p", par, {s3r})),
    ]


def case_s3b1(
    b: S3Bench, reps: int, size: int = 256 * MiB, nranges: int = 256, length: int = 16 * 1024
) -> list[CaseReport]:
    name = f"obj{size // MiB}"
    local = b.object(name, size, 42).read_bytes()
    rng = random.Random(1)
    starts = sorted(rng.randrange(0, len(local) - length) for _ in range(nranges))
    rng.shuffle(starts)
    ends = [s + length for s in starts]
    paths = [b.key(name)] * nranges
    expected = [local[s:e] for s, e in zip(starts, ends)]
    native = boto3.client(
        "s3", endpoint_url=b.endpoint, aws_access_key_id="testing", aws_secret_access_key="testing",
        region_name="us-east-1",
    )  # fmt: skip

    def native_loop() -> list[bytes]:
        return [
            native.get_object(Bucket=b.bucket, Key=name, Range=f"bytes={s}-{e - 1}")["Body"].read()
            for s, e in zip(starts, ends)
        ]

    plan = b.s3r._plan(paths, starts, ends, None, None, {})
    ranges = [(r.start, r.end) for r in plan.requests]
    parallelism = b.s3r.concurrency

    def raw_planned() -> list[bytes]:
        return plan.assemble(b.raw_get(name, ranges, parallelism))

    cands = ("s3r:// cat_ranges", "parallel::s3:// cat_ranges")
    floor_name = "raw: the planned GETs, bare (aiobotocore)"
    runners = {
        cands[0]: lambda: b.s3r.cat_ranges(paths, starts, ends),
        cands[1]: lambda: b.parallel.cat_ranges(paths, starts, ends),
        floor_name: raw_planned,
        "s3fs cat_ranges (fsspec default)": lambda: b.plain.cat_ranges(paths, starts, ends),
        "native loop (boto3 get_object)": native_loop,
    }
    results = run_alternating("S3B1", runners, b.counters, reps, cands[0], lambda out: out == expected)
    native.close()

    def make(case: str, rows: list[Result]) -> CaseReport:
        cand = next(r for r in rows if r.candidate)
        model = latency_limit(cand.requests, parallelism, cand.bytes_moved, b.aggregate_bw)
        loop = next(r for r in rows if r.name.startswith("native"))
        floor = next(r for r in rows if r.name == floor_name).median
        return CaseReport(
            case,
            f"{nranges} ranges of {length // 1024} KiB, one cat_ranges ({cand.name.split()[0]})",
            rows,
            nranges * length,
            max(model, floor),
            "<= 1.3x the latency limit, >= 8x the native loop",
            [
                f"limit = max(WAN model {model:.3f} s for {cand.requests} requests at parallelism "
                f"{parallelism}, raw floor {floor:.3f} s: the {len(ranges)} planned requests as bare "
                "parallel GETs, alternated with the other rows)",
                f"goal: {cand.median / max(model, floor):.2f}x the limit, {loop.median / cand.median:.1f}x "
                "faster than the native loop",
            ],
        )

    return _two_reports(results, "S3B1", cands, make)


def _reader(fs: Any, path: str, cache_type: str) -> Callable[[], bytes]:
    def run() -> bytes:
        with fs.open(path, "rb", cache_type=cache_type, block_size=B2_BLOCK) as f:
            f.seek(B2_OFFSET)
            return f.read(B2_READ)

    return run


def case_s3b2(b: S3Bench, reps: int, size: int = 256 * MiB) -> list[CaseReport]:
    name = f"obj{size // MiB}"
    local = b.object(name, size, 42).read_bytes()
    expected = local[B2_OFFSET : B2_OFFSET + B2_READ]
    path = b.key(name)
    cands = ("s3r:// blockcache", "parallel::s3:// blockcache")
    runners = {
        cands[0]: _reader(b.s3r, path, "blockcache"),
        cands[1]: _reader(b.parallel, path, "blockcache"),
        "s3fs blockcache": _reader(b.plain, path, "blockcache"),
        "s3fs readahead (its default)": _reader(b.plain, path, "readahead"),
    }
    results = run_alternating("S3B2", runners, b.counters, reps, cands[0], lambda out: out == expected)
    blocks = -(-(B2_OFFSET + B2_READ) // B2_BLOCK) - B2_OFFSET // B2_BLOCK
    limit = latency_limit(blocks, b.s3r.concurrency, blocks * B2_BLOCK, b.aggregate_bw) + RTT

    def make(case: str, rows: list[Result]) -> CaseReport:
        cand = next(r for r in rows if r.candidate)
        base = next(r for r in rows if r.name == "s3fs blockcache")
        return CaseReport(
            case,
            f"one {B2_READ // MiB} MiB read, blockcache {B2_BLOCK // MiB} MiB ({cand.name.split()[0]})",
            rows,
            B2_READ,
            limit,
            ">= 4x s3fs blockcache",
            [
                "limit includes the HEAD of open (one RTT)",
                f"goal: {base.median / cand.median:.1f}x faster than s3fs blockcache",
            ],
        )

    return _two_reports(results, "S3B2", cands, make)


def case_s3b3(b: S3Bench, reps: int, block: int = 4 * MiB) -> list[CaseReport]:
    from .netcdf_case import CHUNKS, NAME, SHAPE, SUBSET, ensure_netcdf, load_subset, trace_reads

    local = ensure_netcdf(b.workdir)
    if NAME not in b.sizes:
        b.upload(local, NAME)
    with open(local, "rb") as f:
        expected = load_subset(f)
    reads = trace_reads(local)
    size = local.stat().st_size
    touched = {n for pos, k in reads if k for n in range(pos // block, (pos + k - 1) // block + 1)}
    floor = sum(min(size, (n + 1) * block) - n * block for n in touched)
    path = b.key(NAME)

    def reader(fs: Any, cache_type: str) -> Callable[[], np.ndarray]:
        def run() -> np.ndarray:
            with fs.open(path, "rb", cache_type=cache_type, block_size=block) as f:
                return load_subset(f)

        return run

    cands = ("s3r:// blockcache", "parallel::s3:// blockcache")
    runners = {
        cands[0]: reader(b.s3r, "blockcache"),
        cands[1]: reader(b.parallel, "blockcache"),
        "s3fs blockcache (xarray default)": reader(b.plain, "blockcache"),
        "s3fs readahead": reader(b.plain, "readahead"),
    }
    results = run_alternating(
        "S3B3", runners, b.counters, reps, cands[0], lambda out: np.array_equal(out, expected)
    )

    def make(case: str, rows: list[Result]) -> CaseReport:
        cand = next(r for r in rows if r.candidate)
        base = next(r for r in rows if r.name.startswith("s3fs blockcache"))
        speedup, ratio = base.median / cand.median, cand.bytes_moved / base.bytes_moved
        met = "met" if speedup >= 2 and ratio <= 0.5 else "MISSED"
        return CaseReport(
            case,
            f"xarray h5netcdf, {SUBSET.stop - SUBSET.start} of {SHAPE[0]} days ({cand.name.split()[0]})",
            rows,
            expected.nbytes,
            None,
            ">= 2x faster and <= 0.5x bytes moved vs s3fs blockcache (xarray default), 4 MiB blocks",
            [
                f"{size / MiB:.0f} MiB NetCDF4, tas{SHAPE} float32, chunks {CHUNKS}, no zlib (benchmarks/"
                "netcdf_case.py)",
                f"goal {met}: {speedup:.1f}x faster, {ratio:.2f}x the bytes moved of s3fs blockcache",
                f"h5py reads {len(touched)} blocks of {block // MiB} MiB: a whole-block cache moves at least "
                f"{floor / MiB:.1f} MiB",
            ],
        )

    return _two_reports(results, "S3B3", cands, make)


def case_s3b4(b: S3Bench, reps: int, size: int = GiB, streams: int = 16) -> list[CaseReport]:
    name = "obj1g"
    local_path = b.object(name, size, 7)
    local = local_path.read_bytes()
    path, out = b.key(name), b.workdir / "download.bin"
    part = size // streams

    def getter(fs: Any) -> Callable[[], Path]:
        def run() -> Path:
            fs.get_file(path, str(out))
            return out

        return run

    mem = ("s3r:// cat_file", "parallel::s3:// cat_file")
    files = ("s3r:// get", "parallel::s3:// get")
    raw_name = f"raw {streams} x {part // MiB} MiB ranged GETs (aiobotocore)"
    runners = {
        mem[0]: lambda: b.s3r.cat_file(path),
        mem[1]: lambda: b.parallel.cat_file(path),
        raw_name: lambda: b.raw_get(name, [(i * part, (i + 1) * part) for i in range(streams)], streams),
        "s3fs cat_file": lambda: b.plain.cat_file(path),
        files[0]: getter(b.s3r),
        files[1]: getter(b.parallel),
        "s3fs get": getter(b.plain),
    }

    def check(got: Any) -> bool:
        if isinstance(got, Path):
            return filecmp.cmp(got, local_path, shallow=False)
        return (got if isinstance(got, bytes) else b"".join(got)) == local

    fresh = lambda: out.unlink(missing_ok=True)  # noqa: E731 (every get writes a new file, as into a fresh path)
    results = run_alternating("S3B4", runners, b.counters, reps, mem[0], check, warmup=False, prepare=fresh)
    raw = next(r for r in results if r.name == raw_name)
    ceiling = max(b.aggregate_bw, size / raw.median)
    to_memory = [r for r in results if r.name in (*mem, raw_name, "s3fs cat_file")]
    to_file = [r for r in results if r.name in (*files, "s3fs get")]

    def make(case: str, rows: list[Result]) -> CaseReport:
        cand = next(r for r in rows if r.candidate)
        native = next(r for r in rows if r.name.startswith("s3fs"))
        limit = latency_limit(cand.requests, b.s3r.concurrency, size, ceiling)
        is_get = "cat" not in cand.name
        return CaseReport(
            case,
            f"{size // MiB} MiB object {'to a local file' if is_get else 'to memory'} "
            f"({cand.name.split()[0]})",
            rows,
            size,
            limit,
            ">= 0.9x raw; >= 1.0x s3fs",
            [
                f"limit with the better of the raw ceiling and the raw row: {ceiling / MiB:.0f} MiB/s",
                f"goal: {raw.median / cand.median:.2f}x raw, {native.median / cand.median:.2f}x s3fs",
                *(
                    ["each get writes a new file: the previous run's is removed, untimed, before every run"]
                    * is_get
                ),
            ],
        )

    reports = _two_reports(to_memory, "S3B4", mem, make)
    file_rows = [*to_file, raw]
    reports += _two_reports(file_rows, "S3B4get", files, make)
    return reports


def _timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run_s3(
    workdir: Path, reps: int, cases: list[str], size: int = 256 * MiB, big: int = GiB
) -> list[CaseReport]:
    """The S3 cases: S3B1/S3B2 on a ``size`` object, S3B4 on a ``big`` one."""
    unknown = [c for c in cases if c.startswith("S3") and c not in S3_CASES]
    if unknown:
        raise ValueError(f"unknown S3 cases {unknown}; known: {', '.join(S3_CASES)}")
    bench = S3Bench(workdir)
    try:
        bench.object(f"obj{size // MiB}", size, 42)
        bench.aggregate_bw = bench.raw_throughput(f"obj{size // MiB}")
        reports: list[CaseReport] = []
        if "S3B1" in cases:
            reports += case_s3b1(bench, reps, size)
        if "S3B2" in cases:
            reports += case_s3b2(bench, reps, size)
        if "S3B3" in cases:
            reports += case_s3b3(bench, reps)
        if "S3B4" in cases:
            reports += case_s3b4(bench, reps, big)
        load = f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at the end"
        for rep in reports:
            rep.notes += [
                f"server (moto, child process) + netem raw ceiling {bench.aggregate_bw / MiB:.0f} MiB/s",
                load,
            ]
        return reports
    finally:
        bench.close()
