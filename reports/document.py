"""``report.md`` and a self-contained ``report.html`` (figures inlined as base64 PNG)."""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reports.artifact_set import ArtifactSet
from reports.palette import Theme

if TYPE_CHECKING:
    from reports.builder import FigureOutcome

MARKDOWN_FILE = "report.md"
HTML_FILE = "report.html"

HEADERS: tuple[str, ...] = (
    "Workload",
    "DAG shape",
    "Sync",
    "Async",
    "Speedup (95% CI)",
    "Ideal speedup",
    "Sync eff.",
    "Async eff.",
)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def _seconds(stats: dict[str, Any] | None) -> str:
    mean = _number(stats["wall"].get("mean")) if stats and stats.get("trials") else None
    return "n/a" if mean is None else f"{mean:.2f} s"


def _speedup(speedup: dict[str, Any] | None) -> str:
    mean = _number(speedup.get("mean")) if speedup else None
    if mean is None:
        return "n/a"
    low, high = _number(speedup.get("ci_low")), _number(speedup.get("ci_high"))
    if low is None or high is None:
        return f"{mean:.2f}x"
    return f"{mean:.2f}x ({low:.2f}-{high:.2f})"


def _percent(value: Any) -> str:
    number = _number(value)
    return "n/a" if number is None else f"{number:.0%}"


def summary_rows(artifacts: ArtifactSet) -> list[dict[str, str]]:
    """The report's table, one row a workload of the primary artifacts."""
    rows = []
    for name in artifacts.workload_names():
        document = artifacts.workload(name)
        stats = document["statistics"]
        engines = stats.get("engines", {})
        ideal = _number(stats.get("ideal_speedup"))
        label = name if stats.get("hash_equal", True) else f"{name} (HASH MISMATCH)"
        rows.append(
            {
                "Workload": label,
                "DAG shape": str(document.get("description") or ""),
                "Sync": _seconds(engines.get("sync")),
                "Async": _seconds(engines.get("async")),
                "Speedup (95% CI)": _speedup(stats.get("speedup")),
                "Ideal speedup": "n/a" if ideal is None else f"{ideal:.2f}x",
                "Sync eff.": _percent(engines.get("sync", {}).get("efficiency_mean")),
                "Async eff.": _percent(engines.get("async", {}).get("efficiency_mean")),
            }
        )
    return rows


def warnings(artifacts: ArtifactSet) -> list[str]:
    """What a reader must not miss: dataset mismatches, failed trials, leaks, wide intervals."""
    notes = []
    for name in artifacts.workload_names():
        stats = artifacts.workload(name)["statistics"]
        if not stats.get("hash_equal", True):
            notes.append(f"{name}: sync and async datasets differ (correctness failure)")
        if stats.get("failed_trials"):
            notes.append(f"{name}: {stats['failed_trials']} trial(s) failed or stopped early")
        if (stats.get("speedup") or {}).get("too_wide"):
            notes.append(f"{name}: the speedup interval is too wide to call a difference")
        for engine, engine_stats in stats.get("engines", {}).items():
            if engine_stats.get("leak_free") is False:
                notes.append(f"{name}/{engine}: a permit or task was left at the end (leak)")
    return notes


def setup_line(artifacts: ArtifactSet) -> str:
    """The first artifact's set-up in one sentence, and where every artifact came from."""
    first = artifacts.artifacts[0].results
    inputs = first.get("inputs", {})
    git = first.get("environment", {}).get("git", {})
    sha = str(git.get("sha") or "unknown")[:10]
    sources = ", ".join(f"{a.kind} `{a.path}`" for a in artifacts.artifacts)
    return (
        f"{inputs.get('records', '?')} records, max_parallel_requests "
        f"{inputs.get('max_parallel_requests', '?')}, {inputs.get('trials', '?')} trials after "
        f"{inputs.get('warmup', '?')} warm-up, engines alternated; git {sha}, created "
        f"{first.get('created', '?')}. Artifacts: {sources}."
    )


def _markdown_table(rows: list[dict[str, str]]) -> list[str]:
    if not rows:
        return ["(no workload in the artifacts)"]
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "|".join("---" for _ in HEADERS) + "|"]
    for row in rows:
        cells = [row[h].replace("|", "\\|") for h in HEADERS]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def write_markdown(
    out_dir: Path,
    artifacts: ArtifactSet,
    outcomes: Sequence[FigureOutcome],
    animation: Path | None,
    timeline: str | None,
) -> Path:
    """``report.md``: the table, the warnings, each figure with its caption, what is missing."""
    kind = artifacts.primary_kind
    lines = [f"# Sync vs async: benchmark report ({kind})", "", setup_line(artifacts), ""]
    lines += _markdown_table(summary_rows(artifacts))
    notes = warnings(artifacts)
    if notes:
        lines += ["", *(f"- **{note}**" for note in notes)]
    if timeline:
        lines += ["", f"Timeline figures show the `{timeline}` workload."]

    for outcome in outcomes:
        if not outcome.drawn:
            continue
        png = next(p for p in outcome.files if p.suffix == ".png")
        lines += ["", f"## {outcome.title}", "", f"![{outcome.title}]({png.name})", ""]
        lines.append(outcome.caption + f" ([SVG]({png.with_suffix('.svg').name}))")
        if animation is not None and outcome.stem == animation.stem:
            lines += ["", f"Animated: [{animation.name}]({animation.name})"]

    missing = [o for o in outcomes if not o.drawn]
    if missing:
        lines += ["", "## Not drawn", ""]
        lines += [f"- {o.title}: {o.reason}" for o in missing]
    path = out_dir / MARKDOWN_FILE
    path.write_text("\n".join(lines) + "\n")
    return path


def write_html(
    out_dir: Path,
    artifacts: ArtifactSet,
    outcomes: Sequence[FigureOutcome],
    theme: Theme,
    timeline: str | None,
) -> Path:
    """``report.html``, one file with every figure inside, for mail or a CI artifact."""
    esc = html.escape
    rows = summary_rows(artifacts)
    table = ["<table>", "<tr>" + "".join(f"<th>{esc(h)}</th>" for h in HEADERS) + "</tr>"]
    table += ["<tr>" + "".join(f"<td>{esc(r[h])}</td>" for h in HEADERS) + "</tr>" for r in rows]
    table.append("</table>")

    body = [
        f"<h1>Sync vs async: benchmark report ({esc(artifacts.primary_kind)})</h1>",
        f"<p>{esc(setup_line(artifacts))}</p>",
        *table,
    ]
    notes = warnings(artifacts)
    if notes:
        body.append("<ul class='warn'>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>")
    if timeline:
        body.append(f"<p>Timeline figures show the <code>{esc(timeline)}</code> workload.</p>")
    for outcome in outcomes:
        if not outcome.drawn:
            continue
        png = next(p for p in outcome.files if p.suffix == ".png")
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        body += [
            f"<h2>{esc(outcome.title)}</h2>",
            f"<img alt='{esc(outcome.title)}' src='data:image/png;base64,{data}'>",
            f"<p class='caption'>{esc(outcome.caption)}</p>",
        ]
    missing = [o for o in outcomes if not o.drawn]
    if missing:
        items = "".join(f"<li>{esc(o.title)}: {esc(o.reason or '')}</li>" for o in missing)
        body += ["<h2>Not drawn</h2>", f"<ul>{items}</ul>"]

    style = (
        f"body{{background:{theme.background};color:{theme.foreground};"
        "font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em}"
        f"table{{border-collapse:collapse}}td,th{{border:1px solid {theme.grid};"
        "padding:4px 8px;text-align:right}td:nth-child(-n+2),th:nth-child(-n+2){text-align:left}"
        "img{max-width:100%}"
        f".caption{{color:{theme.muted}}}.warn{{color:#D62728;font-weight:bold}}"
    )
    page = (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>ddbench report</title><style>{style}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
    path = out_dir / HTML_FILE
    path.write_text(page)
    return path
