"""MLIPEngine on EMT: the Engine contract, result documents, input errors."""

from __future__ import annotations

import time

import numpy as np
import pytest
from ase.build import bulk, fcc111
from ase.calculators.emt import EMT
from pymatgen.core import Lattice, Structure
from pymatgen.io.ase import AseAtomsAdaptor

from interphases.errors import InvalidStructureError, ModelUnavailableError, UnsupportedElementsError
from interphases.parsers.schema import CalcResult, NEBResult
from interphases.potentials import load_model
from interphases.workflows.engines import get_engine
from interphases.workflows.engines.mlip import MLIPEngine


def _cu(a=3.61, rattle=0.0, seed=0) -> Structure:
    atoms = bulk("Cu", "fcc", a=a, cubic=True) * (2, 2, 2)
    if rattle:
        atoms.rattle(rattle, seed=seed)
    return AseAtomsAdaptor.get_structure(atoms)


def test_get_engine_emt_and_serialisation():
    engine = get_engine("emt")
    assert isinstance(engine, MLIPEngine) and engine.model == "emt" and engine.name == "mlip"
    again = MLIPEngine.from_dict(engine.as_dict())
    assert again == engine
    prov = engine.provenance()
    assert prov["engine"] == "mlip" and prov["model"] == "emt" and prov["code"] == "emt" and prov["package_version"]


def test_static_matches_plain_emt():
    structure = _cu(rattle=0.05)
    (res,) = get_engine("emt").static([structure], labels=["cu"])
    atoms = AseAtomsAdaptor.get_atoms(structure)
    atoms.calc = EMT()
    assert isinstance(res, CalcResult)
    assert res.energy == pytest.approx(atoms.get_potential_energy(), abs=1e-8)
    assert np.allclose(res.forces, atoms.get_forces(), atol=1e-8)
    assert res.converged and res.n_steps == 0 and res.task_label == "cu" and res.code == "emt"


def test_relax_documents_and_selective_dynamics():
    slab = AseAtomsAdaptor.get_structure(fcc111("Cu", size=(2, 2, 4), vacuum=6.0))
    z = slab.cart_coords[:, 2]
    frozen = z < np.sort(np.unique(z.round(3)))[2] - 0.1  # bottom two layers
    slab.add_site_property("selective_dynamics", [[not f] * 3 for f in frozen])
    slab.perturb(0.05, seed=106)
    engine = get_engine("emt")
    strained = _cu(a=3.70, rattle=0.02)
    results = engine.relax([slab, strained], cell=["fixed", "z"], fmax=0.02, labels=["slab", "bulk"])
    slab_res, bulk_res = results
    assert slab_res.converged and bulk_res.converged
    assert np.abs(slab_res.structure.cart_coords[frozen] - slab.cart_coords[frozen]).max() < 1e-10
    assert slab_res.structure.site_properties["selective_dynamics"] == slab.site_properties["selective_dynamics"]
    assert slab_res.max_force < 0.02 and slab_res.stress is None
    assert slab_res.energy < slab_res.energy_trajectory[0]
    # z-only: in-plane lattice kept, c shrinks towards Cu's EMT lattice, sigma_zz ~ 0 (GPa)
    assert np.allclose(bulk_res.structure.lattice.matrix[:2], strained.lattice.matrix[:2])
    assert bulk_res.structure.lattice.c < strained.lattice.c
    assert abs(bulk_res.stress[2][2]) < 0.5
    assert bulk_res.parameters["cell"] == "z" and bulk_res.parameters["model"] == "emt"


def test_relax_reports_non_convergence():
    (res,) = get_engine("emt").relax([_cu(rattle=0.1)], fmax=1e-5, max_steps=2)
    assert not res.converged and res.n_steps == 2 and "not converged" in res.error


def test_neb_from_two_endpoints():
    crystal = bulk("Cu", "fcc", a=3.61, cubic=True) * (2, 2, 2)
    initial, final = crystal.copy(), crystal.copy()
    hopper = 1  # (0, a/2, a/2): a nearest neighbour of site 0
    final.positions[hopper] = crystal.positions[0]
    del initial[0], final[0]
    engine = get_engine("emt", neb_images=3, neb_interpolation="linear")
    (res,) = engine.neb([[AseAtomsAdaptor.get_structure(initial), AseAtomsAdaptor.get_structure(final)]], fmax=0.05)
    assert isinstance(res, NEBResult)
    assert len(res.images) == 5 and len(res.energies) == 5 and res.converged
    assert res.barrier_forward == pytest.approx(max(res.energies) - res.energies[0])
    assert res.climbing_image == 2 and res.code == "emt"


def test_unsupported_elements_fail_before_any_work():
    lif = Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.03), ["Li", "F"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    engine = get_engine("emt")
    t0 = time.perf_counter()
    with pytest.raises(UnsupportedElementsError, match="Li"):
        engine.relax([_cu(), lif])
    assert time.perf_counter() - t0 < 1.0
    # an element set given by the model (a fake model covering only Cu)
    model = load_model("emt")
    model.elements, saved = frozenset({"Cu"}), model.elements
    try:
        with pytest.raises(UnsupportedElementsError, match="Ni"):
            get_engine("emt").static([AseAtomsAdaptor.get_structure(bulk("Ni", "fcc", a=3.52))])
    finally:
        model.elements = saved


def test_overlapping_atoms_are_rejected():
    structure = _cu()
    structure.append("Cu", structure[0].coords + [0.2, 0.0, 0.0], coords_are_cartesian=True)
    with pytest.raises(InvalidStructureError, match="overlap"):
        get_engine("emt").static([structure])


def test_model_errors():
    with pytest.raises(ModelUnavailableError, match="unknown model"):
        load_model("no-such-model")
    for name in ("mace-mp-0", "m3gnet", "7net-omat", "orb"):
        t0 = time.perf_counter()
        with pytest.raises(ModelUnavailableError, match="network"):
            load_model(name)
        assert time.perf_counter() - t0 < 30.0  # fails fast: no download attempt (imports only)
    with pytest.raises(ModelUnavailableError, match="not found"):
        load_model("chgnet", checkpoint="/nonexistent/model.pth.tar")


def test_models_are_cached_and_calculators_wrap():
    assert load_model("emt") is load_model("EMT")
    wrapped = load_model(EMT())
    assert wrapped.family == "ase" and wrapped.calculator() is not wrapped.calculator()
    lj = load_model("lj", sigma=2.3, epsilon=0.1, rc=6.0)
    (res,) = MLIPEngine(model="lj", model_options={"sigma": 2.3, "epsilon": 0.1, "rc": 6.0}).static([_cu()])
    atoms = AseAtomsAdaptor.get_atoms(_cu())
    atoms.calc = lj.calculator()
    assert res.energy == pytest.approx(atoms.get_potential_energy())
