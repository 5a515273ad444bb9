"""Run the benchmark cases of BENCHMARKS.md and print one markdown table (and write a plot).

python -m benchmarks.run [--cases B1,B2,B3] [--reps 5] [--size-mib 256] [--out benchmarks/results]

Cases B1-B3 run over HTTP (``parallel::``); SB1, SB2, SB4 and SB5 are B1, B2, B4 and B5 on ``swift://``
against a real Swift (https unless ``--swift-http``; SB4 also reports SB4get, the download to a file),
SB2T, SB4T and SB5T sweep tuning options (part sizes of reads, segment size x concurrency of put);
IB1, IB2, IB4, IB5 and IB6 are B1, B2, B4, B5 and B6 on ``irods://`` against the test iRODS server
(IB4 also reports IB4get; their sizes scale with ``--size-mib``); S3B1-S3B4 are B1-B4 on ``s3r://`` and
``parallel::s3://`` against s3fs (moto); PB1, PB2, PB4, PB5 and PB6 are B1, B2, B4, B5 and B6 on
``pfs://`` against the test PFS server (PB4 also reports PB4get; sizes scale with ``--size-mib``).
Outputs: ``OUT/latest.{md,png}``, or ``OUT/latest-swift.{md,png}`` when only Swift cases ran
(``tuning-swift`` when only sweeps ran), or ``OUT/latest-irods.{md,png}`` when only iRODS cases ran
(``latest-s3`` for S3 cases, ``latest-pfs`` for PFS cases).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from .harness import MiB, plot, render_table
from .http_cases import run_http

HTTP_CASES = ("B1", "B2", "B3")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--cases",
        default="B1,B2,B3",
        help="comma-separated case ids: B1,B2,B3, SB1,SB2,SB2T,SB4,SB4T,SB5,SB5T, IB1,IB2,IB4,IB5,IB6, "
        "S3B1,S3B2,S3B3,S3B4 and PB1,PB2,PB4,PB5,PB6",
    )
    parser.add_argument("--reps", type=int, default=5, help="timed repetitions per reader (>= 5)")
    parser.add_argument(
        "--size-mib",
        type=int,
        default=256,
        help="object size for B1/B2, IB1/IB2 and PB1/PB2 (IB4-IB6 and PB4-PB6 scale with it)",
    )
    parser.add_argument("--swift-http", action="store_true", help="Swift over http (no swiftspec rows)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    cases = [c.strip().upper() for c in args.cases.split(",") if c.strip()]
    args.out.mkdir(parents=True, exist_ok=True)
    reports = []
    with tempfile.TemporaryDirectory(prefix="fsr-bench-") as tmp:
        if any(c in HTTP_CASES for c in cases):
            reports += run_http(Path(tmp), args.reps, args.size_mib * MiB, cases)
        if any(c.startswith("SB") for c in cases):
            from .swift_cases import run_swift  # needs python-swiftclient (the test extra)

            reports += run_swift(Path(tmp), args.reps, cases, tls=not args.swift_http)
        if any(c.startswith("IB") for c in cases):
            from .irods_cases import run_irods  # needs python-irodsclient (the irods extra)

            reports += run_irods(Path(tmp), args.reps, args.size_mib * MiB, cases)
        if any(c.startswith("S3") for c in cases):
            from .s3_cases import run_s3  # needs the s3 extra and moto (the test extra)

            reports += run_s3(Path(tmp), args.reps, cases, args.size_mib * MiB)
        if any(c.startswith("PB") for c in cases):
            from .pfs_cases import run_pfs  # needs python-pachyderm (the pfs extra)

            reports += run_pfs(Path(tmp), args.reps, args.size_mib * MiB, cases)
    table = render_table(reports)
    given = list(argv if argv is not None else sys.argv[1:])
    for i, arg in reversed(list(enumerate(given))):  # where the results went is not part of the recipe
        if arg == "--out":
            del given[i : i + 2]
        elif arg.startswith("--out="):
            del given[i]
    command = "python -m benchmarks.run " + " ".join(given)
    text = f"Command: `{command.strip()}`\n\n{table}\n"
    print(text)
    stem = "latest" if any(c in HTTP_CASES for c in cases) else "latest-swift"
    if all(c.startswith("SB") and c.endswith("T") for c in cases):
        stem = "tuning-swift"
    if all(c.startswith("IB") for c in cases):
        stem = "latest-irods"
    if all(c.startswith("S3") for c in cases):
        stem = "latest-s3"
    if all(c.startswith("PB") for c in cases):
        stem = "latest-pfs"
    (args.out / f"{stem}.md").write_text(text)
    plot(reports, args.out / f"{stem}.png")
    print(f"wrote {args.out / (stem + '.md')} and {args.out / (stem + '.png')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
