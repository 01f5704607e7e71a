"""What a user sees during and after a run: progress on a terminal (driven through a
pseudo-terminal), log lines and a log file off one, the export of stored structures,
and a failed refinement that leaves the MLIP results queryable.

Real runs on EMT (ASE's effective-medium potential: Al, Ni), a few seconds each.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

INTERPHASES = str(Path(sys.executable).with_name("interphases"))
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")

NEB = ["neb", "Al", "--ion", "Al", "--model", "emt", "--max-hops", "1", "--images", "3", "--min-image", "6",
       "--fmax", "0.1"]


def _env(project: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(INTERPHASES_PROJECT=str(project), COLUMNS="200", TERM="xterm", OMP_NUM_THREADS="1", **extra)
    env.pop("NO_COLOR", None)
    return env


def run_plain(args: list[str], project: Path, **env: str) -> subprocess.CompletedProcess:
    """The command with stdout/stderr piped (no terminal)."""
    return subprocess.run([INTERPHASES, *args], capture_output=True, text=True, env=_env(project, **env), timeout=300)


def run_tty(args: list[str], project: Path) -> tuple[int, str]:
    """The command on a pseudo-terminal (stdout and stderr both); exit status and text without ANSI codes."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([INTERPHASES, *args], stdin=slave, stdout=slave, stderr=slave, env=_env(project),
                            close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 300)
        if not ready:
            proc.kill()
            break
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    code = proc.wait(timeout=60)
    os.close(master)
    return code, ANSI.sub("\n", b"".join(chunks).decode("utf-8", "replace"))


@pytest.fixture(scope="module")
def ni_cif(tmp_path_factory) -> Path:
    from ase.build import bulk
    from ase.io import write

    path = tmp_path_factory.mktemp("ni") / "Ni.cif"
    write(path, bulk("Ni", "fcc", a=3.52, cubic=True))
    return path


def screen_args(ni_cif: Path) -> list[str]:
    return ["screen", "Al", str(ni_cif), "--model", "emt", "--max-area", "40", "-n", "1", "--no-interfacial",
            "--max-strain", "0.1", "--thickness", "5", "--vacuum", "8", "--fmax", "0.1", "--gaps", "2.0"]


def test_neb_log_lines_off_a_terminal_and_log_file(tmp_path):
    project = tmp_path / "project"
    res = run_plain(NEB, project)
    assert res.returncode == 0, res.stderr
    err = res.stderr
    assert "FutureWarning" not in err and "cd is deprecated" not in err
    assert re.search(r"INFO stage 1/2: migration barrier", err), err
    assert re.search(r"INFO   NEB step \d+: fmax [0-9.]+ eV/Å \(target 0.1\)", err), err
    assert re.search(r"INFO CI-NEB of Al \(vacancy\) in Al \(emt\): done in", err), err
    logs = list((project / "logs").glob("*-neb-*.log"))
    assert len(logs) == 1
    text = logs[0].read_text()
    assert "jobflow" in text and "Starting job - migration barrier" in text  # jobflow's own log kept
    assert re.search(r"DEBUG interphases:   NEB step \d+", text)  # every step in the file
    # -q: no progress lines on stderr
    quiet = run_plain(["-q", *NEB, "--rerun"], project)
    assert quiet.returncode == 0 and "INFO" not in quiet.stderr, quiet.stderr


def test_neb_progress_on_a_terminal(tmp_path):
    code, text = run_tty(NEB, tmp_path / "project")
    assert code == 0, text
    assert "CI-NEB of Al (vacancy) in Al (emt)" in text
    assert "elapsed" in text and "ETA" in text
    assert re.search(r"stage 1/2: migration barrier", text), text
    assert re.search(r"(relaxation|NEB) step \d+: fmax [0-9.]+ eV/Å", text), text
    assert "effective barrier 3D" in text


@pytest.fixture(scope="module")
def screened(tmp_path_factory, ni_cif):
    """One EMT screening of Ni on Al run off a terminal, with -o."""
    project = tmp_path_factory.mktemp("screen") / "project"
    out = project.parent / "out"
    res = run_plain([*screen_args(ni_cif), "-o", str(out)], project)
    assert res.returncode == 0, res.stderr
    return project, out, res


def test_screen_log_lines_and_best_structures(screened):
    project, out, res = screened
    err = res.stderr
    for stage in ("prepare phases", "enumerate candidates", "registry scan", "relax and score", "rank"):
        assert re.search(rf"INFO stage \d/5: .*{stage}", err), (stage, err)
    assert re.search(r"relaxation step \d+: fmax [0-9.]+ eV/Å \(target 0.1\), \d+/\d+ converged", err)
    assert (out / "screening.json").is_file()
    written = sorted((out / "structures").glob("*.extxyz"))
    assert any("interface_structure" in p.name for p in written), written


def test_screen_progress_on_a_terminal(tmp_path, ni_cif):
    code, text = run_tty(screen_args(ni_cif), tmp_path / "project")
    assert code == 0, text
    assert re.search(r"stage [1-5]/5: ", text), text
    assert "prepare phases" in text
    assert "elapsed" in text
    assert "interface ranking" in text


@pytest.mark.parametrize("fmt", ["extxyz", "poscar", "json", "cif"])
def test_export_round_trip(screened, tmp_path, fmt, monkeypatch, caplog):
    """What `interphases export ID -f FMT -o DIR` writes (in this process), read back by ASE / pymatgen."""
    from ase.io import read
    from pymatgen.core import Structure

    from interphases.cli.export import export_structures

    project, out, _ = screened
    monkeypatch.setenv("INTERPHASES_PROJECT", str(project))
    doc = json.loads((out / "screening.json").read_text())
    cand = doc["ranking"][0]["candidate_id"]
    with caplog.at_level("WARNING", logger="interphases"):
        export_structures(cand, fmt, tmp_path / fmt)
    warned = caplog.text
    files = sorted((tmp_path / fmt).iterdir())
    relaxed = [p for p in files if "interface_structure" in p.name]
    assert relaxed, files
    reference = read(next(p for p in sorted((out / "structures").glob("*.extxyz")) if "interface_structure" in p.name))
    if fmt == "json":
        structure = Structure.from_file(relaxed[0]) if relaxed[0].suffix != ".json" else Structure.from_str(
            relaxed[0].read_text(), fmt="json")
        assert np.allclose(structure.cart_coords, reference.positions, atol=1e-6)
        frozen = [i for i, sd in enumerate(structure.site_properties["selective_dynamics"]) if not any(sd)]
    else:
        atoms = read(relaxed[0], format={"extxyz": "extxyz", "poscar": "vasp", "cif": "cif"}[fmt])
        diff = atoms.get_scaled_positions() - reference.get_scaled_positions()
        assert np.allclose(diff - np.round(diff), 0.0, atol=1e-5)  # same positions (modulo the cell)
        frozen = sorted(c.index.tolist() for c in atoms.constraints)[0] if atoms.constraints else []
    expected = sorted(reference.constraints[0].index.tolist())
    assert expected, "the interface has frozen substrate atoms"
    if fmt == "cif":
        assert frozen == [] and "CIF has no frozen-atom constraints" in warned
    else:
        assert sorted(frozen) == expected


def test_export_command(screened, tmp_path):
    project, out, _ = screened
    cand = json.loads((out / "screening.json").read_text())["ranking"][0]["candidate_id"]
    res = run_plain(["export", cand, "-f", "poscar", "-o", str(tmp_path / "x")], project)
    assert res.returncode == 0, res.stderr
    assert "structure(s) exported" in res.stdout and list((tmp_path / "x").glob("*.vasp"))
    missing = run_plain(["export", "no-such-id", "-o", str(tmp_path / "y")], project)
    assert missing.returncode == 2 and "nothing found" in missing.stderr and "Traceback" not in missing.stderr


def test_query_lists_kinds_and_has_no_nan(screened):
    project, _, _ = screened
    res = run_plain(["query", "work_of_adhesio"], project)
    assert res.returncode == 2 and "did you mean work_of_adhesion" in res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
    table = run_plain(["query"], project)
    assert table.returncode == 0 and "nan" not in table.stdout
    rows = [line for line in table.stdout.splitlines() if "work_of_adhesion" in line]
    assert rows and all(len(line) > 100 for line in rows[:1])  # piped: one line per row, no wrapping


def test_failed_refine_keeps_mlip_rows_queryable(tmp_path, ni_cif):
    project = tmp_path / "project"
    # a CP2K "binary" that exists and fails: the refinement fails after the MLIP screening
    res = run_plain([*screen_args(ni_cif), "--refine", "cp2k"], project, INTERPHASES_CP2K_CMD="false")
    assert res.returncode == 2, res.stderr
    last = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(last) == 1 and "refinement with cp2k failed" in last[0] and "queryable" in last[0]
    assert "Traceback" not in res.stderr
    rows = run_plain(["query", "work_of_adhesion", "-f", "json"], project)
    assert rows.returncode == 0, rows.stderr
    data = json.loads(rows.stdout)
    assert data and all(r["model"] == "emt" for r in data)


def test_ctrl_c_says_what_was_stored_and_how_to_go_on(tmp_path, ni_cif):
    import signal
    import time

    project = tmp_path / "project"
    args = [*screen_args(ni_cif), "--fmax", "1e-7", "--max-steps", "100000"]
    proc = subprocess.Popen([INTERPHASES, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(project))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait for the first optimiser step in the run's log file
        logs = list((project / "logs").glob("*-screen-*.log")) if (project / "logs").is_dir() else []
        if logs and "relaxation step" in logs[0].read_text():
            break
        time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted during stage 1/5" in err and "nothing was stored" in err and "To go on:" in err
    assert "Traceback" not in err


def test_show_is_short_by_default(screened):
    project, out, _ = screened
    cand = json.loads((out / "screening.json").read_text())["ranking"][0]["candidate_id"]
    res = run_plain(["show", cand], project)
    assert res.returncode == 0, res.stderr
    assert len(res.stdout.splitlines()) < 200 and "interphases show ID --json" in res.stdout
    full = run_plain(["show", cand, "--json"], project)
    assert len(full.stdout.splitlines()) > len(res.stdout.splitlines())
