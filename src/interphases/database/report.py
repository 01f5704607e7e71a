"""A small Markdown or HTML report: one ranking table and bar chart per quantity.

For every ``kind`` in the summary collection (or the ones asked for) the report holds
the ranking (best first, see :data:`interphases.database.query.HIGHER_IS_BETTER`), the
full table as CSV, a matplotlib bar chart of the top entries, and the images (PNG/SVG)
that workflows left in the project's ``plots/`` folders (``<project>/plots`` and
``<project>/campaigns/*/plots``), copied next to the report.
"""

from __future__ import annotations

import html
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from interphases.config import project_dir
from interphases.database.query import best_first_descending, facts_of_candidates, query
from interphases.database.store import Database, open_database
from interphases.errors import DatabaseError

RANKING_COLUMNS = ("label", "value", "units", "flags", "engine", "model", "candidate_id")

#: kinds whose value is itself a rank (no bar chart of rank numbers)
RANK_KINDS = frozenset({"screening_rank"})
IMAGE_SUFFIXES = (".png", ".svg", ".jpg", ".jpeg")


def _label(row: pd.Series) -> str:
    """``Li(110) | LiF(110), Li|LiF [id]`` (:func:`interphases.analysis.ranking.row_label`)."""
    from interphases.analysis.ranking import row_label

    label = row.get("label")
    if isinstance(label, str) and label:
        return label
    return row_label(row.to_dict())


def ranking_table(df: pd.DataFrame, top: int) -> pd.DataFrame:
    """The first ``top`` rows with the columns a reader needs, numbered from 1."""
    cols = [c for c in RANKING_COLUMNS if c in df.columns]
    if "uncertainty" in df.columns and df["uncertainty"].notna().any():  # W_ad spread to a second model
        cols.insert(cols.index("value") + 1 if "value" in cols else len(cols), "uncertainty")
    table = df[cols].head(top).copy()
    table.insert(0, "rank", range(1, len(table) + 1))
    return table


def _markdown_table(df: pd.DataFrame) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return "" if pd.isna(v) else f"{v:.4g}"
        if isinstance(v, list):
            return "/".join(
                "".join(str(i) for i in x) if isinstance(x, list) else str(x) for x in v
            )
        return (
            "" if v is None or (isinstance(v, float) and pd.isna(v)) else str(v).replace("|", "\\|")
        )

    head = "| " + " | ".join(map(str, df.columns)) + " |"
    rule = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def bar_chart(df: pd.DataFrame, kind: str, path: Path, top: int) -> Path:
    """Horizontal bar chart of the ranking (best at the top)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = df.head(top)
    labels = [_label(r) for _, r in shown.iterrows()]
    units = str(shown["units"].iloc[0]) if "units" in shown and len(shown) else ""
    fig, ax = plt.subplots(figsize=(6.4, 0.35 * len(shown) + 1.2))
    ax.barh(range(len(shown)), shown["value"].to_numpy(), color="#3b6ea8")
    ax.set_yticks(range(len(shown)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"{kind} ({units})" if units else kind)
    if "flags" in shown:  # flagged rows (polar, unconverged, W_ad<0, eq18) hatched grey
        for patch, flags in zip(ax.patches, shown["flags"].fillna(""), strict=False):
            if flags:
                patch.set_facecolor("#b0b0b0")
                patch.set_hatch("//")
    ax.set_title(f"{kind}: ranking (best first; grey = flagged)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _filters_text(filters: dict[str, Any], kinds: list[str] | None) -> str:
    """``kinds=..., phases=...`` of the filters in force, or a sentence saying there are none."""
    used = {k: v for k, v in filters.items() if v is not None and v != [] and v != ""}
    if kinds:
        used = {"kinds": ",".join(kinds), **used}
    if not used:
        return "none (every result in the database)"
    return ", ".join(f"{k}={v}" for k, v in used.items())


def _neb_profile_plots(db: Any, rows: pd.DataFrame, out: Path, max_jobs: int = 12) -> list[str]:
    """Energy profiles of the NEB jobs behind ``migration_barrier`` rows, drawn from their
    stored output documents (``hops[].energies``, ``reaction_coordinate``); file names
    relative to ``out``. A job whose document cannot be read is skipped."""
    from interphases.analysis.migration import plot_energy_profiles

    if rows.empty or "job_uuid" not in rows.columns:
        return []
    uuids = [u for u in dict.fromkeys(rows["job_uuid"].dropna().astype(str)) if u][:max_jobs]
    written: list[str] = []
    for uuid in uuids:
        try:
            docs = list(db.jobstore.query({"uuid": uuid}, load=True))
            output = (docs[0].get("output") or {}) if docs else {}
            hops = [h for h in output.get("hops") or [] if h.get("energies") and h.get("reaction_coordinate")]
            if not hops:
                continue
            name = f"{output.get('formula', 'phase')} {output.get('ion', '')} {output.get('mechanism', '')}".strip()
            profiles = [
                {"label": h.get("label") or f"hop {i}", "reaction_coordinate": h["reaction_coordinate"],
                 "energies": h["energies"]}
                for i, h in enumerate(hops, start=1)
            ]
            slug = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
            (out / "plots").mkdir(exist_ok=True)
            files = plot_energy_profiles(
                profiles, out / "plots" / f"neb_{slug}_{uuid[:8]}", title=f"NEB: {name}", formats=("png",)
            )
            written += [f.relative_to(out).as_posix() for f in files]
        except Exception:  # noqa: BLE001 - a report never fails on one unreadable job
            continue
    return written


def window_spans(rows: pd.DataFrame) -> list[dict[str, Any]]:
    """Electrochemical windows from the ``reduction_limit`` / ``oxidation_limit`` rows: one
    ``{formula, units, low, high}`` per phase and reference couple (``high`` None when the
    phase has no oxidation limit); the latest row of each kind wins."""
    spans: dict[tuple[str, str], dict[str, Any]] = {}
    for _, row in rows.iterrows():
        kind = row.get("kind")
        if kind not in ("reduction_limit", "oxidation_limit"):
            continue
        formulas = row.get("formulas")
        formula = formulas[0] if isinstance(formulas, list | tuple) and formulas else row.get("phases_key")
        units = str(row.get("units") or "V")
        span = spans.setdefault((str(formula), units), {"formula": str(formula), "units": units, "low": None, "high": None})
        span["low" if kind == "reduction_limit" else "high"] = float(row["value"])
    return [s for s in spans.values() if s["low"] is not None]


def window_plot(rows: pd.DataFrame, out: Path) -> list[str]:
    """One chart of the stored electrochemical windows per reference couple (floating bars
    from the reduction to the oxidation limit; an arrow where there is no oxidation limit);
    file names relative to ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[str] = []
    spans = window_spans(rows)
    for units in dict.fromkeys(s["units"] for s in spans):
        group = sorted((s for s in spans if s["units"] == units), key=lambda s: s["low"])
        top = max([s["high"] for s in group if s["high"] is not None] + [s["low"] for s in group]) + 1.0
        fig, ax = plt.subplots(figsize=(6, 0.5 + 0.4 * len(group)))
        for i, s in enumerate(group):
            high = s["high"] if s["high"] is not None else top
            ax.barh(i, high - s["low"], left=s["low"], color="tab:blue" if s["high"] is not None else "tab:cyan")
            if s["high"] is None:
                ax.annotate("no oxidation limit", (top, i), xytext=(-4, 0), textcoords="offset points",
                            ha="right", va="center", fontsize=7)
        ax.set_yticks(range(len(group)), [s["formula"] for s in group])
        ax.set_xlabel(units)
        ax.set_title(f"electrochemical windows ({units})", fontsize=10)
        fig.tight_layout()
        slug = "".join(c if c.isalnum() else "_" for c in units)
        (out / "plots").mkdir(exist_ok=True)
        path = out / "plots" / f"windows_{slug}.png"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        written.append(path.relative_to(out).as_posix())
    return written


def found_plots(root: Path | None = None) -> list[Path]:
    """Images the workflows saved under ``<project>/plots`` and ``<project>/campaigns/*/plots``."""
    root = root or project_dir()
    dirs = [root / "plots", *sorted(root.glob("campaigns/*/plots"))]
    return sorted(
        p for d in dirs if d.is_dir() for p in d.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES
    )


def write_report(
    out_dir: str | Path,
    *,
    kinds: list[str] | None = None,
    fmt: str = "md",
    top: int = 20,
    database: Database | None = None,
    title: str = "interphases results",
    **filters: Any,
) -> Path:
    """Write ``report.md`` (or ``report.html``) with rankings, CSVs and charts into ``out_dir``.

    ``filters`` are passed to :func:`~interphases.database.query.query` (``campaign=``,
    ``engine=``, ``phases=`` ...). Returns the report file.
    """
    if fmt not in ("md", "html"):
        raise DatabaseError(f"report format {fmt!r} unknown: use 'md' or 'html'")
    if top < 1:
        raise DatabaseError(f"--top must be at least 1, got {top}")
    db = (database or open_database()).connect()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # one read of the summary, split by kind
    from interphases.analysis.ranking import rank_frame

    everything = query(kinds or None, sort=None, database=db, **filters)
    wanted = (kinds or sorted(everything["kind"].dropna().unique())) if len(everything) else []
    # the flags of a candidate (polar, converged, Eq. 18) live on several of its rows, of
    # kinds the report may not show (work_of_adhesion_eq18): read from all of them
    facts = (facts_of_candidates(everything, db) or {}) if len(everything) else {}
    sections: list[dict[str, Any]] = []
    for kind in wanted:
        df = everything[everything["kind"] == kind]
        if df.empty:
            continue
        # the one ranking of screen and query (flagged rows after the sound ones)
        df = rank_frame(
            df.reset_index(drop=True), kind, descending=best_first_descending(kind), facts=facts
        )
        slug = "".join(c if c.isalnum() or c in "-_" else "_" for c in kind)
        df.to_csv(out / f"{slug}.csv", index=False)
        chart = (
            None if kind in RANK_KINDS else bar_chart(df, kind, out / f"{slug}.png", top)
        )
        sections.append(
            {
                "kind": kind,
                "n": len(df),
                "order": "largest first" if best_first_descending(kind) else "smallest first",
                "table": ranking_table(df, top),
                "chart": chart.name if chart is not None else None,
                "csv": f"{slug}.csv",
            }
        )
    images = []
    if "migration_barrier" in wanted:
        images += _neb_profile_plots(db, everything[everything["kind"] == "migration_barrier"], out)
    if "reduction_limit" in wanted:
        images += window_plot(everything, out)
    for src in found_plots():
        dest = out / "plots" / src.name
        dest.parent.mkdir(exist_ok=True)
        if src.resolve() != dest.resolve():
            shutil.copy2(src, dest)
        images.append(dest.relative_to(out).as_posix())
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    where = f"{db.location} ({db.config.source})"
    if fmt == "md":
        lines = [f"# {title}", "", f"Generated {stamp} from `{where}`.", ""]
        lines += [f"Filters: {_filters_text(filters, kinds)}.", ""]
        lines += [
            "Rows are in the one ranking of `interphases screen` and `interphases query`: "
            "flagged rows (`polar`: a side with a dipole or net charge; `unconverged`; "
            "`W_ad<0`; `eq18`: |W_ad − (γ_A + γ_B − σ)| > 0.05 J/m²) come after the sound "
            "ones; their numbers are not comparable with them.",
            "",
        ]
        if not sections:
            lines += ["No results match.", ""]
        for s in sections:
            lines += [
                f"## {s['kind']}",
                "",
                f"{s['n']} results, ranked {s['order']}; full table: [{s['csv']}]({s['csv']}).",
                "",
                _markdown_table(s["table"]),
                "",
            ]
            if s["chart"]:
                lines += [f"![{s['kind']}]({s['chart']})", ""]
        if images:
            lines += (
                ["## Plots from the workflows", ""]
                + [f"![{Path(i).stem}]({i})" for i in images]
                + [""]
            )
        path = out / "report.md"
        path.write_text("\n".join(lines))
    else:
        parts = [
            f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
            "<style>body{font-family:sans-serif;max-width:60em;margin:auto}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:2px 6px}</style></head><body>",
            f"<h1>{html.escape(title)}</h1><p>Generated {stamp} from <code>{html.escape(where)}</code>.</p>",
            f"<p>Filters: {html.escape(_filters_text(filters, kinds))}.</p>",
        ]
        if not sections:
            parts.append("<p>No results match.</p>")
        for s in sections:
            parts += [
                f"<h2>{html.escape(s['kind'])}</h2>",
                f"<p>{s['n']} results, ranked {s['order']}; full table: <a href='{s['csv']}'>{s['csv']}</a>.</p>",
                s["table"].to_html(index=False, float_format=lambda v: f"{v:.4g}"),
            ]
            if s["chart"]:
                parts.append(f"<p><img src='{s['chart']}' alt='{html.escape(s['kind'])}'></p>")
        if images:
            parts.append("<h2>Plots from the workflows</h2>")
            parts += [f"<p><img src='{html.escape(i)}' style='max-width:100%'></p>" for i in images]
        parts.append("</body></html>")
        path = out / "report.html"
        path.write_text("\n".join(parts))
    return path
