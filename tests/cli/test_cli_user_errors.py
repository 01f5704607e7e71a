"""Every bad input a user can type ends in one line on stderr, exit status 2, no traceback,
and before any computation (each case here takes seconds, not the minutes of a run)."""

from __future__ import annotations

import sys

import pytest

from interphases.cli import main
from interphases.progress import reset_logging


@pytest.fixture(autouse=True)
def _no_logging_left():
    yield
    reset_logging()


def run_main(args: list[str], capsys, monkeypatch) -> tuple[int, str, str]:
    """``interphases ARGS`` in this process (as the console script runs it)."""
    monkeypatch.setattr(sys, "argv", ["interphases", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    out = capsys.readouterr()
    return int(exit_info.value.code or 0), out.out, out.err


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--max-area", "0"], "--max-area must be"),
        (["-n", "0"], "-n/--max-candidates must be >= 1"),
        (["--fmax", "-1"], "--fmax must be"),
        (["--fmax", "nan"], "--fmax must be"),
        (["--max-strain", "3"], "--max-strain must be between"),
        (["--max-steps", "0"], "--max-steps"),
        (["--gaps", "2.0,-1"], "--gaps must be"),
        (["--engine", "gaussian"], "unknown engine"),
        (["--scan", "bayes"], "--scan must be"),
    ],
)
def test_screen_rejects_nonsense_numbers_before_work(args, needle, capsys, monkeypatch):
    code, _, err = run_main(["screen", "Li", "LiF", *args], capsys, monkeypatch)
    assert_one_line_error(code, err, needle)


def test_screen_with_no_candidate_fails_before_relaxing(capsys, monkeypatch):
    code, _, err = run_main(["screen", "Li", "LiF", "--max-area", "3"], capsys, monkeypatch)
    assert_one_line_error(code, err, "no interface candidate", "nothing was computed")


def test_model_coverage_error_suggests_a_model_that_covers(capsys, monkeypatch):
    code, _, err = run_main(["screen", "Li", "LiF", "--model", "emt"], capsys, monkeypatch)
    assert_one_line_error(code, err, "does not cover F, Li", "--model chgnet")


def test_no_model_covers_og(tmp_path, capsys, monkeypatch):
    poscar = tmp_path / "Og.vasp"
    poscar.write_text("Og\n1.0\n5 0 0\n0 5 0\n0 0 5\nOg Li\n1 1\ndirect\n0 0 0\n0.5 0.5 0.5\n")
    code, _, err = run_main(["screen", "Li", str(poscar)], capsys, monkeypatch)
    assert_one_line_error(code, err, "does not cover Og", "no installed model covers them")
    assert "'chgnet'" not in err


def test_refine_without_cp2k_binary_fails_first(capsys, monkeypatch):
    monkeypatch.setenv("INTERPHASES_CP2K_CMD", "/nonexistent/cp2k.psmp")
    code, _, err = run_main(["screen", "Li", "LiF", "-n", "1", "--refine", "cp2k"], capsys, monkeypatch)
    assert_one_line_error(code, err, "--refine cp2k", "not found", "nothing was computed")


def test_neb_rejects_bad_numbers(capsys, monkeypatch):
    code, _, err = run_main(["neb", "LiF", "--images", "0"], capsys, monkeypatch)
    assert_one_line_error(code, err, "--images must be")
    code, _, err = run_main(["neb", "LiF", "--fmax", "-0.1"], capsys, monkeypatch)
    assert_one_line_error(code, err, "--fmax must be")


def test_slabs_two_atoms_on_one_site(tmp_path, capsys, monkeypatch):
    poscar = tmp_path / "POSCAR"
    poscar.write_text("Li\n1.0\n3.5 0 0\n0 3.5 0\n0 0 3.5\nLi\n2\ndirect\n0 0 0\n0 0 0\n")
    code, _, err = run_main(["slabs", str(poscar)], capsys, monkeypatch)
    assert_one_line_error(code, err, "same site", "sites 0 (Li) and 1 (Li)")


def test_near_overlapping_atoms_warn(tmp_path, capsys, monkeypatch):
    poscar = tmp_path / "POSCAR"
    poscar.write_text("Li\n1.0\n3.5 0 0\n0 3.5 0\n0 0 3.5\nLi\n3\ndirect\n0 0 0\n0.5 0.5 0.5\n0.0486 0 0\n")
    code, out, err = run_main(["slabs", str(poscar), "-m", "1,0,0"], capsys, monkeypatch)
    assert code == 0, err
    assert "WARNING" in err and "0.17 Å apart" in err and "near-overlapping" in err


def test_hexagonal_four_index_miller(capsys, monkeypatch):
    from interphases.cli.interfaces import parse_miller

    assert parse_miller("0,0,0,1") == (0, 0, 1)
    assert parse_miller("1 0 -1 0") == (1, 0, 0)
    assert parse_miller("0001") == (0, 0, 1)
    code, out, err = run_main(["slabs", "Zn", "-m", "1,0,1,0"], capsys, monkeypatch)
    assert code == 2 and "i = -(h+k)" in err + out and "Traceback" not in err + out


def test_window_plot_into_missing_folder(shared_data, tmp_path, capsys, monkeypatch):
    entries = shared_data / "mp_entries" / "Li-Fe-P-O_entries_pymatgen_test.json"
    target = tmp_path / "nodir" / "x.png"
    code, _, err = run_main(["window", "Li3PO4", "--entries", str(entries), "--plot", str(target)], capsys, monkeypatch)
    assert_one_line_error(code, err, "does not exist", "mkdir -p")


def test_query_unknown_kind_on_an_empty_database(capsys, monkeypatch):
    code, _, err = run_main(["query", "no_such_kind"], capsys, monkeypatch)
    assert_one_line_error(code, err, "no_such_kind")


def test_screen_maker_carries_scan_and_polar_choice():
    """What the user sets on the command line is what the screening Maker runs."""
    from interphases.cli.energetics import screening_maker
    from interphases.workflows.engines import get_engine

    engine = get_engine("mlip", model="emt")
    default = screening_maker(engine)
    assert default.adhesion.scan == "reduced"
    assert "allow_polar" not in default.enumeration
    chosen = screening_maker(engine, scan="grid", allow_polar=True)
    assert chosen.adhesion.scan == "grid"
    assert chosen.enumeration["allow_polar"] is True
