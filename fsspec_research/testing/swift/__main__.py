"""Command line: ``install [--keystone]``, ``start DIR [--keystone] [--tls]``, ``stop DIR``."""

from __future__ import annotations

import argparse
import sys

from .install import install
from .server import handle_json, start, stop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fsspec_research.testing.swift", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_install = sub.add_parser("install", help="install Swift (and Keystone) into the cache, start nothing")
    p_install.add_argument("--keystone", action="store_true")
    p_start = sub.add_parser(
        "start", help="start servers in DIR, print the handle as JSON, leave them running"
    )
    p_start.add_argument("directory")
    p_start.add_argument("--keystone", action="store_true")
    p_start.add_argument("--tls", action="store_true")
    p_stop = sub.add_parser("stop", help="stop the servers recorded in DIR")
    p_stop.add_argument("directory")
    args = parser.parse_args(argv)
    if args.command == "install":
        print(install(keystone=args.keystone))
    elif args.command == "start":
        print(handle_json(start(args.directory, keystone=args.keystone, tls=args.tls)))
    else:
        stopped = stop(args.directory)
        print(f"stopped {len(stopped)} processes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
