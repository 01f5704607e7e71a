"""One ranking and one label for interface (and surface) results, used everywhere.

``interphases screen`` (:func:`interphases.workflows.screening.rank_interfaces`),
``interphases query``, ``interphases report`` (tables and charts), the demo and
``ranking.json`` all order rows with :func:`rank_rows` / :func:`rank_frame` and name
them with :func:`interface_label`, so one result has one rank and one name everywhere.

Flags (:func:`row_flags`) mark rows a surface scientist would not trust as they stand:

- ``polar``: a side is a polar slab (dipole normal to the surface or net formal charge,
  an uncompensated Tasker-3 termination): its energy depends on the slab thickness and
  on how the field is screened, so it is not comparable with non-polar rows;
- ``unconverged``: a relaxation stopped above its force threshold;
- ``W_ad<0``: a negative work of adhesion means the interface would come apart by
  itself; for an ionic film it usually means a polar or charged side;
- ``eq18``: the direct W_ad and γ_A + γ_B − σ (Eq. 18) differ by more than
  :data:`EQ18_TOL` J/m²: the slab and sandwich cell models disagree.

A flagged row is never ranked above a sound one unless ``raw=True`` (plain sort by value).
Within each group: W_ad largest first (or the quantity's best direction), then σ
smallest, then strain, then atom count, then id (deterministic).

``uncertainty`` (J/m², the spread of W_ad between two models at the same geometry, see
:mod:`interphases.analysis.uncertainty`) is carried by the rows and shown beside W_ad, but
never changes the ranking; only the choice of candidates to refine may use it
(:func:`select_for_refinement`, ``by="ucb"``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

#: |W_ad − (γ_A + γ_B − σ)| (J/m²) above which the Eq. 18 check flags a row.
EQ18_TOL = 0.05

FLAG_ORDER = ("polar", "unconverged", "W_ad<0", "eq18")

#: summary kinds whose value is a work of adhesion
WAD_KINDS = frozenset({"work_of_adhesion", "work_of_adhesion_eq18", "adhesion_energy"})

#: summary kinds whose rows carry the candidate's W_ad ``uncertainty`` (the direct W_ad;
#: the Eq. 18 W_ad is another cell model, its model spread was not computed)
UNCERTAINTY_KINDS = frozenset({"work_of_adhesion", "screening_rank"})

#: how :func:`select_for_refinement` picks candidates
REFINE_BY = ("rank", "ucb")


def candidate_facts(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """``{(candidate_id, engine, model): {"polar", "converged", "eq18_difference",
    "interfacial_energy", "uncertainty"}}`` gathered from summary rows of any kind.

    The polar mark lives on the ``work_of_adhesion`` row and the Eq. 18 difference on the
    ``work_of_adhesion_eq18`` row of a candidate; :func:`rank_frame` joins them into the
    candidate's other rows (σ, E_f, ...) so that every quantity carries the same flags.
    The W_ad ``uncertainty`` lives on the ``screening_rank`` row; it is joined into the
    candidate's ``work_of_adhesion`` row only (:data:`UNCERTAINTY_KINDS`).
    """
    facts: dict[tuple, dict[str, Any]] = {}
    for r in rows:
        key = _fact_key(r)
        if key is None:
            continue
        f = facts.setdefault(key, {})
        if not _missing(r.get("polar")):
            f["polar"] = bool(f.get("polar")) or bool(r["polar"])
        if not _missing(r.get("converged")) and r.get("kind") != "screening_rank":
            f["converged"] = bool(f.get("converged", True)) and bool(r["converged"])
        if r.get("kind") == "work_of_adhesion_eq18" and _num(r.get("difference")) is not None:
            f["eq18_difference"] = _num(r.get("difference"))
        if r.get("kind") == "interfacial_energy" and _num(r.get("value")) is not None:
            f["interfacial_energy"] = _num(r.get("value"))
        if r.get("kind") in UNCERTAINTY_KINDS and _num(r.get("uncertainty")) is not None:
            f["uncertainty"] = _num(r.get("uncertainty"))
    return facts


def _fact_key(row: Mapping[str, Any]) -> tuple | None:
    cid = row.get("candidate_id")
    if _missing(cid) or not cid:
        return None
    return (str(cid), str(row.get("engine")), str(row.get("model")))


def _num(value: Any) -> float | None:
    """A finite float, or None for None / NaN / non-numbers."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _missing(value: Any) -> bool:
    if value is None:
        return True
    return isinstance(value, float) and math.isnan(value)


def row_flags(
    row: Mapping[str, Any], *, value_key: str = "work_of_adhesion", kind: str | None = None
) -> list[str]:
    """Flags of one row (see the module docstring), in :data:`FLAG_ORDER`.

    ``row`` is a :class:`RankedInterface` dump, or a summary-collection row (then the
    value is ``row["value"]`` and the kind ``row["kind"]``). Missing fields raise no flag.
    """
    kind = kind or row.get("kind")
    flags: list[str] = []
    polar = row.get("polar")
    if not _missing(polar) and bool(polar):
        flags.append("polar")
    converged = row.get("converged")
    if not _missing(converged) and not bool(converged):
        flags.append("unconverged")
    if value_key == "value":  # a summary row: its value is W_ad only for these kinds
        wad = _num(row.get("value")) if kind in WAD_KINDS else None
    else:
        wad = _num(row.get(value_key))
    if wad is not None and wad < 0:
        flags.append("W_ad<0")
    diff = _num(row.get("eq18_difference"))
    if diff is None:
        diff = _num(row.get("difference")) if kind == "work_of_adhesion_eq18" else None
    if diff is not None and abs(diff) > EQ18_TOL:
        flags.append("eq18")
    return flags


def sort_key(
    row: Mapping[str, Any],
    *,
    value_key: str = "work_of_adhesion",
    descending: bool = True,
    raw: bool = False,
    kind: str | None = None,
) -> tuple:
    """The sort key of :func:`rank_rows` for one row."""
    value = _num(row.get(value_key))
    if value is None:
        value = _num(row.get("value"))
    v = math.inf if value is None else (-value if descending else value)
    v = round(v, 9) if math.isfinite(v) else v
    sigma = _num(row.get("interfacial_energy"))
    strain = _num(row.get("von_mises_strain"))
    n_atoms = _num(row.get("n_atoms"))
    tail = (
        round(sigma, 3) if sigma is not None else math.inf,
        round(strain, 6) if strain is not None else math.inf,
        n_atoms if n_atoms is not None else math.inf,
        str(row.get("candidate_id") or ""),
    )
    if raw:
        return (v, *tail)
    flags = row_flags(row, value_key=value_key, kind=kind)
    return (bool(flags), "unconverged" in flags, "polar" in flags, v, *tail)


def rank_rows(
    rows: Iterable[Any],
    *,
    value_key: str = "work_of_adhesion",
    descending: bool = True,
    raw: bool = False,
    kind: str | None = None,
) -> list[Any]:
    """Rows sorted: sound before flagged (unless ``raw``), then by value (see module docstring).

    Rows are dicts or pydantic models (their ``model_dump()`` is read); the objects
    themselves are returned, in order.
    """
    rows = list(rows)

    def as_dict(r: Any) -> Mapping[str, Any]:
        return r.model_dump() if hasattr(r, "model_dump") else r

    return sorted(
        rows,
        key=lambda r: sort_key(
            as_dict(r), value_key=value_key, descending=descending, raw=raw, kind=kind
        ),
    )


def rank_frame(df, kind: str | None, *, descending: bool, raw: bool = False, facts=None):
    """A summary DataFrame in ranking order, with a ``flags`` and a ``label`` column.

    ``facts``: :func:`candidate_facts` of all rows (polar mark and Eq. 18 difference per
    candidate), joined into rows that lack them.
    """
    import pandas as pd

    if df is None or len(df) == 0:
        return df
    records = df.to_dict("records")
    for r in records:
        key = _fact_key(r)
        for name, value in ((facts or {}).get(key, {}) if key else {}).items():
            if name == "uncertainty" and r.get("kind", kind) not in UNCERTAINTY_KINDS:
                continue  # a spread of W_ad, not of σ or E_f
            if name in ("polar", "converged") or _missing(r.get(name)):
                r[name] = value  # the candidate's marks, the same on every quantity
    ordered = sorted(
        records,
        key=lambda r: sort_key(r, value_key="value", descending=descending, raw=raw, kind=kind),
    )
    out = pd.DataFrame(ordered, columns=list(dict.fromkeys([*df.columns, *(k for r in ordered for k in r)])))
    out["flags"] = [",".join(row_flags(r, value_key="value", kind=kind)) for r in ordered]
    out["label"] = [row_label(r) for r in ordered]
    return out.reset_index(drop=True)


def select_for_refinement(rows: Iterable[Any], top: int, by: str = "rank") -> list[Any]:
    """The ``top`` rows to refine (e.g. with DFT), from rows in ranking order.

    - ``"rank"``: the first ``top`` rows of the ranking (the best sound rows, flagged
      ones only when fewer sound rows exist);
    - ``"ucb"``: upper confidence bound: the ``top`` rows with the largest
      ``work_of_adhesion + uncertainty``, sound rows before flagged ones (the flagged
      groups in the order of :func:`sort_key`: polar, then unconverged); ties keep the
      ranking order. A row without an uncertainty counts with 0 (its W_ad alone).
      It spends the refinement where a candidate may be the best given the models'
      disagreement, not only where the first model puts it.

    Rows are dicts or pydantic models (:class:`~interphases.workflows.screening.RankedInterface`);
    the objects themselves are returned, best pick first. Never reorders the ranking itself.
    """
    rows = list(rows)
    if by not in REFINE_BY:
        from interphases.errors import InterphasesError

        raise InterphasesError(f"refine_by must be one of {', '.join(REFINE_BY)} (got {by!r})")
    top = max(int(top), 0)
    if by == "rank":
        return rows[:top]

    def key(item: tuple[int, Any]) -> tuple:
        i, r = item
        d = r.model_dump() if hasattr(r, "model_dump") else r
        flags = row_flags(d)
        w = _num(d.get("work_of_adhesion"))
        if w is None:
            w = _num(d.get("value"))
        u = _num(d.get("uncertainty")) or 0.0
        bound = -(w + u) if w is not None else math.inf
        return (bool(flags), "unconverged" in flags, "polar" in flags, round(bound, 9), i)

    return [r for _, r in sorted(enumerate(rows), key=key)][:top]


# ------------------------------------------------------------------------------- labels


def miller_text(hkl: Sequence[int] | None) -> str:
    """``(110)``, ``(1-10)`` for negative indices, ``(10,0,1)`` when an index has two digits."""
    if hkl is None or isinstance(hkl, str | float):
        return ""
    idx = [int(i) for i in hkl]
    if any(abs(i) > 9 for i in idx):
        return "(" + ",".join(map(str, idx)) + ")"
    return "(" + "".join(str(i) for i in idx) + ")"


def interface_label(
    substrate: str,
    film: str | None = None,
    substrate_miller: Sequence[int] | None = None,
    film_miller: Sequence[int] | None = None,
    terminations: str | None = None,
    candidate_id: str | None = None,
    id_chars: int = 8,
) -> str:
    """``Li(110) | LiF(110), Li|LiF [0123abcd]``; a surface: ``LiF(111), F``.

    Missing parts (None, NaN) are left out, never printed as "nan".
    """
    left = f"{substrate}{miller_text(substrate_miller)}"
    text = left if film is None or _missing(film) else f"{left} | {film}{miller_text(film_miller)}"
    if terminations and not _missing(terminations):
        text += f", {terminations}"
    if candidate_id and not _missing(candidate_id):
        text += f" [{str(candidate_id)[:id_chars]}]"
    return text


def row_label(row: Mapping[str, Any], with_id: bool = True) -> str:
    """:func:`interface_label` of a :class:`RankedInterface` dump or a summary row."""
    cid = row.get("candidate_id") if with_id else None
    if "substrate" in row and "film" in row and not _missing(row.get("substrate")):
        return interface_label(
            str(row["substrate"]),
            str(row["film"]),
            row.get("substrate_miller"),
            row.get("film_miller"),
            row.get("terminations"),
            cid,
        )
    formulas = row.get("formulas")
    if _missing(formulas) or not formulas:
        formulas = str(row.get("phases_key") or row.get("formulas_key") or "?").split("|")
    millers = row.get("miller")
    millers = list(millers) if isinstance(millers, list | tuple) else []
    terms = row.get("terminations")
    if _missing(terms):
        terms = row.get("termination")
    terms = None if _missing(terms) else terms
    if len(formulas) >= 2:
        return interface_label(
            str(formulas[0]),
            str(formulas[1]),
            millers[0] if len(millers) > 0 else None,
            millers[1] if len(millers) > 1 else None,
            terms,
            cid,
        )
    return interface_label(
        str(formulas[0]), None, millers[0] if millers else None, None, terms, cid
    )
