"""Migration analysis: the percolating path's effective barrier and energy-profile plots.

Effective (percolation) barrier
-------------------------------
Long-range transport needs a connected path of hops that crosses the crystal, not one
low hop. The migration graph of the primitive cell (:class:`~interphases.structures.hops.MigrationNetwork`,
from pymatgen-analysis-diffusion's ``MigrationGraph``) is periodic: node ``u`` of the home
cell joins node ``v`` of the cell translated by the integer vector ``n``. Each hop class
``h`` gets a cost, the energy of its transition state above the lowest endpoint (site)
energy found among all hops of the phase,

    c_h = max_i E_i(h) - min_{h', endpoints} E(h')

(equal to the plain barrier when all sites are equivalent; for inequivalent sites it is
the energy span from the most stable site, so a low hop out of a shallow site does not
hide a deep trap). The effective barrier in ``d`` dimensions is the smallest threshold
``T`` such that the hops with ``c_h <= T`` contain a connected periodic network that
extends in ``d`` independent directions:

    E_eff(d) = min over networks N spanning d directions of max_{h in N} c_h.

Algorithm (a minimum-bottleneck / Kruskal-type sweep, exact for this definition): add the
edges in order of cost to a union-find whose nodes carry their lattice offset with
respect to the root of their component (node ``i`` of cell ``d_i`` is connected to the
root of cell 0). An edge ``(u, v, n)`` inside one component closes a cycle with lattice
translation ``w = d_u + n - d_v``; a component spans ``rank{w}`` dimensions (the cycle
translations of a connected periodic net span its extension: the Larsen et al. method,
Phys. Rev. Mater. 3, 034003 (2019), which pymatgen implements as
``get_dimensionality_larsen``; the tests compare the two). ``E_eff(d)`` is the cost of
the edge after which some component first reaches rank ``d``; hence
``E_eff(1) <= E_eff(2) <= E_eff(3)``. References for the idea: Rong et al., Chem. Mater.
27, 6016 (2015) (percolating barrier of multivalent-ion migration); the path search of
pymatgen-analysis-diffusion (``MigrationGraph.get_path``) finds one periodic path for a
cost but not this threshold.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

__all__ = [
    "PercolationStep",
    "percolation_thresholds",
    "periodic_dimensionality",
    "plot_energy_profiles",
]


class PercolationStep(BaseModel):
    """The threshold at which a network of ``dimensionality`` directions first appears."""

    dimensionality: int = Field(description="1, 2 or 3 independent directions.")
    barrier: float = Field(description="Effective barrier E_eff(d), eV (the largest hop cost used).")
    limiting_hop: str = Field(description="Hop class whose addition completed the network.")
    hops: list[str] = Field(description="Hop classes with cost <= the threshold (the percolating set).")


class _OffsetUnionFind:
    """Union-find over nodes of a periodic graph, with each node's lattice offset."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))
        self.offset = [np.zeros(3, dtype=int) for _ in range(n)]
        self.cycles: dict[int, list[np.ndarray]] = {i: [] for i in range(n)}

    def find(self, i: int) -> tuple[int, np.ndarray]:
        path = []
        while self.parent[i] != i:
            path.append(i)
            i = self.parent[i]
        root = i
        # compress: offsets relative to the root are sums along the path
        total = np.zeros(3, dtype=int)
        for node in reversed(path):
            total = total + self.offset[node]
            self.offset[node] = total.copy()
            self.parent[node] = root
        return root, (self.offset[path[0]].copy() if path else np.zeros(3, dtype=int))

    def rank(self, root: int) -> int:
        vecs = self.cycles[root]
        return int(np.linalg.matrix_rank(np.array(vecs, dtype=float))) if vecs else 0

    def _add_cycle(self, root: int, w: np.ndarray) -> None:
        if not w.any():
            return
        vecs = self.cycles[root]
        if len(vecs) >= 3:
            return
        if np.linalg.matrix_rank(np.array([*vecs, w], dtype=float)) > len(vecs):
            vecs.append(w)

    def add(self, u: int, v: int, image: Sequence[int]) -> int:
        """Add edge u (cell 0) - v (cell ``image``); return the rank of the resulting component."""
        n = np.asarray(image, dtype=int)
        ru, du = self.find(u)
        rv, dv = self.find(v)
        w = du + n - dv
        if ru == rv:
            self._add_cycle(ru, w)
            return self.rank(ru)
        # rv (in cell w) joins ru (cell 0)
        self.parent[rv] = ru
        self.offset[rv] = w
        for vec in self.cycles.pop(rv):
            self._add_cycle(ru, vec)
        return self.rank(ru)


def periodic_dimensionality(n_nodes: int, edges: Iterable[tuple[int, int, Sequence[int]]]) -> int:
    """Largest number of independent directions spanned by one connected component."""
    uf = _OffsetUnionFind(n_nodes)
    best = 0
    for u, v, image in edges:
        best = max(best, uf.add(int(u), int(v), image))
    return best


def percolation_thresholds(
    n_nodes: int,
    edges: Sequence[tuple[int, int, Sequence[int], Any]],
    costs: Mapping[Any, float],
) -> dict[int, PercolationStep]:
    """``E_eff(d)`` for d = 1, 2, 3 (those reached) from hop costs (see the module doc).

    Args:
        n_nodes: number of sites (nodes) in the periodic cell.
        edges: ``(u, v, image, hop_class)`` for every edge of the cell's migration graph.
        costs: cost of each hop class (eV); classes without a (finite) cost are left out.

    Returns:
        ``{d: PercolationStep}`` for every dimensionality reached.
    """
    usable = [
        (float(costs[label]), str(label), int(u), int(v), tuple(image))
        for u, v, image, label in edges
        if label in costs and costs[label] is not None and np.isfinite(costs[label])
    ]
    usable.sort(key=lambda t: (t[0], t[1]))
    uf = _OffsetUnionFind(n_nodes)
    reached = 0
    used: list[str] = []
    steps: dict[int, PercolationStep] = {}
    for cost, label, u, v, image in usable:
        if label not in used:
            used.append(label)
        rank = uf.add(u, v, image)
        while rank > reached:
            reached += 1
            steps[reached] = PercolationStep(
                dimensionality=reached, barrier=cost, limiting_hop=label, hops=list(used)
            )
        if reached == 3:
            break
    # every class with cost <= the threshold belongs to the percolating set
    for step in steps.values():
        step.hops = sorted(
            {lab for c, lab, *_ in usable if c <= step.barrier + 1e-12},
            key=lambda lab: min(c for c, lb, *_ in usable if lb == lab),
        )
    return steps


# --------------------------------------------------------------------------------------
# plots


def plot_energy_profiles(
    profiles: Sequence[Mapping[str, Any]],
    path: str | Path,
    *,
    title: str | None = None,
    formats: Sequence[str] = ("png", "svg"),
) -> list[Path]:
    """Energy along the reaction coordinate, one curve per hop; one file per format.

    Each profile: ``label``, ``reaction_coordinate`` (Å), ``energies`` (eV, relative to the
    first image or absolute: the first image is subtracted), optional ``climbing_image``.
    Points are the NEB images; the line is a shape-preserving (PCHIP) interpolation, which
    adds no extremum between images. ``path`` without suffix gets ``.png`` / ``.svg``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.interpolate import PchipInterpolator

    fig, ax = plt.subplots(figsize=(6.0, 4.0), dpi=150)
    for k, prof in enumerate(profiles):
        x = np.asarray(prof["reaction_coordinate"], dtype=float)
        e = np.asarray(prof["energies"], dtype=float)
        if len(x) < 2 or not np.isfinite(e).all():
            continue
        e = e - e[0]
        color = f"C{k % 10}"
        if len(x) >= 3 and np.all(np.diff(x) > 0):
            xs = np.linspace(x[0], x[-1], 200)
            ax.plot(xs, PchipInterpolator(x, e)(xs), color=color, lw=1.5)
        else:
            ax.plot(x, e, color=color, lw=1.5)
        ax.plot(x, e, "o", color=color, ms=5, label=str(prof.get("label", f"hop {k}")))
        ci = prof.get("climbing_image")
        if ci is not None and 0 <= int(ci) < len(x):
            ax.plot([x[int(ci)]], [e[int(ci)]], "*", color=color, ms=12, mec="k", mew=0.5)
    ax.axhline(0.0, color="0.6", lw=0.8, ls="--")
    ax.set_xlabel("reaction coordinate (Å)")
    ax.set_ylabel("energy relative to the initial state (eV)")
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stem = path.with_suffix("") if path.suffix.lower() in {".png", ".svg", ".pdf"} else path
    written = []
    for fmt in formats:
        out = stem.with_name(stem.name + f".{fmt}")
        fig.savefig(out)
        written.append(out)
    plt.close(fig)
    return written
