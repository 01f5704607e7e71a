"""Effective (percolation) barrier: thresholds on lattices whose answer is known by hand,
and the periodic dimensionality against pymatgen's Larsen implementation."""

from __future__ import annotations

import itertools
import warnings

import pytest
from pymatgen.analysis.dimensionality import get_dimensionality_larsen
from pymatgen.analysis.graphs import StructureGraph
from pymatgen.core import Lattice, Structure

from interphases.analysis.migration import percolation_thresholds, periodic_dimensionality
from interphases.structures import get_phase
from interphases.structures.hops import find_hops

warnings.filterwarnings("ignore", message="Structure charge")


@pytest.fixture(scope="module")
def tetragonal():
    """Simple tetragonal Li lattice (a = 3, c = 4 Å): hop A along a/b, hop B along c."""
    s = Structure(Lattice.tetragonal(3.0, 4.0), ["Li", "F"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    net = find_hops(s, "Li", cutoff=4.05)
    assert [round(h.length, 3) for h in net.hops] == [3.0, 4.0]
    return net


def _edges(net):
    label = {h.hop_label: h.label for h in net.hops}
    return [(u, v, im, label[hl]) for u, v, im, hl in net.edges]


def test_chains_along_c_percolate_first_when_that_hop_is_low(tetragonal):
    a, c = (h.label for h in tetragonal.hops)
    steps = percolation_thresholds(len(tetragonal.sites), _edges(tetragonal), {a: 0.5, c: 0.2})
    # hop c alone: straight chains along c (1D); planes and 3D need the in-plane hop
    assert {d: s.barrier for d, s in steps.items()} == {1: 0.2, 2: 0.5, 3: 0.5}
    assert steps[1].hops == [c] and steps[3].hops == [c, a] and steps[2].limiting_hop == a


def test_planes_percolate_first_when_the_in_plane_hop_is_low(tetragonal):
    a, c = (h.label for h in tetragonal.hops)
    steps = percolation_thresholds(len(tetragonal.sites), _edges(tetragonal), {a: 0.2, c: 0.5})
    assert {d: s.barrier for d, s in steps.items()} == {1: 0.2, 2: 0.2, 3: 0.5}
    assert steps[3].limiting_hop == c


def test_missing_hop_means_no_3d_network(tetragonal):
    a, _ = (h.label for h in tetragonal.hops)
    steps = percolation_thresholds(len(tetragonal.sites), _edges(tetragonal), {a: 0.3})
    assert sorted(steps) == [1, 2]


def _larsen(net, labels):
    """pymatgen's dimensionality (Larsen et al. 2019) of the network of the given hop classes."""
    sites = Structure(net.cell.lattice, ["Li"] * len(net.sites), net.sites)
    sg = StructureGraph.from_empty_graph(sites, name="hops")
    for u, v, image, label in _edges(net):
        if label in labels:
            sg.add_edge(u, v, to_jimage=image, warn_duplicates=False)
    return get_dimensionality_larsen(sg)


@pytest.mark.parametrize("name,cutoff", [("Li3N", 3.7), ("Li3PS4", 3.8), ("LiOH", 4.0), ("Li2CO3", 3.4)])
def test_periodic_dimensionality_equals_pymatgen_larsen(name, cutoff):
    net = find_hops(get_phase(name), "Li", cutoff=cutoff)
    labels = [h.label for h in net.hops]
    checked = 0
    for k in range(1, len(labels) + 1):
        for subset in itertools.combinations(labels, k):
            edges = [(u, v, im) for u, v, im, lab in _edges(net) if lab in subset]
            assert periodic_dimensionality(len(net.sites), edges) == _larsen(net, set(subset)), subset
            checked += 1
            if checked > 40:
                return


def test_profile_warnings():
    from interphases.workflows.migration import profile_warnings

    assert profile_warnings([0.0, 0.2, 0.5, 0.2, 0.0]) == []
    dip, flat = profile_warnings([0.0, -0.3, 0.4, 0.9, 1.0])  # dip below the start, max at the end
    assert "image 1 is 0.30 eV below" in dip and "no saddle" in flat
    assert profile_warnings([0.0, -0.02, 0.3, 0.0]) == []  # within the 0.05 eV tolerance
