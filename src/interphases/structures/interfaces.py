"""Lattice-matched interface candidates between two phases (substrate | film).

The substrate (usually the electrode, e.g. Li) keeps its lattice; the film (the SEI
phase or solid electrolyte, e.g. LiF) is strained onto it. pymatgen does the
crystallography:

- Zur-McGill lattice matching (:class:`ZSLGenerator`, J. Appl. Phys. 55, 378 (1984)),
  called on the in-plane vectors of the primitive slabs exactly as
  :class:`CoherentInterfaceBuilder` does;
- slab cutting (:class:`SlabGenerator`, every termination shift, ``label_termination``
  labels with an index as ``CoherentInterfaceBuilder(label_index=True)`` gives them),
  the film and substrate supercells and :meth:`Interface.from_slabs` (the body of
  ``CoherentInterfaceBuilder.get_interfaces``, called here on slabs prepared by
  :mod:`interphases.structures.slabs`);
- strain (Green-Lagrange and von Mises, the formulas of pymatgen's ``Deformation`` and
  ``Strain``) and the adsorption-site finder (:class:`AdsorbateSiteFinder`) behind the
  in-plane registries;
- :class:`StructureMatcher` as the last duplicate check.

What this module adds, and why:

- **Thickness in Å, measured**: each side is cut with enough oriented unit cells that its
  atom-to-atom thickness is at least the request (pymatgen's ``in_layers=False`` can
  fall short by up to one interplanar spacing). Gap and vacuum are pymatgen's exact
  values; both are measured again on the built cell.
- **Duplicates removed before anything is built** (building and then comparing every
  pymatgen interface with ``StructureMatcher`` takes minutes). A ZSL match is the linear
  map ``T`` (3x3, film Cartesian frame to substrate Cartesian frame: the in-plane part of
  pymatgen's ``match_transformation``, and the film's top normal sent to the
  substrate's) that puts the film superlattice on the substrate superlattice; the
  interface, up to the in-plane registry, is fixed by ``T`` and the two terminations. Two matches
  ``T_A``, ``T_B`` give the same interface when ``T_B = R_s T_A R_f`` for a symmetry
  operation ``R_s`` of the substrate slab and ``R_f`` of the film slab that keep the
  surface normal (supercells of a smaller match have ``T_B = T_A``). Two termination
  cuts of one side are the same surface when a bulk symmetry operation that keeps the
  normal maps one cut onto the other. The smallest-area match of each class is kept;
  other registries of the same interface are covered by ``in_plane_shifts``.
  :class:`StructureMatcher` then compares the built candidates within groups of equal
  Miller pair, interface planes, atom count, area and principal strains, as a last check.
- **Strain limit**: ``max_strain`` bounds the largest in-plane principal strain of the
  film, ``max |lambda_i - 1|`` with ``lambda_i`` the principal stretches of ``T``
  (eigenvalues of ``sqrt(T^T T)``): 0.05 means no direction is stretched or compressed
  by more than 5 %. The ZSL search uses the same value for its length and angle
  tolerances. ``von_mises_strain`` (pymatgen's, from the Green-Lagrange strain
  ``E = (T^T T - I)/2``) is reported and used for ranking.
- **Two cell models**: ``"slab"`` (substrate, gap, film, then ``vacuum`` Å of vacuum)
  and ``"sandwich"`` (no vacuum: ``vacuum_over_film = gap``, so the periodic image of
  the substrate makes a second interface, film top | substrate bottom, at the same gap;
  needed for interface formation energies). Frozen atoms (``selective_dynamics``,
  True = free): slab model, the substrate planes within ``fixed_thickness`` Å (or
  ``fixed_fraction`` of its thickness) of its bottom; sandwich model, the substrate
  planes within the same thickness centred in the middle of the substrate, far from
  both interfaces (the bulk-like core stays put, both interfaces and the film relax).
- **In-plane registries** (``in_plane_shifts``, fractions of the interface a and b, the
  values of pymatgen's ``Interface.in_plane_offset``): every difference between an
  adsorption site (on-top, bridge, hollow) of the substrate's top surface and one of
  the film's interface-side surface, so that a film site lands on a substrate site
  (sites found once per termination on the primitive slab, carried into the supercell
  by the supercell matrices); reduced modulo the in-plane translations of both slabs and
  de-duplicated within ``shift_tol`` Å. Registries related only by a rotation are not
  merged. ``registry_grid=(n, m)`` adds a regular n x m grid over the smallest cell of
  inequivalent shifts.

Handedness (pymatgen's ``Interface.from_slabs`` works on fractional coordinates):
it turns the film over with the mirror ``z -> -z``, and it flips the c axis of a
left-handed substrate supercell, which mirrors the substrate. The substrate supercell is
made right-handed here (a and b of both supercells swapped), so the substrate is never
mirrored. The placed film is then a proper rotation of the film when its supercell is
left-handed (equivalently ``det T < 0``); otherwise it is its mirror image, which for an
achiral film is a rotated copy of a real surface with the same plane chemistry, but for
a chiral film (Sohncke space group, e.g. Te) the other enantiomer: for chiral films only
the matches with ``det T < 0`` are kept.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import chain, product
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field
from pymatgen.analysis.interfaces.coherent_interfaces import from_2d_to_3d, get_2d_transform
from pymatgen.analysis.interfaces.zsl import ZSLGenerator, ZSLMatch, vec_area
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Structure
from pymatgen.core.adsorption import AdsorbateSiteFinder
from pymatgen.core.interface import Interface, label_termination
from pymatgen.core.surface import Slab, SlabGenerator
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer, SymmetryUndeterminedError

from interphases.errors import InvalidStructureError
from interphases.structures.slabs import (
    CHARGE_TOL,
    DIPOLE_TOL,
    heights_along_normal,
    is_stoichiometric,
    octopolar_slab,
    oxidation_states,
    recentre,
    slab_dipole,
    STRUCTURE_FORMATS,
    InterfaceField,
    StructureField,
    JSONRecord,
    MillerIndex,
    atomic_planes,
    check_bulk,
    conventional_bulk,
    covalent_bonds,
    cut_slab,
    distinct_miller_indices,
    ouc_height,
    plane_formula,
    records_json,
    reduce_miller,
    selective_dynamics,
    surface_area,
    unit_normal,
    usable_shifts,
    write_structure,
)

CellModel = Literal["slab", "sandwich"]

#: Tolerance (Å) below which two in-plane registries or two termination cuts are the same.
SHIFT_TOL = 0.1


# --------------------------------------------------------------------------------------
# the record


class InterfaceCandidate(JSONRecord):
    """One lattice-matched interface, ready to be relaxed and scored."""

    candidate_id: str = Field(description="Stable hash of the defining parameters (resume key).")
    substrate_formula: str
    film_formula: str
    substrate_name: str | None = Field(
        None, description="Library name or file the substrate came from."
    )
    film_name: str | None = None
    substrate_miller: MillerIndex
    film_miller: MillerIndex
    substrate_termination: str = Field(
        description="pymatgen label (index_formula_spacegroup_n) of the substrate cut."
    )
    film_termination: str = Field(description="pymatgen label of the film cut.")
    substrate_plane: str = Field(description="Formula of the substrate plane at the interface.")
    film_plane: str = Field(description="Formula of the film plane at the interface.")
    cell_model: CellModel
    strain: list[list[float]] = Field(
        description="Green-Lagrange strain of the film (3x3, film frame)."
    )
    von_mises_strain: float = Field(
        description="von Mises equivalent of the film strain (pymatgen)."
    )
    max_linear_strain: float = Field(
        description="Largest |principal stretch - 1| in the plane (the max_strain limit)."
    )
    principal_strains: tuple[float, float] = Field(
        description="In-plane principal stretches - 1, ascending."
    )
    area: float = Field(description="Interface area (substrate supercell), Å².")
    n_atoms_substrate: int
    n_atoms_film: int
    n_atoms: int
    n_fixed: int = Field(description="Atoms frozen by selective_dynamics.")
    gap: float = Field(description="Lowest film atom minus topmost substrate atom, Å (measured).")
    vacuum: float = Field(description="Vacuum over the film (slab model), Å; 0 for the sandwich.")
    second_gap: float | None = Field(
        None, description="Sandwich: film top to substrate-image bottom, Å (measured)."
    )
    substrate_thickness: float = Field(
        description="Atom-to-atom thickness of the substrate, Å (measured)."
    )
    film_thickness: float = Field(description="Atom-to-atom thickness of the film, Å (measured).")
    substrate_slab_size: float = Field(
        description="min_slab_size (Å) given to pymatgen's SlabGenerator."
    )
    film_slab_size: float = Field(
        description="min_slab_size (Å) given to pymatgen's SlabGenerator."
    )
    substrate_repaired: bool = Field(
        False, description="Cut covalent units of the substrate moved whole."
    )
    film_repaired: bool = False
    substrate_polar: bool = Field(
        False, description="The substrate cut has a dipole normal to the surface (Tasker 3, built with allow_polar)."
    )
    film_polar: bool = Field(False, description="The same for the film cut.")
    substrate_reconstruction: str | None = Field(
        None, description="'tasker2' or 'octopolar' when the cut is a non-polar reconstruction."
    )
    film_reconstruction: str | None = None
    substrate_supercell: list[list[int]] = Field(
        description="2x2 integer supercell of the substrate slab."
    )
    film_supercell: list[list[int]] = Field(description="2x2 integer supercell of the film slab.")
    in_plane_shifts: list[tuple[float, float]] = Field(
        description="Registries to try (fractions of a, b)."
    )
    shift_kinds: list[str] = Field(
        description="'site' (adsorption-site pair) or 'grid' for each shift."
    )
    interface: InterfaceField = Field(description="pymatgen Interface at in_plane_offset (0, 0).")
    substrate_reference: StructureField | None = Field(
        None,
        description="Bulk repeat unit of the substrate in its interface supercell: a, b = the "
        "substrate's in-plane supercell vectors, c = a bulk lattice vector out of the plane "
        "(unstrained; see interphases.structures.interface_cells).",
    )
    film_reference: StructureField | None = Field(
        None, description="The same for the film, unstrained (a, b = the film supercell vectors)."
    )

    @property
    def miller_pair(self) -> str:
        """``"(1,1,0)|(1,0,0)"``: substrate | film."""
        return f"({','.join(map(str, self.substrate_miller))})|({','.join(map(str, self.film_miller))})"

    @property
    def terminations(self) -> str:
        """``"Li|LiF"``: the two planes that meet at the interface."""
        return f"{self.substrate_plane}|{self.film_plane}"

    def rank_key(self) -> tuple[float, float, int]:
        """Sort key: von Mises strain, then area, then atom count."""
        return (round(self.von_mises_strain, 6), round(self.area, 3), self.n_atoms)

    def interface_at(self, shift: Sequence[float]) -> Interface:
        """A copy of the interface with the film moved to the in-plane registry ``shift``."""
        iface = self.interface.copy()
        iface.in_plane_offset = np.asarray(shift, dtype=float)
        return iface


# --------------------------------------------------------------------------------------
# per-surface data: cuts, prepared slabs, symmetry


@dataclass
class _Cut:
    """One representative termination of one (phase, Miller index)."""

    shift: float
    label: str
    plane: str
    slab: Slab
    slab_size: float
    repaired: bool
    ops: np.ndarray  # (k, 3, 3) Cartesian rotations of the slab that keep its normal
    sites: np.ndarray  # (k, 2) adsorption sites of the top surface, fractions of the slab's a, b
    polar: bool = False  # dipole normal to the surface (formal charges): an as-cut Tasker-3 slab
    reconstruction: str | None = None  # 'tasker2' or 'octopolar' (see structures.slabs)

    @property
    def n_atoms(self) -> int:
        return len(self.slab)

    @property
    def area(self) -> float:
        return surface_area(self.slab)


@dataclass
class _Surface:
    """All representative cuts of one phase along one Miller index."""

    formula: str
    miller: MillerIndex
    vectors: np.ndarray  # in-plane lattice vectors given to ZSL (bulk Cartesian frame)
    cuts: list[_Cut] = field(default_factory=list)


def is_chiral(structure: Structure, symprec: float = 0.1) -> bool:
    """True when the space group has no improper operation (a Sohncke group: the crystal
    and its mirror image differ)."""
    rot, _ = _cartesian_rotations(structure, symprec)
    return bool(np.all(np.linalg.det(rot) > 0))


def _normal_preserving(rotations: np.ndarray, normal: np.ndarray, tol: float = 1e-3) -> np.ndarray:
    """The Cartesian rotations that map ``normal`` onto itself."""
    keep = [r for r in rotations if np.allclose(r @ normal, normal, atol=tol)]
    return np.array(keep) if keep else np.eye(3)[None]


def _cartesian_rotations(structure: Structure, symprec: float) -> tuple[np.ndarray, np.ndarray]:
    """(Cartesian rotations, fractional translations) of the space group of ``structure``."""
    try:
        data = SpacegroupAnalyzer(structure, symprec=symprec).get_symmetry_dataset()
    except SymmetryUndeterminedError:  # spglib gave up (distorted, repaired slab): identity only
        return np.eye(3)[None], np.zeros((1, 3))
    mat = structure.lattice.matrix.T
    rot = np.einsum(
        "ij,kjl,lm->kim", mat, np.asarray(data.rotations, dtype=float), np.linalg.inv(mat)
    )
    return rot, np.asarray(data.translations, dtype=float)


def _equivalent_shift_classes(
    ouc: Structure, shifts: Sequence[float], tol_frac: float, symprec: float
) -> list[int]:
    """Index of the representative of each shift: cuts related by a normal-preserving bulk operation.

    For such an operation (rotation R with R n = n, translation t) the fractional height
    along the OUC c axis changes by t_z only, so cut ``s`` maps on cut ``s + t_z``.
    """
    rot, trans = _cartesian_rotations(ouc, symprec)
    normal = unit_normal(ouc.lattice.matrix)
    keep = [i for i, r in enumerate(rot) if np.allclose(r @ normal, normal, atol=1e-3)]
    tz = np.mod(trans[keep, 2], 1.0)
    rep: list[int] = []
    for i, s in enumerate(shifts):
        found = i
        for j in range(i):
            if rep[j] != j:
                continue
            d = np.mod(s - shifts[j] - tz + 0.5, 1.0) - 0.5
            if np.any(np.abs(d) < tol_frac):
                found = j
                break
        rep.append(found)
    return rep


def _surface(
    bulk: Structure,
    miller: MillerIndex,
    thickness: float,
    ftol: float,
    bonds: dict[tuple[str, str], float],
    symprec: float,
    tol: float,
    allow_polar: bool = True,
) -> _Surface:
    """Representative cuts of ``bulk`` along ``miller``, cut at least ``thickness`` Å thick.

    A cut whose stoichiometric slab has a dipole normal to the surface (formal charges,
    Tasker 3) is replaced by its non-polar reconstructions (pymatgen's
    ``get_tasker2_slabs``, else the octopolar p(2x2) of the symmetrised slab, see
    :func:`interphases.structures.slabs.octopolar_slab`); the polar cut itself is kept
    only with ``allow_polar``.
    """
    # the settings of CoherentInterfaceBuilder (reorient_lattice=False keeps the bulk frame)
    gen = SlabGenerator(
        bulk,
        miller,
        min_slab_size=thickness,
        min_vacuum_size=3,
        in_unit_planes=False,
        center_slab=False,  # centred by cut_slab
        primitive=True,
        reorient_lattice=False,
    )
    all_shifts = gen.gen_possible_terminations(ftol=ftol)
    shifts, _, repair = usable_shifts(gen, bonds, ftol)
    reps = _equivalent_shift_classes(
        gen.oriented_unit_cell, shifts, SHIFT_TOL / ouc_height(gen), symprec
    )
    surface = _Surface(bulk.composition.reduced_formula, miller, np.zeros((2, 3)))
    charges = oxidation_states(bulk)

    def make_cut(slab: Slab, shift: float, label: str, size: float, **extra) -> _Cut:
        heights = slab.cart_coords @ unit_normal(slab.lattice.matrix)
        planes = atomic_planes(heights - heights.min())
        plane = plane_formula(slab, np.flatnonzero(planes == planes.max()))
        if extra.get("reconstruction"):
            label = f"{label}_{plane}"  # both planes of one cut can be reconstructed
        if extra.get("reconstruction") == "octopolar":
            plane += "-oct"
        rot, _ = _cartesian_rotations(slab, symprec)
        ops = _normal_preserving(rot, unit_normal(slab.lattice.matrix))
        return _Cut(shift, label, plane, slab, size, repair, ops, _top_sites(slab), **extra)

    polar_cuts = []
    for i, shift in enumerate(shifts):
        if reps[i] != i:
            continue
        slab, size = cut_slab(gen, shift, thickness, bonds=bonds, repair=repair, tol=tol)
        # the index CoherentInterfaceBuilder(label_index=True) gives this cut
        label = label_termination(slab, ftol, all_shifts.index(shift) + 1)
        polar = abs(slab_dipole(slab, charges)[0]) > DIPOLE_TOL
        if polar:
            polar_cuts.append((slab, shift, label, size))
            if not allow_polar:
                continue
        surface.cuts.append(make_cut(slab, shift, label, size, polar=polar))
    for slab, how, shift, label, size in _nonpolar_versions(gen, polar_cuts, charges, bulk, tol):
        surface.cuts.append(make_cut(slab, shift, f"{label}_{how}", size, reconstruction=how))
    # ZSL sees the in-plane vectors of the primitive slab, as in CoherentInterfaceBuilder
    # (of the p(2x2) reconstruction when only reconstructed cuts are left)
    if surface.cuts:
        plain = [c for c in surface.cuts if c.reconstruction is None] or surface.cuts
        surface.vectors = plain[0].slab.lattice.matrix[:2].copy()
    return surface


def _nonpolar_versions(
    gen: SlabGenerator, polar_cuts: list, charges: dict[str, float], bulk: Structure, tol: float
) -> list[tuple[Slab, str, float, str, float]]:
    """Stoichiometric, neutral, dipole-free versions of polar cuts: [(slab, how, shift, label, size)].

    pymatgen's ``get_tasker2_slabs`` first (half of the outer plane moved to the other
    side), else the octopolar p(2x2) of pymatgen's ``nonstoichiometric_symmetrized_slab``.
    Identical results of different cuts are kept once (StructureMatcher).
    """
    found: list[tuple[Slab, str, float, str, float]] = []
    for slab, shift, label, size in polar_cuts:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                versions = [(s, "tasker2") for s in slab.get_tasker2_slabs()]
            except Exception:  # pragma: no cover - pymatgen gives up on some cells
                versions = []
            versions = [
                v
                for v in versions
                if is_stoichiometric(v[0], bulk) and _dipole_free(v[0], charges)
            ]
            symmetrised: list[Slab] = []
            thick = heights_along_normal(slab)[1]
            # pymatgen symmetrises only slabs with more atoms than the bulk cell: cut thicker
            for extra in range(1, 5) if not versions else ():
                base = cut_slab(gen, shift, thick + extra * ouc_height(gen), tol=tol)[0]
                try:
                    symmetrised = [
                        s for s in gen.nonstoichiometric_symmetrized_slab(base) if s.is_symmetric()
                    ]
                except Exception:  # pragma: no cover
                    symmetrised = []
                if symmetrised:
                    break
            if not versions:
                octo = [octopolar_slab(s, charges) for s in symmetrised]
                versions = [(o, "octopolar") for o in octo if o is not None]
        for v, how in versions:
            found.append((recentre(v), how, shift, label, size))
    if len(found) > 1:
        matcher = StructureMatcher(ltol=tol, stol=tol, primitive_cell=False, scale=False)
        groups = matcher.group_structures([f[0] for f in found])
        found = [next(f for f in found if f[0] is g[0]) for g in groups]
    return found


def _dipole_free(slab: Structure, charges: dict[str, float]) -> bool:
    dipole, charge = slab_dipole(slab, charges)
    return abs(dipole) <= DIPOLE_TOL and abs(charge) <= CHARGE_TOL


# --------------------------------------------------------------------------------------
# matches


@dataclass
class _Match:
    match: ZSLMatch
    transform: np.ndarray  # 3x3 film -> substrate
    area: float  # substrate superlattice area, Å²
    stretches: np.ndarray  # in-plane principal stretches, ascending
    von_mises: float
    strain: np.ndarray

    @property
    def max_linear_strain(self) -> float:
        return float(np.max(np.abs(self.stretches - 1.0)))


def top_normal(lattice_matrix: np.ndarray) -> np.ndarray:
    """Unit normal of a slab cell pointing out of its top surface (towards +c)."""
    normal = unit_normal(lattice_matrix)
    return normal if np.dot(lattice_matrix[2], normal) > 0 else -normal


def _analyse(match: ZSLMatch, film_normal: np.ndarray, sub_normal: np.ndarray) -> _Match:
    """Strain and the canonical film-to-substrate map of a ZSL match.

    pymatgen's ``match_transformation`` maps ``a x b`` of the film superlattice onto that
    of the substrate superlattice, whose signs depend on how the superlattice vectors
    were reduced; only its in-plane part is used to build the interface. The canonical
    map keeps that in-plane part and sends the film's top normal onto the substrate's,
    so that symmetry-equivalent matches differ by surface operations only.
    """
    t_zsl = np.asarray(match.match_transformation, dtype=float)
    normal = film_normal
    in_plane = np.eye(3) - np.outer(normal, normal)
    t = t_zsl @ in_plane + np.outer(sub_normal, normal)
    # principal stretches in the film plane: eigenvalues of T^T T on the plane
    c = t.T @ t
    e1 = np.asarray(match.film_sl_vectors[0], dtype=float)
    e1 = e1 - normal * (e1 @ normal)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(normal, e1)
    basis = np.array([e1, e2])
    stretches = np.sqrt(np.linalg.eigvalsh(basis @ c @ basis.T))
    # Green-Lagrange strain and its von Mises equivalent, as CoherentInterfaceBuilder reports
    # them (pymatgen Deformation.green_lagrange_strain, Strain.von_mises_strain), in numpy
    strain = 0.5 * (t_zsl.T @ t_zsl - np.eye(3))
    dev = strain - np.trace(strain) / 3.0 * np.eye(3)
    return _Match(
        match=match,
        transform=t,
        area=float(vec_area(*np.asarray(match.substrate_sl_vectors, dtype=float))),
        stretches=stretches,
        von_mises=float(np.sqrt(np.sum(dev * dev) * 2.0 / 3.0)),
        strain=strain,
    )


def _lattice_rotations(vectors: np.ndarray, normal: np.ndarray) -> list[np.ndarray]:
    """Rotations about ``normal`` (3x3, not the identity) that map the 2D lattice ``vectors`` onto itself."""
    found = []
    for deg in (60, 90, 120, 180, 240, 270, 300):
        th = np.radians(deg)
        k = np.array([[0, -normal[2], normal[1]], [normal[2], 0, -normal[0]], [-normal[1], normal[0], 0]])
        rot = np.eye(3) + np.sin(th) * k + (1 - np.cos(th)) * (k @ k)  # Rodrigues
        t2 = get_2d_transform(vectors, vectors @ rot.T)
        if np.allclose(t2, np.round(t2), atol=1e-6) and abs(abs(np.linalg.det(t2)) - 1) < 1e-6:
            found.append(rot)
    return found


def _rotated_variants(
    matches: Sequence[_Match], film_vectors: np.ndarray, film_normal: np.ndarray, sub_normal: np.ndarray
) -> list[_Match]:
    """Each match and its copies with the film turned by a rotation of its in-plane lattice.

    The film superlattice turned by a lattice rotation R (e.g. 180° about [111] of an fcc
    film) is a superlattice of the same shape, so the turned match has the same strain
    and area; but when R is not a symmetry of the film slab it is another interface.
    For fcc(111) | fcc(111) the two are the twin and the untwinned (ABC|ABC) continuation:
    ZSL returns only one of them in the smallest cell, so without the turned copy the fcc
    stacking appears only in a larger supercell. :func:`_distinct_matches` then drops the
    copies that the slab symmetries make equivalent.
    """
    rotations = _lattice_rotations(np.asarray(film_vectors, dtype=float), film_normal)
    out = list(matches)
    for m in matches:
        for rot in rotations:
            sl = np.asarray(m.match.film_sl_vectors, dtype=float) @ rot.T
            t2 = get_2d_transform(np.asarray(m.match.film_vectors, dtype=float), sl)
            turned = ZSLMatch(
                film_sl_vectors=sl,
                substrate_sl_vectors=m.match.substrate_sl_vectors,
                film_vectors=m.match.film_vectors,
                substrate_vectors=m.match.substrate_vectors,
                film_transformation=np.round(t2).astype(int),
                substrate_transformation=m.match.substrate_transformation,
            )
            out.append(_analyse(turned, film_normal, sub_normal))
    return out


def _distinct_matches(
    matches: Sequence[_Match], sub_ops: np.ndarray, film_ops: np.ndarray, tol: float = 1e-4
) -> list[_Match]:
    """Keep one match per class ``{R_s T R_f}``; ``matches`` sorted by area, smallest first."""
    kept: list[_Match] = []
    orbits: list[np.ndarray] = []
    for m in matches:
        if any(np.any(np.abs(orb - m.transform).max(axis=(1, 2)) < tol) for orb in orbits):
            continue
        kept.append(m)
        orbits.append(
            np.einsum("aij,jk,bkl->abil", sub_ops, m.transform, film_ops).reshape(-1, 3, 3)
        )
    return kept


def _supercell(slab: Slab, sl_vectors: np.ndarray) -> np.ndarray | None:
    """Integer 3x3 supercell matrix that turns ``slab``'s a, b into ``sl_vectors`` (None if not integral)."""
    t2 = get_2d_transform(slab.lattice.matrix[:2], sl_vectors)
    if not np.allclose(t2, np.round(t2), atol=1e-6):
        return None
    return np.round(from_2d_to_3d(t2)).astype(int)


# --------------------------------------------------------------------------------------
# registries


def _inplane_translations(structure: Structure, tol: float) -> np.ndarray:
    """In-plane lattice translations (fractions of a, b) that map ``structure`` onto itself."""
    frac = structure.frac_coords
    species = np.array([site.species_string for site in structure])
    lat2 = structure.lattice.matrix[:2, :2]  # c is along z for an Interface
    z = structure.cart_coords[:, 2]
    counts = {sp: int(np.sum(species == sp)) for sp in set(species)}
    ref_sp = min(counts, key=lambda sp: (counts[sp], sp))
    ref = int(np.flatnonzero(species == ref_sp)[0])
    cand = [i for i in np.flatnonzero(species == ref_sp) if abs(z[i] - z[ref]) < tol]
    found = []
    for i in cand:
        t = np.mod(frac[i, :2] - frac[ref, :2], 1.0)
        ok = True
        for sp in counts:
            idx = np.flatnonzero(species == sp)
            moved = frac[idx, :2] + t
            d = moved[:, None, :] - frac[idx][None, :, :2]
            d -= np.round(d)
            dist2 = np.sum((d @ lat2) ** 2, axis=2) + (z[idx][:, None] - z[idx][None, :]) ** 2
            if np.any(dist2.min(axis=1) > tol**2):
                ok = False
                break
        if ok:
            found.append(t)
    return np.array(found) if found else np.zeros((1, 2))


def _shift_group(tf: np.ndarray, ts: np.ndarray, lat2: np.ndarray) -> np.ndarray:
    """All shifts equivalent to zero: sums of in-plane translations of the film and the substrate."""
    group = np.mod(np.round(np.mod(tf[:, None, :] + ts[None, :, :], 1.0), 6), 1.0).reshape(-1, 2)
    return np.unique(group, axis=0)


_IMAGES = np.array(list(product((-1, 0, 1), repeat=2)), dtype=float)


def _min_dists(a: np.ndarray, b: np.ndarray, lat2: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) in-plane minimum-image distances (Å) between fractional shifts."""
    d = np.asarray(a)[:, None, :] - np.asarray(b)[None, :, :]
    d -= np.round(d)
    d = d[None, ...] + _IMAGES[:, None, None, :]  # neighbouring cells, for oblique cells
    return np.linalg.norm(d @ lat2, axis=-1).min(axis=0)


def _add_if_new(
    shift: np.ndarray, kept: list[np.ndarray], group: np.ndarray, lat2: np.ndarray, tol: float
) -> bool:
    """Append ``shift`` (mod 1) to ``kept`` unless it is within ``tol`` Å of a kept shift modulo ``group``."""
    if kept and _min_dists(np.mod(shift[None, :] + group, 1.0), np.array(kept), lat2).min() < tol:
        return False
    kept.append(np.mod(shift, 1.0))
    return True


def _cell_basis(group: np.ndarray, lat2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shortest basis (fractions of the cell) of the lattice spanned by ``group`` and the cell vectors."""
    cands = np.array([g + (i, j) for g in group for i, j in product((-1, 0, 1), repeat=2)])
    lengths = np.linalg.norm(cands @ lat2, axis=1)
    cands, lengths = cands[lengths > 1e-8], lengths[lengths > 1e-8]
    cands = cands[np.argsort(lengths, kind="stable")]
    cell_det = 1.0 / len(group)
    v1 = cands[0]
    v2 = next(c for c in cands if abs(abs(v1[0] * c[1] - v1[1] * c[0]) - cell_det) < 1e-6)
    return v1, v2


def _primitive_part(part: Structure, translations: np.ndarray) -> Structure:
    """The smallest in-plane cell of one side of an interface (same Cartesian frame).

    pymatgen's adsorption-site finder is quadratic in the number of atoms; on the
    primitive cell it takes milliseconds, and its sites repeat with the side's own
    translations anyway.
    """
    matrix = part.lattice.matrix
    v1, v2 = _cell_basis(translations, matrix[:2, :2])
    small = Structure(
        np.array([v1 @ matrix[:2], v2 @ matrix[:2], matrix[2]]),
        part.species,
        part.cart_coords,
        coords_are_cartesian=True,
        to_unit_cell=True,
    )
    small.merge_sites(tol=0.05, mode="delete")
    return small


def _site_shifts(
    iface: Interface, sub_translations: np.ndarray, film_translations: np.ndarray
) -> list[np.ndarray]:
    """Film-site-onto-substrate-site shifts from pymatgen's adsorption-site finder.

    The substrate's sites are on its top surface; the film (flipped by
    ``Interface.from_slabs``) faces the substrate with its lowest atoms, hence
    ``mi_vec = -z`` for the film. Sites are found on each side's primitive in-plane
    cell and expressed as fractions of the interface cell.
    """
    sub = _primitive_part(iface.substrate, sub_translations)
    film = _primitive_part(iface.film, film_translations)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sub_sites = AdsorbateSiteFinder(sub, mi_vec=[0.0, 0.0, 1.0]).find_adsorption_sites(
            distance=0.0
        )
        film_sites = AdsorbateSiteFinder(film, mi_vec=[0.0, 0.0, -1.0]).find_adsorption_sites(
            distance=0.0
        )
    inv = iface.lattice.inv_matrix
    s_frac = np.dot(list(chain.from_iterable(v for k, v in sub_sites.items() if k != "all")), inv)[
        :, :2
    ]
    f_frac = np.dot(list(chain.from_iterable(v for k, v in film_sites.items() if k != "all")), inv)[
        :, :2
    ]
    return [np.mod(s - f, 1.0) for s, f in product(s_frac, f_frac)]


def _grid_shifts(group: np.ndarray, lat2: np.ndarray, grid: tuple[int, int]) -> list[np.ndarray]:
    """A regular grid over the smallest cell of inequivalent shifts (the cell divided by ``group``)."""
    n, m = grid
    if n < 1 or m < 1:
        raise InvalidStructureError(f"registry_grid needs two positive integers, got {grid}")
    v1, v2 = _cell_basis(group, lat2)
    return [np.mod(i / n * v1 + j / m * v2, 1.0) for i in range(n) for j in range(m)]


def _top_sites(slab: Slab) -> np.ndarray:
    """On-top, bridge and hollow sites of the top surface (pymatgen), as fractions of a, b.

    Found on the slab with c made normal to the surface, the form
    ``Interface.from_slabs`` gives both slabs, so the fractions carry over to the
    interface through the supercell matrix.
    """
    orth = slab.get_orthogonal_c_slab()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        finder = AdsorbateSiteFinder(orth, mi_vec=list(top_normal(orth.lattice.matrix)))
        try:
            sites = finder.find_adsorption_sites(distance=0.0)
        except SymmetryUndeterminedError:  # spglib gave up: keep symmetry-equivalent sites too
            sites = finder.find_adsorption_sites(distance=0.0, symm_reduce=0)
    cart = list(chain.from_iterable(v for k, v in sites.items() if k != "all"))
    return np.mod(orth.lattice.get_fractional_coords(cart)[:, :2], 1.0)


def _translation_group(supercell: np.ndarray) -> np.ndarray:
    """Lattice translations of a slab inside its 2x2 ``supercell``, as fractions of the supercell."""
    inv = np.linalg.inv(np.asarray(supercell, dtype=float))
    n = round(abs(np.linalg.det(supercell)))
    pts = np.mod(np.array([(i, j) for i in range(n) for j in range(n)], dtype=float) @ inv, 1.0)
    pts = np.mod(np.round(pts, 8), 1.0)
    return np.unique(pts, axis=0)


def _candidate_registries(
    sub: _Cut,
    film: _Cut,
    sub_supercell: np.ndarray,
    film_supercell: np.ndarray,
    lat2: np.ndarray,
    grid: tuple[int, int] | None,
    tol: float,
) -> tuple[list[tuple[float, float]], list[str]]:
    """:func:`registry_shifts` from the sites of the two primitive slabs (no structure scan)."""
    ts = _translation_group(sub_supercell)
    tf = _translation_group(film_supercell)
    group = _shift_group(tf, ts, lat2)
    s = np.mod(sub.sites @ np.linalg.inv(sub_supercell), 1.0)
    f = np.mod(film.sites @ np.linalg.inv(film_supercell), 1.0)
    kept: list[np.ndarray] = []
    kinds: list[str] = []
    for shift in [np.zeros(2), *np.mod(s[:, None, :] - f[None, :, :], 1.0).reshape(-1, 2)]:
        if _add_if_new(shift, kept, group, lat2, tol):
            kinds.append("site")
    if grid is not None:
        for shift in _grid_shifts(group, lat2, grid):
            if _add_if_new(shift, kept, group, lat2, tol):
                kinds.append("grid")
    return [(round(float(x[0]), 6), round(float(x[1]), 6)) for x in kept], kinds


def registry_shifts(
    iface: Interface, *, grid: tuple[int, int] | None = None, tol: float = SHIFT_TOL
) -> tuple[list[tuple[float, float]], list[str]]:
    """In-plane registries to try for ``iface`` and their kinds ('site' or 'grid').

    See the module docstring; shifts are fractions of the interface a and b (pymatgen's
    ``in_plane_offset``), (0, 0) first.
    """
    lat2 = iface.lattice.matrix[:2, :2]
    tf = _inplane_translations(iface.film, tol)
    ts = _inplane_translations(iface.substrate, tol)
    group = _shift_group(tf, ts, lat2)
    kept: list[np.ndarray] = []
    kinds: list[str] = []
    for shift in [np.zeros(2), *_site_shifts(iface, ts, tf)]:
        if _add_if_new(shift, kept, group, lat2, tol):
            kinds.append("site")
    if grid is not None:
        for shift in _grid_shifts(group, lat2, grid):
            if _add_if_new(shift, kept, group, lat2, tol):
                kinds.append("grid")
    return [(round(float(s[0]), 6), round(float(s[1]), 6)) for s in kept], kinds


# --------------------------------------------------------------------------------------
# building and measuring


def _build(
    sub: _Cut, film: _Cut, m: _Match, gap: float, vacuum_over_film: float, cache: dict
) -> tuple[Interface, list, list] | None:
    """The body of ``CoherentInterfaceBuilder.get_interfaces`` for one match, on prepared slabs.

    ``cache`` keeps the supercell slabs (``Interface.from_slabs`` does not modify them),
    which many candidates share.
    """
    sub_tf = _supercell(sub.slab, np.asarray(m.match.substrate_sl_vectors))
    film_tf = _supercell(film.slab, np.asarray(m.match.film_sl_vectors))
    if sub_tf is None or film_tf is None:
        warnings.warn(
            "a ZSL superlattice is not a supercell of the cut slab; match skipped", stacklevel=3
        )
        return None
    if np.linalg.det(sub_tf) < 0:
        # a left-handed substrate supercell makes Interface.from_slabs flip its c axis, which
        # mirrors the substrate: swap a and b of both supercells (the same coincidence lattice)
        sub_tf[[0, 1]] = sub_tf[[1, 0]]
        film_tf[[0, 1]] = film_tf[[1, 0]]
    slabs = []
    for cut, tf in ((film, film_tf), (sub, sub_tf)):
        key = (id(cut), tf.tobytes())
        if key not in cache:
            sl = cut.slab.copy()
            sl.make_supercell(tf)
            cache[key] = sl
        slabs.append(cache[key])
    film_sl, sub_sl = slabs
    props = {k: v for k, v in m.match.as_dict().items() if not k.startswith("@")}
    props = json.loads(json.dumps(props, default=lambda x: np.asarray(x).tolist()))
    props.update(
        strain=m.strain.tolist(),
        von_mises_strain=m.von_mises,
        termination=[film.label, sub.label],
        film_thickness=film.slab_size,
        substrate_thickness=sub.slab_size,
    )
    iface = Interface.from_slabs(
        substrate_slab=sub_sl,
        film_slab=film_sl,
        gap=gap,
        vacuum_over_film=vacuum_over_film,
        interface_properties=props,
    )
    return iface, sub_tf[:2, :2].tolist(), film_tf[:2, :2].tolist()


def _reference_cell(bulk: Structure, cut: _Cut, tf: list, cache: dict) -> Structure:
    """Bulk repeat unit with the in-plane supercell vectors of one side (bulk frame: the
    cut slabs keep the bulk's Cartesian frame, ``reorient_lattice=False``)."""
    from interphases.structures.interface_cells import oriented_bulk_cell

    key = (id(cut), np.asarray(tf).tobytes())
    if key not in cache:
        inplane = np.asarray(tf, dtype=float) @ cut.slab.lattice.matrix[:2]
        cache[key] = oriented_bulk_cell(bulk, inplane)
    return cache[key]


def measure_interface(iface: Interface) -> dict[str, float]:
    """Gap, second gap (periodic image), thicknesses (Å) along z of a built Interface.

    Heights are taken from the lowest substrate atom, unwrapped through the periodic
    boundary, so no assumption on where pymatgen placed the atoms.
    """
    c = float(iface.lattice.matrix[2, 2])
    z = np.mod(iface.cart_coords[:, 2], c)
    labels = np.array(iface.site_properties["interface_label"])
    zs, zf = z[labels == "substrate"], z[labels == "film"]
    order = np.sort(zs)
    gaps = np.diff(np.append(order, order[0] + c))
    bottom = order[(int(np.argmax(gaps)) + 1) % len(order)]
    hs, hf = np.mod(zs - bottom, c), np.mod(zf - bottom, c)
    return {
        "substrate_thickness": float(hs.max()),
        "film_thickness": float(hf.max() - hf.min()),
        "gap": float(hf.min() - hs.max()),
        "second_gap": float(c - hf.max()),
    }


def fix_substrate(
    iface: Interface, cell_model: CellModel, fixed_thickness: float | None, fixed_fraction: float
) -> int:
    """Set ``selective_dynamics`` of ``iface`` for ``cell_model`` (see the module docstring);
    returns the number of frozen atoms."""
    labels = np.array(iface.site_properties["interface_label"])
    is_sub = labels == "substrate"
    c = float(iface.lattice.matrix[2, 2])
    z = np.mod(iface.cart_coords[:, 2], c)
    zs = z[is_sub]
    order = np.sort(zs)
    gaps = np.diff(np.append(order, order[0] + c))
    bottom = order[(int(np.argmax(gaps)) + 1) % len(order)]
    h = np.mod(zs - bottom, c)
    thickness = float(h.max())
    limit = fixed_thickness if fixed_thickness is not None else fixed_fraction * thickness
    fixed_sub = np.zeros(len(h), dtype=bool)
    if limit > 0:
        planes = atomic_planes(h)
        for p in np.unique(planes):
            mean = h[planes == p].mean()
            inside = (
                mean < limit - 1e-6
                if cell_model == "slab"
                else abs(mean - 0.5 * thickness) < 0.5 * limit - 1e-6
            )
            fixed_sub[planes == p] = inside
    fixed = np.zeros(len(iface), dtype=bool)
    fixed[np.flatnonzero(is_sub)] = fixed_sub
    iface.add_site_property("selective_dynamics", selective_dynamics(fixed))
    return int(fixed.sum())


def _fingerprint(structure: Structure) -> str:
    lat = structure.lattice
    return json.dumps(
        [
            structure.composition.formula,
            [round(x, 3) for x in (*lat.abc, *lat.angles)],
        ]
    )


def candidate_id(parameters: dict) -> str:
    """12-hex-digit SHA-1 of the defining parameters (JSON with sorted keys)."""
    return hashlib.sha1(json.dumps(parameters, sort_keys=True).encode()).hexdigest()[:12]


# --------------------------------------------------------------------------------------
# the enumeration


def enumerate_candidates(
    substrate: Structure,
    film: Structure,
    *,
    max_index: int = 1,
    substrate_millers: Sequence[Sequence[int]] | None = None,
    film_millers: Sequence[Sequence[int]] | None = None,
    max_area: float = 150.0,
    max_strain: float = 0.05,
    max_atoms: int | None = 500,
    substrate_thickness: float = 10.0,
    film_thickness: float = 10.0,
    gap: float = 2.0,
    vacuum: float = 15.0,
    cell_model: CellModel = "slab",
    registry_grid: tuple[int, int] | None = None,
    fixed_thickness: float | None = None,
    fixed_fraction: float = 0.5,
    termination_ftol: float = 0.25,
    max_area_ratio_tol: float = 0.09,
    keep_covalent_units: bool = True,
    substrate_name: str | None = None,
    film_name: str | None = None,
    shift_tol: float = SHIFT_TOL,
    symprec: float = 0.1,
    progress: Callable[[int, int, str], None] | None = None,
    allow_polar: bool = False,
) -> list[InterfaceCandidate]:
    """All distinct lattice-matched interfaces of ``film`` on ``substrate``, ranked.

    Args:
        substrate: bulk phase that keeps its lattice (usually the electrode, e.g. Li).
        film: bulk phase strained onto it (SEI phase or electrolyte, e.g. LiF).
        max_index: largest Miller index of both sides when the lists are not given.
        substrate_millers, film_millers: explicit Miller indices (conventional cells).
        max_area: largest interface area, Å².
        max_strain: largest in-plane principal strain of the film (0.05 = 5 %).
        max_atoms: largest number of atoms in the cell (None: no limit).
        substrate_thickness, film_thickness: smallest atom-to-atom thickness, Å.
        gap: distance between the topmost substrate and lowest film atom, Å.
        vacuum: vacuum over the film in the slab model, Å (ignored for the sandwich).
        cell_model: ``"slab"`` (with vacuum) or ``"sandwich"`` (two interfaces, no vacuum).
        registry_grid: ``(n, m)`` adds an n x m grid of in-plane shifts.
        fixed_thickness, fixed_fraction: frozen substrate region (see the module docstring).
        termination_ftol: plane clustering tolerance of the terminations, Å (pymatgen).
        max_area_ratio_tol: ZSL tolerance on the area ratio of the two supercells.
        keep_covalent_units: never cut covalent units (see :mod:`interphases.structures.slabs`).
        substrate_name, film_name: names recorded in the candidates (library name, file).
        shift_tol: registries closer than this (Å) are the same.
        symprec: symmetry tolerance (Å) for the equivalences.
        progress: called as ``progress(done, total, description)`` after each Miller pair.
        allow_polar: also build interfaces on polar (Tasker-3, dipolar) cuts; without it
            such cuts are replaced by their non-polar reconstructions (tasker2, octopolar;
            see :mod:`interphases.structures.slabs`), and a facet without one is skipped.

    Returns:
        Candidates sorted by von Mises strain, then area, then number of atoms.
    """
    check_bulk(substrate, "substrate")
    check_bulk(film, "film")
    if cell_model not in ("slab", "sandwich"):
        raise InvalidStructureError(f"cell_model must be 'slab' or 'sandwich', got {cell_model!r}")
    for name, value in (
        ("max_area", max_area),
        ("substrate_thickness", substrate_thickness),
        ("film_thickness", film_thickness),
    ):
        if value <= 0:
            raise InvalidStructureError(f"{name} must be > 0, got {value}")
    if not 0 < max_strain < 1:
        raise InvalidStructureError(f"max_strain is a fraction (0.05 = 5 %), got {max_strain}")
    if gap < 0 or vacuum < 0:
        raise InvalidStructureError(f"gap and vacuum must be >= 0 Å, got {gap}, {vacuum}")
    if not 0.0 <= fixed_fraction <= 1.0:
        raise InvalidStructureError(f"fixed_fraction must lie in [0, 1], got {fixed_fraction}")

    substrate = conventional_bulk(substrate)
    film = conventional_bulk(film)
    sub_millers = (
        distinct_miller_indices(substrate, max_index)
        if substrate_millers is None
        else list(dict.fromkeys(reduce_miller(m) for m in substrate_millers))
    )
    film_millers_ = (
        distinct_miller_indices(film, max_index)
        if film_millers is None
        else list(dict.fromkeys(reduce_miller(m) for m in film_millers))
    )
    sub_bonds = covalent_bonds(substrate) if keep_covalent_units else {}
    film_bonds = covalent_bonds(film) if keep_covalent_units else {}
    zsl = ZSLGenerator(
        max_area_ratio_tol=max_area_ratio_tol,
        max_area=max_area,
        max_length_tol=max_strain,
        max_angle_tol=max_strain,
        bidirectional=True,
    )
    sub_surfaces = {
        m: _surface(
            substrate, m, substrate_thickness, termination_ftol, sub_bonds, symprec, 0.1, allow_polar
        )
        for m in sub_millers
    }
    film_surfaces = {
        m: _surface(film, m, film_thickness, termination_ftol, film_bonds, symprec, 0.1, allow_polar)
        for m in film_millers_
    }
    vacuum_over_film = gap if cell_model == "sandwich" else vacuum
    defining = {
        "substrate": _fingerprint(substrate),
        "film": _fingerprint(film),
        "substrate_thickness": substrate_thickness,
        "film_thickness": film_thickness,
        "gap": gap,
        "vacuum": vacuum_over_film,
        "cell_model": cell_model,
    }

    film_chiral = is_chiral(film, symprec)
    candidates: list[InterfaceCandidate] = []
    supercells: dict = {}
    references: dict = {}
    pairs = list(product(sub_millers, film_millers_))
    for done, (sm, fm) in enumerate(pairs, start=1):
        sub_s, film_s = sub_surfaces[sm], film_surfaces[fm]
        if not sub_s.cuts or not film_s.cuts:  # only polar cuts, no reconstruction: skipped
            if progress is not None:
                progress(done, len(pairs), f"{sub_s.formula}{sm} | {film_s.formula}{fm} (polar, skipped)")
            continue
        film_n = top_normal(film_s.cuts[0].slab.lattice.matrix)
        sub_n = top_normal(sub_s.cuts[0].slab.lattice.matrix)
        matches = _rotated_variants(
            [_analyse(m, film_n, sub_n) for m in zsl(film_s.vectors, sub_s.vectors, lowest=False)],
            film_s.vectors,
            film_n,
            sub_n,
        )
        matches = [
            m
            for m in matches
            if m.area <= max_area + 1e-6 and m.max_linear_strain <= max_strain + 1e-9
        ]
        if film_chiral:
            # Interface.from_slabs turns the film over with a mirror; that placement is a
            # proper rotation only when the canonical map reverses orientation (det T < 0)
            matches = [m for m in matches if np.linalg.det(m.transform) < 0]
        matches.sort(key=lambda m: (round(m.area, 6), m.von_mises))
        for sub_cut, film_cut in product(sub_s.cuts, film_s.cuts):
            for m in _distinct_matches(matches, sub_cut.ops, film_cut.ops):
                n_sub = round(sub_cut.n_atoms * m.area / sub_cut.area)
                n_film = round(
                    film_cut.n_atoms
                    * vec_area(*np.asarray(m.match.film_sl_vectors))
                    / film_cut.area
                )
                if max_atoms is not None and n_sub + n_film > max_atoms:
                    continue
                if (
                    film_cut.reconstruction or sub_cut.reconstruction
                ) and (  # a p(2x2) cut fits only the matches whose superlattice contains it
                    _supercell(film_cut.slab, np.asarray(m.match.film_sl_vectors)) is None
                    or _supercell(sub_cut.slab, np.asarray(m.match.substrate_sl_vectors)) is None
                ):
                    continue
                built = _build(sub_cut, film_cut, m, gap, vacuum_over_film, supercells)
                if built is None:
                    continue
                iface, sub_tf, film_tf = built
                sub_ref = _reference_cell(substrate, sub_cut, sub_tf, references)
                film_ref = _reference_cell(film, film_cut, film_tf, references)
                n_fixed = fix_substrate(iface, cell_model, fixed_thickness, fixed_fraction)
                measured = measure_interface(iface)
                shifts, kinds = _candidate_registries(
                    sub_cut,
                    film_cut,
                    np.array(sub_tf),
                    np.array(film_tf),
                    iface.lattice.matrix[:2, :2],
                    registry_grid,
                    shift_tol,
                )
                cid = candidate_id(
                    {
                        **defining,
                        "substrate_miller": sm,
                        "film_miller": fm,
                        "terminations": [sub_cut.label, film_cut.label],
                        "substrate_supercell": sub_tf,
                        "film_supercell": film_tf,
                    }
                )
                candidates.append(
                    InterfaceCandidate(
                        candidate_id=cid,
                        substrate_formula=substrate.composition.reduced_formula,
                        film_formula=film.composition.reduced_formula,
                        substrate_name=substrate_name,
                        film_name=film_name,
                        substrate_miller=sm,
                        film_miller=fm,
                        substrate_termination=sub_cut.label,
                        film_termination=film_cut.label,
                        substrate_plane=sub_cut.plane,
                        film_plane=film_cut.plane,
                        cell_model=cell_model,
                        strain=m.strain.tolist(),
                        von_mises_strain=m.von_mises,
                        max_linear_strain=m.max_linear_strain,
                        principal_strains=tuple(float(x) for x in m.stretches - 1.0),
                        area=float(iface.lattice.volume / iface.lattice.c),
                        n_atoms_substrate=len(iface.substrate_indices),
                        n_atoms_film=len(iface.film_indices),
                        n_atoms=len(iface),
                        n_fixed=n_fixed,
                        gap=measured["gap"],
                        vacuum=0.0 if cell_model == "sandwich" else measured["second_gap"],
                        second_gap=measured["second_gap"] if cell_model == "sandwich" else None,
                        substrate_thickness=measured["substrate_thickness"],
                        film_thickness=measured["film_thickness"],
                        substrate_slab_size=sub_cut.slab_size,
                        film_slab_size=film_cut.slab_size,
                        substrate_repaired=sub_cut.repaired,
                        film_repaired=film_cut.repaired,
                        substrate_polar=sub_cut.polar,
                        film_polar=film_cut.polar,
                        substrate_reconstruction=sub_cut.reconstruction,
                        film_reconstruction=film_cut.reconstruction,
                        substrate_supercell=sub_tf,
                        film_supercell=film_tf,
                        in_plane_shifts=shifts,
                        shift_kinds=kinds,
                        interface=iface,
                        substrate_reference=sub_ref,
                        film_reference=film_ref,
                    )
                )
        if progress is not None:
            progress(done, len(pairs), f"{sub_s.formula}{sm} | {film_s.formula}{fm}")

    candidates = _drop_structural_duplicates(candidates)
    candidates.sort(key=InterfaceCandidate.rank_key)
    return candidates


def _drop_structural_duplicates(candidates: list[InterfaceCandidate]) -> list[InterfaceCandidate]:
    """Last check: StructureMatcher within groups of equal Miller pair, planes, atoms, area and strain."""
    matcher = StructureMatcher(
        ltol=0.01, stol=0.05, angle_tol=0.5, primitive_cell=False, scale=False
    )
    groups: dict[tuple, list[InterfaceCandidate]] = {}
    for cand in candidates:
        key = (
            cand.substrate_miller,
            cand.film_miller,
            cand.terminations,
            cand.n_atoms,
            round(cand.area, 2),
            tuple(round(x, 4) for x in cand.principal_strains),
            cand.interface.composition.formula,
        )
        groups.setdefault(key, []).append(cand)
    kept: list[InterfaceCandidate] = []
    for group in groups.values():
        unique: list[InterfaceCandidate] = []
        for cand in group:
            # skip_structure_reduction: pymatgen's cached reduction compares whole structures (slow)
            if not any(
                matcher.fit(u.interface, cand.interface, skip_structure_reduction=True)
                for u in unique
            ):
                unique.append(cand)
        kept.extend(unique)
    return kept


# --------------------------------------------------------------------------------------
# files


def write_candidates(
    candidates: Sequence[InterfaceCandidate], folder: str | Path, fmt: str = "poscar"
) -> list[Path]:
    """One structure file per candidate (``<rank>_<id>.<ext>``) plus ``candidates.json``.

    ``candidates.json`` holds the records in rank order; :func:`load_candidates` reads it back.
    """
    if fmt not in STRUCTURE_FORMATS:
        raise InvalidStructureError(
            f"unknown structure format {fmt!r}; use one of {', '.join(STRUCTURE_FORMATS)}"
        )
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for rank, cand in enumerate(candidates, start=1):
        path = folder / f"{rank:03d}_{cand.candidate_id}.{STRUCTURE_FORMATS[fmt]}"
        write_structure(cand.interface, path, fmt)
        paths.append(path)
    (folder / "candidates.json").write_text(records_json(candidates))
    return paths


def load_candidates(path: str | Path) -> list[InterfaceCandidate]:
    """InterfaceCandidates from a ``candidates.json`` written by :func:`write_candidates`."""
    path = Path(path)
    if path.is_dir():
        path = path / "candidates.json"
    return [InterfaceCandidate.model_validate(item) for item in json.loads(path.read_text())]
