"""Run the benchmark cases of BENCHMARKS.md and print one markdown table (and write a plot).

python -m benchmarks.run [--cases B1,B2,B3] [--reps 5] [--size-mib 256] [--out benchmarks/results]

Cases B1-B3 run over HTTP (``parallel::``); SB1, SB2, SB4 and SB5 are B1, B2, B4 and B5 on ``swift://``
against a real Swift (https unless ``--swift-http``; SB4 also reports SB4get, the download to a file),
SB2T, SB4T and SB5T sweep tuning options (part sizes of reads, segment size x concurrency of put). Outputs:
``OUT/latest.{md,png}``, or ``OUT/latest-swift.{md,png}`` when only Swift cases ran (``tuning-swift`` when
only sweeps ran).
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
        help="comma-separated case ids: B1,B2,B3 and SB1,SB2,SB2T,SB4,SB4T,SB5,SB5T",
    )
    parser.add_argument("--reps", type=int, default=5, help="timed repetitions per reader (>= 5)")
    parser.add_argument("--size-mib", type=int, default=256, help="object size for B1/B2")
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
    table = render_table(reports)
    command = "python -m benchmarks.run " + " ".join(argv if argv is not None else sys.argv[1:])
    text = f"Command: `{command.strip()}`\n\n{table}\n"
    print(text)
    stem = "latest" if any(c in HTTP_CASES for c in cases) else "latest-swift"
    if all(c.startswith("SB") and c.endswith("T") for c in cases):
        stem = "tuning-swift"
    (args.out / f"{stem}.md").write_text(text)
    plot(reports, args.out / f"{stem}.png")
    print(f"wrote {args.out / (stem + '.md')} and {args.out / (stem + '.png')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
