"""Ion hops for migration barriers: distinct hops in a bulk phase, supercells sized by a
minimum image distance, vacancy / interstitial NEB endpoints, and hops across an interface.

What pymatgen and pymatgen-analysis-diffusion do here:

- :class:`~pymatgen.analysis.diffusion.neb.pathfinder.DistinctPathFinder` picks the default
  hop cutoff: the shortest ion-ion distance at which the ion sites form a network that
  percolates in more than one dimension (its ``max_path_length`` with ``perc_mode=">1d"``).
- :class:`~pymatgen.analysis.diffusion.neb.full_path_mapper.MigrationGraph` (``with_distance``)
  builds the migration graph of the primitive cell: nodes are the ion sites, edges every
  ion-ion hop up to the cutoff (with its periodic image ``to_jimage``), each edge carrying
  a :class:`MigrationHop`; symmetry-equivalent hops (same space-group orbit of the triple
  start / midpoint / end, ``MigrationHop.__eq__``) share one ``hop_label``. The distinct
  hops are the graph's ``unique_hops``.
- :class:`~pymatgen.symmetry.analyzer.SpacegroupAnalyzer` (spglib) gives the symmetry
  operations, Wyckoff letters and the standard conventional cell.

What this module adds:

- **Supercell from a minimum image distance** (:func:`supercell_for_min_image`): the
  distance between a point defect and its nearest periodic image is the length of the
  shortest lattice vector of the supercell, i.e. the ``a`` of its Niggli-reduced cell
  (a Buerger-reduced basis starts with the shortest lattice vector). Candidates are the
  diagonal multiples ``diag(n1, n2, n3)`` of the primitive cell and of the standard
  conventional cell (spglib's transformation, written as an integer matrix on the
  primitive cell); the one with the fewest atoms whose shortest vector is at least
  ``min_image`` Å wins (ties: the larger shortest vector).
- **Endpoints with one consistent atom order** (:func:`hop_endpoints`): vacancy mechanism,
  the supercell minus the ion at the hop's end site (initial) and the same structure with
  the moving ion moved onto that site (final), the moving ion keeping its index; the
  cell carries a net charge ``-z`` (one ion of charge ``+z`` removed, compensated by a
  uniform background, the usual convention for charged defects in periodic cells:
  Leslie & Gillan, J. Phys. C 18, 973 (1985); Freysoldt et al., Rev. Mod. Phys. 86, 253
  (2014)). Interstitial mechanism, the host supercell plus one ion (the last site) at the
  start / end interstitial site, charge ``+z``. MLIPs ignore the charge; DFT engines
  (CP2K ``CHARGE``, VASP ``NELECT``) read it from ``Structure.charge``. A metallic host
  (a single element) gets a neutral defect: its electrons screen it. The final position
  of the moving ion is the start position plus the hop vector, so the minimum-image
  interpolation follows the hop itself; :func:`hop_endpoints` checks that the hop is the
  minimum image in the supercell.
- **Interstitial sites** (:func:`find_interstitial_sites`): the vertices of the Voronoi
  tessellation of the host (scipy's Qhull on the cell and its 26 neighbours), points
  locally farthest from every atom, kept when at least ``min_distance`` Å from the
  nearest atom, merged within ``cluster_tol`` Å and completed into full orbits with the
  host's space-group operations. This is the approach of pymatgen-analysis-defects'
  ``VoronoiInterstitialGenerator`` (not a dependency here). For the migration graph the
  interstitial sites are occupied by a placeholder element absent from the host, so that
  ``DistinctPathFinder`` / ``MigrationGraph`` see them as the migrating species.
- **Hops across an interface** (:func:`interface_hop_endpoints`): on a pymatgen
  ``Interface`` (site property ``interface_label``: ``"substrate"`` / ``"film"``), the
  ions of the ``from_side`` closest to the interface plane (midway between the top
  substrate plane and the bottom film plane, along the surface normal) hop into the
  nearest ion site (vacancy mechanism: that site is emptied in the initial state) or
  open Voronoi site (interstitial mechanism: the moving ion leaves a vacancy behind) of
  the other side, across the plane. Frozen atoms (``selective_dynamics``) are kept.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence
from typing import Annotated, Any, Literal

import numpy as np
from monty.json import jsanitize
from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator
from pymatgen.core import Element, Lattice, Structure

from interphases.errors import InterphasesError, InvalidStructureError

__all__ = [
    "MECHANISMS",
    "HopEndpoints",
    "HopInfo",
    "InterstitialSite",
    "MigrationNetwork",
    "StructureField",
    "default_defect_charge",
    "find_hops",
    "find_interstitial_sites",
    "hop_endpoints",
    "in_plane_repeats",
    "infer_ion",
    "interface_hop_endpoints",
    "min_image_distance",
    "primitive_cell",
    "set_charge",
    "structure_charge",
    "supercell_for_min_image",
]

Mechanism = Literal["vacancy", "interstitial"]
MECHANISMS: tuple[str, ...] = ("vacancy", "interstitial")

#: elements used to mark interstitial sites for DistinctPathFinder / MigrationGraph
_PLACEHOLDERS = ("Xe", "Kr", "Rn", "At", "Po")
#: added to a hop cutoff so that a hop of exactly that length is kept (round-off)
_CUTOFF_TOL = 0.01


# --------------------------------------------------------------------------------------
# pydantic field for pymatgen structures (JSON round trip through as_dict / from_dict)


def _validate_structure(value: Any) -> Structure:
    if isinstance(value, Structure):
        return value
    if isinstance(value, dict):
        return Structure.from_dict(value)
    raise TypeError(f"expected a Structure or its as_dict(), got {type(value).__name__}")


def _dump_structure(value: Structure) -> dict:
    with warnings.catch_warnings():  # charged cells: pymatgen warns on every .charge read
        warnings.simplefilter("ignore")
        return jsanitize(value.as_dict(), strict=True, allow_bson=False)


StructureField = Annotated[
    Structure,
    PlainValidator(_validate_structure),
    PlainSerializer(_dump_structure, return_type=dict),
]


def set_charge(structure: Structure, charge: float) -> Structure:
    """``structure`` with net charge ``charge`` (in place; returned for chaining).

    pymatgen warns on every read of a charge that differs from the sum of oxidation
    states (0 without them); the warning is silenced here, the charge is the point.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        structure._charge = float(charge)  # noqa: SLF001 - Structure(charge=...) does the same
    return structure


def structure_charge(structure: Structure) -> float:
    """Net charge of ``structure`` without pymatgen's oxidation-state warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(structure.charge)


# --------------------------------------------------------------------------------------
# records


class HopInfo(BaseModel):
    """One symmetry-distinct hop of the migrating ion in the primitive cell."""

    model_config = ConfigDict(extra="forbid")

    label: str = Field(description="'hop-<n>' in order of length (stable for one structure and cutoff).")
    hop_label: int = Field(description="MigrationGraph's label of the hop's equivalence class.")
    ion: str
    mechanism: Mechanism
    length: float = Field(description="Start-to-end distance, Å.")
    start_frac: list[float] = Field(description="Start site, fractional coordinates of the primitive cell.")
    end_frac: list[float] = Field(description="End site (may lie outside the cell), fractional.")
    start_cart: list[float]
    end_cart: list[float]
    start_group: int = Field(description="Index of the start site's symmetry orbit (node class).")
    end_group: int
    start_wyckoff: str
    end_wyckoff: str
    multiplicity: int = Field(description="Edges of this class in the migration graph of the primitive cell.")

    @property
    def equivalent_endpoints(self) -> bool:
        """Start and end sites in the same symmetry orbit (forward = backward barrier)."""
        return self.start_group == self.end_group

    @property
    def sites(self) -> str:
        """``"4a-4a"``: Wyckoff letters (with multiplicity) of the two sites."""
        return f"{self.start_wyckoff}-{self.end_wyckoff}"


class MigrationNetwork(BaseModel):
    """The migration graph of the primitive cell, reduced to what percolation needs.

    Node ``i`` is site ``i`` of ``sites`` (fractional coordinates of ``cell``); an edge
    ``(u, v, (n1, n2, n3), hop_label)`` joins node ``u`` in the home cell to node ``v`` in
    the cell translated by ``n1 a + n2 b + n3 c``.
    """

    model_config = ConfigDict(extra="forbid")

    ion: str
    mechanism: Mechanism
    cutoff: float = Field(description="Largest hop length, Å.")
    cell: StructureField = Field(description="Primitive cell the sites and hops refer to (host only).")
    sites: list[list[float]] = Field(description="Fractional coordinates of the nodes.")
    site_groups: list[int] = Field(description="Symmetry orbit of each node.")
    edges: list[tuple[int, int, tuple[int, int, int], int]]
    hops: list[HopInfo] = Field(description="Distinct hops, shortest first.")

    def hop(self, label: str) -> HopInfo:
        for hop in self.hops:
            if hop.label == label:
                return hop
        raise KeyError(label)


class InterstitialSite(BaseModel):
    """One orbit of Voronoi interstitial sites of a host."""

    model_config = ConfigDict(extra="forbid")

    frac_coords: list[list[float]] = Field(description="Every site of the orbit in the host cell.")
    wyckoff: str
    distance: float = Field(description="Distance to the nearest host atom, Å.")


class HopEndpoints(BaseModel):
    """Unrelaxed NEB endpoints of one hop in one supercell, atoms in the same order."""

    model_config = ConfigDict(extra="forbid")

    label: str
    initial: StructureField
    final: StructureField
    moving_index: int = Field(description="Index of the migrating ion in both endpoints.")
    hop_vector: list[float] = Field(description="End minus start position of the moving ion, Å (Cartesian).")
    charge: float = Field(description="Net charge of the cell (background-compensated).")
    supercell: list[list[int]] | None = Field(None, description="Supercell matrix on the primitive cell (bulk hops).")
    info: dict[str, Any] = Field(default_factory=dict, description="Where the hop is (interface hops: sides, heights).")

    @property
    def length(self) -> float:
        return float(np.linalg.norm(self.hop_vector))


# --------------------------------------------------------------------------------------
# ion, charge, primitive cell


def infer_ion(structure: Structure, ion: str | None = None) -> str:
    """The migrating ion: ``ion`` if given (any element; an interstitial need not be in the
    structure), else the only working-ion element (Li, Na, K, Mg, Ca, Zn, Al) present."""
    from interphases.analysis.stability import WORKING_ION_CHARGES

    elements = {el.symbol for el in structure.composition.elements}
    if ion is not None:
        try:
            Element(ion)
        except ValueError as exc:
            raise InterphasesError(f"{ion!r} is not an element symbol") from exc
        return ion
    candidates = sorted(elements & set(WORKING_ION_CHARGES))
    if len(candidates) != 1:
        found = ", ".join(candidates) if candidates else "none"
        raise InterphasesError(
            f"cannot tell the migrating ion of {structure.composition.reduced_formula} "
            f"(working-ion elements present: {found}): give it (--ion)"
        )
    return candidates[0]


def default_defect_charge(host: Structure, ion_charge: int, mechanism: str) -> int:
    """Net charge of a cell with one ion of charge ``+ion_charge`` removed (vacancy) or
    added (interstitial): ``-z`` / ``+z`` in an ionic host, 0 in a metal (one element)."""
    if len(host.composition.elements) == 1:
        return 0
    return -ion_charge if mechanism == "vacancy" else ion_charge


def primitive_cell(structure: Structure, symprec: float = 0.1) -> Structure:
    """pymatgen's primitive cell, Niggli-reduced, without oxidation states, charge or site
    properties (pymatgen-analysis-diffusion compares species with the plain element)."""
    if not structure.is_ordered:
        raise InvalidStructureError(
            f"{structure.composition.reduced_formula} is disordered: order it first "
            "(e.g. OrderDisorderedStructureTransformation)"
        )
    clean = Structure(structure.lattice, structure.species, structure.frac_coords)
    clean.remove_oxidation_states()
    prim = clean.get_primitive_structure(tolerance=symprec)
    return prim.get_reduced_structure()


def _check_mechanism(mechanism: str) -> None:
    if mechanism not in MECHANISMS:
        raise InterphasesError(f"mechanism must be one of {', '.join(MECHANISMS)}, got {mechanism!r}")


# --------------------------------------------------------------------------------------
# supercells


def min_image_distance(lattice: Lattice | np.ndarray) -> float:
    """Length of the shortest lattice vector, Å: the distance from a point defect to its
    nearest periodic image (the ``a`` of the Niggli-reduced cell)."""
    lat = lattice if isinstance(lattice, Lattice) else Lattice(lattice)
    return float(min(lat.get_niggli_reduced_lattice().abc))


def _conventional_on_primitive(prim: Structure, symprec: float) -> np.ndarray | None:
    """Integer matrix T with ``T @ prim.lattice.matrix`` = the standard conventional cell
    (spglib: (a_s b_s c_s) = (a b c) P^-1, columns), or None when it is the primitive."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    try:
        data = SpacegroupAnalyzer(prim, symprec=symprec).get_symmetry_dataset()
    except Exception:  # noqa: BLE001 - no symmetry found: the primitive cell alone
        return None
    t = np.linalg.inv(np.asarray(data.transformation_matrix, dtype=float)).T
    t_int = np.rint(t)
    if not np.allclose(t, t_int, atol=1e-4) or abs(round(np.linalg.det(t_int))) <= 1:
        return None
    if np.linalg.det(t_int) < 0:
        t_int = -t_int
    return t_int.astype(int)


def supercell_for_min_image(
    structure: Structure,
    min_image: float,
    *,
    max_atoms: int = 300,
    symprec: float = 0.1,
    n_max: int = 8,
) -> tuple[np.ndarray, float]:
    """Smallest supercell of ``structure`` whose shortest lattice vector is >= ``min_image`` Å.

    Candidates: ``diag(n1, n2, n3)`` times the cell itself and times its standard
    conventional cell (``n_i <= n_max``). Returns the integer matrix ``M`` (supercell =
    ``M @ lattice``, pymatgen's ``structure * M``) and its minimum image distance.

    Raises:
        InvalidStructureError: no candidate of at most ``max_atoms`` atoms reaches ``min_image``.
    """
    if min_image <= 0:
        raise InterphasesError(f"min_image must be > 0 Å, got {min_image}")
    bases = [np.eye(3, dtype=int)]
    conv = _conventional_on_primitive(structure, symprec)
    if conv is not None:
        bases.append(conv)
    best: tuple[tuple[int, float, float], np.ndarray, float] | None = None
    largest = 0.0
    lattice = structure.lattice.matrix
    for base in bases:
        base_det = round(abs(np.linalg.det(base)))
        lengths = np.linalg.norm(base @ lattice, axis=1)
        for ns in itertools.product(range(1, n_max + 1), repeat=3):
            n_atoms = int(np.prod(ns)) * base_det * len(structure)
            if n_atoms > max_atoms:
                continue
            if np.any(np.asarray(ns) * lengths < min_image - 1e-6):  # a basis vector already too short
                continue
            matrix = np.diag(ns) @ base
            d = min_image_distance(matrix @ lattice)
            largest = max(largest, d)
            if d < min_image - 1e-6:
                continue
            lens = np.linalg.norm(matrix @ lattice, axis=1)
            key = (n_atoms, -round(d, 6), round(float(lens.max() / lens.min()), 6))
            if best is None or key < best[0]:
                best = (key, matrix, d)
    if best is None:
        raise InvalidStructureError(
            f"no supercell of {structure.composition.reduced_formula} with at most {max_atoms} atoms has a "
            f"minimum image distance of {min_image:g} Å (largest found: {largest:.2f} Å): "
            "raise max_atoms (--max-atoms) or lower min_image (--min-image)"
        )
    return best[1], best[2]


# --------------------------------------------------------------------------------------
# interstitial sites (Voronoi vertices)


def _periodic_cluster(frac: np.ndarray, lattice: Lattice, tol: float) -> list[np.ndarray]:
    """Merge points closer than ``tol`` Å (periodic, single linkage); centroids in [0, 1)."""
    if len(frac) == 0:
        return []
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    if len(frac) == 1:
        return [frac[0] % 1.0]
    dist = lattice.get_all_distances(frac, frac)
    np.fill_diagonal(dist, 0.0)
    dist = 0.5 * (dist + dist.T)
    labels = fcluster(linkage(squareform(dist, checks=False), method="single"), tol, criterion="distance")
    centers = []
    for lab in np.unique(labels):
        members = frac[labels == lab]
        ref = members[0]
        delta = members - ref
        delta -= np.round(delta)  # unwrap around the first member
        centers.append((ref + delta.mean(axis=0)) % 1.0)
    return centers


def _min_pair(frac: np.ndarray, lattice: Lattice) -> float:
    dist = lattice.get_all_distances(frac, frac)
    np.fill_diagonal(dist, np.inf)
    return float(dist.min())


def _voronoi_vertices(structure: Structure) -> np.ndarray:
    """Fractional coordinates (in [0, 1)) of the Voronoi vertices of a periodic structure."""
    from scipy.spatial import Voronoi

    frac = structure.frac_coords % 1.0
    shifts = np.array(list(itertools.product((-1, 0, 1), repeat=3)), dtype=float)
    images = (frac[None, :, :] + shifts[:, None, :]).reshape(-1, 3)
    cart = images @ structure.lattice.matrix
    vor = Voronoi(cart)
    vfrac = structure.lattice.get_fractional_coords(vor.vertices)
    inside = np.all((vfrac >= -1e-6) & (vfrac < 1 - 1e-6), axis=1)
    return vfrac[inside] % 1.0


def find_interstitial_sites(
    host: Structure,
    *,
    min_distance: float = 1.0,
    min_separation: float = 1.2,
    cluster_tol: float = 0.5,
    symprec: float = 0.1,
    max_orbits: int | None = None,
) -> list[InterstitialSite]:
    """Interstitial site orbits of ``host`` from its Voronoi vertices, most open first.

    Args:
        host: the host structure (any cell; a primitive cell keeps it cheap).
        min_distance: keep sites at least this far (Å) from every host atom.
        min_separation: Å; orbits are taken most open first (largest distance to the
            host), and an orbit with a site closer than this to an already kept site is
            dropped (Voronoi vertices around one cavity are one site, not a hop).
        cluster_tol: vertices closer than this (Å) are merged first.
        symprec: spglib tolerance for the orbits.
        max_orbits: keep only this many orbits (largest distance to the host first).
    """
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    vertices = _voronoi_vertices(host)
    if len(vertices) == 0:
        return []
    dist = host.lattice.get_all_distances(vertices, host.frac_coords).min(axis=1)
    keep = vertices[dist >= min_distance]
    centers = _periodic_cluster(keep, host.lattice, cluster_tol)
    if not centers:
        return []
    ops = SpacegroupAnalyzer(host, symprec=symprec).get_symmetry_operations()
    placeholder = _placeholder(host)
    result: list[InterstitialSite] = []
    kept = np.zeros((0, 3))
    by_openness = sorted(centers, key=lambda c: -host.lattice.get_all_distances([c], host.frac_coords).min())
    for c in by_openness:
        if len(kept) and host.lattice.get_all_distances([c], kept).min() < max(min_separation, cluster_tol):
            continue
        images = np.array([op.operate(c) % 1.0 for op in ops])
        orbit = np.array(_periodic_cluster(images, host.lattice, min(0.1, cluster_tol / 2)))
        if len(orbit) > 1 and _min_pair(orbit, host.lattice) < min_separation:
            # images of one site closer than min_separation: one cavity, at their centroid
            orbit = np.array(_periodic_cluster(orbit, host.lattice, min_separation))
            orbit = np.array(_periodic_cluster(np.array([op.operate(p) % 1.0 for p in orbit for op in ops]),
                                               host.lattice, min(0.1, cluster_tol / 2)))
            if host.lattice.get_all_distances(orbit[:1], host.frac_coords).min() < min_distance:
                continue
            if len(kept) and host.lattice.get_all_distances(orbit, kept).min() < max(min_separation, cluster_tol):
                continue
        kept = np.vstack([kept, orbit])
        probe = Structure(host.lattice, [*host.species, *[placeholder] * len(orbit)], [*host.frac_coords, *orbit])
        try:
            sym = SpacegroupAnalyzer(probe, symprec=symprec).get_symmetrized_structure()
            wyckoff = next(
                w
                for w, sites in zip(sym.wyckoff_symbols, sym.equivalent_sites, strict=True)
                if sites[0].specie.symbol == placeholder
            )
        except Exception:  # noqa: BLE001 - a label only
            wyckoff = f"{len(orbit)}?"
        d = float(host.lattice.get_all_distances(orbit[:1], host.frac_coords).min())
        result.append(InterstitialSite(frac_coords=orbit.tolist(), wyckoff=wyckoff, distance=d))
        if max_orbits and len(result) >= max_orbits:
            break
    return result


def _placeholder(structure: Structure) -> str:
    present = {el.symbol for el in structure.composition.elements}
    return next(p for p in _PLACEHOLDERS if p not in present)


# --------------------------------------------------------------------------------------
# distinct hops and the migration graph


def _network_structure(
    prim: Structure, ion: str, mechanism: str, interstitial_kwargs: dict[str, Any]
) -> tuple[Structure, str]:
    """Structure whose ``species`` sites are the nodes: the cell itself (vacancy) or the host
    plus a placeholder element on every interstitial site (interstitial)."""
    if mechanism == "vacancy":
        if Element(ion) not in prim.composition:
            raise InterphasesError(
                f"{prim.composition.reduced_formula} has no {ion}: a vacancy mechanism needs {ion} sites "
                "(use the interstitial mechanism to insert it)"
            )
        return prim, ion
    sites = find_interstitial_sites(prim, **interstitial_kwargs)
    if not sites:
        raise InterphasesError(
            f"no interstitial site found in {prim.composition.reduced_formula} at least "
            f"{interstitial_kwargs.get('min_distance', 1.0)} Å from every atom: lower the minimum distance"
        )
    placeholder = _placeholder(prim)
    coords = [c for s in sites for c in s.frac_coords]
    structure = Structure(prim.lattice, [*prim.species, *[placeholder] * len(coords)], [*prim.frac_coords, *coords])
    return structure, placeholder


def find_hops(
    structure: Structure,
    ion: str | None = None,
    *,
    mechanism: Mechanism = "vacancy",
    cutoff: float | None = None,
    symprec: float = 0.1,
    interstitial_min_distance: float = 1.0,
    interstitial_min_separation: float = 1.2,
    max_interstitial_orbits: int | None = None,
) -> MigrationNetwork:
    """Symmetry-distinct hops of ``ion`` up to ``cutoff`` Å and the migration graph.

    Args:
        structure: the bulk phase (any cell: its primitive cell is used).
        ion: migrating element (default: the only working-ion element of the phase).
        mechanism: ``"vacancy"`` (hops between the ion's own sites) or ``"interstitial"``
            (hops between Voronoi interstitial sites of the host, the ion's sites occupied).
        cutoff: longest hop, Å. Default: DistinctPathFinder's percolation cutoff (the
            shortest length at which the sites connect in more than one dimension).
        symprec: symmetry tolerance, Å.
        interstitial_min_distance, interstitial_min_separation, max_interstitial_orbits:
            ``min_distance``, ``min_separation`` and ``max_orbits`` of :func:`find_interstitial_sites`.
    """
    from pymatgen.analysis.diffusion.neb.full_path_mapper import MigrationGraph
    from pymatgen.analysis.diffusion.neb.pathfinder import DistinctPathFinder
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    _check_mechanism(mechanism)
    ion = infer_ion(structure, ion)
    prim = primitive_cell(structure, symprec)
    net_structure, species = _network_structure(
        prim,
        ion,
        mechanism,
        {
            "min_distance": interstitial_min_distance,
            "min_separation": interstitial_min_separation,
            "max_orbits": max_interstitial_orbits,
            "symprec": symprec,
        },
    )
    if cutoff is None:
        cutoff = float(DistinctPathFinder(net_structure, species, symprec=symprec).max_path_length)
    if cutoff <= 0:
        raise InterphasesError(f"cutoff must be > 0 Å, got {cutoff}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = MigrationGraph.with_distance(net_structure, species, max_distance=cutoff + _CUTOFF_TOL, symprec=symprec)
    nodes = graph.only_sites
    g = graph.m_graph.graph
    if g.number_of_edges() == 0:
        raise InterphasesError(
            f"no {ion} hop of at most {cutoff:.2f} Å in {prim.composition.reduced_formula}: raise the cutoff"
        )
    # node orbits under the full symmetry
    sym = SpacegroupAnalyzer(net_structure, symprec=symprec).get_symmetrized_structure()
    group_of: dict[int, tuple[int, str]] = {}
    for gi, (indices, wyckoff) in enumerate(zip(sym.equivalent_indices, sym.wyckoff_symbols, strict=True)):
        for i in indices:
            group_of[i] = (gi, wyckoff)
    node_group = []
    for site in nodes:
        dists = net_structure.lattice.get_all_distances([site.frac_coords], net_structure.frac_coords)[0]
        node_group.append(group_of[int(np.argmin(dists))])
    edges = []
    counts: dict[int, int] = {}
    for u, v, data in g.edges(data=True):
        label = int(data["hop_label"])
        edges.append((int(u), int(v), tuple(int(x) for x in data["to_jimage"]), label))
        counts[label] = counts.get(label, 0) + 1
    unique = []
    for label, data in graph.unique_hops.items():
        hop = data["hop"]
        u, v = int(data["iindex"]), int(data["eindex"])
        unique.append((float(hop.length), int(label), hop, u, v))
    unique.sort(key=lambda t: (round(t[0], 4), t[1]))
    group_names = {gi: gname for gi, gname in set(node_group)}
    group_index = {gi: k for k, gi in enumerate(sorted(group_names))}
    hops = []
    for n, (length, label, hop, u, v) in enumerate(unique):
        gu, gv = node_group[u][0], node_group[v][0]
        hops.append(
            HopInfo(
                label=f"hop-{n}",
                hop_label=label,
                ion=ion,
                mechanism=mechanism,
                length=length,
                start_frac=[float(x) for x in hop.isite.frac_coords],
                end_frac=[float(x) for x in hop.esite.frac_coords],
                start_cart=[float(x) for x in hop.isite.coords],
                end_cart=[float(x) for x in hop.esite.coords],
                start_group=group_index[gu],
                end_group=group_index[gv],
                start_wyckoff=node_group[u][1],
                end_wyckoff=node_group[v][1],
                multiplicity=counts[label],
            )
        )
    return MigrationNetwork(
        ion=ion,
        mechanism=mechanism,
        cutoff=float(cutoff),
        cell=prim,
        sites=[[float(x) for x in s.frac_coords] for s in nodes],
        site_groups=[group_index[gr[0]] for gr in node_group],
        edges=edges,
        hops=hops,
    )


# --------------------------------------------------------------------------------------
# endpoints


def _nearest_site(structure: Structure, frac: np.ndarray, species: str | None = None) -> tuple[int, float]:
    """Index of the site nearest to ``frac`` (periodic) and its distance, Å."""
    dists = structure.lattice.get_all_distances([frac], structure.frac_coords)[0]
    if species is not None:
        mask = np.array([site.specie.symbol != species for site in structure])
        dists = np.where(mask, np.inf, dists)
    i = int(np.argmin(dists))
    return i, float(dists[i])


def _moved(structure: Structure, index: int, frac: np.ndarray) -> Structure:
    """A copy of ``structure`` with site ``index`` at ``frac`` (species, properties, label kept)."""
    out = structure.copy()
    site = structure[index]
    out.replace(index, site.species, coords=np.asarray(frac, dtype=float), properties=dict(site.properties), label=site.label)
    return out


def _check_mic(structure: Structure, start: np.ndarray, end: np.ndarray, label: str) -> None:
    """The hop must be the shortest image of the displacement in the supercell."""
    vec = end - start
    diff = structure.lattice.get_fractional_coords(vec)
    mic = diff - np.round(diff)
    mic_len = np.linalg.norm(structure.lattice.get_cartesian_coords(mic))
    if mic_len < np.linalg.norm(vec) - 1e-3:
        raise InvalidStructureError(
            f"{label}: the hop ({np.linalg.norm(vec):.2f} Å) is longer than half the supercell allows "
            f"(a periodic image is only {mic_len:.2f} Å away): raise min_image"
        )


def hop_endpoints(
    network: MigrationNetwork,
    hop: HopInfo | str,
    supercell: np.ndarray | Sequence[Sequence[int]],
    *,
    charge: float | None = None,
    ion_charge: int | None = None,
    tol: float = 0.3,
) -> HopEndpoints:
    """Unrelaxed initial / final supercells of ``hop`` (same atoms, same order).

    Args:
        network: from :func:`find_hops`.
        hop: a hop of ``network`` or its label.
        supercell: integer matrix on ``network.cell`` (:func:`supercell_for_min_image`).
        charge: net charge of the cell; default :func:`default_defect_charge`.
        ion_charge: charge z of the ion (default: :func:`interphases.analysis.stability.ion_charge`).
        tol: Å; a hop site must match a supercell site (vacancy) within this distance.
    """
    from interphases.analysis.stability import ion_charge as _ion_charge

    hop = network.hop(hop) if isinstance(hop, str) else hop
    matrix = np.asarray(supercell, dtype=int)
    host = network.cell.copy()
    sc = host * matrix
    if charge is None:
        charge = default_defect_charge(host, _ion_charge(network.ion, ion_charge), network.mechanism)
    start_cart = np.asarray(hop.start_cart)
    end_cart = np.asarray(hop.end_cart)
    start_f = sc.lattice.get_fractional_coords(start_cart)
    end_f = sc.lattice.get_fractional_coords(end_cart)
    where = f"{network.cell.composition.reduced_formula} {hop.label}"
    if network.mechanism == "vacancy":
        i_start, d_start = _nearest_site(sc, start_f, network.ion)
        i_end, d_end = _nearest_site(sc, end_f, network.ion)
        if max(d_start, d_end) > tol or i_start == i_end:
            raise InvalidStructureError(f"{where}: the hop sites are not {network.ion} sites of the supercell")
        initial = sc.copy()
        initial.remove_sites([i_end])
        moving = i_start - (1 if i_end < i_start else 0)
        # the moving ion starts on its lattice site, unwrapped start + hop vector at the end
        start_pos = initial[moving].frac_coords
        end_pos = start_pos + sc.lattice.get_fractional_coords(end_cart - start_cart)
    else:
        initial = sc.copy()
        start_pos = start_f
        end_pos = start_f + sc.lattice.get_fractional_coords(end_cart - start_cart)
        initial.append(network.ion, start_pos)
        moving = len(initial) - 1
    final = _moved(initial, moving, end_pos)
    _check_mic(sc, start_cart, end_cart, where)
    for s in (initial, final):
        set_charge(s, charge)
    return HopEndpoints(
        label=hop.label,
        initial=initial,
        final=final,
        moving_index=int(moving),
        hop_vector=[float(x) for x in (end_cart - start_cart)],
        charge=float(charge),
        supercell=matrix.tolist(),
        info={"hop_length": hop.length, "sites": hop.sites},
    )


# --------------------------------------------------------------------------------------
# hops across an interface


def in_plane_repeats(structure: Structure, min_image: float, max_repeat: int = 8) -> tuple[int, int]:
    """Smallest in-plane repeats ``(n1, n2)`` of a slab / interface cell whose shortest
    in-plane lattice vector (any integer combination of ``n1 a`` and ``n2 b``) is at least
    ``min_image`` Å (fewest atoms first, then the more isotropic)."""
    a, b = structure.lattice.matrix[:2]
    best = None
    for n1, n2 in itertools.product(range(1, max_repeat + 1), repeat=2):
        A, B = n1 * a, n2 * b
        shortest = min(
            np.linalg.norm(i * A + j * B) for i in range(-4, 5) for j in range(-4, 5) if (i, j) != (0, 0)
        )
        if shortest < min_image - 1e-6:
            continue
        key = (n1 * n2, abs(np.linalg.norm(A) - np.linalg.norm(B)))
        if best is None or key < best[0]:
            best = (key, (n1, n2))
    if best is None:
        raise InvalidStructureError(f"no in-plane repeat up to {max_repeat}x{max_repeat} reaches {min_image:g} Å")
    return best[1]


def _heights(structure: Structure) -> tuple[np.ndarray, np.ndarray]:
    a, b = structure.lattice.matrix[:2]
    normal = np.cross(a, b)
    normal /= np.linalg.norm(normal)
    return structure.cart_coords @ normal, normal


def interface_hop_endpoints(
    interface: Structure,
    ion: str,
    *,
    from_side: Literal["film", "substrate"] = "film",
    mechanism: Mechanism = "vacancy",
    n_hops: int = 1,
    max_length: float = 4.5,
    charge: float | None = None,
    ion_charge: int | None = None,
    interstitial_min_distance: float = 1.0,
) -> list[HopEndpoints]:
    """Endpoints of ``ion`` hops from one side of an interface into the other.

    The interface plane lies midway between the topmost substrate atom and the lowest film
    atom (heights along the unit normal ``a x b``, the cell model of
    :mod:`interphases.structures.interfaces`). The ``from_side`` ions nearest to that plane
    are the moving ions (``n_hops`` of them, nearest first); each hops to the nearest
    destination on the other side of the plane within ``max_length`` Å:

    - ``"vacancy"``: an ion site of the other side, empty in the initial state (one site
      fewer than the interface; the final state has the vacancy on the ``from_side``);
    - ``"interstitial"``: an open Voronoi site inside the other side's slab (no atom
      removed; the moving ion leaves its site empty).

    Charge: 0 when one side is a single element (a metal screens it), else ``-z`` for the
    vacancy mechanism and 0 for the interstitial transfer (a Frenkel pair, neutral).
    """
    from interphases.analysis.stability import ion_charge as _ion_charge

    _check_mechanism(mechanism)
    if from_side not in ("film", "substrate"):
        raise InterphasesError(f"from_side must be 'film' or 'substrate', got {from_side!r}")
    labels = interface.site_properties.get("interface_label")
    if labels is None:
        raise InvalidStructureError(
            "the structure has no 'interface_label' site property (substrate/film): give a pymatgen "
            "Interface or an InterfaceCandidate's .interface"
        )
    to_side = "substrate" if from_side == "film" else "film"
    z = _ion_charge(ion, ion_charge)
    structure = Structure.from_sites(interface.sites)  # plain Structure, site properties kept
    h, normal = _heights(structure)
    lab = np.array(labels)
    is_ion = np.array([site.specie.symbol == ion for site in structure])
    if not (lab == "substrate").any() or not (lab == "film").any():
        raise InvalidStructureError("the interface needs both substrate and film atoms")
    plane = 0.5 * (h[lab == "substrate"].max() + h[lab == "film"].min())
    sign_from = 1.0 if from_side == "film" else -1.0  # film above the plane
    movers = np.flatnonzero(is_ion & (lab == from_side))
    if len(movers) == 0:
        raise InterphasesError(f"the {from_side} has no {ion}: nothing can hop out of it")
    movers = movers[np.argsort(np.abs(h[movers] - plane))]
    if mechanism == "vacancy":
        dest_idx = np.flatnonzero(is_ion & (lab == to_side))
        if len(dest_idx) == 0:
            raise InterphasesError(f"the {to_side} has no {ion} site: use mechanism='interstitial'")
        dest_frac = structure.frac_coords[dest_idx]
    else:
        vertices = _voronoi_vertices(structure)
        vh = structure.lattice.get_cartesian_coords(vertices) @ normal
        side_h = h[lab == to_side]
        inside = (vh > side_h.min()) & (vh < side_h.max())
        vertices = vertices[inside]
        if len(vertices):
            dmin = structure.lattice.get_all_distances(vertices, structure.frac_coords).min(axis=1)
            vertices = vertices[dmin >= interstitial_min_distance]
        centers = _periodic_cluster(vertices, structure.lattice, 0.5)
        if not centers:
            raise InterphasesError(f"no open site in the {to_side} at least {interstitial_min_distance} Å from every atom")
        dest_idx = np.full(len(centers), -1)
        dest_frac = np.array(centers)
    if charge is None:
        metal = any(
            len({structure[i].specie.symbol for i in np.flatnonzero(lab == side)}) == 1 for side in ("film", "substrate")
        )
        charge = 0 if metal or mechanism == "interstitial" else -z
    results: list[HopEndpoints] = []
    used_dest: set[int] = set()
    for m in movers:
        if len(results) >= n_hops:
            break
        dists = structure.lattice.get_all_distances([structure.frac_coords[m]], dest_frac)[0]
        dest_cart = structure.lattice.get_cartesian_coords(dest_frac)
        # the destination must lie across the plane from the moving ion
        across = sign_from * (dest_cart @ normal - plane) < 0
        order = [k for k in np.argsort(dists) if across[k] and k not in used_dest and dists[k] <= max_length]
        if not order:
            continue
        k = int(order[0])
        used_dest.add(k)
        start_f = structure.frac_coords[m]
        diff = dest_frac[k] - start_f
        diff -= np.round(diff)  # minimum image
        end_f = start_f + diff
        initial = structure.copy()
        moving = int(m)
        if mechanism == "vacancy":
            j = int(dest_idx[k])
            initial.remove_sites([j])
            moving -= 1 if j < m else 0
        final = _moved(initial, moving, end_f)
        for s in (initial, final):
            set_charge(s, charge)
        vec = structure.lattice.get_cartesian_coords(diff)
        results.append(
            HopEndpoints(
                label=f"{from_side}->{to_side}-{len(results)}",
                initial=initial,
                final=final,
                moving_index=moving,
                hop_vector=[float(x) for x in vec],
                charge=float(charge),
                info={
                    "from_side": from_side,
                    "to_side": to_side,
                    "mechanism": mechanism,
                    "plane_height": float(plane),
                    "start_height": float(h[m] - plane),
                    "end_height": float(h[m] + vec @ normal - plane),
                    "hop_length": float(np.linalg.norm(vec)),
                },
            )
        )
    if not results:
        raise InterphasesError(
            f"no {ion} hop from the {from_side} into the {to_side} of at most {max_length} Å: raise max_length"
        )
    return results

