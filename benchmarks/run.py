"""Run the benchmark cases of BENCHMARKS.md and print one markdown table (and write a plot).

python -m benchmarks.run [--cases B1,B2,B3] [--reps 5] [--size-mib 256] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from .harness import MiB, plot, render_table
from .http_cases import run_http


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", default="B1,B2,B3", help="comma-separated case ids")
    parser.add_argument("--reps", type=int, default=5, help="timed repetitions per reader (>= 5)")
    parser.add_argument("--size-mib", type=int, default=256, help="object size for B1/B2")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    cases = [c.strip().upper() for c in args.cases.split(",") if c.strip()]
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fsr-bench-") as tmp:
        reports = run_http(Path(tmp), args.reps, args.size_mib * MiB, cases)
    table = render_table(reports)
    command = "python -m benchmarks.run " + " ".join(argv if argv is not None else sys.argv[1:])
    text = f"Command: `{command.strip()}`\n\n{table}\n"
    print(text)
    (args.out / "latest.md").write_text(text)
    plot(reports, args.out / "latest.png")
    print(f"wrote {args.out / 'latest.md'} and {args.out / 'latest.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
