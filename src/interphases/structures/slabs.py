"""Slabs of a bulk phase: every symmetrically distinct Miller index, every termination.

pymatgen does the crystallography: :func:`get_symmetrically_distinct_miller_indices`,
:class:`SlabGenerator` (oriented unit cell, termination shifts, slab cutting, primitive
reduction, repair of cut polyhedra, non-stoichiometric symmetrisation) and
:class:`StructureMatcher` (identical slabs). This module adds what none of them does:

- **Thickness and vacuum in Å, measured on the built cell.** ``SlabGenerator`` stacks
  whole oriented unit cells (OUCs) of projected height *h* until ``n*h >= min_slab_size``;
  the atom-to-atom thickness is then ``(n-1)*h + e`` (*e*: extent of the atoms of one
  OUC cut at the termination), which can be below the request, and the vacuum comes in
  multiples of *h*. Here *n* is chosen so that the measured thickness (topmost minus
  lowest atom along the surface normal) is at least ``min_thickness``, the c vector is
  made normal to the surface, and its length is set so that the vacuum (lowest atom of
  the periodic image minus topmost atom) is exactly ``vacuum``.
- **Covalent units are kept whole.** Bonds between two non-metal atoms shorter than
  1.25 x the sum of covalent radii (P-S in PS4, P-O, C-O, S-O, O-H, ...) are found in
  the bulk. Cuts that break none are used when they exist; otherwise the cuts that break
  the fewest are repaired with pymatgen's ``SlabGenerator.repair_broken_bonds`` (the
  cut units are moved whole to the other surface), as ``get_slabs(bonds=..., repair=True)``
  does with bonds given by hand.
- **Tasker type and polarity** (P. W. Tasker, J. Phys. C 12, 4977 (1979)) from formal
  oxidation states (pymatgen's guess when the bulk is not decorated). The atoms of one
  OUC are grouped in planes parallel to the surface:

  * type 1: every plane is neutral (rock-salt (100));
  * type 2: charged planes, but the stoichiometric slab of this cut has no dipole normal
    to the surface (fluorite (111) cut between two F planes: F-Ca-F trilayers);
  * type 3: the stoichiometric slab of this cut has a dipole normal to the surface,
    ``mu = sum_i q_i (z_i - z_mean) / A`` above :data:`DIPOLE_TOL` (rock-salt (111):
    alternating Li+ and F- planes; every cut is polar).

  ``tasker_type`` is ``None`` when no atom carries a formal charge (metals). The built
  slab is described by three separate numbers: ``dipole_per_area`` (normal to the
  surface, as pymatgen's :meth:`Slab.dipole`), ``net_charge`` and ``stoichiometric``.
  ``polar`` is True when the slab has a dipole *or* a net charge: an as-cut type-3 slab
  has the dipole, its non-stoichiometric symmetrisation (e.g. LiF(111) F|F) has none but
  carries ±1 e per cell; both are electrostatically unsound and their γ is not comparable.
- **Non-polar terminations of type-3 cuts** (``reconstruction``): pymatgen's
  ``get_tasker2_slabs`` (half of the outer plane moved to the other surface, e.g.
  antifluorite Li2O(100), or the trilayer cut of fluorite/antifluorite (111) that is type 2
  already), and for rock-salt (111) (alternating single-ion planes) the p(2x2)
  octopolar reconstruction (Wolf, Phys. Rev. Lett. 68, 3315 (1992)): 1/4 of the outer
  plane and 3/4 of the next kept on both surfaces; stoichiometric, neutral, no dipole.
  Polar slabs (dipolar or charged) are returned only with ``allow_polar=True``.
- **Mobile-ion redistribution** (``reconstruction`` "Li redistributed (Canepa-style)",
  :func:`stoichiometric_terminations`; Canepa et al., Chem. Mater. 30, 3019 (2018)): when
  no slab of a Miller index is stoichiometric and non-polar (LLZO garnet: every plain
  (001) cut is charged by ±4 to ±28 e), half of a framework cation plane goes to each
  surface and the mobile ions (Li) near it are shared between the two surfaces so that
  the dipole vanishes; the arrangement of lowest Ewald energy (formal charges, pymatgen
  ``EwaldSummation``) is kept. Stoichiometric and neutral by construction; such slabs come
  first, symmetric ones before the others, then by Ewald energy.
- **Symmetric slabs preferred**: a cut whose stoichiometric slab is not symmetric
  (pymatgen :meth:`Slab.is_symmetric`) is symmetrised with pymatgen's
  ``nonstoichiometric_symmetrized_slab`` (atoms removed from one side until the two
  surfaces are equivalent, so ``stoichiometric=False``); symmetrised slabs that break a
  covalent unit are rejected, and when no symmetric slab remains the asymmetric
  stoichiometric slab is kept with ``symmetric=False``.
- **Frozen bottom layers** in the ``selective_dynamics`` site property (True = free):
  whole atomic planes whose height above the lowest atom is below ``fixed_thickness``
  (Å) or ``fixed_fraction`` of the thickness.

Units: lengths in Å, areas in Å², dipoles per area in e·Å/Å² (= e/Å), charges in e.
"""

from __future__ import annotations

import functools
import json
import math
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from monty.json import jsanitize
from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator
from pymatgen.analysis.molecule_structure_comparator import CovalentRadius
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Composition, Element, Lattice, Structure
from pymatgen.core.interface import Interface
from pymatgen.core.surface import Slab, SlabGenerator, get_symmetrically_distinct_miller_indices
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer
from scipy.cluster.hierarchy import fcluster, linkage

from interphases.errors import InvalidStructureError

MillerIndex = tuple[int, int, int]

#: Bonds between two non-metal atoms shorter than this factor times the sum of their
#: covalent radii are covalent units that a surface must not cut (P-S 2.05 Å < 2.65 Å,
#: while S-S in Li2S, 4.0 Å, or F-F in LiF, 2.85 Å, stay well above).
COVALENT_BOND_SCALE = 1.25

#: Dipole per area (e/Å) above which a slab counts as polar; the tolerance of
#: pymatgen's :meth:`Slab.is_polar`.
DIPOLE_TOL = 1e-3

#: Vacuum along c (Å) above which an input is a slab, not a bulk (as the DFT engines decide).
SLAB_VACUUM = 5.0

#: Net formal charge (e per cell) above which a slab counts as charged (polar).
CHARGE_TOL = 1e-3

#: Atoms closer than this along the normal (Å) belong to one atomic plane (labels, fixing).
PLANE_TOL = 0.25


# --------------------------------------------------------------------------------------
# pydantic fields that carry pymatgen objects through JSON (as their MSONable dicts)


def _structure_validator(cls: type[Structure]):
    def validate(value: Any) -> Structure:
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            return cls.from_dict(value)
        raise TypeError(f"expected a {cls.__name__} or its as_dict(), got {type(value).__name__}")

    return validate


def _msonable_dict(value: Structure) -> dict:
    return jsanitize(value.as_dict(), strict=True, allow_bson=False)


SlabField = Annotated[
    Slab,
    PlainValidator(_structure_validator(Slab)),
    PlainSerializer(_msonable_dict, return_type=dict),
]
StructureField = Annotated[
    Structure,
    PlainValidator(_structure_validator(Structure)),
    PlainSerializer(_msonable_dict, return_type=dict),
]
InterfaceField = Annotated[
    Interface,
    PlainValidator(_structure_validator(Interface)),
    PlainSerializer(_msonable_dict, return_type=dict),
]


class JSONRecord(BaseModel):
    """Base of the typed records: a JSON round trip that keeps the pymatgen objects."""

    model_config = ConfigDict(extra="forbid")

    def to_json(self, **kwargs: Any) -> str:
        """JSON text of the record (pymatgen objects as their ``as_dict()``)."""
        return self.model_dump_json(**kwargs)

    @classmethod
    def from_json(cls, text: str | bytes):
        """The record back from :meth:`to_json` output."""
        return cls.model_validate_json(text)


# --------------------------------------------------------------------------------------
# the record


class SlabRecord(JSONRecord):
    """One slab of a bulk phase, with the numbers measured on the built cell."""

    slab: SlabField = Field(
        description="The pymatgen Slab (c normal to the surface, selective_dynamics set)."
    )
    formula: str = Field(description="Reduced formula of the bulk phase.")
    miller_index: MillerIndex = Field(
        description="Miller index in the bulk cell used (see conventional_bulk)."
    )
    shift: float = Field(
        description="Termination shift of pymatgen's SlabGenerator (fraction of the OUC)."
    )
    top_termination: str = Field(
        description="Formula of the topmost atomic plane (e.g. 'LiF', 'Li', 'F')."
    )
    bottom_termination: str = Field(description="Formula of the lowest atomic plane.")
    thickness: float = Field(description="Topmost minus lowest atom along the surface normal, Å.")
    vacuum: float = Field(
        description="Empty space between the slab and its periodic image along the normal, Å."
    )
    area: float = Field(description="Surface area of the cell, Å².")
    n_atoms: int
    n_planes: int = Field(
        description="Atomic planes (atoms within PLANE_TOL along the normal grouped)."
    )
    symmetric: bool = Field(
        description="Top and bottom surfaces are equivalent (pymatgen Slab.is_symmetric)."
    )
    stoichiometric: bool = Field(
        description="The slab composition is a multiple of the bulk formula."
    )
    polar: bool = Field(
        description="Electrostatically unsound surface from formal charges: a dipole normal to "
        "the surface (|dipole_per_area| > DIPOLE_TOL) or a net charge (|net_charge| > "
        "CHARGE_TOL), i.e. an uncompensated Tasker-3 termination. Its surface energy diverges "
        "with thickness (dipole) or needs a compensating background (charge): not comparable."
    )
    dipole_per_area: float = Field(
        description="Dipole of the slab normal to the surface per area, e/Å."
    )
    net_charge: float = Field(
        description="Sum of formal charges (non-zero for non-stoichiometric ionic slabs), e."
    )
    reconstruction: str | None = Field(
        None,
        description="How a Tasker-3 cut was made non-polar: 'tasker2' (half of the outer plane "
        "moved to the other side, pymatgen get_tasker2_slabs), 'octopolar' (rock-salt (111) "
        "p(2x2) octopole, Wolf, Phys. Rev. Lett. 68, 3315 (1992)), 'Li redistributed "
        "(Canepa-style)' (half of a framework cation plane and the mobile ions near it on each "
        "surface, lowest Ewald energy: stoichiometric_terminations); None for an as-cut slab.",
    )
    ewald_energy: float | None = Field(
        None,
        description="Ewald energy of the formal point charges (eV per cell) of a slab whose mobile "
        "ions were redistributed; per atom, comparable between such slabs of one Miller index "
        "and thickness (same composition per atom). None otherwise.",
    )
    tasker_type: int | None = Field(
        description="1, 2 or 3 for the cut of this termination; None for metals."
    )
    broken_bonds: int = Field(
        0, description="Covalent bonds crossed by the planar cut, per OUC (before repair)."
    )
    repaired: bool = Field(
        False, description="Cut covalent units were moved whole to the other surface."
    )
    n_fixed: int = Field(description="Atoms frozen (selective_dynamics all False) at the bottom.")

    @property
    def charged(self) -> bool:
        """A net formal charge (non-stoichiometric symmetrised Tasker-3 slab)."""
        return abs(self.net_charge) > CHARGE_TOL

    @property
    def dipolar(self) -> bool:
        """A dipole normal to the surface (as-cut Tasker-3 slab)."""
        return abs(self.dipole_per_area) > DIPOLE_TOL

    @property
    def sound(self) -> bool:
        """Non-polar, neutral and stoichiometric: its γ needs no chemical potential."""
        return not self.polar and self.stoichiometric

    @property
    def termination(self) -> str:
        """``"LiF"`` when both surfaces show the same plane, else ``"top|bottom"``."""
        if self.top_termination == self.bottom_termination:
            return self.top_termination
        return f"{self.top_termination}|{self.bottom_termination}"

    @property
    def label(self) -> str:
        """File-name-safe name, e.g. ``LiF_111_Li_0.250`` (formula, Miller index, top plane, shift)."""
        hkl = "".join(str(i) if i >= 0 else f"m{-i}" for i in self.miller_index)
        return f"{self.formula}_{hkl}_{self.top_termination}_{self.shift:.3f}"


# --------------------------------------------------------------------------------------
# bulk helpers (shared with interfaces.py)


def check_bulk(structure: Structure, what: str = "bulk") -> None:
    """Raise :class:`InvalidStructureError` for input a slab cannot be cut from."""
    if not isinstance(structure, Structure):
        raise InvalidStructureError(
            f"{what}: expected a pymatgen Structure, got {type(structure).__name__}"
        )
    if len(structure) == 0:
        raise InvalidStructureError(f"{what}: the structure has no atoms")
    if not structure.is_ordered:
        raise InvalidStructureError(
            f"{what}: {structure.composition.reduced_formula} has partial occupancies; order it first "
            "(e.g. pymatgen OrderDisorderedStructureTransformation)"
        )
    # a slab or interface file given as a bulk: cutting slabs from it would stack its
    # vacuum (and StructureMatcher on hundreds of atoms takes minutes); say so at once
    from interphases.workflows.engines.dft_common import vacuum_along_c

    vac = vacuum_along_c(structure)
    if vac > SLAB_VACUUM:
        from interphases.structures.bulk import split_interface

        kind = "an interface (two stacked phases)" if split_interface(structure) else "a slab"
        raise InvalidStructureError(
            f"{what}: {structure.composition.reduced_formula} ({len(structure)} atoms) has "
            f"{vac:.1f} Å of vacuum along c: it is {kind}, not a bulk. Give the bulk phase to "
            "cut slabs or build interfaces; a slab or interface file is used as given by the "
            "energy workflows (interphases.structures.bulk.classify_structure)"
        )


def conventional_bulk(structure: Structure) -> Structure:
    """The cell in which Miller indices are read.

    A cell with as many atoms as its conventional cell (a CIF in its published setting,
    e.g. Pnma Li3PS4 with a = 12.82 Å) is kept as given, so Miller indices mean what the
    literature means; a primitive or super cell is replaced by spglib's refined
    conventional cell (standard ITA setting).
    """
    try:
        refined = SpacegroupAnalyzer(structure, symprec=0.01).get_refined_structure()
    except Exception as exc:  # spglib failure: the cell as given is still a valid cell
        warnings.warn(
            f"could not standardise {structure.reduced_formula} ({exc}); using the cell as given",
            stacklevel=2,
        )
        return structure.copy()
    return structure.copy() if len(refined) == len(structure) else refined


def oxidation_states(structure: Structure) -> dict[str, float]:
    """Formal charge per element: from the species if decorated, else pymatgen's first guess.

    All zero for metals and when no charge-balanced assignment exists.
    """
    charges: dict[str, float] = {}
    for site in structure:
        for sp in site.species:
            if getattr(sp, "oxi_state", None) is not None:
                charges[sp.element.symbol] = float(sp.oxi_state)
    if charges:
        return charges
    return dict(_guessed_charges(structure.composition.reduced_formula))


@functools.lru_cache(maxsize=256)
def _guessed_charges(formula: str) -> tuple[tuple[str, float], ...]:
    """pymatgen's first oxidation-state guess of a reduced formula (cached: the guess is a
    search over assignments, ~30 ms, asked for the same phases many times per screening)."""
    comp = Composition(formula)
    try:
        guesses = comp.oxi_state_guesses()
    except Exception:  # pragma: no cover - pymatgen may fail on exotic compositions
        guesses = ()
    if guesses:
        return tuple((el, float(q)) for el, q in guesses[0].items())
    return tuple((el.symbol, 0.0) for el in comp.elements)


def site_charges(structure: Structure, charges: dict[str, float]) -> np.ndarray:
    """Formal charge of each site (e)."""
    return np.array(
        [
            sum(charges.get(sp.symbol, 0.0) * amt for sp, amt in site.species.items())
            for site in structure
        ]
    )


def _is_metal(el: Element) -> bool:
    return bool(el.is_metal or el.is_alkali or el.is_alkaline or el.is_transition_metal)


def covalent_bonds(
    structure: Structure, scale: float = COVALENT_BOND_SCALE
) -> dict[tuple[str, str], float]:
    """Covalent bonds present in a bulk: ``{(el1, el2): max length Å}`` for pairs of non-metals.

    A pair is included only when two such atoms sit closer than
    ``scale * (r_cov1 + r_cov2)`` in the structure (PS4 in Li3PS4, CO3 in Li2CO3, OH in
    LiOH); ionic crystals (LiF, Li2O, Li2S) give an empty dict.
    """
    nonmetals = sorted(el.symbol for el in structure.composition.elements if not _is_metal(el))
    cutoffs = {
        (a, b): scale * (CovalentRadius.radius[a] + CovalentRadius.radius[b])
        for i, a in enumerate(nonmetals)
        for b in nonmetals[i:]
    }
    if not cutoffs:
        return {}
    found: dict[tuple[str, str], float] = {}
    for site, neighbors in zip(
        structure, structure.get_all_neighbors(max(cutoffs.values())), strict=True
    ):
        for nn in neighbors:
            key = tuple(sorted((site.specie.symbol, nn.specie.symbol)))
            if key in cutoffs and nn.nn_distance <= cutoffs[key]:
                found[key] = cutoffs[key]  # type: ignore[index]
    return found


def count_broken_bonds(ouc: Structure, shift: float, bonds: dict[tuple[str, str], float]) -> int:
    """Covalent bonds of one oriented unit cell crossed by the cut plane at ``shift``.

    A bond between fractional heights ``z1 < z2`` (neighbour image included) is cut when
    ``z1 < shift + k < z2`` for some integer ``k``.
    """
    if not bonds:
        return 0
    n_broken = 0
    for site, neighbors in zip(ouc, ouc.get_all_neighbors(max(bonds.values())), strict=True):
        for nn in neighbors:
            key = tuple(sorted((site.specie.symbol, nn.specie.symbol)))
            if key not in bonds or nn.nn_distance > bonds[key]:  # type: ignore[index]
                continue
            z1, z2 = sorted((site.frac_coords[2] - shift, nn.frac_coords[2] - shift))
            if math.floor(z2 - 1e-9) >= math.ceil(z1 + 1e-9):
                n_broken += 1
    return n_broken // 2  # every bond was seen from both ends


def units_intact(
    structure: Structure, bonds: dict[tuple[str, str], float], bulk: Structure
) -> bool:
    """True when every atom has at least as many covalent partners as the least-bonded bulk atom of its element."""
    if not bonds:
        return True
    r_max = max(bonds.values())

    def partner_counts(struct: Structure) -> list[tuple[str, int]]:
        out = []
        for site, neighbors in zip(struct, struct.get_all_neighbors(r_max), strict=True):
            a = site.specie.symbol
            n = 0
            for nn in neighbors:
                key = tuple(sorted((a, nn.specie.symbol)))
                n += key in bonds and nn.nn_distance <= bonds[key]  # type: ignore[index]
            out.append((a, n))
        return out

    bulk_min: dict[str, int] = {}
    for el, n in partner_counts(bulk):
        bulk_min[el] = min(n, bulk_min.get(el, n))
    return all(n >= bulk_min.get(el, 0) for el, n in partner_counts(structure))


# --------------------------------------------------------------------------------------
# geometry along the surface normal


def unit_normal(lattice_matrix: np.ndarray) -> np.ndarray:
    """Unit vector along a x b (the surface normal of a slab cell)."""
    normal = np.cross(lattice_matrix[0], lattice_matrix[1])
    return normal / np.linalg.norm(normal)


def surface_area(structure: Structure) -> float:
    """|a x b| of the cell, Å²."""
    return float(np.linalg.norm(np.cross(structure.lattice.matrix[0], structure.lattice.matrix[1])))


def heights_along_normal(structure: Structure) -> tuple[np.ndarray, float, float]:
    """Heights of the atoms above the lowest one, thickness and vacuum, all in Å along ``a x b``.

    Heights are projections on the normal taken modulo the period ``c . n``; the slab is
    the complement of the largest empty gap, so a slab that wraps through the cell
    boundary is measured correctly.
    """
    normal = unit_normal(structure.lattice.matrix)
    period = float(abs(np.dot(structure.lattice.matrix[2], normal)))
    h = np.mod(structure.cart_coords @ normal, period)
    order = np.sort(h)
    gaps = np.diff(np.append(order, order[0] + period))
    i_gap = int(np.argmax(gaps))
    vacuum = float(gaps[i_gap])
    bottom = order[(i_gap + 1) % len(order)]
    rel = np.mod(h - bottom + 1e-9, period) - 1e-9
    return rel, period - vacuum, vacuum


def atomic_planes(heights: np.ndarray, tol: float = PLANE_TOL) -> np.ndarray:
    """Plane index of each atom (0 = lowest): single-linkage clusters of heights within ``tol`` Å."""
    if len(heights) == 1:
        return np.zeros(1, dtype=int)
    labels = fcluster(
        linkage(np.asarray(heights).reshape(-1, 1), method="single"), tol, criterion="distance"
    )
    order = sorted(set(labels), key=lambda lab: heights[labels == lab].mean())
    rank = {lab: i for i, lab in enumerate(order)}
    return np.array([rank[lab] for lab in labels])


def plane_formula(structure: Structure, indices: Iterable[int]) -> str:
    """Reduced formula of some sites, without pymatgen's diatomic 'F2'/'O2' convention."""
    comp = Composition()
    for i in indices:
        comp += structure[int(i)].species
    els = sorted(comp.elements, key=lambda el: el.X)
    amounts = [comp[el] for el in els]
    if all(abs(x - round(x)) < 1e-6 for x in amounts):
        g = math.gcd(*(round(x) for x in amounts))
        amounts = [round(x) // g for x in amounts]
    return "".join(
        f"{el.symbol}{'' if n == 1 else f'{n:g}'}" for el, n in zip(els, amounts, strict=True)
    )


def fixed_from_bottom(
    heights: np.ndarray, thickness: float, fixed_thickness: float | None, fixed_fraction: float
) -> np.ndarray:
    """Mask of atoms to freeze: whole planes whose mean height is below the limit (Å)."""
    limit = fixed_thickness if fixed_thickness is not None else fixed_fraction * thickness
    mask = np.zeros(len(heights), dtype=bool)
    if limit <= 0:
        return mask
    planes = atomic_planes(heights)
    for p in np.unique(planes):
        if heights[planes == p].mean() < limit - 1e-6:
            mask[planes == p] = True
    return mask


def selective_dynamics(fixed: np.ndarray) -> list[list[bool]]:
    """pymatgen/VASP ``selective_dynamics`` rows (True = free) from a frozen-atom mask."""
    return [[not bool(f)] * 3 for f in fixed]


def slab_dipole(slab: Structure, charges: dict[str, float]) -> tuple[float, float]:
    """(dipole per area normal to the surface in e/Å, net charge in e) from formal charges.

    The dipole is taken about the geometric centre, as pymatgen's ``Slab.dipole``.
    """
    q = site_charges(slab, charges)
    heights, _, _ = heights_along_normal(slab)
    return float(np.sum(q * (heights - heights.mean()))) / surface_area(slab), float(q.sum())


def planes_neutral(ouc: Structure, charges: dict[str, float], tol: float = 0.1) -> bool | None:
    """Whether every plane of the OUC parallel to the surface is neutral; None without charges."""
    q = site_charges(ouc, charges)
    if np.allclose(q, 0.0):
        return None
    normal = unit_normal(ouc.lattice.matrix)
    period = float(abs(np.dot(ouc.lattice.matrix[2], normal)))
    z = np.mod(ouc.frac_coords[:, 2], 1.0) * period
    planes, _ = _periodic_planes(z, period, tol)  # a plane may straddle the cell boundary
    return bool(all(abs(q[planes == p].sum()) < 1e-3 for p in np.unique(planes)))


def tasker_type(
    ouc: Structure, stoichiometric_slab: Structure, charges: dict[str, float]
) -> int | None:
    """Tasker type of a cut: 1 (neutral planes), 2 (no dipole), 3 (dipole); None for metals."""
    neutral = planes_neutral(ouc, charges)
    if neutral is None:
        return None
    if neutral:
        return 1
    dipole, _ = slab_dipole(stoichiometric_slab, charges)
    return 3 if abs(dipole) > DIPOLE_TOL else 2


def is_stoichiometric(structure: Structure, bulk: Structure) -> bool:
    """The composition is a whole multiple of the bulk formula."""
    ref = Composition(bulk.composition.reduced_formula)
    if set(structure.composition.elements) != set(ref.elements):
        return False
    ratios = [structure.composition[el] / ref[el] for el in ref.elements]
    return max(ratios) - min(ratios) < 1e-6 and abs(ratios[0] - round(ratios[0])) < 1e-6


# --------------------------------------------------------------------------------------
# cutting one termination


def ouc_height(generator: SlabGenerator) -> float:
    """Projected height (Å) of one oriented unit cell along the surface normal."""
    matrix = generator.oriented_unit_cell.lattice.matrix
    return float(abs(np.dot(matrix[2], unit_normal(matrix))))


def min_slab_size_for(generator: SlabGenerator, shift: float, thickness: float) -> float:
    """The ``min_slab_size`` (Å) for which ``generator`` cuts a slab at least ``thickness`` Å thick.

    With *n* OUCs the atom-to-atom thickness is ``(n-1)*h + e`` where *e* is the extent of
    the atoms of one OUC cut at ``shift``; the smallest *n* that reaches ``thickness``
    is returned as ``(n - 1/2)*h``, on which pymatgen's ``ceil`` lands on *n*.
    """
    h = ouc_height(generator)
    z = np.sort(np.mod(generator.oriented_unit_cell.frac_coords[:, 2] - shift, 1.0)) * h
    n = max(1, math.ceil((thickness - float(z[-1] - z[0])) / h - 1e-9) + 1)
    return (n - 0.5) * h


def recentre(slab: Slab) -> Slab:
    """The slab translated along c so that it sits unwrapped in the middle of the cell.

    Each site moves by its own fractional c-offset: a common rigid shift plus whole
    lattice vectors that undo any wrap through the cell boundary.
    """
    heights, _, vacuum = heights_along_normal(slab)
    normal = unit_normal(slab.lattice.matrix)
    period = float(abs(np.dot(slab.lattice.matrix[2], normal)))
    frac = slab.frac_coords.copy()
    frac[:, 2] += (heights + 0.5 * vacuum - slab.cart_coords @ normal) / period
    return Slab(
        slab.lattice,
        slab.species_and_occu,
        frac,
        slab.miller_index,
        slab.oriented_unit_cell,
        slab.shift,
        slab.scale_factor,
        reorient_lattice=slab.reorient_lattice,
        site_properties=slab.site_properties,
        energy=slab.energy,
    )


def repair_units(generator: SlabGenerator, slab: Slab, bonds: dict[tuple[str, str], float]) -> Slab:
    """pymatgen's ``repair_broken_bonds``, keeping the slab's lattice orientation, recentred.

    pymatgen rebuilds the repaired Slab with ``reorient_lattice=True`` whatever the
    generator's setting; the interface builder needs the bulk's Cartesian frame, so the
    repaired sites are put back in the original lattice (fractional coordinates are the same).
    """
    repaired = generator.repair_broken_bonds(slab=slab, bonds=dict(bonds))
    fixed = Slab(
        slab.lattice,
        repaired.species_and_occu,
        repaired.frac_coords,
        slab.miller_index,
        slab.oriented_unit_cell,
        slab.shift,
        slab.scale_factor,
        reorient_lattice=slab.reorient_lattice,
        energy=slab.energy,
    )
    return recentre(fixed)


def cut_slab(
    generator: SlabGenerator,
    shift: float,
    min_thickness: float,
    *,
    bonds: dict[tuple[str, str], float] | None = None,
    repair: bool = False,
    tol: float = 0.1,
) -> tuple[Slab, float]:
    """Stoichiometric slab of one cut at least ``min_thickness`` Å thick, and the ``min_slab_size`` used.

    ``generator`` must work in Å (``in_unit_planes=False``); with ``center_slab=False``
    the slab is centred here. With ``repair``, covalent units the cut crosses are moved
    whole to the other surface (pymatgen).
    """
    size = min_slab_size_for(generator, shift, min_thickness)
    h = ouc_height(generator)
    repair = bool(repair and bonds)
    centred_by_pymatgen = generator.center_slab
    # the repair decides top/bottom from the centre of mass: cut it as get_slabs(repair=True) does
    generator.center_slab = centred_by_pymatgen or repair
    try:
        for _ in range(8):
            generator.min_slab_size = size
            slab = generator.get_slab(shift=shift, tol=tol)
            if repair:
                slab = repair_units(generator, slab, bonds)  # type: ignore[arg-type]
            elif not centred_by_pymatgen:
                # cheaper than pymatgen's center_slab (a neighbour search per site)
                slab = recentre(slab)
            if heights_along_normal(slab)[1] >= min_thickness - 1e-6:
                return slab, size
            size += h  # a repair moved a unit inwards: one OUC more
    finally:
        generator.center_slab = centred_by_pymatgen
    raise InvalidStructureError(  # pragma: no cover - 8 extra OUCs always suffice
        f"could not reach {min_thickness} Å for {generator.parent.reduced_formula}"
        f"{generator.miller_index} shift {shift:.3f}"
    )


def usable_shifts(
    generator: SlabGenerator, bonds: dict[tuple[str, str], float], ftol: float
) -> tuple[list[float], dict[float, int], bool]:
    """Termination shifts to use, covalent bonds each cuts, and whether they need repair.

    Cuts through no covalent unit when there are some; else the cuts through the fewest,
    to be repaired.
    """
    shifts = generator.gen_possible_terminations(ftol=ftol)
    broken = {s: count_broken_bonds(generator.oriented_unit_cell, s, bonds) for s in shifts}
    fewest = min(broken.values())
    return [s for s in shifts if broken[s] == fewest], broken, fewest > 0


# --------------------------------------------------------------------------------------
# the generator


def distinct_miller_indices(bulk: Structure, max_index: int) -> list[MillerIndex]:
    """Symmetrically distinct Miller indices up to ``max_index`` (pymatgen), sorted."""
    if max_index < 1:
        raise InvalidStructureError(f"max_index must be >= 1, got {max_index}")
    return sorted(
        tuple(int(i) for i in hkl)
        for hkl in get_symmetrically_distinct_miller_indices(bulk, max_index)
    )


def _plane_mesh(lattice: np.ndarray, primitive: np.ndarray, hkl: Sequence[int], reach: int = 4) -> np.ndarray | None:
    """Two vectors spanning the 2D mesh of the Bravais lattice ``primitive`` (rows) in the
    plane (hkl) of the cell ``lattice`` (rows): the shortest lattice vectors in the plane,
    the pair of smallest area (Å)."""
    recip = np.linalg.inv(lattice).T  # rows b_i / 2π
    g = np.asarray(hkl, dtype=float) @ recip
    g /= np.linalg.norm(g)
    r = np.arange(-reach, reach + 1)
    n = np.stack(np.meshgrid(r, r, r, indexing="ij"), -1).reshape(-1, 3)
    t = n @ primitive
    length = np.linalg.norm(t, axis=1)
    keep = (np.abs(t @ g) < 1e-6 * max(1.0, float(length.max()))) & (length > 1e-6)
    t, length = t[keep], length[keep]
    if len(t) < 2:
        return None
    order = np.argsort(length)[:24]
    best = None
    for i in order:
        for j in order:
            area = float(np.linalg.norm(np.cross(t[i], t[j])))
            if area > 1e-6 and (best is None or area < best[0] - 1e-9):
                best = (area, i, j)
    return None if best is None else np.array([t[best[1]], t[best[2]]])


def given_slab_miller(slab: Structure, bulk: Structure, max_index: int = 2, tol: float = 0.02) -> list[tuple[int, int, int]]:
    """Miller indices (in the bulk cell :func:`conventional_bulk`
    uses, symmetrically distinct, up to ``max_index``) whose 2D lattice mesh, in any
    orientation, is a supercell of which the slab's in-plane cell (a, b) is one, to a
    relative ``tol`` on lengths and angle: the facets the slab can be a cut of. Empty when
    none fits (a strained slab, or another phase): its gamma then includes a strain energy."""
    conv = conventional_bulk(bulk)
    prim = conv.get_primitive_structure().lattice.matrix
    ab = slab.lattice.matrix[:2]

    def shape(gram: np.ndarray) -> np.ndarray:
        """(|a|, |b|, cos angle) of Gram matrices (..., 2, 2)."""
        la, lb = np.sqrt(gram[..., 0, 0]), np.sqrt(gram[..., 1, 1])
        return np.stack([la, lb, gram[..., 0, 1] / (la * lb)], axis=-1)

    target = shape(ab @ ab.T)
    r = np.arange(-3, 4)
    ms = np.stack(np.meshgrid(r, r, r, r, indexing="ij"), -1).reshape(-1, 2, 2)
    ms = ms[np.abs(np.linalg.det(ms)) > 0.5]
    found = []
    for hkl in distinct_miller_indices(conv, max_index):
        mesh = _plane_mesh(conv.lattice.matrix, prim, hkl)
        if mesh is None:
            continue
        g_plane = mesh @ mesh.T
        got = shape(np.einsum("nij,jk,nlk->nil", ms, g_plane, ms))
        ok = (np.abs(got[:, :2] / target[:2] - 1.0).max(axis=1) < tol) & (np.abs(got[:, 2] - target[2]) < tol)
        if np.any(ok):
            found.append(tuple(int(i) for i in hkl))
    return found


def reduce_miller(hkl: Sequence[int]) -> MillerIndex:
    """Miller index as a tuple of three coprime integers."""
    try:
        hkl = tuple(int(i) for i in hkl)
    except (TypeError, ValueError) as exc:
        raise InvalidStructureError(f"a Miller index needs three integers, got {hkl!r}") from exc
    if len(hkl) != 3 or not any(hkl):
        raise InvalidStructureError(f"a Miller index needs three integers, not all zero; got {hkl}")
    g = math.gcd(*hkl)
    return tuple(i // g for i in hkl)  # type: ignore[return-value]


def generate_slabs(
    bulk: Structure,
    *,
    max_index: int = 1,
    miller_indices: Sequence[Sequence[int]] | None = None,
    min_thickness: float = 10.0,
    vacuum: float = 15.0,
    symmetric: bool = True,
    fixed_thickness: float | None = None,
    fixed_fraction: float = 0.5,
    ftol: float = 0.1,
    tol: float = 0.1,
    keep_covalent_units: bool = True,
    conventional: bool = True,
    allow_polar: bool = False,
    redistribute: bool = True,
    mobile: str | None = None,
) -> list[SlabRecord]:
    """All slabs of ``bulk``: every distinct Miller index up to ``max_index``, every termination.

    Args:
        bulk: the bulk phase (ordered).
        max_index: largest Miller index, used when ``miller_indices`` is None.
        miller_indices: explicit Miller indices (of the cell from :func:`conventional_bulk`).
        min_thickness: smallest atom-to-atom thickness along the normal, Å.
        vacuum: vacuum between the slab and its periodic image, Å (set exactly).
        symmetric: prefer slabs with two equivalent surfaces (see the module docstring).
        fixed_thickness: freeze the atomic planes lower than this height (Å) above the
            lowest atom; overrides ``fixed_fraction``.
        fixed_fraction: freeze the planes in this fraction of the thickness from the
            bottom (0 freezes nothing).
        ftol: plane clustering tolerance for the terminations (Å, pymatgen ``ftol``).
        tol: tolerance of primitive-cell reduction and slab matching (pymatgen ``tol``).
        keep_covalent_units: never cut covalent units (see the module docstring).
        conventional: read Miller indices in :func:`conventional_bulk` of ``bulk``.
        allow_polar: also return polar slabs (a dipole normal to the surface or a net
            formal charge); without it they are left out with a warning naming them.
        redistribute: when no slab of a Miller index is stoichiometric and non-polar, add
            the Canepa-style ones of :func:`stoichiometric_terminations` (half of a
            framework cation plane and the mobile ions near it on each surface).
        mobile: the mobile cation for ``redistribute`` (default :func:`mobile_ion`: Li, Na, ...).

    Returns:
        SlabRecords by Miller index; within one, sound (non-polar, stoichiometric) first,
        then symmetric, then stoichiometric (redistributed slabs by Ewald energy).
    """
    check_bulk(bulk)
    if min_thickness <= 0 or vacuum < 0:
        raise InvalidStructureError(
            f"thickness must be > 0 and vacuum >= 0 Å (got {min_thickness}, {vacuum})"
        )
    if not 0.0 <= fixed_fraction <= 1.0:
        raise InvalidStructureError(f"fixed_fraction must lie in [0, 1], got {fixed_fraction}")
    bulk = conventional_bulk(bulk) if conventional else bulk.copy()
    if miller_indices is None:
        millers = distinct_miller_indices(bulk, max_index)
    else:
        millers = list(dict.fromkeys(reduce_miller(m) for m in miller_indices))
    charges = oxidation_states(bulk)
    bonds = covalent_bonds(bulk) if keep_covalent_units else {}
    options = dict(
        min_thickness=min_thickness,
        vacuum=vacuum,
        symmetric=symmetric,
        fixed_thickness=fixed_thickness,
        fixed_fraction=fixed_fraction,
        ftol=ftol,
        tol=tol,
        mobile=(mobile or mobile_ion(bulk, charges)) if redistribute else None,
    )
    records: list[SlabRecord] = []
    left_out: list[str] = []
    for hkl in millers:
        recs = _slabs_for_miller(bulk, hkl, charges, bonds, **options)
        if not allow_polar:
            left_out += [
                f"{r.formula}{r.miller_index} {r.termination} (dipole {r.dipole_per_area:+.3f} e/Å, "
                f"charge {r.net_charge:+g} e)"
                for r in recs
                if r.polar
            ]
            recs = [r for r in recs if not r.polar]
        records.extend(recs)
    if left_out:
        warnings.warn(
            "polar slabs left out (use allow_polar=True / --allow-polar to build them; their "
            "surface energies are not comparable): " + "; ".join(left_out),
            PolarSlabWarning,
            stacklevel=2,
        )
    return records


class PolarSlabWarning(UserWarning):
    """Polar (dipolar or charged) slabs were left out of :func:`generate_slabs`."""


def _slabs_for_miller(
    bulk: Structure,
    hkl: MillerIndex,
    charges: dict[str, float],
    bonds: dict[tuple[str, str], float],
    *,
    min_thickness: float,
    vacuum: float,
    symmetric: bool,
    fixed_thickness: float | None,
    fixed_fraction: float,
    ftol: float,
    tol: float,
    mobile: str | None = None,
) -> list[SlabRecord]:
    gen = SlabGenerator(
        bulk,
        hkl,
        min_slab_size=min_thickness,
        min_vacuum_size=max(vacuum, 3.0),
        center_slab=False,  # centred by cut_slab
        in_unit_planes=False,
        primitive=True,
        reorient_lattice=True,
    )
    shifts, broken, repair = usable_shifts(gen, bonds, ftol)
    # pymatgen caches reduced structures under keys whose hits are confirmed by an O(N^2)
    # Structure.__eq__ (2.7 s per 192-atom LLZO slab): a second LLZO (001) call in one
    # process took 4x the CPU of the first. Recomputing them is cheaper: start empty.
    _clear_matcher_cache()
    stoich = {
        s: cut_slab(gen, s, min_thickness, bonds=bonds, repair=repair, tol=tol)[0] for s in shifts
    }

    # one cut per group of identical stoichiometric slabs (pymatgen's filter_out_sym_slabs)
    matcher = StructureMatcher(ltol=tol, stol=tol, primitive_cell=False, scale=False)
    representatives = [group[0].shift for group in matcher.group_structures(list(stoich.values()))]

    # (slab, symmetric, tasker type, reconstruction)
    built: list[tuple[Slab, bool, int | None, str | None]] = []
    for shift in representatives:
        slab = stoich[shift]
        tasker = tasker_type(gen.oriented_unit_cell, slab, charges)
        for product, sym, how in _symmetric_versions(
            gen, slab, shift, min_thickness, symmetric, bonds, bulk, repair, tol, charges
        ):
            built.append((product, sym, tasker, how if tasker == 3 else None))
    if len(built) > 1:  # symmetrised slabs of different cuts can coincide
        groups = matcher.group_structures([item[0] for item in built])
        built = [next(item for item in built if item[0] is group[0]) for group in groups]
    # rock-salt-like (111): the octopolar p(2x2) reconstruction of each charged symmetric slab
    if not any(
        t == 3 and is_stoichiometric(sl, bulk) and _neutral_nonpolar(sl, charges)
        for sl, _, t, _ in built
    ):
        for sl, sym, t, _ in list(built):
            if t == 3 and sym:
                octo = octopolar_slab(sl, charges)
                if octo is not None:
                    built.append((octo, True, 3, "octopolar"))
    # ionic cut with a mobile cation, no covalent units and no sound slab yet: Canepa-style
    # redistribution (a framework plane split in halves would tear covalent units apart)
    energies: dict[int, float] = {}
    if (
        mobile is not None
        and not bonds
        and not any(
            is_stoichiometric(sl, bulk) and _neutral_nonpolar(sl, charges) for sl, _, _, _ in built
        )
    ):
        try:
            redistributed = _redistributed_slabs(
                gen, charges, mobile, min_thickness, vacuum, ftol=ftol
            )
        except Exception as exc:  # pragma: no cover - an add-on: the plain cuts are still returned
            warnings.warn(
                f"{bulk.reduced_formula}{hkl}: no {mobile}-redistributed slab ({exc})", stacklevel=3
            )
            redistributed = []
        for sl, sym, t, energy in redistributed:
            energies[len(built)] = energy
            built.append((sl, sym, t, REDISTRIBUTED.format(ion=mobile)))
            broken.setdefault(sl.shift, 0)

    records = [
        _record(
            slab,
            sym,
            tasker,
            bulk,
            vacuum,
            fixed_thickness,
            fixed_fraction,
            charges,
            broken[slab.shift],
            repair and i not in energies,
            how,
            energies.get(i),
        )
        for i, (slab, sym, tasker, how) in enumerate(built)
    ]
    records.sort(
        key=lambda r: (
            not r.sound,
            not r.symmetric,
            not r.stoichiometric,
            r.ewald_energy / r.n_atoms if r.ewald_energy is not None else -math.inf,
            r.shift,
            r.top_termination,
        )
    )
    return records


def _neutral_nonpolar(slab: Structure, charges: dict[str, float]) -> bool:
    dipole, charge = slab_dipole(slab, charges)
    return abs(dipole) <= DIPOLE_TOL and abs(charge) <= CHARGE_TOL


def octopolar_slab(slab: Slab, charges: dict[str, float]) -> Slab | None:
    """p(2x2) octopolar reconstruction of a symmetric rock-salt-(111)-like slab, or None.

    ``slab`` must be a symmetric slab of alternating single-element planes of charges
    +q / -q with one atom per plane per cell and an odd number of planes (pymatgen's
    non-stoichiometric symmetrisation of rock-salt (111): X|X, net charge ±q). In the
    2x2 cell each surface keeps 1 of the 4 atoms of its outer plane and 3 of the 4 of
    the plane below (the one removed is the farthest in-plane from the kept outer atom,
    so the outer atom sits on the hollow of the three kept ones): Wolf's octopole,
    Phys. Rev. Lett. 68, 3315 (1992). With 2n+1 planes, n+1 of X and n of Y, the 2x2 cell
    has 4(n+1) - 6 = 4n - 2 X and 4n - 2 Y: stoichiometric, neutral, and (same atoms
    removed at the same depth on both sides) without dipole. The bottom kept atom is
    the inversion image of the top one through the slab centre.
    """
    heights, _, _ = heights_along_normal(slab)
    planes = atomic_planes(heights)
    n_planes = int(planes.max()) + 1
    if n_planes < 5 or n_planes % 2 == 0:
        return None
    species = []
    for p in range(n_planes):
        idx = np.flatnonzero(planes == p)
        els = {slab[int(i)].specie.symbol for i in idx}
        if len(idx) != 1 or len(els) != 1:
            return None
        species.append(els.pop())
    qs = [charges.get(el, 0.0) for el in species]
    if len(set(species)) != 2 or any(
        species[i] == species[i + 1] or abs(qs[i] + qs[i + 1]) > 1e-6 for i in range(n_planes - 1)
    ):
        return None
    sc = slab.copy()
    sc.make_supercell([[2, 0, 0], [0, 2, 0], [0, 0, 1]])
    heights, _, _ = heights_along_normal(sc)
    planes = atomic_planes(heights)
    top, bottom = int(planes.max()), 0
    normal = unit_normal(sc.lattice.matrix)
    centre = sc.cart_coords.mean(axis=0)

    def inplane_dist(i: int, point: np.ndarray) -> float:
        d = sc.cart_coords[i] - point
        d -= np.dot(d, normal) * normal
        frac = sc.lattice.get_fractional_coords(d)
        frac[:2] -= np.round(frac[:2])
        frac[2] = 0.0
        return float(np.linalg.norm(sc.lattice.get_cartesian_coords(frac)))

    remove: list[int] = []
    top_idx = np.flatnonzero(planes == top)
    keep_top = int(top_idx[0])
    bottom_idx = np.flatnonzero(planes == bottom)
    mirror = 2 * centre - sc.cart_coords[keep_top]
    keep_bottom = int(min(bottom_idx, key=lambda i: inplane_dist(int(i), mirror)))
    for outer, inner, kept in ((top, top - 1, keep_top), (bottom, bottom + 1, keep_bottom)):
        remove += [int(i) for i in np.flatnonzero(planes == outer) if i != kept]
        inner_idx = np.flatnonzero(planes == inner)
        remove.append(int(max(inner_idx, key=lambda i: inplane_dist(int(i), sc.cart_coords[kept]))))
    sc.remove_sites(sorted(set(remove)))
    if not _neutral_nonpolar(sc, charges):  # pragma: no cover - guaranteed by the counting
        return None
    return sc


# --------------------------------------------------------------------------------------
# stoichiometric, non-polar terminations by redistributing the mobile ion (Canepa-style)

#: ``reconstruction`` of the slabs of :func:`stoichiometric_terminations`.
REDISTRIBUTED = "{ion} redistributed (Canepa-style)"

#: Mobile cations in this order of preference (the first one present with a positive charge).
MOBILE_IONS = ("Li", "Na", "K", "Rb", "Cs", "Ag", "Cu", "Mg", "Ca", "Zn")

#: Mobile ions whose height is within this depth (Å) of the cut plane may change surface.
REDISTRIBUTION_DEPTH = 2.0

#: Most arrangements (framework halves x mobile-ion choices) ranked by Ewald energy per cut plane.
MAX_ARRANGEMENTS = 20000

#: Lowest-energy arrangements screened for mirror-symmetric depth profiles, and of those
#: (mirror-symmetric first) the most tested with pymatgen's ``Slab.is_symmetric``.
_RANKED = 256
_SYMMETRY_TRIES = 6


def mobile_ion(structure: Structure, charges: dict[str, float]) -> str | None:
    """The mobile cation of an ionic phase (Li first, see :data:`MOBILE_IONS`), or None.

    None when no such cation carries a positive formal charge or when it is the only
    cation (no framework left to terminate the slab).
    """
    present = {el.symbol for el in structure.composition.elements}
    for ion in MOBILE_IONS:
        if ion in present and charges.get(ion, 0.0) > 0:
            others = [el for el in present if el != ion and charges.get(el, 0.0) > 0]
            return ion if others else None
    return None


def shortest_stacking(ouc: Structure, tol: float = 0.05) -> Structure:
    """The oriented unit cell with c replaced by the shortest out-of-plane lattice translation.

    pymatgen's oriented unit cell of a centred lattice keeps the conventional c: LLZO
    (I4_1/acd) (001) has 192 atoms and 12.66 Å, where the body centring (a+b+c)/2 stacks
    the same in-plane cell every 6.33 Å (96 atoms). Translations from site 0 to sites of
    the same species are tested (every site must land on a site of its species within
    ``tol`` Å); the cell is returned unchanged when none is shorter.
    """
    frac = np.mod(ouc.frac_coords, 1.0)
    species = np.array([site.species_string for site in ouc])
    lat = ouc.lattice

    def is_translation(t: np.ndarray) -> bool:
        for sp in np.unique(species):
            f = frac[species == sp]
            d = (f + t)[:, None, :] - f[None, :, :]
            d -= np.round(d)
            if not np.all(np.min(np.linalg.norm(d @ lat.matrix, axis=2), axis=1) < tol):
                return False
        return True

    same = np.flatnonzero(species == species[0])
    steps = sorted(
        (np.mod(frac[j] - frac[0], 1.0) for j in same[1:]), key=lambda t: float(t[2])
    )
    for t in steps:
        tc = float(t[2])
        if tc < 1e-3 or tc > 1 - 1e-3 or abs(1 / tc - round(1 / tc)) > 1e-3:
            continue
        if tc > 0.5 + 1e-3:
            break
        if not is_translation(t):
            continue
        keep = frac[:, 2] < tc - 1e-6
        new = Lattice([lat.matrix[0], lat.matrix[1], t @ lat.matrix])
        reduced = Structure(
            new,
            [ouc[int(i)].species for i in np.flatnonzero(keep)],
            frac[keep] @ lat.matrix,
            coords_are_cartesian=True,
            to_unit_cell=True,
        )
        if len(reduced) * round(1 / tc) == len(ouc):
            return reduced
    return ouc


def _periodic_planes(z: np.ndarray, period: float, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """(plane label, plane height) of heights ``z`` periodic in ``period`` (Å); the heights
    start in the widest empty gap, so that no plane straddles the cell boundary."""
    order = np.sort(z)
    gaps = np.diff(np.append(order, order[0] + period))
    start = order[(int(np.argmax(gaps)) + 1) % len(order)]
    rel = np.mod(z - start + 1e-9, period) - 1e-9
    labels = atomic_planes(rel, tol)
    heights = np.array([start + rel[labels == p].mean() for p in range(int(labels.max()) + 1)])
    return labels, heights


def _mirror_symmetric(
    symbols: np.ndarray, heights: np.ndarray, centre: float, tol: float = 0.05
) -> bool:
    """Same species at the same depths seen from both surfaces (mirror of the height profile)."""
    for sp in np.unique(symbols):
        h = np.sort(heights[symbols == sp])
        if not np.allclose(h, np.sort(centre - h), atol=tol):
            return False
    return True


def stoichiometric_terminations(
    bulk: Structure,
    miller_index: Sequence[int],
    *,
    min_thickness: float = 10.0,
    vacuum: float = 15.0,
    mobile: str | None = None,
    depth: float = REDISTRIBUTION_DEPTH,
    max_arrangements: int = MAX_ARRANGEMENTS,
    fixed_thickness: float | None = None,
    fixed_fraction: float = 0.5,
    ftol: float = 0.1,
    conventional: bool = True,
) -> list[SlabRecord]:
    """Stoichiometric, neutral, dipole-free slabs of an ionic cut with a mobile cation.

    The approach of Canepa et al., Chem. Mater. 30, 3019 (2018) (LLZO garnet surfaces):
    cut the bulk at a framework cation plane, make the slab stoichiometric and symmetric by
    putting half of that plane on each surface, and redistribute the mobile ions (Li) near
    the cut between the two surfaces, choosing the arrangement of lowest electrostatic
    (Ewald) energy. In detail, for every distinct plane of framework cations (not the
    mobile ion) of the oriented unit cell (OUC):

    1. *N* OUCs are stacked from that plane (*N* h >= ``min_thickness``, h the shortest
       stacking period, :func:`shortest_stacking`), so the composition is *N* OUCs:
       stoichiometric and neutral whatever follows.
    2. Each atom of the cut plane, and each mobile ion within ``depth`` Å of it, sits
       either at the bottom surface or, translated by *N* h, at the top one. Moving an
       ion of charge q changes the dipole by q *N* h / A, so a zero dipole fixes the
       charge to move: half of every element of the cut plane (both surfaces end in the
       same plane, as a Tasker-2 half plane) and the number of mobile ions that cancels
       the rest.
    3. Among all such arrangements (exhaustively when there are at most
       ``max_arrangements``; mobile-ion shells farther from the plane are dropped until
       there are) the one of lowest Ewald energy of formal point charges is kept,
       preferring arrangements whose two surfaces show the same species at the same
       depths, then those pymatgen finds symmetric.
    4. A plane that cannot be halved in the OUC (an odd number of atoms of an element, or
       an odd number of mobile ions to move) is tried in 2x1, 1x2 and 2x2 in-plane cells.

    pymatgen does the crystallography (:class:`SlabGenerator`'s oriented unit cell),
    the formal charges (:func:`oxidation_states`), the Ewald energies
    (:class:`EwaldSummation`'s pair-energy matrix, computed once per cut plane with both
    positions of every movable ion: the energy of an arrangement is a quadratic form of
    its occupations) and the surface symmetry (:meth:`Slab.is_symmetric`); the plane
    selection, the counting that makes the dipole vanish and the enumeration are written
    here, since pymatgen's ``get_tasker2_slabs`` moves atoms of one species of the
    outermost plane only and ``nonstoichiometric_symmetrized_slab`` gives up the
    stoichiometry. Only the mobile ion and the cut plane are redistributed (never O or
    other anions), and phases with covalent units (PS4, PO4, ...) are left out (a split
    plane would tear them apart). Returns records with ``reconstruction`` ``"Li redistributed
    (Canepa-style)"``, ``tasker_type`` of the plain cut and ``ewald_energy``, lowest Ewald
    energy per atom first (a point-charge ranking, not a surface energy); their ``shift`` is
    the fractional height of the split plane in pymatgen's OUC (pymatgen's own shifts lie
    between planes). Empty when the phase has no mobile cation or no plane admits a
    neutral, dipole-free arrangement.
    """
    check_bulk(bulk)
    hkl = reduce_miller(miller_index)
    bulk = conventional_bulk(bulk) if conventional else bulk.copy()
    charges = oxidation_states(bulk)
    mobile = mobile or mobile_ion(bulk, charges)
    if mobile is None or covalent_bonds(bulk):
        return []
    gen = SlabGenerator(
        bulk,
        hkl,
        min_slab_size=min_thickness,
        min_vacuum_size=max(vacuum, 3.0),
        center_slab=False,
        in_unit_planes=False,
        primitive=True,
        reorient_lattice=True,
    )
    found = _redistributed_slabs(
        gen,
        charges,
        mobile,
        min_thickness,
        vacuum,
        depth=depth,
        max_arrangements=max_arrangements,
        ftol=ftol,
    )
    how = REDISTRIBUTED.format(ion=mobile)
    return [
        _record(
            slab, sym, tasker, bulk, vacuum, fixed_thickness, fixed_fraction, charges, 0, False, how,
            energy,
        )
        for slab, sym, tasker, energy in found
    ]


def _redistributed_slabs(
    gen: SlabGenerator,
    charges: dict[str, float],
    mobile: str,
    min_thickness: float,
    vacuum: float,
    *,
    depth: float = REDISTRIBUTION_DEPTH,
    max_arrangements: int = MAX_ARRANGEMENTS,
    ftol: float = 0.1,
) -> list[tuple[Slab, bool, int | None, float]]:
    """[(slab, symmetric, Tasker type of the cut, Ewald energy eV)], lowest per atom first."""
    if charges.get(mobile, 0.0) <= 0:
        return []
    base = shortest_stacking(gen.oriented_unit_cell)
    cell = _cell_arrays(base, charges, mobile, ftol)
    if cell is None:
        return []
    h = cell["h"]
    n_ouc = max(1, math.ceil(min_thickness / h - 1e-9))
    neutral_planes = planes_neutral(base, charges)

    # one cation plane per group of equivalent ones (same depth profile, or its mirror)
    pending: list[float] = []
    seen: list[dict[str, np.ndarray]] = []
    for p, z_plane in enumerate(cell["plane_z"]):
        members = cell["frame"][cell["labels"] == p]
        if not (cell["q"][members] > 0).any():
            continue  # terminations are named by their cations: anion planes are not cut
        rel = _relative_heights(cell, members, z_plane)
        profile = {sp: np.sort(rel[cell["symbols"] == sp]) for sp in np.unique(cell["symbols"])}
        if any(
            all(np.allclose(profile[sp], other[sp], atol=0.02) for sp in profile)
            or all(np.allclose(profile[sp], np.sort(-other[sp]), atol=0.02) for sp in profile)
            for other in seen
        ):
            continue
        seen.append(profile)
        pending.append(float(z_plane))

    results: list[tuple[Slab, bool, int | None, float]] = []
    # a plane with an odd number of atoms of an element, or an odd count of mobile ions to
    # move, can be halved only in a larger in-plane cell
    for size in ((1, 1), (2, 1), (1, 2), (2, 2)):
        if not pending:
            break
        if size != (1, 1):
            cell = _cell_arrays(base * (size[0], size[1], 1), charges, mobile, ftol)
        lat, normal = cell["lat"], cell["normal"]
        left = []
        for z_plane in pending:
            dist = np.abs(np.mod(cell["plane_z"] - z_plane + h / 2, h) - h / 2)
            members = cell["frame"][cell["labels"] == int(np.argmin(dist))]
            best = _best_arrangement(
                cell["cart"], cell["z"], cell["symbols"], cell["q"],
                _relative_heights(cell, members, z_plane), members, cell["mob"], lat, normal, h,
                z_plane, n_ouc, charges[mobile], vacuum, depth, max_arrangements,
            )
            if best is None:
                left.append(z_plane)
                continue
            ranked, dipole0 = best
            tasker = 1 if neutral_planes else (3 if abs(dipole0) > DIPOLE_TOL else 2)
            # the lowest-energy arrangement with equivalent surfaces (pymatgen), else the lowest
            picked = None
            for coords, species, energy in ranked:
                length = float(np.ptp(coords @ normal)) + max(vacuum, 3.0)
                slab = Slab(
                    Lattice([lat[0], lat[1], normal * length]),
                    species,
                    coords,
                    gen.miller_index,
                    gen.oriented_unit_cell,
                    float(np.mod(z_plane / ouc_height(gen), 1.0)),
                    gen.slab_scale_factor,
                    coords_are_cartesian=True,
                    to_unit_cell=True,
                    reorient_lattice=True,
                )
                if slab.is_symmetric():
                    picked = (recentre(slab), True, tasker, energy)
                    break
                picked = picked or (recentre(slab), False, tasker, energy)
            results.append(picked)  # type: ignore[arg-type]
        pending = left
    results.sort(key=lambda item: item[3] / len(item[0]))  # same composition per atom
    return results


def _cell_arrays(
    ouc: Structure, charges: dict[str, float], mobile: str, ftol: float
) -> dict[str, Any] | None:
    """Heights, charges and framework planes of an oriented unit cell; None without a framework."""
    lat = ouc.lattice.matrix
    normal = unit_normal(lat)
    if np.dot(lat[2], normal) < 0:
        normal = -normal
    h = float(np.dot(lat[2], normal))
    frac = np.mod(ouc.frac_coords, 1.0)
    frac[frac > 1 - 1e-9] = 0.0
    symbols = np.array([site.specie.symbol for site in ouc])
    q = site_charges(ouc, charges)
    mob = symbols == mobile
    frame = np.flatnonzero(~mob)
    if not len(frame) or not (q[frame] > 0).any() or abs(q.sum()) > CHARGE_TOL:
        return None
    z = frac[:, 2] * h
    labels, plane_z = _periodic_planes(z[frame], h, ftol)
    return {
        "lat": lat, "normal": normal, "h": h, "cart": frac @ lat, "z": z, "symbols": symbols,
        "q": q, "mob": mob, "frame": frame, "labels": labels, "plane_z": plane_z,
    }


def _relative_heights(cell: dict[str, Any], members: np.ndarray, z_plane: float) -> np.ndarray:
    """Signed height of every atom above the cut plane, in [-h/2, h/2) (the plane itself ~0)."""
    h, z = cell["h"], cell["z"]
    rel = np.mod(z - z_plane + h / 2, h) - h / 2
    rel[members] = z[members] - z_plane - np.round((z[members] - z_plane) / h) * h
    return rel


def _best_arrangement(  # noqa: C901, PLR0913
    cart: np.ndarray,
    z: np.ndarray,
    symbols: np.ndarray,
    q: np.ndarray,
    rel: np.ndarray,
    members: np.ndarray,
    mob: np.ndarray,
    lat: np.ndarray,
    normal: np.ndarray,
    h: float,
    z_plane: float,
    n_ouc: int,
    q_mobile: float,
    vacuum: float,
    depth: float,
    max_arrangements: int,
) -> tuple[list[tuple[np.ndarray, list[str], float]], float] | None:
    """([(Cartesian coordinates, species, Ewald energy eV)] best first, as-cut dipole e/Å).

    None when the cut plane cannot be halved or no count of mobile ions cancels the dipole.
    """
    from itertools import combinations, product

    from pymatgen.analysis.ewald import EwaldSummation
    from pymatgen.core import Species

    area = float(np.linalg.norm(np.cross(lat[0], lat[1])))
    groups: dict[str, list[int]] = {}
    for i in members:
        groups.setdefault(str(symbols[i]), []).append(int(i))
    if any(len(g) % 2 for g in groups.values()):
        return None  # an odd plane cannot be halved in this cell
    frame_moved_q = sum(q[g[0]] * len(g) / 2 for g in groups.values())
    n_frame_choices = math.prod(math.comb(len(g), len(g) // 2) for g in groups.values())

    # mobile ions near the plane, in shells of equal distance
    near = np.flatnonzero(mob & (np.abs(rel) < min(depth, h / 2 - 1e-6)))
    near = near[np.argsort(np.abs(rel[near]), kind="stable")]
    shells: list[list[int]] = []
    for i in near:
        if shells and abs(abs(rel[i]) - abs(rel[shells[-1][0]])) < 0.05:
            shells[-1].append(int(i))
        else:
            shells.append([int(i)])

    def as_cut(zone: np.ndarray) -> np.ndarray:
        """Height above the cut plane of the lowest image of each OUC atom (movable ones low)."""
        base = np.mod(rel, h)
        base[zone] = rel[zone]
        return base

    choice = None
    for n_shells in range(len(shells), -1, -1):
        zone_mob = np.array([i for s in shells[:n_shells] for i in s], dtype=int)
        zone = np.concatenate([members, zone_mob]).astype(int)
        base = as_cut(zone)
        # dipole of the as-cut stack: n_ouc * sum q base (the OUC is neutral); moving q by
        # n_ouc * h changes it by q n_ouc h: the charge to move cancels sum q base / h
        to_move = -float(np.dot(q, base)) / h
        n_mob = (to_move - frame_moved_q) / q_mobile
        if abs(n_mob - round(n_mob)) > 1e-3 or not 0 <= round(n_mob) <= len(zone_mob):
            continue
        n_mob = round(n_mob)
        if n_frame_choices * math.comb(len(zone_mob), n_mob) <= max_arrangements:
            choice = (zone_mob, zone, base, n_mob)
            break
    if choice is None:
        return None
    zone_mob, zone, base, n_mob = choice
    dipole0 = n_ouc * float(np.dot(q, base)) / area

    # every image: (atom, height above the cut plane); the movable ones twice (low, high)
    fixed_atoms, fixed_h = [], []
    zone_set = set(zone.tolist())
    for i in range(len(symbols)):
        for k in range(n_ouc):
            if k == 0 and i in zone_set:
                continue
            fixed_atoms.append(i)
            fixed_h.append(base[i] + k * h)
    low_h = base[zone]
    atoms = np.concatenate([fixed_atoms, zone, zone]).astype(int)
    heights = np.concatenate([fixed_h, low_h, low_h + n_ouc * h])
    # Cartesian position of each image: its OUC atom translated by whole c vectors
    shifts = np.round((heights + z_plane - z[atoms]) / h)
    coords = cart[atoms] + shifts[:, None] * lat[2]
    n_fixed, n_zone = len(fixed_atoms), len(zone)

    # Ewald pair energies of all images once (pymatgen); an arrangement is a quadratic form
    span = float(np.ptp(heights))
    ewald_cell = Lattice([lat[0], lat[1], normal * (span + max(vacuum, 10.0))])
    inplane = coords - np.outer(coords @ normal, normal)
    ewald_coords = inplane + np.outer(heights - heights.min() + 0.5 * max(vacuum, 10.0), normal)
    decorated = Structure(
        ewald_cell,
        [Species(str(symbols[i]), float(q[i])) for i in atoms],
        ewald_coords,
        coords_are_cartesian=True,
    )
    matrix = EwaldSummation(decorated).total_energy_matrix
    movable = np.arange(n_fixed, n_fixed + 2 * n_zone)
    field = matrix[np.ix_(movable, np.arange(n_fixed))].sum(axis=1)
    pair = matrix[np.ix_(movable, movable)]
    const = float(matrix[:n_fixed, :n_fixed].sum())

    # arrangements: which atoms of the zone go to the top surface
    pos = {int(i): j for j, i in enumerate(zone)}
    frame_choices = []
    for picks in product(*(combinations(g, len(g) // 2) for g in groups.values())):
        up = np.zeros(n_zone, dtype=bool)
        up[[pos[i] for pick in picks for i in pick]] = True
        frame_choices.append(up)
    mob_choices = []
    for pick in combinations(zone_mob.tolist(), n_mob):
        up = np.zeros(n_zone, dtype=bool)
        up[[pos[i] for i in pick]] = True
        mob_choices.append(up)
    ups = np.array(frame_choices)[:, None, :] | np.array(mob_choices)[None, :, :]
    ups = ups.reshape(-1, n_zone)
    occ = np.concatenate([~ups, ups], axis=1).astype(float)
    energies = const + 2 * occ @ field + np.einsum("ij,jk,ik->i", occ, pair, occ)

    # lowest energies first, those with the same species at the same depths on both
    # surfaces (a necessary condition of equivalent surfaces) before the others
    frame_mask = ~mob[atoms]
    order = np.argsort(energies, kind="stable")
    mirrored, others = [], []
    for idx in order[:_RANKED]:
        keep = np.concatenate([np.ones(n_fixed, bool), ~ups[idx], ups[idx]])
        hk = heights[keep]
        centre = hk[frame_mask[keep]].min() + hk[frame_mask[keep]].max()
        (mirrored if _mirror_symmetric(symbols[atoms][keep], hk, centre) else others).append(idx)
    ranked = []
    for idx in (mirrored + others)[:_SYMMETRY_TRIES]:
        keep = np.concatenate([np.ones(n_fixed, bool), ~ups[idx], ups[idx]])
        ranked.append((coords[keep], [str(s) for s in symbols[atoms][keep]], float(energies[idx])))
    return ranked, dipole0


def _clear_matcher_cache() -> None:
    """Empty pymatgen's StructureMatcher cache of reduced structures (when it has one)."""
    cached = getattr(StructureMatcher, "_get_reduced_istructure", None)
    if hasattr(cached, "cache_clear"):
        cached.cache_clear()


def _tasker2_may_cancel(slab: Slab, charges: dict[str, float], tol: float = 0.01) -> bool:
    """Whether pymatgen's ``get_tasker2_slabs`` can give a dipole-free slab (a cheap pre-check).

    ``get_tasker2_slabs`` moves half of the sites of the outermost site's species within
    ``tol`` (fractional c) of it by the slab height to the other surface, and groups every
    choice with ``StructureMatcher`` (a minute for LLZO (001)). A symmetric result has no
    dipole; moving charge q by the height d changes the dipole by q d, whichever sites move,
    so when neither surface's move cancels the dipole of the neutral ``slab`` no version
    can be symmetric and the call is skipped. Mirrors pymatgen's selection of the sites.
    """
    q = site_charges(slab, charges)
    if not np.any(q) or abs(q.sum()) > CHARGE_TOL:
        return True
    normal = unit_normal(slab.lattice.matrix)
    c = slab.frac_coords[:, 2]
    n_total = round(slab.lattice.c / slab.oriented_unit_cell.lattice.c)
    if n_total == 0:  # pragma: no cover - a slab thinner than its OUC: let pymatgen decide
        return True
    height = float(abs(slab.lattice.matrix[2] @ normal))
    step = round((c.max() - c.min()) * n_total) / n_total * height
    dipole = float(q @ (slab.cart_coords @ normal))
    species = np.array([site.species_string for site in slab])
    for i, sign in ((int(np.argmin(c)), 1.0), (int(np.argmax(c)), -1.0)):
        moved = np.isclose(c, c[i], atol=tol) & (species == species[i])
        change = sign * q[i] * moved.sum() / 2 * step
        if abs(dipole + change) / surface_area(slab) < 10 * DIPOLE_TOL:
            return True
    return False


def _symmetric_versions(  # noqa: C901
    gen: SlabGenerator,
    slab: Slab,
    shift: float,
    min_thickness: float,
    symmetric: bool,
    bonds: dict[tuple[str, str], float],
    bulk: Structure,
    repair: bool,
    tol: float,
    charges: dict[str, float] | None = None,
) -> list[tuple[Slab, bool, str | None]]:
    """[(slab, is_symmetric, reconstruction)] for one cut, each at least ``min_thickness`` thick."""
    if slab.is_symmetric():
        return [(slab, True, None)]
    if not symmetric:
        return [(slab, False, None)]
    extra = 0.0
    base = slab
    # pymatgen stops symmetrising once the slab has no more atoms than the bulk cell: leave room
    # to remove up to half an oriented unit cell
    while len(base) <= len(gen.parent) + len(
        gen.oriented_unit_cell
    ) // 2 and extra < 8 * ouc_height(gen):
        extra += ouc_height(gen)
        base = cut_slab(gen, shift, min_thickness + extra, bonds=bonds, repair=repair, tol=tol)[0]
    for _ in range(8):
        with warnings.catch_warnings():
            # "Odd number of sites to divide" / "Too many sites removed": no such version, handled below
            warnings.simplefilter("ignore")
            # stoichiometric first: half of the outermost plane moved to the other side (Tasker 3 -> 2)
            versions = (
                [
                    s
                    for s in base.get_tasker2_slabs()
                    if s.is_symmetric() and units_intact(s, bonds, bulk)
                ]
                if charges is None or _tasker2_may_cancel(base, charges)
                else []
            )
            how = "tasker2"
            if not versions:
                how = None
                versions = [
                    s for s in gen.nonstoichiometric_symmetrized_slab(base) if s.is_symmetric()
                ]
        versions = [s for s in versions if units_intact(s, bonds, bulk)]
        if not versions:
            return [(slab, False, None)]
        if all(heights_along_normal(s)[1] >= min_thickness - 1e-6 for s in versions):
            return [(s, True, how) for s in versions]
        extra += ouc_height(gen)  # symmetrisation removed planes: start one OUC thicker
        base = cut_slab(gen, shift, min_thickness + extra, bonds=bonds, repair=repair, tol=tol)[0]
    return [(slab, False, None)]  # pragma: no cover


def _record(
    slab: Slab,
    sym: bool,
    tasker: int | None,
    bulk: Structure,
    vacuum: float,
    fixed_thickness: float | None,
    fixed_fraction: float,
    charges: dict[str, float],
    broken_bonds: int,
    repaired: bool,
    reconstruction: str | None = None,
    ewald_energy: float | None = None,
) -> SlabRecord:
    slab = with_exact_vacuum(slab, vacuum)
    heights, thickness, measured_vacuum = heights_along_normal(slab)
    fixed = fixed_from_bottom(heights, thickness, fixed_thickness, fixed_fraction)
    slab.add_site_property("selective_dynamics", selective_dynamics(fixed))
    planes = atomic_planes(heights)
    dipole, net_charge = slab_dipole(slab, charges)
    return SlabRecord(
        slab=slab,
        formula=bulk.composition.reduced_formula,
        miller_index=tuple(int(i) for i in slab.miller_index),
        shift=float(slab.shift),
        top_termination=plane_formula(slab, np.flatnonzero(planes == planes.max())),
        bottom_termination=plane_formula(slab, np.flatnonzero(planes == 0)),
        thickness=thickness,
        vacuum=measured_vacuum,
        area=surface_area(slab),
        n_atoms=len(slab),
        n_planes=int(planes.max()) + 1,
        symmetric=sym,
        stoichiometric=is_stoichiometric(slab, bulk),
        polar=abs(dipole) > DIPOLE_TOL or abs(net_charge) > CHARGE_TOL,
        dipole_per_area=dipole,
        net_charge=net_charge,
        reconstruction=reconstruction
        if reconstruction and abs(dipole) <= DIPOLE_TOL and abs(net_charge) <= CHARGE_TOL
        else None,
        ewald_energy=ewald_energy,
        tasker_type=tasker,
        broken_bonds=broken_bonds,
        repaired=repaired,
        n_fixed=int(fixed.sum()),
    )


def with_exact_vacuum(slab: Slab, vacuum: float) -> Slab:
    """The same slab with c normal to the surface and ``|c|`` = thickness + ``vacuum`` (Å), centred."""
    heights, thickness, _ = heights_along_normal(slab)
    a, b, _ = slab.lattice.matrix
    normal = unit_normal(slab.lattice.matrix)
    inplane = slab.cart_coords - np.outer(slab.cart_coords @ normal, normal)
    coords = inplane + np.outer(heights + 0.5 * vacuum, normal)
    return Slab(
        lattice=Lattice([a, b, normal * (thickness + vacuum)]),
        species=slab.species_and_occu,
        coords=coords,
        miller_index=slab.miller_index,
        oriented_unit_cell=slab.oriented_unit_cell,
        shift=slab.shift,
        scale_factor=slab.scale_factor,
        reorient_lattice=True,
        coords_are_cartesian=True,
        site_properties=slab.site_properties,
        energy=slab.energy,
    )


# --------------------------------------------------------------------------------------
# files

STRUCTURE_FORMATS = {"poscar": "vasp", "cif": "cif", "extxyz": "extxyz"}


def write_structure(structure: Structure, path: Path, fmt: str) -> None:
    """Write one structure: POSCAR (selective dynamics kept) and extxyz with ASE, CIF with pymatgen.

    ASE writes the POSCAR because pymatgen's ``Poscar`` rebuilds ``site_properties`` for
    every site (quadratic: 0.2 s for a 300-atom interface); pymatgen's ``AseAtomsAdaptor``
    turns ``selective_dynamics`` into ASE constraints, which ASE writes back as
    ``Selective dynamics`` flags.
    """
    if fmt in ("poscar", "extxyz"):
        from pymatgen.io.ase import AseAtomsAdaptor

        atoms = AseAtomsAdaptor.get_atoms(Structure.from_sites(structure))
        if fmt == "poscar":
            atoms.write(str(path), format="vasp", direct=True, sort=False)
        else:
            atoms.write(str(path), format="extxyz")
    else:
        structure.to(filename=str(path), fmt=fmt)


def records_json(records: Sequence[JSONRecord]) -> str:
    """A JSON list of records (each as its ``to_json``), without re-parsing them."""
    return "[\n" + ",\n".join(r.to_json() for r in records) + "\n]\n"


def write_slabs(
    records: Sequence[SlabRecord], folder: str | Path, fmt: str = "poscar"
) -> list[Path]:
    """One structure file per slab plus ``slabs.json`` (records that load back with :func:`load_slabs`)."""
    if fmt not in STRUCTURE_FORMATS:
        raise InvalidStructureError(
            f"unknown structure format {fmt!r}; use one of {', '.join(STRUCTURE_FORMATS)}"
        )
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, rec in enumerate(records, start=1):
        # numbered: two slabs of one cut (e.g. two Tasker-2 reconstructions) share a label
        path = folder / f"{i:03d}_{rec.label}.{STRUCTURE_FORMATS[fmt]}"
        write_structure(rec.slab, path, fmt)
        paths.append(path)
    (folder / "slabs.json").write_text(records_json(records))
    return paths


def load_slabs(path: str | Path) -> list[SlabRecord]:
    """SlabRecords from a ``slabs.json`` written by :func:`write_slabs`."""
    return [SlabRecord.model_validate(item) for item in json.loads(Path(path).read_text())]


# --------------------------------------------------------------------------------------
# surface energy of a non-stoichiometric slab: a range over the chemical potential


def binary_chemical_potential_range(
    bulk_formula: str,
    bulk_energy_per_fu: float,
    element: str,
    elemental_energies: dict[str, float],
) -> tuple[float, float]:
    """(μ_min, μ_max) of ``element`` (eV/atom) in equilibrium with a binary bulk ``A_x B_y``.

    The two bulk limits of the phase diagram: ``element``-poor when the other element is
    at its elemental reference (μ_other = e_other, so μ = (E_fu − x e_other)/y), and
    ``element``-rich at its own elemental reference (μ = e_element). ``elemental_energies``
    gives e (eV/atom) of both elements (same engine and settings as the slab and bulk).
    As pymatgen's ``SurfaceEnergyPlotter`` (which plots γ over Δμ between these limits).
    """
    comp = Composition(bulk_formula)
    others = [el.symbol for el in comp.elements if el.symbol != element]
    if len(comp.elements) != 2 or len(others) != 1 or element not in comp:
        raise InvalidStructureError(
            f"binary_chemical_potential_range needs a binary containing {element}, got {bulk_formula}"
        )
    other = others[0]
    x, y = comp[other], comp[element]
    poor = (bulk_energy_per_fu - x * elemental_energies[other]) / y
    return float(poor), float(elemental_energies[element])


def gamma_range(
    slab_energy: float,
    slab_composition: Composition | str,
    bulk_formula: str,
    bulk_energy_per_fu: float,
    area: float,
    element: str,
    mu_range: tuple[float, float],
) -> tuple[float, float]:
    """γ (eV/Å², two surfaces of area ``area``) of a slab with an excess or deficit of ``element``.

    γ(μ) = [E_slab − n E_fu − Δn μ] / 2A with n formula units counted on the other
    elements and Δn = N_element − n y the excess; returned at both ends of ``mu_range``
    (absolute μ of ``element``, eV/atom, e.g. from :func:`binary_chemical_potential_range`).
    A stoichiometric slab (Δn = 0) gives the same γ at both ends.
    """
    comp = Composition(slab_composition)
    fu = Composition(bulk_formula)
    others = [el for el in fu.elements if el.symbol != element]
    if not others:
        raise InvalidStructureError(f"{bulk_formula} has no element other than {element}")
    ns = [comp[el] / fu[el] for el in others]
    if max(ns) - min(ns) > 1e-6:
        raise InvalidStructureError(
            f"{comp.formula}: off-stoichiometric in more than {element}; one chemical potential "
            "does not fix its surface energy"
        )
    n = ns[0]
    excess = comp[element] - n * fu[element]
    return tuple(  # type: ignore[return-value]
        float((slab_energy - n * bulk_energy_per_fu - excess * mu) / (2 * area)) for mu in mu_range
    )


def describe_given_slab(structure: Structure) -> dict[str, Any]:
    """Numbers of a slab given as a file, used as it is (no bulk to cut it from).

    Thickness, vacuum and area (Å, Å²), atomic planes, top and bottom plane formulas,
    dipole normal to the surface (e/Å) and net charge (e) from formal oxidation states
    (pymatgen's guess for the whole composition; decorated species are used as given),
    ``polar`` as in :class:`SlabRecord`. Stoichiometry and Tasker type need the bulk and
    are not given.
    """
    heights, thickness, vacuum = heights_along_normal(structure)
    planes = atomic_planes(heights)
    charges = oxidation_states(structure)
    dipole, charge = slab_dipole(structure, charges)
    return {
        "formula": structure.composition.reduced_formula,
        "n_atoms": len(structure),
        "thickness": thickness,
        "vacuum": vacuum,
        "area": surface_area(structure),
        "n_planes": int(planes.max()) + 1,
        "top_termination": plane_formula(structure, np.flatnonzero(planes == planes.max())),
        "bottom_termination": plane_formula(structure, np.flatnonzero(planes == 0)),
        "dipole_per_area": dipole,
        "net_charge": charge,
        "polar": abs(dipole) > DIPOLE_TOL or abs(charge) > CHARGE_TOL,
        "oxidation_states": charges,
    }
