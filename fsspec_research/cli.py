"""The ``fsr`` command.

``fsr demo`` writes and reads data through every backend on the embedded test servers, behind a
modelled wide-area link, and prints what it did and how long it took.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections.abc import Callable
from typing import Any

MiB = 2**20


def _timed(label: str, fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    elapsed = time.perf_counter() - t0
    print(f"  {label:<58} {elapsed:7.3f} s")
    return out, elapsed


def demo_http(size_mib: int) -> None:
    """``parallel::`` over fsspec's HTTP filesystem, against the embedded HTTP object server."""
    import fsspec

    from .testing import Netem, http_server

    data = random.Random(0).randbytes(size_mib * MiB)
    print(
        f"HTTP object server behind a WAN model (20 ms RTT, 50 MiB/s per connection), {size_mib} MiB object"
    )
    with http_server() as srv, Netem(("127.0.0.1", srv.port), latency=0.010, bandwidth=50 * MiB) as net:
        url = f"parallel::{net.url('http')}/demo/object.bin"
        plain = fsspec.filesystem("http", skip_instance_cache=True)
        fast = fsspec.filesystem("parallel", target_protocol="http", skip_instance_cache=True)
        target = url.removeprefix("parallel::")

        def write() -> None:
            with fsspec.open(url, "wb") as f:
                for i in range(0, len(data), 8 * MiB):
                    f.write(data[i : i + 8 * MiB])

        _timed("write through parallel:: (parts spooled, one upload at commit)", write)
        got, t_fast = _timed("read whole object, parallel:: (parallel ranges)", lambda: fast.cat_file(target))
        assert got == data, "whole-object read differs"
        got, t_plain = _timed("read whole object, fsspec http", lambda: plain.cat_file(target))
        assert got == data
        print(f"  -> {t_plain / t_fast:.1f}x faster")

        rng = random.Random(1)
        starts = [rng.randrange(0, len(data) - 16384) for _ in range(256)]
        ends = [s + 16384 for s in starts]
        paths = [target] * len(starts)
        out, t_fast = _timed(
            "256 x 16 KiB scattered ranges, parallel:: cat_ranges",
            lambda: fast.cat_ranges(paths, starts, ends),
        )
        assert out == [data[s:e] for s, e in zip(starts, ends)], "cat_ranges differs"
        _, t_plain = _timed(
            "256 x 16 KiB scattered ranges, fsspec http cat_ranges",
            lambda: plain.cat_ranges(paths, starts, ends),
        )
        print(f"  -> {t_plain / t_fast:.1f}x")

        def block_read(fs: Any) -> Callable[[], bytes]:
            def run() -> bytes:
                with fs.open(target, "rb", cache_type="blockcache", block_size=4 * MiB) as f:
                    f.seek(MiB)
                    return f.read(32 * MiB)

            return run

        out, t_fast = _timed("32 MiB read, cache_type='blockcache' (xarray's), parallel::", block_read(fast))
        assert out == data[MiB : 33 * MiB], "blockcache read differs"
        _, t_plain = _timed("32 MiB read, cache_type='blockcache', fsspec http", block_read(plain))
        print(f"  -> {t_plain / t_fast:.1f}x faster")
        print(
            f"  requests served: {srv.stats.requests}, "
            f"bytes through the WAN model: {net.stats.bytes_down / MiB:.0f} MiB"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fsr", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="write and read through every backend on embedded test servers")
    demo.add_argument("--size-mib", type=int, default=64)
    args = parser.parse_args(argv)
    if args.command == "demo":
        t0 = time.perf_counter()
        demo_http(args.size_mib)
        print(f"demo finished in {time.perf_counter() - t0:.1f} s (pid {os.getpid()})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
