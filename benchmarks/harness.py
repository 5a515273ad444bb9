"""Shared benchmark machinery: the WAN model, alternating timed repetitions, limits, table and plot.

Every case runs candidate and baselines in the same process on the same object, alternated, and
reports the median, the min-max spread, the ratio against the candidate, requests and bytes moved.
"""

from __future__ import annotations

import functools
import math
import statistics
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MiB = 2**20
RTT = 0.020  #: round trip of the WAN model (10 ms each way)
STREAM_BW = 50 * MiB  #: bytes/s per TCP connection in the WAN model


def stops_on_failure(init: Callable[..., None]) -> Callable[..., None]:
    """For a bench's ``__init__``: if it raises, close what it had started (its ``_stack``), so that no
    server outlives a failed set-up."""

    @functools.wraps(init)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            init(self, *args, **kwargs)
        except BaseException:
            stack = getattr(self, "_stack", None)
            if stack is not None:
                stack.close()
            raise

    return wrapper


@dataclass
class Counters:
    """Reads request and byte counters of the server and the WAN proxy."""

    server: object
    net: object
    upload: bool = False  #: count bytes sent up (uploads) instead of bytes down

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
            stats = self.net.stats
            now = self.server.stats.requests, stats.bytes_up if self.upload else stats.bytes_down
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
    wrong: bool = False  #: its output failed the byte-exact check (only for runners allowed to)

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
    warmup: bool = True,
    may_be_wrong: Collection[str] = (),
    prepare: Callable[[], None] | None = None,
) -> list[Result]:
    """Time each runner ``reps`` times, alternating between them; count requests and bytes per run.

    Each runner's output must pass ``check`` (byte-exact results): that of a first untimed run, or with
    ``warmup=False`` (big transfers) that of its first timed run, checked after the clock stopped.
    Runners named in ``may_be_wrong`` (a known-buggy baseline) are marked ``wrong`` instead of failing.
    ``prepare`` runs, untimed, before every timed run (removing a previous run's download, say).
    """
    results = {name: Result(case, name, candidate=name == candidate) for name in runners}

    def verify(name: str, out: object) -> None:
        if not check(out):
            if name not in may_be_wrong:
                raise AssertionError(f"{case}: {name} returned wrong bytes")
            results[name].wrong = True

    if warmup:
        for name, fn in runners.items():
            verify(name, fn())
    for rep in range(reps):
        for name, fn in runners.items():
            if prepare is not None:
                prepare()
            counters.reset()
            t0 = time.perf_counter()
            out = fn()
            results[name].times.append(time.perf_counter() - t0)
            results[name].requests, results[name].bytes_moved = counters.read()
            if rep == 0 and not warmup:
                verify(name, out)
            del out
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
            name = f"{r.name} (wrong bytes)" if r.wrong else r.name
            ratio = "candidate" if r.candidate else f"{r.median / cand.median:.1f}x"
            vs_limit = f"{r.median / rep.limit:.2f}x" if r.candidate and rep.limit else ""
            lines.append(
                f"| {rep.case} | {name} | {r.median:.3f} | {min(r.times):.3f}-{max(r.times):.3f} | {ratio} "
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
        names = [f"{r.name} (wrong bytes)" if r.wrong else r.name for r in rep.results]
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
        low_x, high_x = ax.get_xlim()  # label minor ticks when no power of ten falls in the range
        no_decade = math.floor(math.log10(low_x)) == math.floor(math.log10(high_x))
        ax.xaxis.set_minor_formatter(ScalarFormatter() if no_decade else NullFormatter())
        ax.set_title(f"{rep.case}: {rep.title}", loc="left", fontsize=10)
    axes[-1, 0].set_xlabel("seconds, log scale (median, min-max)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
