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


def demo_swift(size_mib: int) -> None:
    """``swift://`` on a real OpenStack Swift started on loopback, behind the same WAN model."""
    import fsspec
    import pandas as pd

    from .testing import Netem
    from .testing.swift import swift_server

    data = random.Random(2).randbytes(size_mib * MiB)
    print(f"\nOpenStack Swift (real, tempauth) behind the WAN model, {size_mib} MiB object")
    with (
        swift_server() as srv,
        Netem(("127.0.0.1", srv.proxy_port), latency=0.010, bandwidth=50 * MiB) as net,
    ):
        options = {**srv.storage_options, "auth_url": f"{net.url()}/auth/v1.0", "segment_size": 16 * MiB}
        fs = fsspec.filesystem("swift", skip_instance_cache=True, **options)
        base = f"127.0.0.1:{net.port}/{srv.account}/demo"
        fs.mkdir(base)
        frame = pd.DataFrame({"station": ["a", "b", "c"], "t2m": [271.5, 268.25, 280.0]})
        frame.to_csv(f"swift://{base}/tables/obs.csv", index=False, storage_options=options)
        back = pd.read_csv(f"swift://{base}/tables/obs.csv", storage_options=options)
        assert back.equals(frame), "CSV round trip differs"
        print(f"  pandas to_csv/read_csv on swift://{base}/tables/obs.csv: {len(back)} rows")

        def write() -> None:
            with fs.open(f"{base}/big.bin", "wb") as f:
                for i in range(0, len(data), 8 * MiB):
                    f.write(data[i : i + 8 * MiB])

        _timed(f"streamed write -> Static Large Object ({size_mib // 16} segments in parallel)", write)
        got, _ = _timed(
            "read whole object (parallel ranges, If-Match pinned)", lambda: fs.cat(f"{base}/big.bin")
        )
        assert got == data, "whole-object read differs"
        rng = random.Random(1)
        starts = [rng.randrange(0, len(data) - 16384) for _ in range(256)]
        ends = [s + 16384 for s in starts]
        out, _ = _timed("256 x 16 KiB scattered ranges, one cat_ranges", lambda: fs.cat_ranges(
            [f"{base}/big.bin"] * 256, starts, ends))  # fmt: skip
        assert out == [data[s:e] for s, e in zip(starts, ends)], "cat_ranges differs"
        fs.grant(base, "public")
        anonymous = fsspec.filesystem("swift", anon=True, scheme="http", skip_instance_cache=True)
        assert anonymous.cat(f"{base}/tables/obs.csv") == fs.cat(f"{base}/tables/obs.csv")
        print(f"  public container read anonymously; listing: {anonymous.ls(base, detail=False)}")
        fs.rm(base, recursive=True)
        fs.rm(base + "_segments", recursive=True)


def demo_irods(size_mib: int) -> None:
    """``irods://`` through python-irodsclient, on the iRODS protocol server behind the same WAN model."""
    import tempfile

    import fsspec
    import pandas as pd

    from .testing import Netem, irods_server

    data = random.Random(3).randbytes(size_mib * MiB)
    print(f"\niRODS (protocol server, announcing 4.3.4) behind the WAN model, {size_mib} MiB object")
    with (
        irods_server() as srv,
        Netem((srv.host, srv.port), latency=0.010, bandwidth=50 * MiB) as net,
        tempfile.TemporaryDirectory() as home,
    ):
        env_file = srv.write_env(home, user="alice")  # what iinit leaves in ~/.irods
        options = {"irods_env_file": env_file, "port": net.port}
        fs = fsspec.filesystem("irods", skip_instance_cache=True, **options)
        base = f"/{srv.zone}/home/alice/demo"
        frame = pd.DataFrame({"sample": ["s1", "s2", "s3"], "od600": [0.12, 0.5, 0.75]})
        frame.to_csv(f"irods://{base}/tables/run1.csv", index=False, storage_options=options)
        back = pd.read_csv(f"irods://{base}/tables/run1.csv", storage_options=options)
        assert back.equals(frame), "CSV round trip differs"
        print(f"  pandas to_csv/read_csv on irods://{base}/tables/run1.csv: {len(back)} rows")

        def write() -> None:
            with fs.open(f"{base}/big.bin", "wb") as f:
                for i in range(0, len(data), 8 * MiB):
                    f.write(data[i : i + 8 * MiB])

        _timed("streamed write (parallel parts with a replica token, SHA-256 checked)", write)
        got, _ = _timed("read whole object (parallel descriptors, pinned)", lambda: fs.cat(f"{base}/big.bin"))
        assert got == data, "whole-object read differs"
        rng = random.Random(1)
        starts = [rng.randrange(0, len(data) - 16384) for _ in range(256)]
        ends = [s + 16384 for s in starts]
        out, _ = _timed("256 x 16 KiB scattered ranges, one cat_ranges", lambda: fs.cat_ranges(
            [f"{base}/big.bin"] * 256, starts, ends))  # fmt: skip
        assert out == [data[s:e] for s, e in zip(starts, ends)], "cat_ranges differs"
        fs.add_metadata(f"{base}/big.bin", "experiment", "demo-1")
        print(f"  checksum {fs.checksum(f'{base}/big.bin')}, AVUs {fs.info(f'{base}/big.bin')['metadata']}")
        ticket = fs.issue_ticket(f"{base}/tables/run1.csv", "read", uses=5)
        bob = fsspec.filesystem("irods", skip_instance_cache=True, **srv.options_for("bob"), ticket=ticket)
        assert bob.cat(f"{base}/tables/run1.csv") == fs.cat(f"{base}/tables/run1.csv")
        print("  bob read alice's table with a read ticket")
        bob.close()
        fs.rm(base, recursive=True)
        fs.close()


def demo_pfs(size_mib: int) -> None:
    """``pfs://`` through python-pachyderm, on the PFS gRPC server behind the same WAN model."""
    import fsspec
    import pandas as pd

    from .testing import Netem, pfs_server

    data = random.Random(4).randbytes(size_mib * MiB)
    print(f"\nPachyderm PFS (gRPC server, pachd 2.7 API) behind the WAN model, {size_mib} MiB file")
    with pfs_server() as srv, Netem((srv.host, srv.port), latency=0.010, bandwidth=50 * MiB) as net:
        options = {"host": "127.0.0.1", "port": net.port}
        fs = fsspec.filesystem("pfs", skip_instance_cache=True, **options)
        fs.mkdir("images@master")
        frame = pd.DataFrame({"image": ["a.png", "b.png"], "cells": [120, 98]})
        frame.to_csv("pfs://images@master/tables/cells.csv", index=False, storage_options=options)
        first = fs.resolve("images@master")
        _timed("write big.bin in one commit", lambda: fs.pipe("images@master/big.bin", data))
        got, _ = _timed("read it back (pinned to the head commit)", lambda: fs.cat("images@master/big.bin"))
        assert got == data, "whole-file read differs"
        rng = random.Random(1)
        starts = [rng.randrange(0, len(data) - 16384) for _ in range(256)]
        out, _ = _timed("256 x 16 KiB scattered ranges, one cat_ranges", lambda: fs.cat_ranges(
            ["images@master/big.bin"] * 256, starts, [s + 16384 for s in starts]))  # fmt: skip
        assert out == [data[s : s + 16384] for s in starts], "cat_ranges differs"
        try:
            with fs.transaction:
                fs.pipe("images@master/tables/cells.csv", b"half-written")
                raise RuntimeError("analysis failed")
        except RuntimeError:
            pass
        back = pd.read_csv("pfs://images@master/tables/cells.csv", storage_options=options)
        assert back.equals(frame), "a failed transaction changed the branch"
        print("  a failed transaction left master unchanged; commits that changed the table:",
              [c["commit"][:8] for c in fs.find_commits("images@master/tables/cells.csv")])  # fmt: skip
        print(f"  the first commit ({first[:8]}) still lists {fs.ls(f'images@{first}', detail=False)}")
        fs.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fsr", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="write and read through every backend on embedded test servers")
    demo.add_argument("--size-mib", type=int, default=64)
    args = parser.parse_args(argv)
    if args.command == "demo":
        t0 = time.perf_counter()
        demo_http(args.size_mib)
        demo_swift(args.size_mib)
        demo_irods(args.size_mib)
        demo_pfs(args.size_mib)
        print(f"demo finished in {time.perf_counter() - t0:.1f} s (pid {os.getpid()})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
