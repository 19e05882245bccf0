"""A plan's review page: one self-contained HTML file a reviewer reads without the notebook.

:func:`plan_report` writes, in this order: a title and a paragraph saying in
words what the plan does (sites new and kept, people served, coverage within
the threshold before and after, the solver's gap and runtime); the key
figures; the map (:func:`svcnet.viz.explore_plan`, embedded with Leaflet
inline); the ranked sites; two figures (the share of people within ``t``
minutes for ``t`` up to twice the threshold, and the Lorenz curve of travel
time, before and after) drawn by matplotlib as inline SVG; the before/after
table per unit; the norms with their sources; the notes; the solver's figures
and the planner's parameters.

Everything the page needs is inside it: it opens with no network (only a
basemap, if one is asked for, loads tiles). Text from the data is escaped. The
map sits in a sandboxed ``<iframe srcdoc>``: its scripts run, but cannot reach
the page around it.
"""

from __future__ import annotations

import html
import io
import logging
import math
import os
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from svcnet.errors import InputError
from svcnet.viz.export import _check_offline, to_html
from svcnet.viz.plan_maps import (
    PlanNumbers,
    _check_plan,
    _percent,
    explore_plan,
    group_label,
    plan_numbers,
)

logger = logging.getLogger(__name__)

__all__ = ["plan_report", "save_report"]

PathLike = str | os.PathLike[str]

_BEFORE_COLOR, _AFTER_COLOR = "#8c8c8c", "#1f4e9c"
_CURVE_POINTS = 400

_CSS = """
:root { --ink: #222; --muted: #5b5b5b; --line: #d9d9d4; --band: #f5f5f2; --accent: #1f4e9c; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff;
  font: 15px/1.5 "Helvetica Neue", Arial, "PingFang SC", "Hiragino Sans GB", "Microsoft YaHei",
        "Noto Sans CJK SC", "WenQuanYi Micro Hei", sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 26px; line-height: 1.25; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 36px 0 8px; padding-bottom: 4px;
  border-bottom: 2px solid var(--line); }
.byline { color: var(--muted); font-size: 13px; margin: 0 0 14px; }
.lead { font-size: 16px; max-width: 62em; }
.figures { display: flex; flex-wrap: wrap; gap: 10px; margin: 16px 0 4px; padding: 0; }
.figure { list-style: none; flex: 1 1 150px; background: var(--band); border-radius: 6px;
  padding: 10px 12px; }
.figure b { display: block; font-size: 20px; font-variant-numeric: tabular-nums; }
.figure span { color: var(--muted); font-size: 12.5px; }
.map { width: 100%; height: 660px; border: 1px solid var(--line); border-radius: 4px;
  display: block; }
.caption, figcaption { color: var(--muted); font-size: 13px; margin: 6px 0 0; max-width: 62em; }
.charts { display: flex; flex-wrap: wrap; gap: 24px; }
.charts figure { flex: 1 1 440px; margin: 0; }
.charts svg { width: 100%; height: auto; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 13.5px; margin: 6px 0; }
th, td { padding: 4px 10px 4px 0; border-bottom: 1px solid var(--line); vertical-align: top;
  text-align: left; }
thead th { border-bottom: 2px solid #999; font-weight: 600; vertical-align: bottom; }
th.num { text-align: right; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
#summary th { max-width: 9.5em; }
tr.total td { font-weight: 600; border-top: 2px solid #999; }
td.reason { min-width: 18em; }
td.name { min-width: 7em; }
td.id { overflow-wrap: anywhere; min-width: 6.5em; max-width: 12em; }
td.nowrap { white-space: nowrap; }
.notes li { margin-bottom: 4px; }
.empty { color: var(--muted); font-style: italic; }
footer { color: var(--muted); font-size: 12.5px; margin-top: 40px; }
@media print { .map { height: 520px; } h2 { break-after: avoid; } }
"""


# =========================================================================================
# formatting
# =========================================================================================
def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _number(value: Any, digits: int = 1) -> str:
    """Numbers as a reader reads them: 12,345 / 3.4 / 0.25; missing as a dash."""
    if _is_missing(value):
        return "–"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if not isinstance(value, int | float | np.integer | np.floating):
        return str(value)
    value = float(value)
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if value.is_integer() or abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}" if abs(value) >= 1 else f"{value:.{digits + 1}g}"


def _share_text(value: Any) -> str:
    if _is_missing(value):
        return "–"
    return f"{float(value):.1%}"


def _text(value: Any) -> str:
    if _is_missing(value):
        return ""
    if isinstance(value, tuple) and len(value) == 2:
        return f"{_number(value[0])}–{_number(value[1])}"
    if isinstance(value, int | float | np.integer | np.floating):
        return _number(value)
    return str(value)


_Format = Callable[[Any], str]
_NUM = ' class="num"'


def _table(
    frame: pd.DataFrame,
    *,
    formats: dict[str, _Format] | None = None,
    numeric: Iterable[str] = (),
    headers: dict[str, str] | None = None,
    row_class: Callable[[int, pd.Series], str] | None = None,
    cell_class: dict[str, str] | None = None,
    table_id: str | None = None,
) -> str:
    """An HTML table, every header and cell escaped."""
    if not len(frame.columns):
        return '<p class="empty">Nothing recorded.</p>'
    formats = formats or {}
    headers = headers or {}
    numeric = set(numeric)
    cell_class = cell_class or {}
    head = "".join(
        f'<th{_NUM if c in numeric else ""} scope="col">{_esc(headers.get(c, c))}</th>'
        for c in frame.columns
    )
    rows = []
    for position, (_, row) in enumerate(frame.iterrows()):
        cells = []
        for column in frame.columns:
            classes = " ".join(x for x in ("num" if column in numeric else "",
                                           cell_class.get(column, "")) if x)  # fmt: skip
            fmt = formats.get(column, _text)
            attr = f' class="{classes}"' if classes else ""
            cells.append(f"<td{attr}>{_esc(fmt(row[column]))}</td>")
        klass = row_class(position, row) if row_class else ""
        attr = f' class="{klass}"' if klass else ""
        rows.append(f"<tr{attr}>{''.join(cells)}</tr>")
    ident = f' id="{_esc(table_id)}"' if table_id else ""
    return (
        f'<div class="scroll"><table{ident}><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


# =========================================================================================
# the words
# =========================================================================================
def _gaps(solver: Sequence[Any]) -> list[float]:
    return [float(s["gap"]) for s in solver if not _is_missing(s.get("gap"))]


def _split_total(solver: Sequence[Any]) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The solved parts, and the ``total`` record that sums them (None when there is none)."""
    records = [dict(s) for s in solver]
    parts = [r for r in records if r.get("part") != "total"]
    total = next((r for r in records if r.get("part") == "total"), None)
    return parts, total


def _plan_gap(solver: Sequence[Any]) -> float:
    """The plan's certified gap; inf when some part has no bound.

    That of its total record (objectives and bounds summed) when it has one,
    else the largest part's, which bounds it.
    """
    parts, total = _split_total(solver)
    if total is not None and not _is_missing(total.get("gap")):
        return float(total["gap"])
    gaps = _gaps(parts)
    return max(gaps) if _certified(gaps) else math.inf


def _solver_seconds(solver: Sequence[Any]) -> float:
    """Seconds over the solved parts (a total record repeats them)."""
    return sum(float(p.get("seconds") or 0.0) for p in _split_total(solver)[0])


def _certified(gaps: list[float]) -> bool:
    """Whether every part has a finite gap (an infinite one: no bound was found)."""
    return bool(gaps) and all(math.isfinite(g) for g in gaps)


def _gap_text(value: Any) -> str:
    if _is_missing(value):
        return "–"
    value = float(value)
    return f"{value:.3%}" if math.isfinite(value) else "none (no bound)"


def _solver_sentence(solver: Sequence[Any]) -> str:
    parts, _ = _split_total(solver)
    if not parts:
        return "No solver figures were recorded."
    seconds = _solver_seconds(solver)
    plan_gap = _plan_gap(solver)
    gap = f"a certified gap of {plan_gap:.2%}" if math.isfinite(plan_gap) else "no certified gap"
    if len(parts) == 1:
        p = parts[0]
        how = ", ".join(str(p[k]) for k in ("model", "method") if not _is_missing(p.get(k)))
        status = p.get("status")
        said = f" reports {status}," if not _is_missing(status) else " reports"
        return f"The solver{f' ({how})' if how else ''}{said} {gap} after {seconds:,.1f} s."
    statuses = sorted({str(p.get("status")) for p in parts if not _is_missing(p.get("status"))})
    worst = f" (statuses: {', '.join(statuses)})" if statuses else ""
    gaps = _gaps(parts)
    largest = f", the largest of one part {max(gaps):.2%}" if _certified(gaps) else ""
    return (
        f"The plan was solved in {len(parts)} parts{worst}, with {gap} for the whole"
        f"{largest}, in {seconds:,.1f} s in total."
    )


def _summary_paragraph(plan: Any, n: PlanNumbers) -> str:
    t = plan.threshold_minutes
    who = group_label(plan.group).lower()
    sites = n.new_sites + n.kept_sites
    served = n.total - n.unserved
    words = [
        f"The plan recommends {sites:,} sites for {plan.service} in {plan.region_name}: "
        f"{n.new_sites:,} new and {n.kept_sites:,} existing sites kept.",
        f"They serve {served:,.0f} of the {n.total:,.0f} people counted ({who}).",
        f"After the plan {_percent(n.within_after)} of these people live within {t:g} minutes "
        f"of the site serving them; before it, {_percent(n.within_before)} lived within "
        f"{t:g} minutes of an existing facility.",
    ]
    if np.isfinite(n.mean_before) and np.isfinite(n.mean_after):
        words.append(
            f"The mean travel time goes from {n.mean_before:.1f} to {n.mean_after:.1f} minutes."
        )
    if n.unserved > 0:
        share = _percent(n.unserved / n.total) if n.total else "n/a"
        words.append(f"{n.unserved:,.0f} people ({share}) are left unserved.")
    else:
        words.append("Nobody is left unserved.")
    words.append(_solver_sentence(plan.solver))
    if plan.notes:
        count = len(plan.notes)
        words.append(f"Read the {count} note{'s' if count > 1 else ''} below before using it.")
    return " ".join(words)


def _key_figures(plan: Any, n: PlanNumbers) -> str:
    t = plan.threshold_minutes
    gap = _plan_gap(plan.solver)
    seconds = _solver_seconds(plan.solver)
    served = n.total - n.unserved
    items = [
        (f"{n.new_sites:,} + {n.kept_sites:,}", "new + existing sites"),
        (f"{served:,.0f}", f"people served of {n.total:,.0f}"),
        (
            f"{_percent(n.within_before)} → {_percent(n.within_after)}",
            f"within {t:g} min, before → after",
        ),
        (f"{n.mean_before:.1f} → {n.mean_after:.1f}", "mean minutes, before → after"),
        (f"{n.unserved:,.0f}", "people unserved"),
        (
            f"{gap:.2%}" if math.isfinite(gap) else "none",
            f"solver gap, {seconds:,.1f} s" if plan.solver else "no solver figures",
        ),
    ]
    cards = "".join(
        f'<li class="figure"><b>{_esc(value)}</b><span>{_esc(label)}</span></li>'
        for value, label in items
    )
    return f'<ul class="figures">{cards}</ul>'


# =========================================================================================
# the figures
# =========================================================================================
def coverage_curve(minutes: np.ndarray, people: np.ndarray, times: np.ndarray) -> np.ndarray:
    """The share of people within each of ``times`` minutes (NaN minutes: never).

    Examples
    --------
    >>> coverage_curve(np.array([1.0, 5.0, np.nan]), np.array([1.0, 2.0, 1.0]),
    ...                np.array([0.0, 1.0, 5.0])).tolist()
    [0.0, 0.25, 0.75]
    """
    total = float(people.sum())
    ok = np.isfinite(minutes)
    order = np.argsort(minutes[ok], kind="stable")
    sorted_minutes = minutes[ok][order]
    cumulative = np.r_[0.0, np.cumsum(people[ok][order])]
    if total <= 0:
        return np.zeros(len(times))
    return cumulative[np.searchsorted(sorted_minutes, times, side="right")] / total


def lorenz_curve(minutes: np.ndarray, people: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The Lorenz curve of travel time across people (those with a time).

    Returns the cumulative share of people (sorted from the shortest time) and
    the cumulative share of the person-minutes they travel, both from 0 to 1.

    Examples
    --------
    >>> x, y = lorenz_curve(np.array([1.0, 3.0, np.nan]), np.array([1.0, 1.0, 5.0]))
    >>> x.tolist(), y.tolist()
    ([0.0, 0.5, 1.0], [0.0, 0.25, 1.0])
    """
    ok = np.isfinite(minutes) & (people > 0)
    if not ok.any() or float((minutes[ok] * people[ok]).sum()) <= 0:
        return np.array([0.0, 1.0]), np.array([0.0, 1.0])
    order = np.argsort(minutes[ok], kind="stable")
    m, p = minutes[ok][order], people[ok][order]
    x = np.r_[0.0, np.cumsum(p) / p.sum()]
    y = np.r_[0.0, np.cumsum(m * p) / (m * p).sum()]
    return x, y


def _gini(x: np.ndarray, y: np.ndarray) -> float:
    return float(1.0 - np.sum(np.diff(x) * (y[1:] + y[:-1])))


def _thin(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """At most :data:`_CURVE_POINTS` points of a monotone curve (for a small SVG)."""
    if len(x) <= _CURVE_POINTS:
        return x, y
    grid = np.linspace(0.0, 1.0, _CURVE_POINTS)
    return grid, np.interp(grid, x, y)


def _svg(figure: Any) -> str:
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "svcnet"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    text = re.sub(r"\s*<metadata>.*?</metadata>", "", text, count=1, flags=re.DOTALL)
    return text[text.index("<svg") :]


def _new_figure() -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.0, 4.2), layout="constrained")
    axes = figure.add_subplot()
    axes.spines[["top", "right"]].set_visible(False)
    axes.grid(True, color="#e6e6e6", linewidth=0.8)
    axes.set_axisbelow(True)
    return figure, axes


def _coverage_svg(plan: Any, n: PlanNumbers) -> str:
    from matplotlib.ticker import PercentFormatter

    t = plan.threshold_minutes
    times = np.linspace(0.0, 2.0 * t, 241)
    figure, axes = _new_figure()
    for label, minutes, color, style in (
        ("before (existing facilities)", n.before, _BEFORE_COLOR, "--"),
        ("after (the plan)", n.after, _AFTER_COLOR, "-"),
    ):
        share = coverage_curve(minutes, n.people, times)
        axes.plot(times, share, color=color, linestyle=style, linewidth=2, label=label)
        at = float(coverage_curve(minutes, n.people, np.array([t]))[0])
        axes.plot([t], [at], "o", color=color, markersize=5)
        axes.annotate(f"{at:.0%}", (t, at), textcoords="offset points", xytext=(6, -12),
                      color=color, fontsize=9)  # fmt: skip
    axes.axvline(t, color="#444444", linewidth=0.9, linestyle=":")
    axes.text(t, 1.02, f" threshold {t:g} min", transform=axes.get_xaxis_transform(),
              fontsize=8.5, color="#444444", va="bottom")  # fmt: skip
    axes.set_xlim(0, 2.0 * t)
    axes.set_ylim(0, 1.0)
    axes.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    axes.set_xlabel("travel time t (minutes)")
    axes.set_ylabel(f"share of {group_label(plan.group).lower()} within t")
    axes.legend(loc="lower right", frameon=False, fontsize=9)
    return _svg(figure)


def _lorenz_svg(plan: Any, n: PlanNumbers) -> tuple[str, dict[str, float]]:
    from matplotlib.ticker import PercentFormatter

    figure, axes = _new_figure()
    axes.plot([0, 1], [0, 1], color="#bbbbbb", linewidth=1, label="equal travel times")
    ginis: dict[str, float] = {}
    for key, label, minutes, color, style in (
        ("before", "before", n.before, _BEFORE_COLOR, "--"),
        ("after", "after", n.after, _AFTER_COLOR, "-"),
    ):
        x, y = lorenz_curve(minutes, n.people)
        ginis[key] = _gini(x, y)
        x, y = _thin(x, y)
        axes.plot(x, y, color=color, linestyle=style, linewidth=2,
                  label=f"{label} (Gini {ginis[key]:.2f})")  # fmt: skip
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    axes.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    axes.set_xlabel("share of people, shortest travel first")
    axes.set_ylabel("share of all travel minutes")
    axes.legend(loc="upper left", frameon=False, fontsize=9)
    return _svg(figure), ginis


# =========================================================================================
# the tables
# =========================================================================================
_SITE_HEADERS = {
    "rank": "Rank",
    "name": "Name",
    "status": "Status",
    "population_served": "People served",
    "capacity": "Capacity",
    "mean_minutes": "Mean minutes",
    "reason": "Reason",
    "site_id": "Site id",
    "location": "Latitude, longitude",
}


def _sites_table(plan: Any) -> str:
    sites = plan.sites.sort_values("rank", kind="stable", na_position="last")
    points = sites.geometry
    usable = points.notna() & ~points.is_empty
    lonlat = points[usable].to_crs(4326)
    table = pd.DataFrame(sites.drop(columns=sites.geometry.name))
    lat, lon = lonlat.y.reindex(sites.index), lonlat.x.reindex(sites.index)
    table["location"] = [
        "" if _is_missing(y) else f"{y:.5f}, {x:.5f}"
        for y, x in zip(lat.tolist(), lon.tolist(), strict=True)
    ]
    first = list(_SITE_HEADERS)
    extras = [c for c in table.columns if c not in first]
    table = table[first + extras]
    numeric = {"rank", "population_served", "capacity", "mean_minutes"}
    numeric |= {c for c in extras if pd.api.types.is_numeric_dtype(table[c])}
    headers = {**_SITE_HEADERS, **{c: _capital(c.replace("_", " ")) for c in extras}}
    classes = {"reason": "reason", "name": "name", "site_id": "id", "location": "nowrap"}
    return _table(table, numeric=numeric, headers=headers, cell_class=classes, table_id="sites")


def _summary_columns(summary: pd.DataFrame) -> list[tuple[str, str | None]]:
    """The summary's columns, a ``_before`` column paired with its ``_after`` partner."""
    order: list[tuple[str, str | None]] = []
    taken: set[str] = set()
    for column in map(str, summary.columns):
        if column in taken:
            continue
        partner = None
        if column.endswith("_before"):
            candidate = column[: -len("_before")] + "_after"
            if candidate in summary.columns:
                partner = candidate
        order.append((column, partner))
        taken.update({column, partner} - {None})
    return order


def _ordered_summary_columns(summary: pd.DataFrame, group: str) -> list[tuple[str, str | None]]:
    pairs = _summary_columns(summary)
    return sorted(pairs, key=lambda pair: _summary_rank(pair[0], group))


_SUMMARY_WORDS = {
    "share_no_access": "share with no facility in reach",
    "people_per_facility": "people per facility",
    "unserved": "people unserved",
    "facilities": "facilities",
}
# The order of the summary's columns in the report (by the start of their names).
_SUMMARY_ORDER = ("facilities", "people_per_facility", "within_", "mean_", "p90_",
                  "share_no_access", "unserved", "gini_")  # fmt: skip


def _summary_rank(column: str, group: str) -> int:
    if column == group:
        return -1
    for rank, start in enumerate(_SUMMARY_ORDER):
        if column.startswith(start):
            return rank
    return len(_SUMMARY_ORDER)


def _summary_header(column: str, plan: Any) -> str:
    t = f"{plan.threshold_minutes:g}"
    if column == plan.group:
        return group_label(plan.group)
    text = str(column)
    when = ""
    for suffix in ("_before", "_after"):
        if text.endswith(suffix):
            text, when = text[: -len(suffix)], suffix[1:]
    text = re.sub(rf"^within_{re.escape(t)}min$", f"within {t} min", text)
    text = _SUMMARY_WORDS.get(text, text)
    text = text.replace("gini_minutes", "Gini of minutes").replace("p90", "90th pct.")
    text = text.replace("_", " ")
    text = text[:1].upper() + text[1:]
    return f"{text}, {when}" if when else text


def _summary_format(column: str) -> _Format:
    if column.startswith("within_") or "share" in column:
        return _share_text
    if column.startswith("gini"):
        return lambda v: "–" if _is_missing(v) else f"{float(v):.2f}"
    return _number


def _summary_table(plan: Any) -> str:
    """Per unit, each before/after pair in one cell: ``20% → 73%``."""
    summary = plan.summary()
    label = plan.unit_level.replace("_", " ").capitalize()
    table = pd.DataFrame({label: [str(u) for u in summary.index]})
    numeric = []
    for column, partner in _ordered_summary_columns(summary, plan.group):
        fmt = _summary_format(column)
        if partner is None:
            header = _summary_header(column, plan)
            values = [fmt(v) for v in summary[column]]
        else:
            header = _summary_header(column, plan).removesuffix(", before")
            header += " (before → after)"
            values = [f"{fmt(b)} → {fmt(a)}" for b, a in
                      zip(summary[column], summary[partner], strict=True)]  # fmt: skip
        table[header] = values
        if partner is not None or pd.api.types.is_numeric_dtype(summary[column]):
            numeric.append(header)

    def total_row(position: int, row: pd.Series) -> str:
        return "total" if row[label] == "total" else ""

    return _table(table, formats={c: str for c in table.columns}, numeric=numeric,
                  row_class=total_row, table_id="summary")  # fmt: skip


def _norms_table(plan: Any) -> str:
    table = plan.norms_table()
    if not len(table):
        return '<p class="empty">The plan lists no norms.</p>'
    notes = {n.name: getattr(n, "note", "") for n in plan.norms}
    values = {n.name: getattr(n, "value_text", None) for n in plan.norms}
    table = table.copy()
    table["value"] = [
        values.get(name) or _text(v) for name, v in zip(table["norm"], table["value"], strict=True)
    ]
    table["note"] = table["norm"].map(notes).fillna("")
    headers = {"norm": "Norm", "value": "Value", "unit": "Unit", "source": "Source",
               "note": "What it means"}  # fmt: skip
    return _table(table, headers=headers, numeric=["value"], table_id="norms")


def _solver_table(plan: Any) -> str:
    table = plan.solver_table()
    if not len(table):
        return '<p class="empty">No solver figures were recorded.</p>'
    formats: dict[str, _Format] = {}
    numeric = [c for c in table.columns if pd.api.types.is_numeric_dtype(table[c])]
    for column in numeric:
        formats[column] = _number
    if "gap" in table.columns:
        formats["gap"] = _gap_text
    if "seconds" in table.columns:
        formats["seconds"] = lambda v: "–" if _is_missing(v) else f"{float(v):,.2f}"
    if "objective" in table.columns:
        formats["objective"] = lambda v: "–" if _is_missing(v) else f"{float(v):,.6g}"
    if "bound" in table.columns:
        formats["bound"] = lambda v: "–" if _is_missing(v) else f"{float(v):,.6g}"
    return _table(table, formats=formats, numeric=numeric, table_id="solver")


def _parameters_table(plan: Any) -> str:
    parameters = dict(plan.parameters)
    if not parameters:
        return '<p class="empty">The planner recorded no parameters.</p>'
    table = pd.DataFrame({"parameter": list(parameters), "value": [
        _text(v) if not isinstance(v, list | dict | set) else str(v)
        for v in parameters.values()
    ]})  # fmt: skip
    return _table(table, headers={"parameter": "Parameter", "value": "Value"})


def _notes(plan: Any) -> str:
    if not plan.notes:
        return '<p class="empty">The planner left no notes.</p>'
    items = "".join(f"<li>{_esc(note)}</li>" for note in plan.notes)
    return f'<ul class="notes">{items}</ul>'


# =========================================================================================
# the page
# =========================================================================================
def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _version() -> str:
    try:
        from svcnet import __version__

        return str(__version__)
    except ImportError:  # pragma: no cover
        return "unknown"


def plan_report(
    plan: Any,
    *,
    title: str | None = None,
    tiles: Any = None,
    attr: str | None = None,
) -> str:
    """The review page of a plan: a self-contained HTML document.

    A reviewer reads it without the notebook: a paragraph saying what the plan
    does, the key figures, the map (all of :func:`explore_plan`'s layers), the
    ranked sites, the coverage curve and the Lorenz curve of travel time
    before and after, the per-unit summary, the norms with their sources, the
    notes, and the solver's figures. The figures are inline SVG and the map
    carries Leaflet inline, so the page opens with no network; only basemap
    tiles (``tiles``) would need it.

    Parameters
    ----------
    plan
        A :class:`svcnet.Plan`.
    title
        The page's title; default "<service> in <region>: plan review".
    tiles, attr
        The map's basemap (see :func:`explore_plan`); default none (offline).

    Returns
    -------
    str
        The HTML document.

    Raises
    ------
    InputError
        ``plan`` is not a Plan, or ``tiles`` is not usable.

    Examples
    --------
    >>> from svcnet.viz.plan_maps import toy_plan
    >>> page = plan_report(toy_plan())
    >>> page.startswith("<!DOCTYPE html>"), page.count("<svg") >= 2, "<script src=" in page
    (True, True, False)
    """
    _check_plan(plan)
    numbers = plan_numbers(plan)
    if title is None:
        title = f"{_capital(plan.service)} in {plan.region_name}: plan review"
    m = explore_plan(plan, tiles=tiles, attr=attr)
    gap_name = f"Gap to the norm by {plan.unit_level.replace('_', ' ')}"
    gap_view = (
        f" '{gap_name}' is one more view: each unit coloured by its gap to the norm; click a "
        "unit for the norm's figures."
        if any(getattr(c, "layer_name", None) == gap_name for c in m._children.values())
        else ""
    )
    map_page = to_html(m, offline=True)
    coverage = _coverage_svg(plan, numbers)
    lorenz, ginis = _lorenz_svg(plan, numbers)
    t = plan.threshold_minutes
    who = group_label(plan.group).lower()
    basemap = (
        "There is no basemap: the page needs no network."
        if tiles is None
        else "The basemap's tiles load from the network; everything else is in this page."
    )
    sections = [
        f"<header><h1>{_esc(title)}</h1>",
        f'<p class="byline">{_esc(plan.service)} · {_esc(plan.region_name)} · threshold '
        f"{t:g} minutes · people counted: {_esc(who)} · reported by "
        f"{_esc(plan.unit_level.replace('_', ' '))}</p>",
        f'<p class="lead" id="summary-text">{_esc(_summary_paragraph(plan, numbers))}</p>',
        _key_figures(plan, numbers),
        "</header>",
        '<section id="map"><h2>Map</h2>',
        f'<iframe class="map" title="Map of the plan" sandbox="allow-scripts allow-popups" '
        f'srcdoc="{html.escape(map_page, quote=True)}"></iframe>',
        '<p class="caption">Layers (top right): four views of the cells, shown one at a time '
        "(service areas, coverage after, coverage before, travel time after), the unserved "
        "cells, and the recommended sites sized by the people they serve. Hover a cell or a "
        f"site for its numbers; click a site to keep them open.{_esc(gap_view)} "
        f"{_esc(basemap)}</p>",
        "</section>",
        '<section id="sites"><h2>Recommended sites, ranked</h2>',
        _sites_table(plan),
        "</section>",
        '<section id="curves"><h2>Coverage and equity, before and after</h2>',
        '<div class="charts">',
        f'<figure id="coverage-curve">{coverage}<figcaption>Share of {_esc(who)} within t '
        f"minutes of a facility, for t from 0 to twice the {t:g}-minute threshold. Before: "
        "the nearest existing facility; after: the site serving them. People with no "
        "facility within reach, or left unserved, are never within t.</figcaption></figure>",
        f'<figure id="lorenz-curve">{lorenz}<figcaption>Lorenz curve of travel time: people '
        "sorted from the shortest trip, against their share of all travel minutes. The "
        "closer to the diagonal, the more evenly travel is shared (Gini "
        f"{ginis['before']:.2f} before, {ginis['after']:.2f} after). Only people with a "
        "travel time count: before, those with a facility within reach; after, those "
        "served.</figcaption></figure>",
        "</div></section>",
        f'<section id="units"><h2>Before and after, by '
        f"{_esc(plan.unit_level.replace('_', ' '))}</h2>",
        _summary_table(plan),
        '<p class="caption">Shares are of the people counted; minutes are population-weighted. '
        "Before: existing facilities only; after: the plan's sites.</p>",
        "</section>",
        '<section id="norms"><h2>Norms used, with their sources</h2>',
        _norms_table(plan),
        "</section>",
        '<section id="notes"><h2>Notes</h2>',
        _notes(plan),
        "</section>",
        '<section id="solver"><h2>Solver</h2>',
        _solver_table(plan),
        "<h3>Parameters</h3>",
        _parameters_table(plan),
        "</section>",
        f"<footer>Made with svcnet {_esc(_version())}. The map and figures are inside this "
        "file.</footer>",
    ]
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<main>\n"
        + "\n".join(sections)
        + "\n</main>\n</body>\n</html>\n"
    )
    _check_offline(page)
    logger.debug("plan report: %.1f MB (map %.1f MB)", len(page) / 1e6, len(map_page) / 1e6)
    return page


def save_report(
    plan: Any,
    path: PathLike,
    *,
    title: str | None = None,
    tiles: Any = None,
    attr: str | None = None,
    protected: Iterable[PathLike] | PathLike = (),
) -> None:
    """Write a plan's review page (:func:`plan_report`) atomically.

    Parameters
    ----------
    plan
        A :class:`svcnet.Plan`.
    path
        The output ``.html`` file; its parent directories are created.
    title, tiles, attr
        As :func:`plan_report`.
    protected
        The caller's input files, which must not be overwritten.

    Raises
    ------
    InputError
        As :func:`plan_report`, or the target is protected.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from svcnet.viz.plan_maps import toy_plan
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "review.html"
    >>> save_report(toy_plan(), path)
    >>> "Recommended sites" in path.read_text(encoding="utf-8")
    True
    """
    from svcnet.io import write_html

    if not isinstance(path, str | os.PathLike):
        msg = f"path must be a file path; got {type(path).__name__}"
        raise InputError(msg)
    write_html(plan_report(plan, title=title, tiles=tiles, attr=attr), path, protected=protected)
