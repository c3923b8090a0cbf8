"""`archon report PATH... [--out report.html]`: one self-contained HTML page on searches, runs and queries."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from ..errors import ArchonError


def cmd_report(args: argparse.Namespace) -> int:
    from ..report import write_report

    out = Path(args.out)
    if out.is_dir():
        raise ArchonError(f"--out {args.out} is a folder: give the HTML file to write")
    if not out.parent.is_dir():
        raise ArchonError(f"--out {args.out}: the folder {out.parent} does not exist")
    path = write_report(args.paths, out, title=args.title)
    Console(stderr=True, highlight=False, markup=False, emoji=False, soft_wrap=True).print(
        f"wrote {path} ({path.stat().st_size // 1024 + 1} KiB, self-contained: open it in any browser)"
    )
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "report",
        help="one self-contained HTML report on search folders, benchmark run folders and trace files",
        description="Charts and tables for any mix of search folders (archon search --out), benchmark run folders "
        "(archon bench --out) and trace files (archon run --trace). The page works offline.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="a search folder, a benchmark run folder or a trace file")
    p.add_argument("--out", default="report.html", help="the HTML file to write (default: report.html)")
    p.add_argument("--title", default="archon report", help="the page's title")
    p.set_defaults(func=cmd_report)
