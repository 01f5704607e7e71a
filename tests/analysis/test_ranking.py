"""One ranking everywhere: flagged rows never above sound ones; query and report give the
order of the screening ranking on the same results; labels never say "nan"."""

from __future__ import annotations

import random

import pandas as pd
import pytest

from interphases.analysis.ranking import (
    EQ18_TOL,
    interface_label,
    rank_rows,
    row_flags,
    row_label,
)


def _interfaces(n: int, seed: int) -> list[dict]:
    """Screening-like rows (RankedInterface fields), some polar / unconverged / W_ad < 0 / Eq. 18 off."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        rows.append(
            {
                "candidate_id": f"c{i:04d}abcdef",
                "substrate": "Li",
                "film": rng.choice(["LiF", "Li2O"]),
                "substrate_miller": (1, 1, 0),
                "film_miller": rng.choice([(1, 1, 1), (1, 0, 0)]),
                "terminations": rng.choice(["Li|F-oct", "Li|LiF", "Li|Li"]),
                "work_of_adhesion": round(rng.uniform(-0.5, 4.5), 4),
                "interfacial_energy": round(rng.uniform(0.2, 1.0), 4),
                "eq18_difference": round(rng.uniform(-0.2, 0.2), 4),
                "polar": rng.random() < 0.3,
                "converged": rng.random() < 0.8,
                "von_mises_strain": round(rng.uniform(0, 0.05), 5),
                "n_atoms": rng.randint(40, 200),
                "engine": "mlip",
                "model": "CHGNet",
            }
        )
    return rows


def _independent_flagged(r: dict) -> bool:
    return (
        r["polar"]
        or not r["converged"]
        or r["work_of_adhesion"] < 0
        or abs(r["eq18_difference"]) > 0.05
    )


@pytest.mark.parametrize("seed", range(5))
def test_flagged_never_above_sound(seed):
    rows = _interfaces(60, seed)
    ranked = rank_rows(rows)
    flagged = [_independent_flagged(r) for r in ranked]
    assert flagged == sorted(flagged)  # all False first, then all True
    sound = [r["work_of_adhesion"] for r in ranked if not _independent_flagged(r)]
    assert sound == sorted(sound, reverse=True)  # W_ad largest first among the sound rows
    # raw sorting is the plain W_ad order
    raw = rank_rows(rows, raw=True)
    assert [r["work_of_adhesion"] for r in raw] == sorted((r["work_of_adhesion"] for r in rows), reverse=True)


def test_flags_and_threshold():
    r = dict(polar=False, converged=True, work_of_adhesion=0.3, eq18_difference=EQ18_TOL + 0.001)
    assert row_flags(r) == ["eq18"]
    r.update(eq18_difference=-0.049, work_of_adhesion=-0.29, polar=True)
    assert row_flags(r) == ["polar", "W_ad<0"]
    # a summary row: the value is W_ad only for work-of-adhesion kinds
    assert row_flags({"kind": "surface_energy", "value": -0.1}, value_key="value") == []
    assert row_flags({"kind": "work_of_adhesion", "value": -0.1}, value_key="value") == ["W_ad<0"]


def test_labels():
    assert interface_label("Li", "LiF", (1, 1, 0), (1, 1, 0), "Li|LiF", "0123456789") == (
        "Li(110) | LiF(110), Li|LiF [01234567]"
    )
    row = {"kind": "surface_energy", "formulas": ["LiF"], "miller": [[1, 1, 1]], "termination": "F",
           "candidate_id": float("nan"), "terminations": float("nan")}
    assert row_label(row) == "LiF(111), F"
    row = {"kind": "migration_barrier", "formulas": ["LiF"], "miller": float("nan"), "phases_key": "LiF"}
    assert "nan" not in row_label(row) and row_label(row) == "LiF"


def test_query_and_report_order_equal_screen_order(tmp_path):
    """The stored rows (as AdhesionDocument / InterfaceEnergyDocument write them) come back from
    query and report in the screening order."""
    from interphases.database import open_database, query, save_rows, write_report

    rows = _interfaces(40, 7)
    screen = [r["candidate_id"] for r in rank_rows(rows)]
    stored = []
    for r in rows:
        base = {
            "formulas": [r["substrate"], r["film"]],
            "miller": [list(r["substrate_miller"]), list(r["film_miller"])],
            "engine": r["engine"],
            "model": r["model"],
            "candidate_id": r["candidate_id"],
            "terminations": r["terminations"],
            "von_mises_strain": r["von_mises_strain"],
            "n_atoms": r["n_atoms"],
            "converged": r["converged"],
            "units": "J/m^2",
        }
        stored.append({"kind": "work_of_adhesion", "value": r["work_of_adhesion"], "polar": r["polar"], **base})
        stored.append({"kind": "interfacial_energy", "value": r["interfacial_energy"], **base})
        stored.append(
            {
                "kind": "work_of_adhesion_eq18",
                "value": r["work_of_adhesion"] - r["eq18_difference"],
                "difference": r["eq18_difference"],
                **base,
            }
        )
    db = open_database()
    save_rows(stored, database=db)
    df = query("work_of_adhesion", database=db)
    assert df["candidate_id"].tolist() == screen
    assert all((f != "") == _independent_flagged(r) for f, r in zip(df["flags"], rank_rows(rows), strict=True))
    md = write_report(tmp_path / "r", database=db, top=10)
    csv = pd.read_csv(tmp_path / "r" / "work_of_adhesion.csv")
    assert csv["candidate_id"].tolist() == screen
    text = md.read_text()
    assert "nan" not in text.split("## work_of_adhesion")[1].split("##")[0]
    assert "Filters: none" in text
    first = rank_rows(rows)[0]
    label = interface_label("Li", first["film"], (1, 1, 0), first["film_miller"], first["terminations"])
    assert label.replace("|", "\\|") in text  # markdown-escaped pipes
    # a report of some kinds only (as the demo writes it) still reads the flags that live on
    # rows of other kinds (the Eq. 18 difference on work_of_adhesion_eq18)
    write_report(tmp_path / "k", database=db, top=10, kinds=["work_of_adhesion", "interfacial_energy"])
    only = pd.read_csv(tmp_path / "k" / "work_of_adhesion.csv", keep_default_na=False)
    assert only["candidate_id"].tolist() == screen
    assert only["flags"].tolist() == df["flags"].tolist()


def test_report_includes_neb_profiles_from_stored_jobs(tmp_path):
    """A NEB run stored in the database appears in the report as its energy profile."""
    from pymatgen.core import Lattice, Structure

    from interphases.database import write_report
    from interphases.workflows.engines import get_engine
    from interphases.workflows.migration import MigrationBarrierMaker
    from interphases.workflows.run import run_and_store

    fcc = [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]
    al = Structure(Lattice.cubic(4.05), ["Al"] * 4, fcc)
    maker = MigrationBarrierMaker(engine=get_engine("mlip", model="emt"), min_image=5.5, relax_bulk=False, fmax=0.1)
    run_and_store(maker.make(al), result_key="al-vac-report")
    md = write_report(tmp_path / "r", kinds=["migration_barrier"])
    text = md.read_text()
    neb = sorted((tmp_path / "r" / "plots").glob("neb_*.png"))
    assert neb and f"plots/{neb[0].name}" in text
    assert "nan" not in text.split("## migration_barrier")[1]


def test_query_table_shows_label_with_id_and_flags(capsys, monkeypatch):
    """The CLI table prints each row's shared label, its id in brackets (an id starting with a
    letter must not be eaten as rich markup) and the flags that put it below the sound rows."""
    import sys

    from interphases.cli import main
    from interphases.database import open_database, save_rows

    base = {"formulas": ["Li", "LiF"], "miller": [[1, 1, 0], [1, 1, 0]], "engine": "mlip", "model": "emt",
            "terminations": "Li|LiF", "units": "J/m^2", "converged": True}
    rows = [
        {"kind": "work_of_adhesion", "value": 0.3, "candidate_id": "eb08206af61b", "polar": False, **base},
        {"kind": "work_of_adhesion", "value": 4.4, "candidate_id": "ab12cd34ef56", "polar": True, **base},
    ]
    save_rows(rows, database=open_database())
    monkeypatch.setattr(sys, "argv", ["interphases", "-q", "query", "work_of_adhesion"])
    try:
        main()
    except SystemExit as exc:
        assert not exc.code
    out = capsys.readouterr().out
    assert "Li(110) | LiF(110), Li|LiF [eb08206a]" in out
    sound, polar = out.index("[eb08206a]"), out.index("[ab12cd34]")
    assert sound < polar  # the sound 0.3 J/m² row above the polar 4.4 J/m² one
    assert "polar" in out.splitlines()[[i for i, line in enumerate(out.splitlines()) if "[ab12cd34]" in line][0]]
