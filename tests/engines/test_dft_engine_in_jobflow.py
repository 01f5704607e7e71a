"""A DFT engine held by a jobflow job: serialised with the Flow, called inside the job,
run folders made in the job's folder, results (CalcResult) returned through the store."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from jobflow import Flow, job, run_locally

import interphases.workflows.engines.vasp as vasp_module
from interphases.parsers.schema import CalcResult
from interphases.parsers.vasp import parse_vasprun
from interphases.workflows.engines.base import Engine
from interphases.workflows.engines.testing import mock_run_vasp
from interphases.workflows.engines.vasp import VASPEngine


@job
def static_energy(engine: Engine, structure, label: str) -> dict:
    result = engine.static([structure], labels=[label])[0]
    assert isinstance(result, CalcResult)
    return {"energy": result.energy, "converged": result.converged, "dir_name": result.dir_name}


def test_engine_inside_a_jobflow_job(shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reference = tmp_path / "reference"
    reference.mkdir()
    shutil.copy(shared_data / "vasp" / "relax" / "LiF_static_vasprun.xml.gz", reference / "vasprun.xml.gz")
    monkeypatch.setattr(vasp_module, "run_vasp", mock_run_vasp({"LiF": reference}))
    structure = parse_vasprun(reference / "vasprun.xml.gz").structure

    step = static_energy(VASPEngine(), structure, "LiF")
    responses = run_locally(Flow([step]), root_dir=str(tmp_path / "jobs"), create_folders=True, ensure_success=True)
    output = responses[step.uuid][1].output
    assert output["converged"] and output["energy"] == pytest.approx(-9.64589684)
    run_folder = Path(output["dir_name"])
    assert run_folder.name == "vasp-static-LiF"
    assert run_folder.parent.parent == tmp_path / "jobs"  # <job folder>/vasp-static-LiF
    assert (run_folder / "INCAR").is_file()
