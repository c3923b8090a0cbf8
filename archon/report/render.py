"""One self-contained HTML page (inline CSS and SVG, no scripts, nothing fetched) from searches, runs and traces.

Every number shown comes from the files as written (summary.json, trials.jsonl, results.jsonl, the
trace); each carries its exact value in a ``data-value`` attribute beside the rounded text.
"""

from __future__ import annotations

import html
import json
import time
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from . import figures
from .sources import BenchRun, SearchRun, TraceFile, load_sources, number

try:  # parameter importances need optuna (the `search` extra)
    import optuna
except ImportError:  # pragma: no cover - exercised where the extra is missing
    optuna = None  # type: ignore[assignment]

__all__ = ["build_report", "write_report"]

TOP_ARCHITECTURES = 5
MAX_QUERIES_PER_TRACE_FILE = 20
COMPONENT_COLOURS = {
    "generator": "#4c72b0",
    "fuser": "#dd8452",
    "critic": "#8172b3",
    "ranker": "#55a868",
    "verifier": "#937860",
    "unit_test_generator": "#64b5cd",
    "unit_test_evaluator": "#ccb974",
    "majority_vote": "#da8bc3",
}

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:14px 28px}header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;color:#b9c0cc;font-size:12px}
nav{padding:8px 28px;background:#e9ecf1;font-size:13px}nav a{margin-right:14px;color:#2c4a7a}
main{padding:8px 28px 40px;max-width:1200px}
section.source{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:6px 20px 16px;margin:18px 0}
h2{font-size:18px;margin:12px 0 2px}h3{font-size:15px;margin:18px 0 6px;color:#2c3a52}
.path{color:#687385;font-size:12px;font-family:ui-monospace,monospace;word-break:break-all}
.note{background:#fff6db;border-left:3px solid #e0b400;padding:6px 10px;margin:8px 0;font-size:13px}
.bad{color:#b3261e}
table{border-collapse:collapse;margin:6px 0;font-size:13px}
th,td{border-bottom:1px solid #e3e6eb;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f0f2f5;font-weight:600}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
td.n,td:first-child{white-space:nowrap}section.source{overflow-x:auto}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(430px,1fr));gap:10px 24px}
figure{margin:6px 0;max-width:720px}figure.wide{max-width:1150px}
figcaption{font-size:12px;color:#4d5666;margin-bottom:2px;font-weight:600}
svg.chart{width:100%;height:auto}
.arch{display:flex;align-items:center;gap:6px;flex-wrap:wrap;margin:4px 0 2px}
.layer{display:flex;flex-direction:column;gap:3px;padding:4px;border:1px dashed #c3cad5;border-radius:5px}
.comp{border-radius:4px;color:#fff;padding:2px 7px;font-size:11.5px;line-height:1.3;min-width:90px}
.comp b{font-weight:600}.comp span{opacity:.9}.arrow{color:#8a94a6;font-size:18px}
.archcard{border:1px solid #e3e6eb;border-radius:5px;padding:6px 10px;margin:8px 0}
.legend span{display:inline-block;margin-right:12px;font-size:12px}
.legend i{display:inline-block;width:12px;height:10px;margin-right:4px;vertical-align:middle;border:1px solid #333}
pre{white-space:pre-wrap;background:#f3f4f7;padding:6px 8px;border-radius:4px;font-size:12px;
    max-height:160px;overflow:auto}
details summary{cursor:pointer;color:#2c4a7a;margin:6px 0}
"""


# --------------------------------------------------------------------------- small pieces


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def num(value: Any, fmt: str = "{:.3f}") -> str:
    """A number as text with its exact value alongside, or n/a."""
    v = number(value)
    if v is None:
        return '<span class="na">n/a</span>'
    if not fmt.endswith("d}"):
        shown = fmt.format(v)
    elif v.is_integer():
        shown = fmt.format(int(v))
    else:  # an integer format: a fractional value keeps its fraction
        shown = f"{v:,.4g}"
    return f'<span class="num" data-value="{esc(json.dumps(value))}">{esc(shown)}</span>'


def usd(value: Any, unpriced: Sequence[str] | None = None) -> str:
    """A cost in $; with models of unknown price it is "unpriced" (nothing known) or a lower bound marked "*"."""
    if unpriced and not number(value):
        return f'<span class="na" title="no price known for {esc(", ".join(unpriced))}">unpriced</span>'
    return num(value, "${:.4f}") + ("*" if unpriced else "")


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: Sequence[int] = ()) -> str:
    """An HTML table; cells are HTML already (escape text with :func:`esc`)."""
    head = "".join(f'<th class="{"n" if i in numeric else ""}">{esc(h)}</th>' for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(f'<td class="{"n" if i in numeric else ""}">{c}</td>' for i, c in enumerate(r)) + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def kv_table(rows: Iterable[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{esc(k)}</th><td class='n'>{v}</td></tr>" for k, v in rows)
    return f"<table><tbody>{body}</tbody></table>"


def figure(caption: str, svg: str, *, wide: bool = False) -> str:
    return f"<figure{' class=wide' if wide else ''}><figcaption>{esc(caption)}</figcaption>{svg}</figure>"


def note(text: str) -> str:
    return f'<p class="note">{text}</p>'


def flat(data: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested dicts as ``a.b`` keys, for showing summary blocks whose exact fields may change."""
    if isinstance(data, dict):
        out = []
        for k, v in data.items():
            out += flat(v, f"{prefix}{k}.")
        return out
    return [(prefix.rstrip("."), data)]


def value_cell(value: Any) -> str:
    if number(value) is not None:
        return num(value, "{:,d}" if isinstance(value, int) else "{:.4g}")
    if value is None:
        return '<span class="na">n/a</span>'
    return esc(json.dumps(value) if isinstance(value, (list, dict, bool)) else value)


def architecture_diagram(config: dict[str, Any] | None) -> str:
    """Boxes per component (type, model, samples), one column per layer, left to right."""
    layers = (config or {}).get("layers")
    if not isinstance(layers, list) or not layers:
        return '<span class="na">architecture n/a</span>'
    cols = []
    for layer in layers:
        boxes = []
        for c in layer if isinstance(layer, list) else []:
            if not isinstance(c, dict):
                continue
            kind = str(c.get("type", "?"))
            samples = c.get("samples", 1)
            model = c.get("model") or c.get("model_type") or ""
            colour = COMPONENT_COLOURS.get(kind, "#6b7280")
            boxes.append(
                f'<div class="comp" style="background:{colour}"><b>{esc(kind)}</b><br>'
                f"<span>{esc(model)}{' ×' + esc(samples) if samples not in (1, None) else ''}</span></div>"
            )
        cols.append(f'<div class="layer">{"".join(boxes)}</div>')
    return '<div class="arch">' + '<span class="arrow">→</span>'.join(cols) + "</div>"


# --------------------------------------------------------------------------- search

Row = dict[str, Any]  # a trial, as a row of trials.jsonl


def _complete(run: SearchRun) -> list[Row]:
    return [t for t in run.evaluated() if t.get("state") == "complete" and number(t.get("score")) is not None]


def _by_dev_score(trials: Sequence[Row]) -> list[Row]:
    """Best first; ties keep trial order (as the search ranks them)."""
    return sorted(trials, key=lambda t: -float(t["score"]))


def _cost_label(run: SearchRun) -> str:
    return "$ per query" if run.cost_unit == "usd" else "LLM calls per query"


def _front(run: SearchRun) -> list[Row]:
    """The complete trials no other beats on both dev score and cost per query (the search's rule), cheapest first."""
    done = [(c, float(t["score"]), t) for t in _complete(run) if (c := run.cost_per_query(t)) is not None]
    front = [(c, t) for c, s, t in done if not any(oc <= c and os_ >= s and (oc < c or os_ > s) for oc, os_, _ in done)]
    return [t for _, t in sorted(front, key=lambda p: p[0])]


def _tested(run: SearchRun) -> dict[int, Row]:
    """Test-split results by trial number: the best's (with its baselines), the front's and the runner-up's."""
    s = run.summary or {}
    out: dict[int, Row] = {}
    for f in s.get("front") or []:
        if isinstance(f.get("test"), dict):
            out[f["number"]] = f["test"]
    best = s.get("best") or {}
    if isinstance(best.get("test"), dict):
        out[best["trial"]] = best["test"]
    runner = (s.get("winner_vs_runner_up") or {}).get("runner_up") or {}
    for t in _complete(run):  # the runner-up is named by its label (an architecture is evaluated once)
        if runner and t.get("label") == runner.get("label") and t["number"] not in out:
            out[t["number"]] = {"score": runner.get("test_score")}
    return out


def _importances(run: SearchRun) -> str:
    if run.study_db is None:
        storage = ((run.summary or {}).get("study") or {}).get("storage")
        where = f" (the study is in {esc(storage)})" if storage else ""
        return note(f"Parameter importances: unavailable (no study.db in this folder{where}).")
    if optuna is None:
        return note("Parameter importances: unavailable (optuna is not installed: pip install 'archon[search]').")
    storage = f"sqlite:///{run.study_db.resolve()}"
    try:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        parts = []
        for name in names:
            study = optuna.load_study(study_name=name, storage=storage)
            # With score and cost, the importances are the score's (negated: the evaluator seeks low targets).
            target = None if len(study.directions) == 1 else (lambda t: -t.values[0])
            with warnings.catch_warnings():  # optuna warns of any target's direction; this one is negated above
                warnings.simplefilter("ignore", UserWarning)
                values = optuna.importance.get_param_importances(study, target=target)
            if values:
                parts.append(
                    figure(
                        f"Parameter importances for the dev score (PED-ANOVA over the complete trials, study {name})",
                        figures.importances(values),
                    )
                )
        return "".join(parts) or note("Parameter importances: unavailable (no parameters varied yet).")
    except Exception as e:  # too few trials, a study being written: say so, keep the report
        return note(f"Parameter importances: unavailable ({esc(type(e).__name__)}: {esc(e)}).")


def _cumulative(trials: Sequence[Row], key: str) -> list[float]:
    total, xs = 0.0, []
    for t in trials:
        total += number(t.get(key)) or 0.0
        xs.append(total)
    return xs


def _total(trials: Sequence[Row], key: str) -> float:
    return sum(number(t.get(key)) or 0.0 for t in trials)


def _search_progress_figures(runs: Sequence[SearchRun]) -> list[str]:
    """Best dev score so far against trials evaluated, LLM calls and $ spent; one line per search (sampler)."""
    runs = [r for r in runs if _complete(r)]
    if not runs:
        return []

    def scores(r: SearchRun) -> list[float | None]:
        # A pruned trial's score is its running score on part of the dev split: not a result.
        return [float(t["score"]) if t in _complete(r) else None for t in r.evaluated()]

    out = [
        figure(
            "Best dev score so far vs trials evaluated",
            figures.best_so_far(
                [(r.label, list(range(1, len(r.evaluated()) + 1)), scores(r)) for r in runs], "trials evaluated"
            ),
        ),
        figure(
            "Best dev score so far vs LLM calls made by the trials",
            figures.best_so_far(
                [(r.label, _cumulative(r.evaluated(), "new_calls"), scores(r)) for r in runs], "LLM calls made"
            ),
        ),
    ]
    if any((number(t.get("new_cost_usd")) or 0) > 0 for r in runs for t in r.evaluated()):
        out.append(
            figure(
                "Best dev score so far vs $ spent by the trials",
                figures.best_so_far(
                    [(r.label, _cumulative(r.evaluated(), "new_cost_usd"), scores(r)) for r in runs], "$ spent"
                ),
            )
        )
    return out


def _overview(run: SearchRun) -> str:
    s = run.summary or {}
    study = s.get("study") or {}
    space = s.get("space") or {}
    estimate = s.get("estimate") or {}
    evaluated = run.evaluated()
    if run.finished:
        counts = s.get("trials") or {}
        not_evaluated = counts.get("not_evaluated") or {}
    else:  # counted from the trials so far
        counts = {
            "evaluated": len(evaluated),
            "complete": len(_complete(run)),
            "pruned": sum(t.get("state") == "pruned" for t in evaluated),
        }
        not_evaluated = {}
        for t in run.trials:
            if t.get("decision") != "evaluate":
                not_evaluated[t.get("decision")] = not_evaluated.get(t.get("decision"), 0) + 1
    rows = [
        ("sampler", esc(study.get("sampler", "n/a"))),
        ("objectives", esc(", ".join(study.get("objectives") or []) or "n/a")),
        ("stopped because", esc(s.get("stopped", "n/a"))),
        ("architectures in the space", num(space.get("size"), "{:,d}")),
        ("within the budget", num(space.get("within_budget"), "{:,d}")),
        ("estimated calls before starting", num(estimate.get("calls"), "{:,.0f}")),
        ("dev items", num(s.get("dev_items"), "{:d}")),
        ("test items", num(s.get("test_items"), "{:d}")),
        ("trials evaluated", num(counts.get("evaluated"), "{:d}")),
        ("complete", num(counts.get("complete"), "{:d}")),
        ("pruned", num(counts.get("pruned"), "{:d}")),
    ]
    rows += [(f"not evaluated: {k.replace('_', ' ')}", num(v, "{:d}")) for k, v in not_evaluated.items()]
    return kv_table(rows)


def _sharing(run: SearchRun) -> str:
    """What the search spent, and what sharing generations and pruning saved."""
    if run.finished:
        s = run.summary or {}
        sharing, spend = s.get("sharing") or {}, s.get("spend") or {}
        caption = ""
    else:  # the trials' own figures so far (the model ranking's calls are not among them)
        ev = run.evaluated()
        made_so_far, needed, saved = _total(ev, "new_calls"), _total(ev, "calls"), _total(ev, "calls_saved")
        sharing = {
            "calls_made": made_so_far,
            "calls_without_sharing": needed,
            "saved_by_sharing": needed - made_so_far,
            "saved_by_pruning": saved,
            "calls_without_sharing_or_pruning": needed + saved,
        }
        spend = {"calls": made_so_far, "cost_usd": _total(ev, "new_cost_usd")}
        caption = note("So far, counting the trials' calls only (summary.json is not written yet).")
    rows = [
        ("calls made", num(sharing.get("calls_made"), "{:,d}")),
        ("calls without sharing", num(sharing.get("calls_without_sharing"), "{:,d}")),
        ("saved by sharing", num(sharing.get("saved_by_sharing"), "{:,d}")),
        ("saved by pruning", num(sharing.get("saved_by_pruning"), "{:,d}")),
        ("calls without sharing or pruning", num(sharing.get("calls_without_sharing_or_pruning"), "{:,d}")),
        ("spent: LLM calls", num(spend.get("calls"), "{:,d}")),
        ("spent: $", usd(spend.get("cost_usd")) if run.cost_unit == "usd" else "no prices known"),
        ("spent: judge calls", num(spend.get("judge_calls"), "{:,d}")),
    ]
    made, without = number(sharing.get("calls_made")), number(sharing.get("calls_without_sharing_or_pruning"))
    headline = (
        f"<p>The search made {num(made, '{:,d}')} LLM calls: {made / without:.0%} of the {num(without, '{:,d}')} "
        "it would have made without sharing generations and pruning.</p>"
        if made is not None and without
        else ""
    )
    bars = [
        (label, v)
        for label, v in (
            ("made", made),
            ("without sharing", number(sharing.get("calls_without_sharing"))),
            ("without sharing or pruning", without),
        )
        if v is not None
    ]
    fig = (
        figure("LLM calls: made vs without sharing vs without sharing or pruning", figures.bars(bars, "LLM calls"))
        if len(bars) == 3
        else ""
    )
    return caption + headline + kv_table(rows) + fig


def _best_and_baselines(run: SearchRun) -> str:
    """The best architecture on the test split beside its compute-matched baselines; the verdict on the runner-up."""
    s = run.summary or {}
    best = s.get("best")
    if not isinstance(best, dict):
        return note("No best architecture yet." if run.finished else "The best is tested once the search ends.")
    test = best.get("test") or {}
    parts = [
        kv_table(
            [
                ("best trial", num(best.get("trial"), "{:d}")),
                ("best architecture", esc(best.get("label"))),
                ("best dev score", num(best.get("dev_score"))),
                ("test score", num(test.get("score"))),
                ("test 95% low", num(test.get("ci_low"))),
                ("test 95% high", num(test.get("ci_high"))),
                ("test calls/query", num(test.get("calls_per_query"), "{:.2f}")),
                ("test cost/query", usd(test.get("cost_per_query_usd"))),
                ("written to", f"<span class='path'>{esc(best.get('config_path'))}</span>"),
            ]
        )
    ]
    if not test:
        parts.append(note("The best was not evaluated on the test split."))
        return "".join(parts)
    rows = [("best: " + str(best.get("label")), test, True)] + [
        (name, b, False) for name, b in (test.get("baselines") or {}).items()
    ]
    parts.append(
        "<h3>On the test split, beside the compute-matched baselines</h3>"
        + table(
            ["architecture", "score", "95% low", "95% high", "calls/query"],
            [
                (
                    esc(label),
                    num(r.get("score")),
                    num(r.get("ci_low")),
                    num(r.get("ci_high")),
                    num(r.get("calls_per_query"), "{:.2f}"),
                )
                for label, r, _ in rows
            ],
            numeric=(1, 2, 3, 4),
        )
    )
    if len(rows) > 1:
        parts.append(
            figure(
                f"Test split ({s.get('test_items')} items): the best and its baselines",
                figures.bars_with_intervals(
                    [
                        (label, number(r.get("score")), number(r.get("ci_low")), number(r.get("ci_high")), main)
                        for label, r, main in rows
                    ]
                ),
            )
        )
    verdict = s.get("winner_vs_runner_up")
    if isinstance(verdict, dict):
        runner = verdict.get("runner_up") or {}
        beats = verdict.get("beats_beyond_noise")
        parts.append(
            "<h3>Winner vs runner-up (paired bootstrap on the same test items)</h3>"
            + f"<p class='{'' if beats else 'note'}'>The winner "
            + (
                "<b>beats</b> the runner-up beyond noise."
                if beats
                else "does <b>not</b> beat the runner-up beyond noise: the dev split may have picked it by chance."
                + (
                    " On the test split the runner-up scores higher, beyond noise."
                    if (number(verdict.get("ci_high")) or 0.0) < 0
                    else ""
                )
            )
            + "</p>"
            + kv_table(
                [
                    ("runner-up", esc(runner.get("label"))),
                    ("runner-up dev score", num(runner.get("dev_score"))),
                    ("runner-up test score", num(runner.get("test_score"))),
                    ("paired items", num(verdict.get("items"), "{:d}")),
                    ("mean difference", num(verdict.get("mean_difference"))),
                    ("difference 95% low", num(verdict.get("ci_low"))),
                    ("difference 95% high", num(verdict.get("ci_high"))),
                    ("beats beyond noise", esc("yes" if beats else "no")),
                ]
            )
        )
    return "".join(parts)


def _model_ranking(run: SearchRun) -> str:
    ranking = (run.summary or {}).get("model_ranking")
    if not ranking:
        return ""
    return "<h3>Models ranked alone on the dev split</h3>" + table(
        ["model", "model type", "dev score", "calls", "new calls"],
        [
            (
                esc(m.get("model")),
                esc(m.get("model_type")),
                num(m.get("dev_score")),
                num(m.get("calls"), "{:,d}"),
                num(m.get("new_calls"), "{:,d}"),
            )
            for m in ranking
        ],
        numeric=(2, 3, 4),
    )


def _status_note(run: SearchRun) -> str:
    ev = run.evaluated()
    so_far = f"{len(run.trials)} trial(s) decided, {len(ev)} evaluated, {len(_complete(run))} complete"
    if not run.finished and run.trials:
        return note(
            f"Search running or cut off (no summary.json yet): {so_far}. This report shows what is done so far."
        )
    if not run.trials:
        return note("No trials recorded yet.")
    return ""


def search_section(run: SearchRun) -> str:
    parts = [f"<h2>Search: {esc(run.label)}</h2><div class='path'>{esc(run.path)}</div>", _status_note(run)]
    parts.append(
        "<div class='grid'><div><h3>Overview</h3>"
        + _overview(run)
        + "</div><div><h3>Spend, sharing and pruning</h3>"
        + _sharing(run)
        + "</div></div>"
    )
    parts.append("<h3>Best architecture</h3>" + _best_and_baselines(run))
    parts.append(_model_ranking(run))

    figs = _search_progress_figures([run])
    complete = _complete(run)
    front = _front(run)
    pts = [(c, float(t["score"]), f"#{t['number']}") for t in complete if (c := run.cost_per_query(t)) is not None]
    if pts:
        pruned = [
            (c, float(t["score"]))
            for t in run.evaluated()
            if t.get("state") == "pruned" and number(t.get("score")) is not None and (c := run.cost_per_query(t))
        ]
        front_points = [(c, float(t["score"])) for t in front if (c := run.cost_per_query(t)) is not None]
        figs.append(
            figure(
                f"Every trial: dev score vs {_cost_label(run)}, with the Pareto front",
                figures.scatter_front(pts, front_points, _cost_label(run), pruned),
            )
        )
    parts.append("<div class='grid'>" + "".join(figs) + "</div>")
    tests = _tested(run)
    if front:
        parts.append(
            f"<h3>Pareto front (dev score vs {_cost_label(run)})</h3>"
            + table(
                ["trial", "architecture", "dev score", "dev cost/query", "test score", "test 95% low", "test 95% high"],
                [
                    (
                        num(t["number"], "{:d}"),
                        esc(t.get("label")),
                        num(t["score"]),
                        num(run.cost_per_query(t), "{:.4g}"),
                        num((tests.get(t["number"]) or {}).get("score")),
                        num((tests.get(t["number"]) or {}).get("ci_low")),
                        num((tests.get(t["number"]) or {}).get("ci_high")),
                    )
                    for t in front
                ],
                numeric=(0, 2, 3, 4, 5, 6),
            )
        )
    parts.append("<h3>Which axes matter</h3>" + _importances(run))

    front_numbers = {t["number"] for t in front}
    top = _by_dev_score(complete)[:TOP_ARCHITECTURES]
    if top:
        cards = []
        for rank, t in enumerate(top, 1):
            test = tests.get(t["number"]) or {}
            interval = (
                f" [{num(test.get('ci_low'))}, {num(test.get('ci_high'))}]" if test.get("ci_low") is not None else ""
            )
            cards.append(
                f"<div class='archcard'><b>#{rank}: trial {esc(t['number'])}</b> · {esc(t.get('label'))}"
                + (" · on the Pareto front" if t["number"] in front_numbers else "")
                + f"<br>dev score {num(t['score'])} · test score {num(test.get('score'))}{interval}"
                f" · {_cost_label(run)} {num(run.cost_per_query(t), '{:.4g}')}"
                f" · worst-case calls/query {num(t.get('calls_per_query'), '{:d}')}"
                f"{architecture_diagram(run.config(t))}</div>"
            )
        parts.append(f"<h3>Top architectures (by dev score)</h3>{''.join(cards)}")

    if run.trials:
        trial_rows = [
            (
                num(t.get("number"), "{:d}"),
                esc(t.get("label")),
                esc(t.get("decision")),
                esc(t.get("state")),
                num(t.get("score")),
                num(run.cost_per_query(t), "{:.4g}"),
                num(t.get("calls_per_query"), "{:d}"),
                num(t.get("items"), "{:d}"),
                num(t.get("new_calls"), "{:,d}"),
                num(t.get("cached_calls"), "{:,d}"),
                num(t.get("calls_saved"), "{:,d}"),
                esc(json.dumps(t.get("params"))[:160]),
            )
            for t in run.trials
        ]
        parts.append(
            f"<details><summary>All {len(run.trials)} trials</summary>"
            + table(
                [
                    "trial",
                    "architecture",
                    "decision",
                    "state",
                    "dev score",
                    "dev $/query" if run.cost_unit == "usd" else "dev calls/query",
                    "worst-case calls/query",
                    "items",
                    "new calls",
                    "cached calls",
                    "calls saved",
                    "params",
                ],
                trial_rows,
                numeric=(0, 4, 5, 6, 7, 8, 9, 10),
            )
            + "</details>"
        )
    return "".join(parts)


# --------------------------------------------------------------------------- benchmark runs


def _summary_number(run: BenchRun, key: str) -> float | None:
    return number((run.summary or {}).get(key))


def _runs_with_baselines(run: BenchRun) -> list[tuple[str, BenchRun, bool]]:
    return [(run.name, run, True)] + [(f"{run.name} · {name}", b, False) for name, b in run.baselines.items()]


def _per_query(run: BenchRun, key: str) -> list[float]:
    vals = [number((r.get("usage") or {}).get(key)) for r in run.results]
    return [v for v in vals if v is not None]


def _answered_by_calls(rec: dict[str, Any]) -> bool:
    """Whether some call of the item was sent (not every one answered by the cache): its latency means something."""
    u = rec.get("usage") or {}
    return not (u.get("calls") and not u.get("failed_calls") and u.get("cached_calls") == u.get("calls"))


def _latency_split(run: BenchRun) -> tuple[list[float], list[float]]:
    """Per item answered by calls: seconds in calls, and seconds queued behind a provider's concurrency cap."""
    in_calls, queued = [], []
    for r in run.results:
        total = number(r.get("latency_s"))
        if total is None or not _answered_by_calls(r):
            continue
        q = min(number(r.get("queue_s")) or 0.0, total)
        in_calls.append(total - q)
        queued.append(q)
    return in_calls, queued


def bench_section(runs: Sequence[BenchRun]) -> str:
    parts = ["<h2>Benchmark runs</h2>"]
    for run in runs:
        parts.append(f"<div class='path'>{esc(run.name)} on {esc(run.benchmark)}: {esc(run.path)}</div>")
        if run.summary is None:
            scored = [v for r in run.results if (v := number(r.get("score"))) is not None]
            mean = sum(scored) / len(scored) if scored else None
            parts.append(
                note(
                    f"Run in progress or interrupted (no summary.json yet): {len(run.results)} item(s) done, "
                    f"mean score so far {num(mean)} (no interval until the run finishes)."
                )
            )
    every = [row for run in runs for row in _runs_with_baselines(run)]
    summarised = [(label, r, main) for label, r, main in every if r.summary is not None]
    rows = []
    for label, r, _ in summarised:
        s = r.summary or {}
        lat, call_lat, queue = s.get("latency_s") or {}, s.get("call_latency_s") or {}, s.get("queue_s") or {}
        fb = s.get("fallbacks") or {}
        rows.append(
            (
                esc(label),
                esc(r.benchmark),
                num(s.get("n"), "{:d}"),
                num(s.get("score")),
                num(s.get("ci_low")),
                num(s.get("ci_high")),
                num(s.get("calls_per_query"), "{:.2f}"),
                usd(s.get("cost_per_query_usd"), s.get("unpriced_models")),
                num(lat.get("p50"), "{:.2f}s"),
                num(call_lat.get("p50"), "{:.2f}s"),
                num(queue.get("p50"), "{:.2f}s"),
                num(lat.get("p90"), "{:.2f}s"),
                num(s.get("answers_from_cache"), "{:d}"),
                num(s.get("errors"), "{:d}"),
                num(fb.get("architecture"), "{:d}"),
            )
        )
    if rows:
        parts.append(
            table(
                [
                    "run",
                    "benchmark",
                    "n",
                    "score",
                    "95% low",
                    "95% high",
                    "calls/query",
                    "cost/query",
                    "p50 latency",
                    "p50 in calls",
                    "p50 queued",
                    "p90 latency",
                    "from cache",
                    "errors",
                    "fallbacks",
                ],
                rows,
                numeric=tuple(range(2, 15)),
            )
            + "<p>Latency is over the items answered by calls (not those the cache answered whole); "
            "“queued” is time waiting behind a provider's concurrency cap, not time in calls.</p>"
        )
    for run in runs:
        note_text = (run.summary or {}).get("baselines_note")
        if note_text:
            parts.append(note(esc(note_text)))
    figs = []
    by_bench: dict[str, list[tuple[str, BenchRun, bool]]] = {}
    for row in summarised:
        by_bench.setdefault(row[1].benchmark, []).append(row)
    for bench, group in by_bench.items():
        bars = [
            (label, _summary_number(r, "score"), _summary_number(r, "ci_low"), _summary_number(r, "ci_high"), main)
            for label, r, main in group
        ]
        figs.append(
            figure(
                f"{bench}: score with 95% interval, architecture and compute-matched baselines",
                figures.bars_with_intervals(bars),
            )
        )
        every_point = [
            (
                label,
                _summary_number(r, "calls_per_query"),
                _summary_number(r, "score"),
                _summary_number(r, "ci_low"),
                _summary_number(r, "ci_high"),
            )
            for label, r, _ in group
        ]
        pts = [
            (label, calls, score, lo, hi)
            for label, calls, score, lo, hi in every_point
            if calls is not None and score is not None
        ]
        if pts:
            figs.append(figure(f"{bench}: score vs LLM calls per query", figures.score_vs_calls(pts)))
    split = [(label, _latency_split(r)) for label, r, _ in every]
    if any(calls for _, (calls, _) in split):
        figs.append(
            figure("Latency per query: time in calls", figures.distribution([(k, c) for k, (c, _) in split], "seconds"))
        )
    if any(x > 0 for _, (_, queued) in split for x in queued):
        figs.append(
            figure(
                "Latency per query: time queued behind concurrency caps",
                figures.distribution([(k, q) for k, (_, q) in split], "seconds"),
            )
        )
    cost = [(label, _per_query(r, "cost_usd")) for label, r, _ in every]
    if any(x > 0 for _, v in cost for x in v):
        figs.append(figure("Cost per query", figures.distribution(cost, "$")))
    else:
        calls = [(label, _per_query(r, "calls")) for label, r, _ in every]
        if any(v for _, v in calls):
            figs.append(
                figure(
                    "LLM calls per query (no prices known, so no cost distribution)",
                    figures.distribution(calls, "LLM calls"),
                )
            )
    parts.append("<div class='grid'>" + "".join(figs) + "</div>")

    problems = []
    for label, r, _ in every:
        for rec in r.results:
            fallbacks = (rec.get("fallbacks") or {}).get("architecture") or []
            judge_fb = (rec.get("fallbacks") or {}).get("judge") or 0
            if rec.get("error") or fallbacks or judge_fb or rec.get("component_errors"):
                detail = [esc(rec["error"])] if rec.get("error") else []
                detail += [esc(e) for e in rec.get("component_errors") or []]
                detail += [f"fallback: {esc(f)}" for f in fallbacks]
                detail += [f"judge fallbacks: {esc(judge_fb)}"] if judge_fb else []
                problems.append((esc(label), esc(rec.get("id")), "<br>".join(detail)))
    parts.append("<h3>Fallbacks and errors</h3>")
    if problems:
        shown = problems[:50]
        parts.append(
            table(["run", "item", "what happened"], shown)
            + (note(f"{len(problems) - len(shown)} more not shown.") if len(problems) > len(shown) else "")
        )
    else:
        parts.append("<p>None: every item answered without an error or a fallback.</p>")
    return "".join(parts)


# --------------------------------------------------------------------------- traces


def _lanes(calls: Sequence[tuple[float, float]]) -> list[int]:
    """A lane per call so that calls running at once sit on separate lanes of their layer's row."""
    ends: list[float] = []
    lanes = [0] * len(calls)
    for i in sorted(range(len(calls)), key=lambda i: calls[i][0]):
        start, dur = calls[i]
        for lane, end in enumerate(ends):
            if end <= start + 1e-9:
                ends[lane] = start + dur
                lanes[i] = lane
                break
        else:
            ends.append(start + dur)
            lanes[i] = len(ends) - 1
    return lanes


def query_section(query: dict[str, Any], title: str) -> str:
    trace = query.get("trace") or {}
    usage = trace.get("usage") or {}
    parts = [f"<h3>{esc(title)}: {esc(trace.get('architecture', '?'))}</h3>"]
    msgs = query.get("messages") or []
    prompt = next((m.get("content") for m in reversed(msgs) if isinstance(m, dict) and m.get("role") == "user"), None)
    rows = [
        ("latency", num(trace.get("latency_s"), "{:.3f}s")),
        ("LLM calls", num(usage.get("calls"), "{:d}")),
        ("from cache", num(usage.get("cached_calls"), "{:d}")),
        ("failed", num(usage.get("failed_calls"), "{:d}")),
        ("tokens in", num(usage.get("input_tokens"), "{:,d}")),
        ("tokens out", num(usage.get("output_tokens"), "{:,d}")),
        ("cost", usd(usage.get("cost_usd"), usage.get("unpriced_models"))),
    ]
    parts.append(kv_table(rows))
    if prompt:
        parts.append(f"<div>prompt</div><pre>{esc(prompt[:1500])}</pre>")
    if query.get("answer") is not None:
        parts.append(f"<div>answer</div><pre>{esc(str(query['answer'])[:1500])}</pre>")
    if query.get("error"):
        parts.append(f"<p class='bad'>failed: {esc(query['error'])}</p>")

    row_names: list[str] = []
    bands: list[tuple[int, int]] = []
    bars = []
    table_rows = []
    seen_types: dict[str, str] = {}
    for layer in trace.get("layers") or []:
        li = int(layer.get("index", len(row_names)))
        layer_start = number(layer.get("start_s"))
        recs = []
        for comp in layer.get("components") or []:
            kind = str(comp.get("type", "?"))
            for rec in comp.get("calls") or []:
                # Traces written before calls recorded their start: place them at their layer's start.
                start = number(rec.get("start_s"))
                start = start if start is not None else (layer_start or 0.0)
                recs.append((kind, start, number(rec.get("latency_s")) or 0.0, rec))
        lanes = _lanes([(s, d) for _, s, d, _ in recs]) if recs else []
        base = len(row_names)
        n_lanes = max(lanes, default=-1) + 1
        row_names += [f"layer {li + 1}" if k == 0 else "" for k in range(max(1, n_lanes))]
        bands.append((base, max(1, n_lanes)))
        for (kind, start, dur, rec), lane in zip(recs, lanes):
            colour = "#c0392b" if rec.get("error") else COMPONENT_COLOURS.get(kind, "#6b7280")
            seen_types.setdefault(kind, COMPONENT_COLOURS.get(kind, "#6b7280"))
            label = f"{rec.get('model', '')}" + (f" ×{rec.get('samples')}" if (rec.get("samples") or 1) > 1 else "")
            retries = (rec.get("attempts") or 1) - 1
            label += f" ({retries} {'retry' if retries == 1 else 'retries'})" if retries > 0 else ""
            queued = number(rec.get("queue_s")) or 0.0
            if queued > 0:  # waiting for a free slot under the provider's concurrency cap: not time in the call
                bars.append((base + lane, start - queued, queued, "#dfe3ea", "", ""))
            bars.append((base + lane, start, dur, colour, "////" if rec.get("cached") else "", label))
            attempts = rec.get("attempts") or 0
            table_rows.append(
                (
                    f"{li + 1}",
                    esc(kind),
                    esc(rec.get("model")),
                    num(rec.get("samples"), "{:d}"),
                    num(start, "{:.3f}"),
                    num(rec.get("latency_s"), "{:.3f}"),
                    num(rec.get("input_tokens"), "{:,d}"),
                    num(rec.get("output_tokens"), "{:,d}"),
                    num(max(0, attempts - 1), "{:d}") if not rec.get("cached") else "–",
                    "yes" if rec.get("cached") else "no",
                    num(rec.get("queue_s"), "{:.3f}"),
                    f"<span class='bad'>{esc(rec['error'])}</span>" if rec.get("error") else "",
                )
            )
        for comp in layer.get("components") or []:
            for f in comp.get("fallbacks") or []:
                table_rows.append(
                    (f"{li + 1}", esc(comp.get("type")), "", "", "", "", "", "", "", "", "", f"fallback: {esc(f)}")
                )
    if bars:
        total = max([number(trace.get("latency_s")) or 0.0] + [s + d for _, s, d, *_ in bars])
        legend = "".join(f"<span><i style='background:{c}'></i>{esc(k)}</span>" for k, c in seen_types.items())
        legend += (
            "<span><i style='background:repeating-linear-gradient(45deg,#fff,#fff 2px,#555 2px,#555 3px)'></i>"
            "from the call cache</span><span><i style='background:#c0392b'></i>failed</span>"
            "<span><i style='background:#dfe3ea'></i>queued behind a concurrency cap</span>"
        )
        parts.append(
            figure(
                "Timeline of the LLM calls (one bar per call on its layer's row; calls at once stack)",
                figures.timeline(row_names, bars, total, bands),
                wide=True,
            )
            + f"<div class='legend'>{legend}</div>"
        )
        parts.append(
            table(
                [
                    "layer",
                    "component",
                    "model",
                    "samples",
                    "start (s)",
                    "latency (s)",
                    "tokens in",
                    "tokens out",
                    "retries",
                    "cached",
                    "queued (s)",
                    "error / fallback",
                ],
                table_rows,
                numeric=(3, 4, 5, 6, 7, 8, 10),
            )
        )
    else:
        parts.append(note("This query made no LLM calls."))
    return "".join(parts)


def trace_section(tf: TraceFile) -> str:
    parts = [f"<h2>Queries</h2><div class='path'>{esc(tf.path)}</div>"]
    shown = tf.queries[-MAX_QUERIES_PER_TRACE_FILE:]
    if len(tf.queries) > len(shown):
        parts.append(note(f"{len(tf.queries)} queries in this file: the last {len(shown)} are shown."))
    offset = len(tf.queries) - len(shown)
    for i, q in enumerate(shown):
        parts.append(query_section(q, f"Query {offset + i + 1}"))
    return "".join(parts)


# --------------------------------------------------------------------------- the page


def build_report(paths: Sequence[str | Path], *, title: str = "archon report") -> str:
    """The HTML of a report on ``paths`` (search folders, benchmark run folders, trace files, in any mix)."""
    figures.require_matplotlib()
    sources = load_sources(paths)
    searches = [s for s in sources if isinstance(s, SearchRun)]
    benches = [s for s in sources if isinstance(s, BenchRun)]
    traces = [s for s in sources if isinstance(s, TraceFile)]
    sections: list[tuple[str, str, str]] = []  # (anchor, nav label, html)
    labels = [s.label for s in searches]
    for s in searches:  # two searches with one sampler are told apart by their folders
        if labels.count(s.sampler or s.path.name) > 1:
            s.label = f"{s.label} ({s.path.name})"
    if len(searches) > 1:
        figs = _search_progress_figures(searches)
        sections.append(
            ("compare", "Searches compared", "<h2>Searches compared</h2><div class='grid'>" + "".join(figs) + "</div>")
        )
    for i, s in enumerate(searches):
        sections.append((f"search-{i}", f"Search: {s.label}", search_section(s)))
    if benches:
        sections.append(("bench", "Benchmark runs", bench_section(benches)))
    for i, t in enumerate(traces):
        sections.append((f"trace-{i}", f"Queries: {t.path.name}", trace_section(t)))
    nav = "".join(f'<a href="#{a}">{esc(label)}</a>' for a, label, _ in sections)
    body = "".join(f'<section class="source" id="{a}">{h}</section>' for a, _, h in sections)
    made = time.strftime("%Y-%m-%d %H:%M")
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{esc(title)}</title>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'><style>{CSS}</style></head><body>"
        f"<header><h1>{esc(title)}</h1><p>{esc(made)} · from {esc(', '.join(str(p) for p in paths))}</p></header>"
        f"<nav>{nav}</nav><main>{body}</main></body></html>\n"
    )


def write_report(paths: Sequence[str | Path], out: str | Path = "report.html", **kwargs: Any) -> Path:
    """Write :func:`build_report` to ``out``; returns its path."""
    out = Path(out)
    text = build_report(paths, **kwargs)  # built first: a failure leaves no half-written file
    out.write_text(text, encoding="utf-8")
    return out
