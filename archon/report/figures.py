"""The report's charts, drawn with matplotlib and inlined as SVG (text stays text: searchable, sharp, offline)."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence

from ..errors import ArchonError

try:  # the optional `report` extra
    import matplotlib

    matplotlib.use("Agg")  # files only: never open a window
    from matplotlib.figure import Figure
except ImportError:  # pragma: no cover - exercised where the extra is missing
    Figure = None  # type: ignore[assignment,misc]

__all__ = [
    "bars",
    "bars_with_intervals",
    "best_so_far",
    "distribution",
    "importances",
    "require_matplotlib",
    "scatter_front",
    "score_vs_calls",
    "timeline",
]

PALETTE = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c", "#ccb974", "#64b5cd"]


def require_matplotlib() -> None:
    if Figure is None:
        raise ArchonError("archon report draws its charts with matplotlib: pip install 'archon[report]'")


def _figure(width: float = 6.4, height: float = 3.4) -> Figure:
    require_matplotlib()
    fig = Figure(figsize=(width, height), layout="constrained")
    return fig


def _svg(fig: Figure) -> str:
    buf = io.StringIO()
    # Text as text (not paths), no creation date and a fixed id salt: the same data gives the same file.
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "archon"}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    svg = buf.getvalue()
    svg = svg[svg.index("<svg") :]  # drop the XML prolog and doctype: the SVG sits inside HTML
    # Scale to the page's width while keeping the aspect ratio.
    return re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r'<svg\1 class="chart"', svg, count=1)


def _style(ax) -> None:
    ax.grid(True, alpha=0.3, linewidth=0.6)
    ax.spines[["top", "right"]].set_visible(False)


def best_so_far(
    series: Sequence[tuple[str, Sequence[float], Sequence[float | None]]],
    xlabel: str,
    ylabel: str = "best score so far",
) -> str:
    """One step line per (label, x, score): the best score reached by each x (trials, calls, $)."""
    fig = _figure()
    ax = fig.add_subplot()
    for i, (label, xs, scores) in enumerate(series):
        best, bx, by = None, [], []
        for x, s in zip(xs, scores):
            if s is not None and (best is None or s > best):
                best = s
            if best is not None:
                bx.append(x)
                by.append(best)
        ax.step(bx, by, where="post", label=label, color=PALETTE[i % len(PALETTE)], linewidth=1.8)
        pts = [(x, s) for x, s in zip(xs, scores) if s is not None]
        if pts:
            px, py = zip(*pts)
            ax.scatter(px, py, s=10, alpha=0.35, color=PALETTE[i % len(PALETTE)])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    _style(ax)
    if len(series) > 1:
        ax.legend(fontsize=8)
    return _svg(fig)


def scatter_front(
    points: Sequence[tuple[float, float, str]],
    front: Sequence[tuple[float, float]],
    xlabel: str,
    pruned: Sequence[tuple[float, float]] = (),
) -> str:
    """Every trial as a point (cost, score), the Pareto front as a line, labels on the front's points."""
    fig = _figure()
    ax = fig.add_subplot()
    if points:
        ax.scatter([p[0] for p in points], [p[1] for p in points], s=18, color=PALETTE[0], alpha=0.6, label="trials")
    if pruned:
        ax.scatter(
            [p[0] for p in pruned],
            [p[1] for p in pruned],
            s=14,
            marker="x",
            color="#999999",
            label="pruned (running score)",
        )
    if front:
        fx, fy = zip(*sorted(front))
        ax.step(fx, fy, where="post", color=PALETTE[3], linewidth=1.6, label="Pareto front")
        ax.scatter(fx, fy, s=36, facecolors="none", edgecolors=PALETTE[3], linewidths=1.4)
    labels: dict[tuple[float, float], str] = {}
    for x, y, label in points:  # trials at one point share one label
        labels[(x, y)] = f"{labels[(x, y)]}, {label}" if (x, y) in labels else label
    for x, y in front:
        if (x, y) in labels:
            ax.annotate(labels[(x, y)], (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("score")
    _style(ax)
    ax.legend(fontsize=8)
    return _svg(fig)


def importances(values: dict[str, float]) -> str:
    items = sorted(values.items(), key=lambda kv: kv[1])
    fig = _figure(6.4, 0.5 + 0.35 * max(1, len(items)))
    ax = fig.add_subplot()
    ax.barh([k for k, _ in items], [v for _, v in items], color=PALETTE[0])
    for i, (_, v) in enumerate(items):
        ax.text(v, i, f" {v:.2f}", va="center", fontsize=8)
    ax.set_xlabel("importance (normalised to sum to 1)")
    _style(ax)
    return _svg(fig)


def bars(rows: Sequence[tuple[str, float]], xlabel: str) -> str:
    """(label, value): horizontal bars, top to bottom, each with its value."""
    fig = _figure(6.4, 0.7 + 0.42 * max(1, len(rows)))
    ax = fig.add_subplot()
    for i, (_label, value) in enumerate(rows[::-1]):
        ax.barh(i, value, color=PALETTE[0] if i == len(rows) - 1 else "#b8c4d6", height=0.6)
        ax.text(value, i, f"  {value:,.0f}", va="center", fontsize=8)
    ax.set_yticks(range(len(rows)), [r[0] for r in rows][::-1])
    ax.set_xlabel(xlabel)
    ax.margins(x=0.15)
    _style(ax)
    return _svg(fig)


def bars_with_intervals(rows: Sequence[tuple[str, float | None, float | None, float | None, bool]]) -> str:
    """(label, score, low, high, is_architecture): horizontal bars with their 95% interval."""
    fig = _figure(6.4, 0.7 + 0.42 * max(1, len(rows)))
    ax = fig.add_subplot()
    labels = [r[0] for r in rows][::-1]
    for i, (_label, score, lo, hi, main) in enumerate(rows[::-1]):
        if score is None:
            continue
        ax.barh(i, score, color=PALETTE[0] if main else "#b8c4d6", height=0.6)
        if lo is not None and hi is not None:
            ax.errorbar(
                score, i, xerr=[[score - lo], [hi - score]], fmt="none", ecolor="#222222", capsize=3, linewidth=1
            )
        ax.annotate(
            f"{score:.3f}",
            (hi if hi is not None else score, i),
            textcoords="offset points",
            xytext=(5, 0),
            va="center",
            fontsize=8,
        )
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("score (bars: 95% bootstrap interval)")
    _style(ax)
    return _svg(fig)


def score_vs_calls(points: Sequence[tuple[str, float, float, float | None, float | None]]) -> str:
    """(label, calls per query, score, low, high) per run."""
    fig = _figure()
    ax = fig.add_subplot()
    for i, (label, calls, score, lo, hi) in enumerate(points):
        color = PALETTE[i % len(PALETTE)]
        yerr = [[score - lo], [hi - score]] if lo is not None and hi is not None else None
        # Runs often coincide (same calls, same score): distinct markers, the later ones smaller, keep each visible.
        ax.errorbar(
            calls,
            score,
            yerr=yerr,
            fmt="osD^v<>p"[i % 8],
            markersize=max(3.0, 8.0 - 1.2 * i),
            color=color,
            capsize=3,
            label=label,
            alpha=0.9,
        )
    ax.set_xlabel("LLM calls per query")
    ax.set_ylabel("score")
    _style(ax)
    ax.legend(fontsize=8)
    return _svg(fig)


def distribution(series: Sequence[tuple[str, Sequence[float]]], xlabel: str) -> str:
    """Histograms of per-query values, one per run, overlaid."""
    fig = _figure(6.4, 2.8)
    ax = fig.add_subplot()
    everything = [v for _, vs in series for v in vs]
    lo, hi = (min(everything), max(everything)) if everything else (0.0, 1.0)
    bins = 20 if hi > lo else 1
    for i, (label, values) in enumerate(series):
        if values:
            ax.hist(
                values,
                bins=bins,
                range=(lo, hi if hi > lo else lo + 1),
                alpha=0.55,
                label=label,
                color=PALETTE[i % len(PALETTE)],
            )
    ax.set_xlabel(xlabel)
    ax.set_ylabel("queries")
    _style(ax)
    if len(series) > 1:
        ax.legend(fontsize=8)
    return _svg(fig)


def timeline(
    rows: Sequence[str],
    bars: Sequence[tuple[int, float, float, str, str, str]],
    total_s: float,
    bands: Sequence[tuple[int, int]] = (),
) -> str:
    """A Gantt chart: ``rows`` top to bottom; bars are (row, start, duration, colour, hatch, label);
    ``bands`` (first row, number of rows) are shaded alternately, so a group of rows reads as one."""
    fig = _figure(11.0, 0.9 + 0.3 * max(1, len(rows)))
    ax = fig.add_subplot()
    n = len(rows)
    for k, (first_row, count) in enumerate(bands):
        if k % 2 == 0:
            ax.axhspan(n - first_row - count - 0.5, n - first_row - 0.5, color="#eef1f6", zorder=0)
    min_w = max(total_s, 1e-6) * 0.004  # cached calls take no time: still draw a sliver
    for row, start, dur, color, hatch, label in bars:
        y = n - 1 - row
        ax.barh(
            y,
            max(dur, min_w),
            left=start,
            height=0.7,
            color=color,
            hatch=hatch or None,
            edgecolor="#333333",
            linewidth=0.4,
        )
        if label and dur > total_s * 0.08:
            ax.text(start + dur / 2, y, label, ha="center", va="center", fontsize=6.5, color="white")
    ax.set_yticks(range(n), list(rows)[::-1], fontsize=8)
    ax.tick_params(axis="y", length=0)
    ax.set_ylim(-0.5, n - 0.5)
    ax.set_xlim(0, max(total_s, 1e-6) * 1.02)
    ax.set_xlabel("seconds since the query started")
    ax.grid(True, axis="x", alpha=0.3, linewidth=0.6)
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig)
