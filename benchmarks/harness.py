"""Shared benchmark machinery: the WAN model, alternating timed repetitions, limits, table and plot.

Every case runs candidate and baselines in the same process on the same object, alternated, and
reports the median, the min-max spread, the ratio against the candidate, requests and bytes moved.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

MiB = 2**20
RTT = 0.020  #: round trip of the WAN model (10 ms each way)
STREAM_BW = 50 * MiB  #: bytes/s per TCP connection in the WAN model


@dataclass
class Counters:
    """Reads request and byte counters of the server and the WAN proxy."""

    server: object
    net: object

    def reset(self) -> None:
        self.server.reset_stats()
        self.net.reset_stats()

    def read(self, quiet: float = 5 * RTT, timeout: float = 10.0) -> tuple[int, int]:
        """Requests and bytes down, once no request or byte has arrived for ``quiet`` seconds.

        A reader's background transfers (a read-ahead still in flight when its file closed) are
        charged to it, not to the next reader, and do not compete with the next reader's timing.
        """
        deadline = time.monotonic() + timeout
        last = None
        while True:
            now = self.server.stats.requests, self.net.stats.bytes_down
            if now == last or time.monotonic() > deadline:
                return now
            last = now
            time.sleep(quiet)


@dataclass
class Result:
    case: str
    name: str
    times: list[float] = field(default_factory=list)
    requests: int = 0
    bytes_moved: int = 0
    candidate: bool = False

    @property
    def median(self) -> float:
        return statistics.median(self.times)


@dataclass
class CaseReport:
    case: str
    title: str
    results: list[Result]
    bytes_asked: int
    limit: float | None = None
    goal: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def candidate(self) -> Result:
        return next(r for r in self.results if r.candidate)


def run_alternating(
    case: str,
    runners: dict[str, Callable[[], object]],
    counters: Counters,
    reps: int,
    candidate: str,
    check: Callable[[object], bool],
) -> list[Result]:
    """Time each runner ``reps`` times, alternating between them; count requests and bytes per run.

    Each runner first runs once untimed, and its output must pass ``check`` (byte-exact results).
    """
    results = {name: Result(case, name, candidate=name == candidate) for name in runners}
    for name, fn in runners.items():
        if not check(fn()):
            raise AssertionError(f"{case}: {name} returned wrong bytes")
    for _ in range(reps):
        for name, fn in runners.items():
            counters.reset()
            t0 = time.perf_counter()
            fn()
            results[name].times.append(time.perf_counter() - t0)
            results[name].requests, results[name].bytes_moved = counters.read()
    return list(results.values())


def latency_limit(requests: int, parallelism: int, nbytes: int, aggregate_bw: float) -> float:
    """``ceil(requests / parallelism) x RTT + bytes / min(streams x per-stream bw, server throughput)``."""
    streams = max(1, min(requests, parallelism))
    return math.ceil(requests / parallelism) * RTT + nbytes / min(streams * STREAM_BW, aggregate_bw)


def _fmt_bytes(n: int) -> str:
    return f"{n / MiB:.1f} MiB" if n >= MiB else f"{n / 1024:.0f} KiB"


def render_table(reports: list[CaseReport]) -> str:
    lines = [
        "| case | reader | median s | min-max s | vs candidate | requests | bytes moved | vs limit |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for rep in reports:
        cand = rep.candidate
        for r in rep.results:
            ratio = "candidate" if r.candidate else f"{r.median / cand.median:.1f}x"
            vs_limit = f"{r.median / rep.limit:.2f}x" if r.candidate and rep.limit else ""
            lines.append(
                f"| {rep.case} | {r.name} | {r.median:.3f} | {min(r.times):.3f}-{max(r.times):.3f} | {ratio} "
                f"| {r.requests} | {_fmt_bytes(r.bytes_moved)} | {vs_limit} |"
            )
    notes = []
    for rep in reports:
        notes.append(f"- {rep.case} {rep.title}: asked {_fmt_bytes(rep.bytes_asked)}; goal {rep.goal}")
        notes += [f"  - {n}" for n in rep.notes]
    return "\n".join([*lines, "", *notes])


def plot(reports: list[CaseReport], path: Path) -> None:
    """Bar chart of median times per case (log scale), candidate highlighted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    fig, axes = plt.subplots(len(reports), 1, figsize=(10, 2.4 * len(reports)), squeeze=False)
    for ax, rep in zip(axes[:, 0], reports):
        names = [r.name for r in rep.results]
        medians = [r.median for r in rep.results]
        low = [r.median - min(r.times) for r in rep.results]
        errs = [low, [max(r.times) - r.median for r in rep.results]]
        colors = ["tab:green" if r.candidate else "tab:gray" for r in rep.results]
        ax.barh(names, medians, xerr=errs, color=colors)
        if rep.limit:
            ax.axvline(rep.limit, color="tab:red", linestyle="--", label="latency limit")
            ax.legend(loc="lower right")
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(f"{rep.case}: {rep.title}", loc="left", fontsize=10)
    axes[-1, 0].set_xlabel("seconds, log scale (median, min-max)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
