"""CHGNet crystal graphs built with numpy instead of CHGNet's Python loops.

CHGNet's ``CrystalGraphConverter`` spends most of its time in
``Graph.line_graph_adjacency_list``, a pure-Python triple loop over bonds (measured:
~70 % of graph construction, i.e. 10-15 % of a whole CHGNet force call on a 53-atom cell).
:func:`crystal_graph` builds the *same* graph, array for array and in the same order (the
tests compare it with CHGNet's converter element by element), from the same pymatgen
neighbour list:

- directed edges = the neighbour-list rows (i -> j through periodic image n, distance d
  <= 5 Å), in neighbour-list order;
- undirected edges pair each directed edge with its reverse (j -> i through -n), numbered
  in the order their first directed edge appears (``undirected2directed`` = that edge);
- angles (the line graph, bond cutoff 3 Å): for every undirected edge u with d_u <= 3 Å,
  for each of its two directed edges e (centre c), every other directed edge f leaving c
  with d_f < 3 Å, in CHGNet's neighbour order (neighbours by first appearance, then edge
  index): one row ``[c, u, e, undirected(f), f]``.

If the neighbour list is not symmetric (an edge without its reverse, which CHGNet itself
rejects), this falls back to CHGNet's converter so the error and behaviour are CHGNet's.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from chgnet.graph import CrystalGraph, CrystalGraphConverter
    from pymatgen.core import Structure

__all__ = ["crystal_graph", "line_graph"]


class _NotSymmetric(Exception):
    pass


def _reverse_edges(center: np.ndarray, neighbor: np.ndarray, image: np.ndarray, n_atoms: int) -> np.ndarray:
    """Index of the reverse (j -> i, -n) of every directed edge (i -> j, n)."""
    span = int(np.abs(image).max()) if len(image) else 0
    base = 2 * span + 1
    shifted = image + span

    def key(a: np.ndarray, b: np.ndarray, img: np.ndarray) -> np.ndarray:
        k = a.astype(np.int64) * n_atoms + b
        for col in range(3):
            k = k * base + img[:, col]
        return k

    forward = key(center, neighbor, shifted)
    backward = key(neighbor, center, 2 * span - shifted)  # -n, shifted
    order = np.argsort(forward, kind="stable")
    pos = np.searchsorted(forward[order], backward)
    pos = np.minimum(pos, len(order) - 1)
    rev = order[pos]
    if len(rev) and not np.array_equal(forward[rev], backward):
        raise _NotSymmetric
    return rev


def line_graph(
    center: np.ndarray,
    neighbor: np.ndarray,
    image: np.ndarray,
    distance: np.ndarray,
    n_atoms: int,
    bond_cutoff: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """CHGNet's graph arrays from a neighbour list.

    Returns ``(atom_graph (E, 2), directed2undirected (E,), undirected2directed (U,),
    bond_graph (A, 5))`` exactly as ``CrystalGraphConverter`` would build them.
    """
    n_edges = len(center)
    edges = np.arange(n_edges)
    rev = _reverse_edges(center, neighbor, image, n_atoms)
    first = np.minimum(edges, rev)  # the directed edge that created the undirected one
    undirected2directed = np.flatnonzero(first == edges)  # ascending = creation order
    directed2undirected = np.searchsorted(undirected2directed, first)
    atom_graph = np.stack([center, neighbor], axis=1)

    # CHGNet's per-node neighbour order: neighbours by first appearance, then edge index
    pair = center.astype(np.int64) * n_atoms + neighbor
    pair_sorted = np.argsort(pair, kind="stable")
    starts = np.r_[True, pair[pair_sorted][1:] != pair[pair_sorted][:-1]]
    group_first = np.empty(n_edges, dtype=np.int64)
    group_first[pair_sorted] = pair_sorted[np.maximum.accumulate(np.where(starts, np.arange(n_edges), 0))]

    # short edges (strictly inside the bond cutoff) listed per centre in that order
    short = np.flatnonzero(distance < bond_cutoff)
    short = short[np.lexsort((short, group_first[short], center[short]))]
    count = np.bincount(center[short], minlength=n_atoms)
    offset = np.r_[0, np.cumsum(count)[:-1]]

    # anchors: (undirected edge u with d_u <= cutoff, each of its two directed edges)
    u_ok = np.flatnonzero(distance[undirected2directed] <= bond_cutoff)
    de1 = undirected2directed[u_ok]
    anchor_u = np.repeat(u_ok, 2)
    anchor_e = np.stack([de1, rev[de1]], axis=1).ravel()
    anchor_c = center[anchor_e]
    reps = count[anchor_c]
    total = int(reps.sum())
    if total == 0:
        return atom_graph, directed2undirected, undirected2directed, np.zeros((0, 5), dtype=np.int64)
    which = np.repeat(np.arange(len(anchor_e)), reps)
    within = np.arange(total) - np.repeat(np.cumsum(reps) - reps, reps)
    f = short[offset[anchor_c[which]] + within]
    e = anchor_e[which]
    keep = f != e
    bond_graph = np.stack(
        [anchor_c[which][keep], anchor_u[which][keep], e[keep], directed2undirected[f[keep]], f[keep]], axis=1
    )
    return atom_graph, directed2undirected, undirected2directed, bond_graph


def crystal_graph(converter: CrystalGraphConverter, structure: Structure) -> CrystalGraph:
    """``converter(structure)``, same result, without CHGNet's Python line-graph loops."""
    from chgnet.graph.crystalgraph import CrystalGraph
    from chgnet.model.model import TORCH_DTYPE

    n_atoms = len(structure)
    center, neighbor, image, distance = structure.get_neighbor_list(
        r=converter.atom_graph_cutoff, sites=structure.sites, numerical_tol=1e-8
    )
    image = np.asarray(image, dtype=np.int64)
    try:
        atom_graph, d2u, u2d, bond_graph = line_graph(
            center.astype(np.int64), neighbor.astype(np.int64), image, distance, n_atoms, converter.bond_graph_cutoff
        )
    except _NotSymmetric:
        return converter(structure)

    n_isolated = n_atoms - len(np.unique(center))
    if n_isolated:
        msg = (
            f"Structure graph_id=None has {n_isolated} isolated atom(s) with "
            f"atom_graph_cutoff={converter.atom_graph_cutoff}. CHGNet calculation will likely go wrong"
        )
        if converter.on_isolated_atoms == "error":
            raise ValueError(msg)
        if converter.on_isolated_atoms == "warn":
            print(msg, file=sys.stderr)

    return CrystalGraph(
        atomic_number=torch.tensor([site.specie.Z for site in structure], dtype=torch.int32, requires_grad=False),
        atom_frac_coord=torch.tensor(structure.frac_coords, dtype=TORCH_DTYPE, requires_grad=True),
        atom_graph=torch.tensor(atom_graph, dtype=torch.int32),
        neighbor_image=torch.tensor(image, dtype=TORCH_DTYPE),
        directed2undirected=torch.tensor(d2u, dtype=torch.int32),
        undirected2directed=torch.tensor(u2d, dtype=torch.int32),
        bond_graph=torch.tensor(bond_graph, dtype=torch.int32) if len(bond_graph) else torch.tensor([], dtype=torch.int32),
        lattice=torch.tensor(structure.lattice.matrix, dtype=TORCH_DTYPE, requires_grad=True),
        graph_id=None,
        mp_id=None,
        composition=structure.composition.formula,
        atom_graph_cutoff=converter.atom_graph_cutoff,
        bond_graph_cutoff=converter.bond_graph_cutoff,
    )
