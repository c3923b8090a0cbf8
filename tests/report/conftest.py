"""Reading a generated report as a user's browser would: its tables, numbers and figures."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from typing import Any, NamedTuple

import pytest


class Cell(NamedTuple):
    text: str
    value: Any  # the exact number behind the text (its data-value), or None


class ReportPage(HTMLParser):
    """The parts of a report page the tests look at."""

    def __init__(self, text: str):
        super().__init__()
        self.text = text
        self.values: list[object] = []  # every data-value, in page order
        self.tables: list[list[list[Cell]]] = []  # table → rows → cells
        self.captions: list[str] = []
        self.svgs = 0
        self.resources: list[str] = []  # src/href that leave the page
        self.scripts = 0
        self._cell: list[str] | None = None
        self._caption: list[str] | None = None
        self._cell_values: list[object] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "data-value" in a:
            v = json.loads(a["data-value"])
            self.values.append(v)
            if self._cell is not None:
                self._cell_values.append(v)
        for key in ("src", "href"):
            if a.get(key) and not a[key].startswith("#"):
                self.resources.append(a[key])
        if tag == "svg":
            self.svgs += 1
        elif tag == "script":
            self.scripts += 1
        elif tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
            self._cell_values = []
        elif tag == "figcaption":
            self._caption = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self.tables and self.tables[-1]:
            self.tables[-1][-1].append(
                Cell("".join(self._cell).strip(), self._cell_values[0] if self._cell_values else None)
            )
            self._cell = None
        elif tag == "figcaption" and self._caption is not None:
            self.captions.append("".join(self._caption).strip())
            self._caption = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._caption is not None:
            self._caption.append(data)

    def table_with(self, *headers: str) -> list[dict[str, Cell]]:
        """The rows (header → cell) of the first table with these column headers."""
        for t in self.tables:
            names = [c.text for c in t[0]] if t else []
            if t and all(h in names for h in headers):
                return [dict(zip(names, row)) for row in t[1:]]
        raise AssertionError(f"no table with columns {headers}")

    def row(self, label: str) -> Cell:
        """The value cell of the first two-column (label, value) row with this label."""
        for t in self.tables:
            for r in t:
                if len(r) == 2 and r[0].text == label:
                    return r[1]
        raise AssertionError(f"no row {label!r}")


@pytest.fixture
def read_page():
    def read(path) -> ReportPage:
        page = ReportPage(path.read_text(encoding="utf-8"))
        page.feed(page.text)
        return page

    return read
