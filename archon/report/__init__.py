"""Reports: one self-contained HTML page on searches, benchmark runs and single queries (``archon report``)."""

from .render import build_report, write_report
from .sources import load_sources

__all__ = ["build_report", "load_sources", "write_report"]
