"""B1 and B2 over an HTTP object on loopback behind the WAN model, fsspec's HTTP filesystem as transport.

B3 (netcdf_case) runs on the same server, proxy and filesystems.
"""

from __future__ import annotations

import asyncio
import http.client
import os
import random
import time
from contextlib import ExitStack
from pathlib import Path

import fsspec

from fsspec_research.testing import NetemProcess, http_server

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


class HTTPBench:
    """A random object served over HTTP through netem, plus the filesystems under test."""

    @stops_on_failure
    def __init__(self, workdir: Path, size: int, seed: int = 42) -> None:
        self._stack = ExitStack()
        self.size = size
        self.path = workdir / "object.bin"
        rng = random.Random(seed)
        with open(self.path, "wb") as f:
            for _ in range(0, size, 16 * MiB):
                f.write(rng.randbytes(min(16 * MiB, size - f.tell())))
        self.local = self.path.read_bytes()
        self.server = self._stack.enter_context(http_server(workdir))
        self.net = self._stack.enter_context(
            NetemProcess(("127.0.0.1", self.server.port), latency=RTT / 2, bandwidth=STREAM_BW)
        )
        self.url = f"{self.net.url('http')}/object.bin"
        self.counters = Counters(self.server, self.net)
        self.http = fsspec.filesystem("http", skip_instance_cache=True)
        self.parallel = fsspec.filesystem("parallel", target_protocol="http", skip_instance_cache=True)
        self.aggregate_bw = self._raw_throughput()

    def _raw_throughput(self) -> float:
        """Aggregate bytes/s of raw parallel range requests (the server's and proxy's own ceiling):
        the best of 16 streams x 8 MiB and 64 streams x 1 MiB, each tried four times."""
        return max(
            self._raw_run(streams, part) for streams, part in ((16, 8 * MiB), (64, MiB)) for _ in range(4)
        )

    def _raw_run(self, streams: int, part: int) -> float:
        async def run() -> float:
            t0 = time.perf_counter()
            parts = await asyncio.gather(
                *(self.http._cat_file(self.url, start=i * part, end=(i + 1) * part) for i in range(streams))
            )
            assert b"".join(parts) == self.local[: streams * part]
            return streams * part / (time.perf_counter() - t0)

        return fsspec.asyn.sync(self.http.loop, run)

    def raw_requests(self, starts: list[int], ends: list[int], parallelism: int) -> list[bytes]:
        """The ranged GETs sent bare (no planning), ``parallelism`` at a time.

        The floor the server, the proxy and the client's HTTP stack set on this machine for that many
        requests: the latency limit of a case is capped by it, as by raw throughput.
        """

        async def run() -> list[bytes]:
            sem = asyncio.Semaphore(parallelism)

            async def one(start: int, end: int) -> bytes:
                async with sem:
                    return await self.http._cat_file(self.url, start=start, end=end)

            return list(await asyncio.gather(*(one(s, e) for s, e in zip(starts, ends))))

        return fsspec.asyn.sync(self.http.loop, run)

    def close(self) -> None:
        self._stack.close()


def native_range_loop(url: str, starts: list[int], ends: list[int]) -> list[bytes]:
    """The plain client: one keep-alive connection, one ranged GET per range, in order."""
    host, port = url.split("/")[2].split(":")
    conn = http.client.HTTPConnection(host, int(port))
    path = "/" + url.split("/", 3)[3]
    out = []
    try:
        for start, end in zip(starts, ends):
            conn.request("GET", path, headers={"Range": f"bytes={start}-{end - 1}"})
            out.append(conn.getresponse().read())
    finally:
        conn.close()
    return out


def case_b1(bench: HTTPBench, reps: int, nranges: int = 256, length: int = 16 * 1024) -> CaseReport:
    rng = random.Random(1)
    starts = sorted(rng.randrange(0, bench.size - length) for _ in range(nranges))
    rng.shuffle(starts)
    ends = [s + length for s in starts]
    urls = [bench.url] * nranges
    expected = [bench.local[s:e] for s, e in zip(starts, ends)]
    parallelism = bench.parallel.concurrency
    plan = bench.parallel._plan(urls, starts, ends, None, None, {})

    def raw_planned() -> list[bytes]:
        starts_ends = ([r.start for r in plan.requests], [r.end for r in plan.requests])
        return plan.assemble(bench.raw_requests(*starts_ends, parallelism))

    candidate, floor_name = "parallel:: cat_ranges", "raw: the planned GETs, bare (aiohttp)"
    runners = {
        candidate: lambda: bench.parallel.cat_ranges(urls, starts, ends),
        floor_name: raw_planned,
        "fsspec http cat_ranges": lambda: bench.http.cat_ranges(urls, starts, ends),
        "native loop (http.client)": lambda: native_range_loop(bench.url, starts, ends),
    }
    results = run_alternating("B1", runners, bench.counters, reps, candidate, lambda out: out == expected)
    cand = next(r for r in results if r.candidate)
    model = latency_limit(cand.requests, parallelism, cand.bytes_moved, bench.aggregate_bw)
    floor = next(r for r in results if r.name == floor_name).median
    limit = max(model, floor)
    return CaseReport(
        "B1",
        f"{nranges} ranges of {length // 1024} KiB, one cat_ranges",
        results,
        nranges * length,
        limit,
        "<= 1.3x the latency limit, bytes moved <= 2x asked, >= 8x the native loop",
        [
            f"limit = max(WAN model {model:.3f} s for {cand.requests} requests at parallelism {parallelism}, "
            f"raw floor {floor:.3f} s: the same merged requests sent as bare parallel GETs on this machine, "
            "alternated with the other rows)"
        ],
    )


def case_b2(bench: HTTPBench, reps: int, read: int = 64 * MiB, block: int = 4 * MiB) -> CaseReport:
    offset = 16 * MiB + 12345
    expected = bench.local[offset : offset + read]

    def reader(fs, cache_type):
        def run() -> bytes:
            with fs.open(bench.url, "rb", cache_type=cache_type, block_size=block) as f:
                f.seek(offset)
                return f.read(read)

        return run

    candidate = "parallel:: blockcache"
    runners = {
        candidate: reader(bench.parallel, "blockcache"),
        "fsspec http blockcache": reader(bench.http, "blockcache"),
        "fsspec http readahead": reader(bench.http, "readahead"),
    }
    results = run_alternating("B2", runners, bench.counters, reps, candidate, lambda out: out == expected)
    blocks = -(-(offset + read) // block) - offset // block
    limit = latency_limit(blocks, bench.parallel.concurrency, blocks * block, bench.aggregate_bw) + RTT
    return CaseReport(
        "B2",
        f"one {read // MiB} MiB read, blockcache {block // MiB} MiB",
        results,
        read,
        limit,
        ">= 4x fsspec blockcache",
        ["limit includes the HEAD of open (one RTT)"],
    )


def run_http(workdir: Path, reps: int, size: int, cases: list[str]) -> list[CaseReport]:
    bench = HTTPBench(workdir, size)
    try:
        reports = []
        if "B1" in cases:
            reports.append(case_b1(bench, reps))
        if "B2" in cases:
            reports.append(case_b2(bench, reps))
        if "B3" in cases:
            from .netcdf_case import case_b3  # needs the bench extra's xarray, h5netcdf and h5py

            reports.append(case_b3(bench, reps))
        for rep in reports:
            rep.notes.append(f"server+proxy raw throughput {bench.aggregate_bw / MiB:.0f} MiB/s")
        return reports
    finally:
        bench.close()
        os.unlink(bench.path)
