"""Formatting helpers for the result tables of ``query`` and ``show``.

- a console that never wraps a cell when the output is piped or captured (scripts and
  ``grep`` see one row per line);
- blank cells instead of ``nan`` / ``None``;
- extra columns for the kinds that need them (``dimensionality`` of an effective
  migration barrier, ``mechanism`` and ``ion``; the ``uncertainty`` of a W_ad when a
  screening computed one with a second model);
- the list of stored kinds when a query names an unknown one.
"""

from __future__ import annotations

import math
from typing import Any

from rich.console import Console

#: columns added after ``miller`` for these kinds (when the rows have them)
KIND_COLUMNS: dict[str, tuple[str, ...]] = {
    "effective_migration_barrier": ("ion", "mechanism", "dimensionality"),
    "migration_barrier": ("ion", "mechanism", "label"),
}


def table_console() -> Console:
    """Rich console for tables: the terminal's width on a TTY, no wrapping when piped."""
    console = Console(soft_wrap=True)
    if not console.is_terminal:
        console = Console(soft_wrap=True, width=100_000)
    return console


def is_blank(value: Any) -> bool:
    if value is None:
        return True
    try:
        return isinstance(value, float) and math.isnan(value)
    except TypeError:
        return False


def cell(value: Any) -> str:
    """One table cell: blanks for missing values, 5 significant digits, Miller lists as 111/110."""
    if is_blank(value):
        return ""
    if isinstance(value, float):
        return f"{value:.5g}"
    if isinstance(value, list):
        return "/".join("".join(str(i) for i in v) if isinstance(v, list) else str(v) for v in value)
    return str(value)


def columns_for(df: Any, base: tuple[str, ...]) -> list[str]:
    """``base`` plus the extra columns of the kinds present in ``df``."""
    cols = list(base)
    if "kind" not in getattr(df, "columns", ()):
        return cols
    extra: list[str] = []
    for kind in df["kind"].dropna().unique():
        for col in KIND_COLUMNS.get(str(kind), ()):
            if col in df.columns and col not in cols and col not in extra and df[col].notna().any():
                extra.append(col)
    # ranked interface rows (query of W_ad, sigma, ...): the shared label and the ranking flags
    if "label" in df.columns and "label" not in cols and "label" not in extra and df["label"].notna().any():
        extra.insert(0, "label")
    at = cols.index("value") if "value" in cols else len(cols)
    out = cols[:at] + extra + cols[at:]
    if "flags" in df.columns and "flags" not in out and df["flags"].map(lambda f: not is_blank(f) and bool(f)).any():
        out.insert(out.index("value") + 1 if "value" in out else len(out), "flags")
    # W_ad rows of a screening with a second model: the spread between the models, J/m^2
    # (interphases.analysis.uncertainty), beside the value; blank where it was not computed
    if "uncertainty" in df.columns and "uncertainty" not in out and df["uncertainty"].map(lambda u: not is_blank(u)).any():
        out.insert(out.index("value") + 1 if "value" in out else len(out), "uncertainty")
    return out


def unknown_kind_message(kind: str, known: list[str]) -> str | None:
    """A one-line error when ``kind`` is not a stored kind (None when it is, or nothing is stored)."""
    if not kind or kind in known:
        return None
    if not known:
        return f"no results stored yet, so no {kind!r} either (run a computation first, or `interphases db ingest`)"
    import difflib

    close = difflib.get_close_matches(kind, known, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"no result of kind {kind!r}{hint}; stored kinds: {', '.join(sorted(known))}"


def _short(value: Any) -> str | None:
    """One-line text for a leaf value (None: not a leaf)."""
    if isinstance(value, dict):
        cls = value.get("@class")
        if cls in ("Structure", "Molecule") and "sites" in value:
            species = {}
            for site in value["sites"]:
                for sp in site.get("species", []):
                    species[sp.get("element")] = species.get(sp.get("element"), 0) + 1
            formula = "".join(f"{el}{n if n > 1 else ''}" for el, n in species.items())
            return f"<{cls} {formula}, {len(value['sites'])} atoms; `interphases export` writes it>"
        if cls in ("ComputedEntry", "ComputedStructureEntry"):
            return f"<{cls} {value.get('entry_id') or ''}>"
        return None
    if isinstance(value, list):
        if all(not isinstance(v, (dict, list)) for v in value):
            text = "[" + ", ".join(cell(v) for v in value[:6]) + (f", ... ({len(value)} values)]" if len(value) > 6 else "]")
            return text
        if all(isinstance(v, list) and all(not isinstance(x, (dict, list)) for x in v) for v in value):
            return f"<{len(value)} rows of {len(value[0]) if value else 0} numbers>"
        return None
    return cell(value) if not isinstance(value, str) else (value if len(value) <= 100 else value[:97] + "...")


def compact_lines(obj: Any, indent: int = 0, max_lines: int = 40) -> list[str]:
    """A job output as at most ``max_lines`` readable lines: scalars, structures as one line,
    lists of documents item by item; `show --json` has everything."""
    lines: list[str] = []

    def walk(value: Any, pad: int) -> None:
        if len(lines) >= max_lines:
            return
        if isinstance(value, dict):
            for key, item in value.items():
                if str(key).startswith("@") or len(lines) >= max_lines:
                    continue
                short = _short(item)
                if short is not None:
                    if short != "":
                        lines.append(f"{' ' * pad}{key}: {short}")
                else:
                    lines.append(f"{' ' * pad}{key}:")
                    walk(item, pad + 2)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if len(lines) >= max_lines:
                    lines.append(f"{' ' * pad}... ({len(value) - i} more items)")
                    return
                short = _short(item)
                if short is not None:
                    lines.append(f"{' ' * pad}- {short}")
                else:
                    lines.append(f"{' ' * pad}- [{i}]")
                    walk(item, pad + 2)
        else:
            lines.append(f"{' ' * pad}{_short(value)}")

    walk(obj, indent)
    if len(lines) >= max_lines:
        lines = lines[:max_lines] + ["... (more: interphases show ID --json)"]
    return lines
