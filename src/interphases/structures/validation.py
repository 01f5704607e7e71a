"""Fast sanity checks on structures, shared by every step that computes something.

Each check either returns a number or raises
:class:`~interphases.errors.InvalidStructureError` with a one-line message naming the
offending sites, so a bad input fails before an expensive calculation starts.

- :func:`check_min_distance` — overlapping atoms (two sites closer than ``cutoff`` Å).
  Uses pymatgen's cython neighbour list, so it costs milliseconds even for thousands
  of atoms.
- :func:`check_ordered` — partial occupancies (an MLIP or DFT code needs one species
  per site).
- :func:`charge_imbalance` / :func:`check_charge_balance` — sum of formal oxidation
  states over the cell.
- :func:`density_g_cm3` / :func:`density_deviation` — mass density and its relative
  deviation from a reference value.
- :func:`min_pair_distances` — shortest distance for every pair of elements (used to
  compare bond lengths with crystal-chemical expectations).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from pymatgen.core import Composition, Structure

from interphases.errors import InvalidStructureError

__all__ = [
    "charge_imbalance",
    "check_charge_balance",
    "check_min_distance",
    "check_ordered",
    "density_deviation",
    "density_g_cm3",
    "min_distance",
    "min_pair_distances",
    "near_overlaps",
    "screen_structure",
]

#: two sites closer than this (Å) are the same site twice: no code can use the structure
SAME_SITE_TOL = 0.1


def _nonempty(structure: Structure) -> None:
    if len(structure) == 0:
        raise InvalidStructureError("the structure has no atoms")
    if not np.isfinite(structure.lattice.matrix).all() or structure.volume <= 1e-6:
        raise InvalidStructureError("the structure has a degenerate or non-finite cell")


def min_distance(structure: Structure, r_max: float = 6.0) -> float:
    """Shortest interatomic distance (Å) in ``structure``, periodic images included.

    Returns ``inf`` if no two sites (or a site and its own image) are within ``r_max`` Å.
    """
    _nonempty(structure)
    # exclude_self drops only a site paired with itself at zero offset; two distinct
    # sites at the same position are kept (distance 0) and reported as such
    _, _, _, distances = structure.get_neighbor_list(r=r_max, exclude_self=True)
    return float(distances.min()) if len(distances) else float("inf")


def check_min_distance(structure: Structure, cutoff: float = 0.5) -> None:
    """Raise :class:`InvalidStructureError` if two sites are closer than ``cutoff`` Å.

    The default 0.5 Å flags overlapping or duplicated atoms only (the shortest real
    bond, H–H in H2, is 0.74 Å); pass a larger cutoff for a stricter check.
    """
    _nonempty(structure)
    centers, neighbors, _, distances = structure.get_neighbor_list(r=cutoff, exclude_self=True)
    if len(distances) == 0:
        return
    k = int(np.argmin(distances))
    i, j = int(centers[k]), int(neighbors[k])
    raise InvalidStructureError(
        f"atoms overlap: site {i} ({structure[i].species_string}) and site {j} "
        f"({structure[j].species_string}) are {distances[k]:.3f} Å apart (< {cutoff} Å); "
        "remove duplicated atoms or fix the coordinates"
    )


def check_ordered(structure: Structure) -> None:
    """Raise :class:`InvalidStructureError` if any site has a partial or mixed occupancy."""
    if structure.is_ordered:
        return
    for i, site in enumerate(structure):
        if not site.is_ordered:
            raise InvalidStructureError(
                f"site {i} has partial occupancy ({site.species.formula}); order the structure "
                "first (e.g. pymatgen OrderDisorderedStructureTransformation)"
            )


def charge_imbalance(composition: Composition | Structure, oxidation_states: Mapping[str, float]) -> float:
    """Net formal charge (e per cell) of ``composition`` with the given oxidation states."""
    if isinstance(composition, Structure):
        composition = composition.composition
    missing = [el.symbol for el in composition.elements if el.symbol not in oxidation_states]
    if missing:
        raise InvalidStructureError(f"no oxidation state given for {', '.join(missing)}")
    return float(sum(amount * oxidation_states[el.symbol] for el, amount in composition.element_composition.items()))


def check_charge_balance(
    composition: Composition | Structure, oxidation_states: Mapping[str, float], tol: float = 1e-6
) -> None:
    """Raise :class:`InvalidStructureError` if the formal charges do not sum to zero."""
    q = charge_imbalance(composition, oxidation_states)
    if abs(q) > tol:
        raise InvalidStructureError(f"net formal charge {q:+g} e with oxidation states {dict(oxidation_states)}")


def density_g_cm3(structure: Structure) -> float:
    """Mass density in g/cm³ (pymatgen's ``Structure.density``)."""
    return float(structure.density)


def density_deviation(structure: Structure, reference_g_cm3: float) -> float:
    """Relative deviation ``(ρ - ρ_ref) / ρ_ref`` of the structure's density."""
    return (density_g_cm3(structure) - reference_g_cm3) / reference_g_cm3


def min_pair_distances(structure: Structure, r_max: float = 4.0) -> dict[tuple[str, str], float]:
    """Shortest distance (Å) for each unordered element pair present within ``r_max`` Å.

    Keys are alphabetically sorted element pairs, e.g. ``("H", "O")``.
    """
    _nonempty(structure)
    centers, neighbors, _, distances = structure.get_neighbor_list(r=r_max, exclude_self=True)
    symbols = [site.specie.symbol if site.is_ordered else site.species.formula for site in structure]
    out: dict[tuple[str, str], float] = {}
    for c, n, d in zip(centers, neighbors, distances, strict=True):
        key = tuple(sorted((symbols[c], symbols[n])))
        if d < out.get(key, np.inf):
            out[key] = float(d)
    return out


def near_overlaps(structure: Structure, *, cutoff: float = 0.5, radius_fraction: float = 0.5) -> list[tuple[int, int, float]]:
    """Pairs ``(i, j, d)`` closer than ``cutoff`` Å or than ``radius_fraction`` of the sum of
    their covalent radii (ASE's table), shortest first, each pair once."""
    from ase.data import covalent_radii

    _nonempty(structure)
    radii = np.array([covalent_radii[site.specie.Z] if hasattr(site.specie, "Z") else 0.7 for site in structure])
    r_max = max(cutoff, float(2 * radius_fraction * radii.max()))
    centers, neighbors, _, distances = structure.get_neighbor_list(r=r_max, exclude_self=True)
    found: dict[tuple[int, int], float] = {}
    for i, j, d in zip(centers, neighbors, distances, strict=True):
        i, j = int(i), int(j)
        if d < cutoff or d < radius_fraction * (radii[i] + radii[j]):
            key = (min(i, j), max(i, j))
            found[key] = min(found.get(key, np.inf), float(d))
    return sorted(((i, j, d) for (i, j), d in found.items()), key=lambda t: t[2])


def screen_structure(structure: Structure, label: str = "structure", *, warn: bool = True) -> list[str]:
    """Checks for a structure a user gave (every CLI command that reads one).

    Raises :class:`InvalidStructureError` (one line) for an empty or degenerate cell and for
    two atoms on the same site (< ``SAME_SITE_TOL`` Å); returns (and logs as warnings) one
    line per near-overlapping pair (< 0.5 Å or half the covalent-radii sum).
    """
    import logging

    if not isinstance(structure, Structure):
        raise InvalidStructureError(f"{label}: expected a crystal structure, got {type(structure).__name__}")
    try:
        _nonempty(structure)
    except InvalidStructureError as exc:
        raise InvalidStructureError(f"{label}: {exc}") from None
    pairs = near_overlaps(structure) if structure.is_ordered else []
    if pairs and pairs[0][2] < SAME_SITE_TOL:
        i, j, d = pairs[0]
        raise InvalidStructureError(
            f"{label}: sites {i} ({structure[i].species_string}) and {j} ({structure[j].species_string}) "
            f"are on the same site ({d:.3f} Å apart): remove the duplicated atom"
        )
    messages = [
        f"{label}: sites {i} ({structure[i].species_string}) and {j} ({structure[j].species_string}) are only "
        f"{d:.2f} Å apart (near-overlapping atoms; check the coordinates)"
        for i, j, d in pairs[:5]
    ]
    if len(pairs) > 5:
        messages.append(f"{label}: {len(pairs) - 5} more near-overlapping pair(s)")
    if warn:
        for m in messages:
            logging.getLogger("interphases").warning(m)
    return messages
