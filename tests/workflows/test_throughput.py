"""Screening throughput levers on EMT (issue 16): energy-only scan, de-duplication of
identical structures across candidates, and the coarse-to-fine registry x gap scan.
Every test counts calls; none times anything."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from interphases.structures import enumerate_candidates
from interphases.workflows.energetics import (
    COMPUTE_COUNTERS,
    _translation_key,
    compute_adhesion,
    registry_scan,
    reset_compute_counters,
)
from interphases.workflows.engines.mlip import MLIPEngine


def fcc(element: str, a: float) -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), [element], [[0, 0, 0]])


@pytest.fixture(scope="module")
def cu_ni():
    (cand,) = enumerate_candidates(
        fcc("Cu", 3.61), fcc("Ni", 3.52), substrate_millers=[(1, 0, 0)], film_millers=[(1, 0, 0)],
        max_area=30, substrate_thickness=5.0, film_thickness=5.0, gap=1.8, vacuum=10.0,
    )
    return cand


class CountingEngine(MLIPEngine):
    """EMT engine that records every structure it is asked to compute."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.calls: list[tuple[str, int, bool]] = []
        self.relaxed: list[Structure] = []

    def static(self, structures, labels=None, *, stress=False, forces=True):
        self.calls.append(("static", len(structures), forces))
        return super().static(structures, labels, stress=stress, forces=forces)

    def relax(self, structures, **kwargs):
        self.calls.append(("relax", len(structures), True))
        self.relaxed += list(structures)
        return super().relax(structures, **kwargs)


def test_scan_asks_for_energies_only(cu_ni):
    engine = CountingEngine(model="emt")
    registry_scan([cu_ni], engine, gaps=[1.5, 1.8, 2.1])
    assert engine.calls and all(kind == "static" and not forces for kind, _, forces in engine.calls)
    stats = engine.evaluator().stats
    assert stats.n_force_structures == 0 and stats.n_energy_only == 2 + 3 * len(cu_ni.in_plane_shifts)
    # and the energies are those of the full evaluation
    full = registry_scan([cu_ni], MLIPEngine(model="emt"), gaps=[1.5, 1.8, 2.1], energy_only=False).scans[0]
    again = registry_scan([cu_ni], MLIPEngine(model="emt"), gaps=[1.5, 1.8, 2.1]).scans[0]
    assert np.allclose(full.energies, again.energies, atol=1e-6)


def test_translation_key_sees_rigid_translations_only(cu_ni):
    from interphases.structures.interface_cells import interface_at, split_interface

    sub, film = split_interface(interface_at(cu_ni, (0.0, 0.0), 1.8))
    _, film_shifted = split_interface(interface_at(cu_ni, (0.5, 0.5), 1.8))
    assert _translation_key(film) == _translation_key(film_shifted)
    assert _translation_key(film) != _translation_key(sub)
    moved = film.copy()
    moved.translate_sites([0], [0.1, 0.0, 0.0], frac_coords=False)
    assert _translation_key(film) != _translation_key(moved)


def test_each_distinct_slab_relaxed_once(cu_ni):
    """Two candidates with the same substrate cut and supercell (here: the same interface
    under two ids) relax their identical slabs once; the W_ad are those computed without
    de-duplication."""
    twin = cu_ni.model_copy(update={"candidate_id": cu_ni.candidate_id + "-twin"})
    cands = [cu_ni, twin]
    gaps = [1.5, 1.8, 2.1]
    scans = registry_scan(cands, MLIPEngine(model="emt"), gaps=gaps)
    # make the twin's best registry a different one: its film slab is then a translated copy
    s0, s1 = scans.scans
    if len(s1.ranked) > 1:
        s1.ranked = [s1.ranked[1], s1.ranked[0], *s1.ranked[2:]]

    reset_compute_counters()
    on = CountingEngine(model="emt")
    docs_on = compute_adhesion(cands, scans, on, fmax=0.05)
    relaxed_keys = [_translation_key(s) for s in on.relaxed]
    assert len(relaxed_keys) == len(set(relaxed_keys))  # no structure relaxed twice
    # 2 interfaces (different registries) + 1 substrate slab + 1 film slab
    assert sum(n for kind, n, _ in on.calls if kind == "relax") == 4
    assert COMPUTE_COUNTERS["deduplicated"] == 2

    off = CountingEngine(model="emt")
    docs_off = compute_adhesion(cands, scans, off, fmax=0.05, deduplicate=False)
    assert sum(n for kind, n, _ in off.calls if kind == "relax") == 6
    for a, b in zip(docs_on, docs_off, strict=True):
        assert a.work_of_adhesion_j_per_m2 == pytest.approx(b.work_of_adhesion_j_per_m2, abs=1e-6)
        # the carried-over relaxed film is the representative's, translated back onto this film
        assert np.allclose(a.film_slab_structure.cart_coords, b.film_slab_structure.cart_coords, atol=1e-4)


def test_scan_slabs_of_identical_candidates_computed_once(cu_ni):
    twin = cu_ni.model_copy(update={"candidate_id": cu_ni.candidate_id + "-twin"})
    engine = CountingEngine(model="emt")
    reset_compute_counters()
    scans = registry_scan([cu_ni, twin], engine, gaps=[1.5, 1.8])
    n_points = 2 * len(cu_ni.in_plane_shifts)
    assert sum(n for _, n, _ in engine.calls) == 2 + n_points  # the twin's slabs and points reused
    assert COMPUTE_COUNTERS["deduplicated"] == 2 + n_points
    assert scans.scans[0].energies == scans.scans[1].energies


def test_reduced_scan_finds_the_full_grid_minimum(cu_ni):
    gaps = [1.2, 1.4, 1.6, 1.8, 2.0, 2.2, 2.4, 2.6]
    full = registry_scan([cu_ni], MLIPEngine(model="emt"), gaps=gaps).scans[0]
    engine = CountingEngine(model="emt")
    reduced = registry_scan([cu_ni], engine, gaps=gaps, search="reduced", refine_top=1).scans[0]
    n_full = len(full.shifts) * len(gaps)
    assert reduced.n_points < n_full and full.n_points == n_full
    assert sum(n for _, n, _ in engine.calls) == 2 + reduced.n_points
    assert reduced.best_shift == full.best_shift and reduced.best_gap == full.best_gap
    assert reduced.best_energy == pytest.approx(full.best_energy, abs=1e-9)
    i = reduced.ranked[0][0]
    assert reduced.optimal_gaps[i] == pytest.approx(full.optimal_gaps[i], abs=1e-9)
    j = reduced.ranked[0][1]
    assert reduced.work_of_adhesion[i][j] == pytest.approx(full.work_of_adhesion[i][j], abs=1e-9)
    # every computed point equals the full grid's
    e_red, e_full = np.array(reduced.energies), np.array(full.energies)
    done = np.isfinite(e_red)
    assert done.sum() == reduced.n_points and np.allclose(e_red[done], e_full[done], atol=1e-9)


def test_reduced_scan_option_through_the_maker(cu_ni):
    from interphases.workflows.energetics import AdhesionMaker

    maker = AdhesionMaker(engine=MLIPEngine(model="emt"), scan="reduced", gaps=(1.5, 1.8, 2.1, 2.4))
    flow = maker.make(cu_ni)
    scan_job = flow.jobs[0]
    assert scan_job.function_kwargs == {} and scan_job.function_args[-1]["search"] == "reduced"


def test_translated_copies_relaxed_once_with_their_own_cell_result():
    """Cell relaxations (the strained bulks of Eq. 16): a translated copy is relaxed once and
    gets the representative's relaxed cell and positions, translated."""
    from interphases.workflows.energetics import _dedup_run

    cu = fcc("Cu", 3.7)
    cu.make_supercell([1, 1, 2])
    moved = cu.copy()
    moved.translate_sites(list(range(len(moved))), [0.3, 0.1, 0.2], frac_coords=False, to_unit_cell=False)
    engine = CountingEngine(model="emt")
    out = _dedup_run([cu, moved], ["a", "b"],
                     lambda st, lab, cl: engine.relax_cells(st, cl, fmax=0.01, labels=lab), cells=["z", "z"])
    assert sum(n for _, n, _ in engine.calls) == 1
    a, b = out
    assert b.task_label == "b" and a.energy == b.energy
    assert np.allclose(a.structure.lattice.matrix, b.structure.lattice.matrix)
    assert not np.allclose(a.structure.lattice.matrix, cu.lattice.matrix)  # c relaxed
    assert np.allclose(b.structure.cart_coords - a.structure.cart_coords, [0.3, 0.1, 0.2])


def _drive(grid_true, refine_top):
    from interphases.workflows.energetics import _reduced_gap_search

    grid = np.full(grid_true.shape, np.nan)
    done = np.zeros(grid_true.shape, dtype=bool)
    calls = 0
    for points in _reduced_gap_search(grid, done, refine_top):
        calls += 1
        for i, j in points:
            grid[i, j], done[i, j] = grid_true[i, j], True
    return grid, done, calls


def test_reduced_search_cross_checks_registries_that_fall_faster():
    """A registry high at the central gaps but lowest at the edge (CHGNet Li | LiF(111)
    scan energies, eV above the minimum) is found by the cross-check at the best gap."""
    true = np.array([[3.332, 1.203, 0.337, 0.000],
                     [2.042, 0.873, 0.245, 0.017],
                     [2.031, 0.850, 0.249, 0.016],
                     [3.360, 1.195, 0.321, 0.003]])
    grid, done, calls = _drive(true, refine_top=2)
    assert np.nanargmin(grid) == np.argmin(true) and done.sum() < true.size
    # every refined registry's minimum has its computed neighbours (for the parabola)
    i = int(np.nanargmin(np.nanmin(grid, axis=1)))
    assert done[i, 2] and done[i, 3]


@pytest.mark.parametrize("seed", range(20))
def test_reduced_search_finds_the_minimum_of_unimodal_grids(seed):
    rng = np.random.default_rng(seed)
    n_shift, n_gap = rng.integers(2, 7), rng.integers(3, 9)
    gaps = np.linspace(1.2, 3.0, n_gap)
    g0 = rng.uniform(1.3, 2.9, n_shift)
    depth = rng.uniform(0.1, 1.0, n_shift)
    true = depth[:, None] * ((1 - np.exp(-1.5 * (gaps[None, :] - g0[:, None]))) ** 2 - 1)  # Morse wells
    grid, done, _ = _drive(true, refine_top=None)  # every registry descends along the gap
    assert np.nanmin(grid) == pytest.approx(true.min())
    assert np.allclose(np.nanmin(grid, axis=1), true.min(axis=1))
    assert done.sum() < true.size or n_gap <= 3
