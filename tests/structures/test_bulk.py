"""Loading structures: objects, files (pymatgen and ASE formats), the library, and the
Materials Project with its on-disk cache (MP is unreachable here: a fake ``MPRester``
records the calls and returns a real MP structure from ``shared/data``)."""

from __future__ import annotations

import gzip
import json
import sys
import types

import pytest
from ase.build import bulk, molecule
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Structure

from interphases import config
from interphases.errors import (
    MissingAPIKeyError,
    NetworkUnavailableError,
    StructureReadError,
    UnknownPhaseError,
)
from interphases.structures import bulk as bulk_mod
from interphases.structures import get_phase, load_structure, read_structure_file
from interphases.structures.bulk import from_materials_project, write_structure

MATCH = StructureMatcher(primitive_cell=False, scale=False, attempt_supercell=False)


# ---------------------------------------------------------------------- objects
def test_structure_is_copied_and_atoms_converted():
    lif = get_phase("LiF")
    loaded = load_structure(lif)
    assert loaded == lif and loaded is not lif
    cu = load_structure(bulk("Cu", "fcc", a=3.61, cubic=True))
    assert cu.composition.reduced_formula == "Cu" and len(cu) == 4
    assert cu.lattice.a == pytest.approx(3.61)
    with pytest.raises(StructureReadError, match="periodic cell"):
        load_structure(molecule("H2O"))
    with pytest.raises(StructureReadError):
        load_structure(42)


# ------------------------------------------------------------------------ files
@pytest.mark.parametrize("filename", ["LiF.cif", "POSCAR", "LiF.vasp", "LiF.extxyz", "LiF.json", "LiF.xsf"])
def test_write_and_read_back_every_format(tmp_path, filename):
    lif = get_phase("LiF")
    path = write_structure(lif, tmp_path / "sub" / filename)
    assert path.is_file() and path.stat().st_size > 0
    back = load_structure(path)  # a Path is always a file
    assert MATCH.fit(back, lif)
    assert back.lattice.a == pytest.approx(lif.lattice.a, abs=1e-4)
    assert load_structure(str(path)) == back  # an existing path string is a file too


def test_reads_the_shared_reference_files(shared_data):
    li = read_structure_file(shared_data / "structures" / "Li_bcc.cif")
    assert li.composition.reduced_formula == "Li"
    llzo = load_structure(str(shared_data / "structures" / "LLZO_tetragonal_HSE_POSCAR"))
    assert llzo.composition.reduced_formula == "Li7La3Zr2O12" and len(llzo) == 96
    # a gzipped vasprun: the final structure of the relaxation
    lpsc = read_structure_file(shared_data / "vasp" / "relax" / "Li6PS5Cl_relax_vasprun.xml.gz")
    assert lpsc.composition.reduced_formula == "Li6PS5Cl"


def test_disordered_file_is_refused_with_a_hint_to_order_it(shared_data):
    path = shared_data / "structures" / "Li10GeP2S12_exp_disordered.cif"
    with pytest.raises(StructureReadError, match="partially occupied") as err:
        load_structure(path)
    assert "OrderDisorderedStructureTransformation" in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_empty_folder_and_garbage_files(tmp_path):
    with pytest.raises(StructureReadError, match="no such file"):
        read_structure_file(tmp_path / "nothing.cif")
    with pytest.raises(StructureReadError, match="no such file"):
        load_structure("missing/LiF.cif")  # looks like a path: not a library look-up
    with pytest.raises(StructureReadError, match="no such file"):
        load_structure("does_not_exist.vasp")
    empty = tmp_path / "empty.cif"
    empty.write_text("   \n")
    with pytest.raises(StructureReadError, match="empty"):
        load_structure(empty)
    with pytest.raises(StructureReadError, match="folder"):
        read_structure_file(tmp_path)
    garbage = tmp_path / "garbage.cif"
    garbage.write_text("this is not a crystal structure\n")
    with pytest.raises(StructureReadError, match="cannot read"):
        load_structure(garbage)
    xyz = tmp_path / "water.xyz"
    xyz.write_text("3\n\nO 0 0 0\nH 0.96 0 0\nH -0.24 0.93 0\n")
    with pytest.raises(StructureReadError, match="periodic cell"):
        load_structure(xyz)


def test_existing_file_wins_over_a_library_name(tmp_path, monkeypatch):
    """Resolution order: a file that exists is read even if its name is a phase name."""
    monkeypatch.chdir(tmp_path)
    write_structure(get_phase("NaF"), tmp_path / "LiF.extxyz").rename(tmp_path / "LiF")  # NaF in a file "LiF"
    assert load_structure("LiF").composition.reduced_formula == "NaF"
    assert load_structure("LiF", source_hint="library").composition.reduced_formula == "LiF"
    with pytest.raises(StructureReadError):
        load_structure("LiF.cif", source_hint="file")


# ---------------------------------------------------------------------- library
def test_library_names_load_case_insensitively():
    assert load_structure("lif").composition.reduced_formula == "LiF"
    assert load_structure("beta-Li3PS4").composition.reduced_formula == "Li3PS4"
    assert len(load_structure("LLZO")) == 96
    with pytest.raises(UnknownPhaseError, match="LiF"):
        load_structure("LiFF", source_hint="library")


def test_unknown_name_without_key_names_close_matches_and_the_key():
    with pytest.raises(UnknownPhaseError) as err:
        load_structure("Li3PS5")
    msg = str(err.value)
    assert "Li3PS4" in msg and "MP_API_KEY" in msg and "\n" not in msg
    with pytest.raises(UnknownPhaseError, match="MP_API_KEY"):
        load_structure("not-a-phase-at-all")
    with pytest.raises(UnknownPhaseError):
        load_structure("   ")


# ------------------------------------------------------------ Materials Project
@pytest.fixture
def mp_lif(shared_data) -> Structure:
    """The real MP structure of LiF (mp-1138) from the MP2020 fitting set."""
    with gzip.open(shared_data / "mp_entries" / "mp_calc_compounds_for_MP2020_fit.json.gz", "rt") as fh:
        doc = json.load(fh)
    return Structure.from_dict(doc["LiF"]["structure"])


@pytest.fixture
def fake_mp(monkeypatch, mp_lif):
    """Install a fake ``mp_api.client`` module whose MPRester records every call."""
    calls: list[tuple] = []

    class _Search:
        def __init__(self, kind):
            self.kind = kind

        def search(self, **kwargs):
            calls.append((self.kind, kwargs))
            # two polymorphs; the one on the hull must be chosen
            return [{"material_id": "mp-9999", "energy_above_hull": 0.21},
                    {"material_id": "mp-1138", "energy_above_hull": 0.0}]

    class FakeMPRester:
        fail_with: Exception | None = None

        def __init__(self, api_key=None, **kwargs):
            calls.append(("init", api_key))
            if FakeMPRester.fail_with is not None:
                raise FakeMPRester.fail_with
            self.materials = types.SimpleNamespace(summary=_Search("summary"), thermo=_Search("thermo"))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def get_structure_by_material_id(self, material_id, final=True, conventional_unit_cell=False):
            calls.append(("structure", material_id))
            return mp_lif.copy() if material_id == "mp-1138" else None

    module = types.ModuleType("mp_api.client")
    module.MPRester = FakeMPRester
    monkeypatch.setitem(sys.modules, "mp_api.client", module)
    FakeMPRester.calls = calls
    return FakeMPRester


def test_mp_id_without_key_or_cache_asks_for_the_key():
    with pytest.raises(MissingAPIKeyError, match="MP_API_KEY"):
        load_structure("mp-1138")
    with pytest.raises(MissingAPIKeyError, match="MP_API_KEY"):
        from_materials_project("LiF")
    with pytest.raises(MissingAPIKeyError):
        load_structure("LiF", source_hint="mp")


def test_formula_fetch_picks_the_hull_polymorph_and_caches_it(fake_mp, mp_lif, monkeypatch):
    monkeypatch.setenv("MP_API_KEY", "fake-key")
    s = from_materials_project("FLi")
    assert MATCH.fit(s, mp_lif)
    assert ("init", "fake-key") in fake_mp.calls
    assert ("structure", "mp-1138") in fake_mp.calls  # lowest energy above hull
    assert any(kind == "summary" and kw["formula"] == "LiF" for kind, kw in fake_mp.calls if kind == "summary")
    cache = config.cache_dir() / "mp"
    assert (cache / "formula_LiF.json").is_file() and (cache / "mp-1138.json").is_file()
    record = json.loads((cache / "formula_LiF.json").read_text())
    assert record["material_id"] == "mp-1138" and record["energy_above_hull"] == 0.0

    n_calls = len(fake_mp.calls)
    again = from_materials_project("LiF")
    assert again == s and len(fake_mp.calls) == n_calls  # cache hit, no request

    # the cache works with no key and no client at all
    monkeypatch.delenv("MP_API_KEY")
    monkeypatch.setitem(sys.modules, "mp_api.client", None)
    assert load_structure("mp-1138") == s  # cached under its id too
    assert from_materials_project("LiF") == s
    assert len(fake_mp.calls) == n_calls


def test_mp_id_and_unknown_formula_go_to_mp_when_a_key_is_set(fake_mp, monkeypatch):
    monkeypatch.setenv("MP_API_KEY", "k")
    s = load_structure("mp-1138")
    assert s.composition.reduced_formula == "LiF"
    assert fake_mp.calls[-1] == ("structure", "mp-1138")
    with pytest.raises(UnknownPhaseError, match="no structure"):
        load_structure("mp-9999")  # the fake has no structure for it
    # a formula that is not in the library is fetched (the fake answers with LiF's
    # polymorph list; what matters here is that MP was asked for that formula)
    load_structure("Li2O2")
    assert any(kind == "summary" and kw["formula"] == "Li2O2" for kind, kw in fake_mp.calls if kind == "summary")


def test_thermo_type_uses_the_thermo_endpoint(fake_mp, monkeypatch):
    monkeypatch.setenv("MP_API_KEY", "k")
    from_materials_project("LiF", thermo_type="GGA_GGA+U")
    kind, kwargs = next(c for c in fake_mp.calls if c[0] == "thermo")
    assert kwargs["thermo_types"] == ["GGA_GGA+U"] and kwargs["formula"] == "LiF"
    assert (config.cache_dir() / "mp" / "formula_LiF__GGA_GGA_U.json").is_file()


def test_network_and_key_failures_are_translated(fake_mp, monkeypatch):
    import requests

    monkeypatch.setenv("MP_API_KEY", "k")
    fake_mp.fail_with = requests.exceptions.ConnectionError("Max retries exceeded with url: /heartbeat")
    with pytest.raises(NetworkUnavailableError, match="cannot reach the Materials Project"):
        from_materials_project("mp-1138")
    fake_mp.fail_with = RuntimeError("REST query returned with error status code 401 (Unauthorized)")
    with pytest.raises(MissingAPIKeyError, match="rejected"):
        from_materials_project("mp-1138")
    fake_mp.fail_with = None
    assert not list((config.cache_dir() / "mp").glob("*.json"))  # nothing half-written


def test_corrupt_cache_entry_is_refetched(fake_mp, monkeypatch):
    monkeypatch.setenv("MP_API_KEY", "k")
    cache = bulk_mod.mp_cache_dir() / "mp-1138.json"
    cache.write_text("{not json")
    s = from_materials_project("mp-1138")
    assert s.composition.reduced_formula == "LiF"
    assert json.loads(cache.read_text())["material_id"] == "mp-1138"
