"""The bundled offline library of battery phases.

The engine must work with no Materials Project key and no network, so the phases an
electrode | SEI | solid-electrolyte study needs are bundled as crystallographic facts in
``structures/data/phases.yaml``: space group, lattice parameters, one site per Wyckoff
orbit and the literature reference, plus the oxidation states and a literature density
used by the tests. Each structure is generated on first use by expanding the Wyckoff
orbits with pymatgen's symmetry-operation tables (the same result as
:meth:`~pymatgen.core.Structure.from_spacegroup`, which the tests check, without its
~2 s start-up per cubic space group) and cached for the process: building all 33
phases takes under a second.

What lives here (pymatgen has no such library):

- :class:`PhaseInfo` — a typed record of one entry (no structure built).
- :func:`list_phases`, :func:`phase_info`, :func:`get_phase` — look-up by name,
  alias (``"LLZO"``, ``"beta-Li3PS4"``, ``"corundum"``) or formula, case-insensitive.
- :func:`phase_names`, :func:`close_matches` — for error messages and the CLI.

Ordered models. Three experimental structures have partially occupied sites:
β-Li3PS4 (Homma et al. 2011), Li6PS5Cl (Kraft et al. 2017) and Li3YCl6 (Asano et al.
2018). The library holds ordered models with exact stoichiometry, derived once offline
(``scripts/derive_library_models.py``) and stored as explicit coordinates; the
``notes`` field of each entry says how (site choice or lowest-Ewald-energy ordering).
Free coordinates that the crystallographic source available offline does not give
reliably (OBELiX redistributes ICSD-derived CIFs with ~0.1–0.2 Å positional noise) were
relaxed with CHGNet at the fixed experimental lattice under the space-group symmetry;
the ``provenance`` field of each entry says which coordinates are experimental and
which were relaxed.

References for every phase are in the data file and in :attr:`PhaseInfo.reference`.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

import numpy as np
from pymatgen.core import Composition, Lattice, Structure

from interphases.errors import UnknownPhaseError

__all__ = [
    "CATEGORIES",
    "PhaseInfo",
    "Reference",
    "close_matches",
    "get_phase",
    "list_phases",
    "phase_info",
    "phase_names",
]

CATEGORIES = ("metal", "SEI", "solid electrolyte")
DATA_FILE = "phases.yaml"

CellChoice = Literal["default", "conventional", "primitive"]


@dataclass(frozen=True)
class Reference:
    """A literature reference: full citation and DOI (``None`` where none is given)."""

    citation: str
    doi: str | None = None

    def __str__(self) -> str:
        return f"{self.citation} (doi:{self.doi})" if self.doi else self.citation

    @property
    def short(self) -> str:
        """``"Berliner et al. 1989"``-style label for tables."""
        head = self.citation.split(";")[0]
        chunks = [c.strip() for c in head.split(",")]
        authors = []
        for chunk in chunks:  # "A. B. Name" chunks until the title starts
            if re.match(r"^(?:[A-Z][a-z]?\.\s*-?)+\s*[A-Z][\w'-]+$", chunk):
                authors.append(chunk.split()[-1])
            else:
                break
        if not authors:
            label = chunks[0].split("(")[0].strip()
        elif len(authors) == 1:
            label = authors[0]
        elif len(authors) == 2:
            label = f"{authors[0]} & {authors[1]}"
        else:
            label = f"{authors[0]} et al."
        year = re.search(r"\((1[89]\d\d|20\d\d)\)", head) or re.search(r"\b(1[89]\d\d|20\d\d)\b", head)
        return f"{label} {year.group(1)}" if year else label


@dataclass(frozen=True)
class PhaseInfo:
    """One entry of the offline library (crystallographic facts, no structure built).

    Attributes:
        name: canonical name (``"Li3PS4"``).
        formula: chemical formula as usually written (``"LiOH"``); see
            :attr:`reduced_formula` for pymatgen's normalised form (``"LiHO"``).
        category: ``"metal"``, ``"SEI"`` or ``"solid electrolyte"``.
        working_ions: the battery's mobile ion(s) this phase is relevant to.
        spacegroup_symbol, spacegroup_number: symmetry of the structure as built
            (the ordered model where the experiment is disordered).
        parent_spacegroup_symbol, parent_spacegroup_number: symmetry of the
            experimental, partially occupied structure, if the model is an ordering.
        lattice: ``a, b, c`` (Å) and ``alpha, beta, gamma`` (degrees) of the cell in
            which the sites are given.
        cell: cell returned by :func:`get_phase` by default (``conventional`` or
            ``primitive``).
        density_g_cm3: literature density; ``density_source`` says where from.
        oxidation_states: formal oxidation state per element (0 for metals).
        reference: the crystallographic source.
        provenance: where the coordinates come from.
        notes: ordering choices and remarks.
        aliases: other accepted names.
    """

    name: str
    formula: str
    category: str
    working_ions: tuple[str, ...]
    spacegroup_symbol: str
    spacegroup_number: int
    lattice: dict[str, float]
    cell: str
    density_g_cm3: float
    density_source: str
    oxidation_states: dict[str, float]
    reference: Reference
    provenance: str = "experimental"
    notes: str = ""
    aliases: tuple[str, ...] = ()
    parent_spacegroup_symbol: str | None = None
    parent_spacegroup_number: int | None = None
    _setting: str | None = field(default=None, repr=False, compare=False)
    _sites: tuple[tuple[str, str, tuple[float, float, float]], ...] = field(
        default=(), repr=False, compare=False
    )

    @property
    def reduced_formula(self) -> str:
        """pymatgen's reduced formula, for comparisons (``"LiHO"`` for LiOH)."""
        return Composition(self.formula).reduced_formula

    @property
    def is_ionic(self) -> bool:
        """True unless every oxidation state is zero (a metal)."""
        return any(q != 0 for q in self.oxidation_states.values())

    @property
    def is_ordered_model(self) -> bool:
        """True if the experimental structure is disordered and this is an ordering of it."""
        return self.parent_spacegroup_number is not None

    @property
    def n_wyckoff_sites(self) -> int:
        """Number of crystallographically distinct sites given in the data."""
        return len(self._sites)

    @property
    def wyckoff_sites(self) -> tuple[tuple[str, str, tuple[float, float, float]], ...]:
        """``(element, Wyckoff letter, fractional xyz)`` per site as given in the data
        (``"-"`` as letter for explicit P1 lists of ordered models)."""
        return self._sites

    @property
    def build_setting(self) -> str:
        """Space-group symbol (with origin choice) the sites are expanded with."""
        return self._setting or self.spacegroup_symbol


# --------------------------------------------------------------------------- loading
def _normalise(name: str) -> str:
    """Case- and punctuation-insensitive key: ``"beta-Li3PS4"`` -> ``"betali3ps4"``."""
    return re.sub(r"[\s_\-–—()]+", "", name.replace("β", "beta").replace("γ", "gamma")).casefold()


def _parse_entry(raw: dict[str, Any]) -> PhaseInfo:
    lat = dict(raw["lattice"])
    lat.setdefault("b", lat["a"])
    lat.setdefault("c", lat["a"])
    for angle in ("alpha", "beta", "gamma"):
        lat.setdefault(angle, 90.0)
    lattice = {k: float(lat[k]) for k in ("a", "b", "c", "alpha", "beta", "gamma")}
    sites = tuple((str(el), str(w), tuple(float(x) for x in xyz)) for el, w, xyz in raw["sites"])
    parent = raw.get("parent_spacegroup") or {}
    ref = raw["reference"]
    return PhaseInfo(
        name=str(raw["name"]),
        formula=str(raw["formula"]),
        category=str(raw["category"]),
        working_ions=tuple(raw["working_ions"]),
        spacegroup_symbol=str(raw["spacegroup"]["symbol"]),
        spacegroup_number=int(raw["spacegroup"]["number"]),
        lattice=lattice,
        cell=str(raw.get("cell", "conventional")),
        density_g_cm3=float(raw["density"]["value"]),
        density_source=str(raw["density"]["source"]),
        oxidation_states={str(k): float(v) for k, v in raw["oxidation_states"].items()},
        reference=Reference(citation=str(ref["citation"]).strip(), doi=ref.get("doi") or None),
        provenance=str(raw.get("provenance", "experimental")),
        notes=str(raw.get("notes", "")).strip(),
        aliases=tuple(str(a) for a in raw.get("aliases", ())),
        parent_spacegroup_symbol=parent.get("symbol"),
        parent_spacegroup_number=int(parent["number"]) if parent else None,
        _setting=raw.get("setting"),
        _sites=sites,
    )


@lru_cache(maxsize=1)
def _catalogue() -> tuple[dict[str, PhaseInfo], dict[str, str]]:
    """All entries by name, and a map from normalised name/alias to canonical name."""
    import yaml

    text = resources.files("interphases.structures").joinpath("data", DATA_FILE).read_text()
    entries = [_parse_entry(raw) for raw in yaml.safe_load(text)["phases"]]
    by_name = {info.name: info for info in entries}
    keys: dict[str, str] = {}
    for info in entries:
        for key in (info.name, *info.aliases):
            norm = _normalise(key)
            if norm in keys and keys[norm] != info.name:
                raise RuntimeError(f"library alias {key!r} is used by {keys[norm]} and {info.name}")
            keys[norm] = info.name
    return by_name, keys


def phase_names() -> list[str]:
    """Canonical names of all library phases, in data-file order."""
    return list(_catalogue()[0])


def list_phases(category: str | None = None) -> list[PhaseInfo]:
    """All library entries (optionally of one ``category``), in data-file order."""
    if category is not None and category not in CATEGORIES:
        raise UnknownPhaseError(f"unknown category {category!r}; choose one of {', '.join(CATEGORIES)}")
    return [p for p in _catalogue()[0].values() if category is None or p.category == category]


def _resolve(name: str) -> str | None:
    """Canonical library name for a name, alias or formula, or ``None``."""
    by_name, keys = _catalogue()
    if name in by_name:
        return name
    hit = keys.get(_normalise(name))
    if hit:
        return hit
    # a formula written differently ("OLi2", "Li2O1"): match on the reduced formula
    try:
        formula = Composition(name).reduced_formula
    except Exception:  # not a formula
        return None
    matches = [p.name for p in by_name.values() if p.reduced_formula == formula]
    return matches[0] if len(matches) == 1 else None


def close_matches(name: str, n: int = 4) -> list[str]:
    """Library names whose name or alias is close to ``name`` (for error messages)."""
    by_name, keys = _catalogue()
    hits = difflib.get_close_matches(_normalise(name), list(keys), n=2 * n, cutoff=0.6)
    out: list[str] = []
    for hit in hits:
        if keys[hit] not in out:
            out.append(keys[hit])
    return out[:n]


def phase_info(name: str) -> PhaseInfo:
    """The library entry for ``name`` (name, alias or formula; case-insensitive).

    Raises:
        UnknownPhaseError: not in the library; the message lists close matches.
    """
    canonical = _resolve(name)
    if canonical is None:
        close = close_matches(name)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownPhaseError(
            f"{name!r} is not in the offline library.{hint} "
            "`interphases phases` lists the library; pass a structure file or a "
            "Materials Project id/formula (with MP_API_KEY set) instead."
        )
    return _catalogue()[0][canonical]


# -------------------------------------------------------------------------- building
@lru_cache(maxsize=None)
def _symmetry_operations(symbol: str) -> tuple[np.ndarray, np.ndarray]:
    """Rotations (n, 3, 3) and translations (n, 3) of a space group, in pymatgen's setting.

    Same table and symbol look-up as :class:`pymatgen.symmetry.groups.SpaceGroup`, whose
    constructor is slow for cubic groups (it builds a set of 192 ``SymmOp`` with
    pairwise ``allclose``, ~2 s for Fm-3m); ``tests`` check that the structures built
    here equal ``Structure.from_spacegroup``.
    """
    from pymatgen.core.operations import SymmOp
    from pymatgen.symmetry.groups import SpaceGroup

    key = re.sub(r" ", "", symbol)
    key = SpaceGroup.abbrev_sg_mapping.get(key, SpaceGroup.full_sg_mapping.get(key, key))
    xyz = next(
        (spg["symops"] for spg in SpaceGroup.SYMM_OPS
         if key in (spg["hermann_mauguin"], spg["universal_h_m"], spg["hermann_mauguin_u"])),
        None,
    )
    ops = [SymmOp.from_xyz_str(x) for x in xyz] if xyz else list(SpaceGroup(symbol).symmetry_ops)
    rotations = np.array([op.rotation_matrix for op in ops])
    translations = np.array([op.translation_vector for op in ops])
    return rotations, translations


def _orbit(rotations: np.ndarray, translations: np.ndarray, point, tol: float) -> np.ndarray:
    """Symmetry-distinct images of ``point`` (fractional, wrapped into [0, 1))."""
    images = np.mod(np.round(rotations @ np.asarray(point, float) + translations, 10), 1.0)
    kept: list[np.ndarray] = []
    for p in images:
        if not any(np.all(np.abs((p - q) - np.round(p - q)) < tol) for q in kept):
            kept.append(p)
    return np.array(kept)


@lru_cache(maxsize=None)
def _build(name: str, cell: str) -> Structure:
    info = _catalogue()[0][name]
    lat = info.lattice
    lattice = Lattice.from_parameters(lat["a"], lat["b"], lat["c"], lat["alpha"], lat["beta"], lat["gamma"])
    rotations, translations = _symmetry_operations(info._setting or info.spacegroup_symbol)
    species: list[str] = []
    coords: list[np.ndarray] = []
    for element, _, xyz in info._sites:
        orbit = _orbit(rotations, translations, xyz, tol=1e-3)
        species.extend([element] * len(orbit))
        coords.extend(orbit)
    structure = Structure(lattice, species, coords)
    if cell == "primitive":
        structure = structure.get_primitive_structure()
    return structure


def get_phase(name: str, *, cell: CellChoice = "default", oxidation_states: bool = False) -> Structure:
    """Structure of a library phase (a fresh copy; safe to modify).

    Args:
        name: library name, alias or formula, case-insensitive (``"LiF"``,
            ``"beta-Li3PS4"``, ``"LLZO"``).
        cell: ``"default"`` (the entry's natural cell: conventional, or primitive for
            the large garnet), ``"conventional"`` (the cell the sites are given in) or
            ``"primitive"`` (pymatgen's primitive, Niggli-reduced cell).
        oxidation_states: decorate the species with the entry's oxidation states.

    Raises:
        UnknownPhaseError: ``name`` is not in the library (close matches are named).
    """
    info = phase_info(name)
    if cell not in ("default", "conventional", "primitive"):
        raise ValueError(f"cell must be 'default', 'conventional' or 'primitive', not {cell!r}")
    choice = info.cell if cell == "default" else cell
    structure = _build(info.name, choice).copy()
    if oxidation_states:
        structure.add_oxidation_state_by_element(info.oxidation_states)
    return structure
