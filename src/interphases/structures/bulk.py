"""Load a bulk structure from wherever the user has it.

:func:`load_structure` is the one entry point the rest of the engine uses. A source is
resolved in this order:

1. a pymatgen :class:`~pymatgen.core.Structure` (copied) or an ASE ``Atoms``;
2. an existing file — anything pymatgen's ``Structure.from_file`` reads (CIF, POSCAR,
   CONTCAR, vasprun.xml, pymatgen JSON, ...) and, failing that, anything ``ase.io.read``
   reads (extxyz, xyz with a cell, OUTCAR, CP2K restart, ...; the last frame);
3. a name in the offline library (:mod:`interphases.structures.library`);
4. a Materials Project id (``mp-1138``) or a formula, fetched with ``mp-api`` when a key
   is configured; every fetched structure is cached on disk under
   ``interphases.config.cache_dir() / "mp"`` and the cache is read first, so a
   structure fetched once loads again with no key and no network.

Partially occupied (disordered) structures are refused with a clear message rather
than ordered silently: the ordering is a modelling choice the user has to make (e.g.
pymatgen's ``OrderDisorderedStructureTransformation``).

The readers are pymatgen's and ASE's; this module only adds the resolution order, the
error messages and the Materials Project cache.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Literal

import numpy as np

from pymatgen.core import Composition, Structure

from interphases import config
from interphases.errors import (
    MissingAPIKeyError,
    NetworkUnavailableError,
    StructureReadError,
    UnknownPhaseError,
)
from interphases.structures import library

__all__ = [
    "classify_structure",
    "from_materials_project",
    "label_given_interface",
    "load_structure",
    "mp_cache_dir",
    "read_structure_file",
    "split_interface",
    "write_structure",
]

SourceHint = Literal["file", "library", "mp"]

_MP_ID = re.compile(r"^(mp|mvc)-\d+$", re.IGNORECASE)
# names that are structure files even without an extension
_VASP_NAMES = ("POSCAR", "CONTCAR", "OUTCAR", "vasprun")
_FILE_SUFFIXES = {
    ".cif", ".mcif", ".vasp", ".poscar", ".xyz", ".extxyz", ".json", ".gz", ".xsf", ".cssr",
    ".res", ".cell", ".in", ".pwi", ".lmp", ".data", ".traj", ".xml", ".cfg", ".yaml", ".pdb",
}
MP_KEY_HINT = (
    "set the MP_API_KEY environment variable (free key at https://next-gen.materialsproject.org/api)"
)


# ------------------------------------------------------------------------ files
def read_structure_file(path: str | os.PathLike) -> Structure:
    """Read a periodic structure file with pymatgen, falling back to ASE.

    CIF files are read in the cell they give (not reduced to a primitive cell). For
    multi-frame files read by ASE (extxyz trajectories, OUTCAR), the last frame is used.

    Raises:
        StructureReadError: the file is missing, empty, unreadable by both pymatgen and
            ASE, has no periodic cell, or has partially occupied sites.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise StructureReadError(f"{path}: no such file")
    if path.is_dir():
        raise StructureReadError(f"{path} is a folder, not a structure file")
    if path.stat().st_size == 0 or (path.suffix != ".gz" and not path.read_bytes().strip()):
        raise StructureReadError(f"{path} is empty")

    errors: list[str] = []
    structure: Structure | None = None
    try:
        structure = Structure.from_file(path)
    except Exception as exc:  # pymatgen raises many types; any failure means "try ASE"
        errors.append(f"pymatgen: {_first_line(exc)}")
    if structure is None:
        structure = _read_with_ase(path, errors)
    if structure is None:
        raise StructureReadError(f"cannot read {path} as a structure ({'; '.join(errors)})")
    if len(structure) == 0:
        raise StructureReadError(f"{path} contains no atoms")
    if not structure.is_ordered:
        bad = next(i for i, site in enumerate(structure) if not site.is_ordered)
        raise StructureReadError(
            f"{path} has partially occupied sites (e.g. site {bad}: {structure[bad].species}); "
            "order it first, e.g. with pymatgen's OrderDisorderedStructureTransformation "
            "(after adding oxidation states), and load the ordered structure"
        )
    return structure


def _read_with_ase(path: Path, errors: list[str]) -> Structure | None:
    import ase.io
    from pymatgen.io.ase import AseAtomsAdaptor

    try:
        atoms = ase.io.read(path, index=-1)
    except Exception as exc:
        errors.append(f"ASE: {_first_line(exc)}")
        return None
    if isinstance(atoms, list):  # defensive: index=-1 returns one frame
        atoms = atoms[-1]
    if not atoms.pbc.any() or atoms.cell.rank < 3:
        errors.append("ASE: no periodic cell (a molecule?)")
        return None
    return AseAtomsAdaptor.get_structure(atoms)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _looks_like_path(text: str) -> bool:
    p = Path(text)
    return (
        os.sep in text
        or "/" in text
        or p.suffix.lower() in _FILE_SUFFIXES
        or any(p.name.upper().startswith(n.upper()) for n in _VASP_NAMES)
    )


# ----------------------------------------------------------- Materials Project
def mp_cache_dir() -> Path:
    """Folder of cached Materials Project structures (``cache_dir()/mp``)."""
    path = config.cache_dir() / "mp"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _cache_file(query: str, thermo_type: str | None) -> Path:
    if _MP_ID.match(query):
        return mp_cache_dir() / f"{query.lower()}.json"
    suffix = f"__{re.sub(r'[^A-Za-z0-9_-]', '_', thermo_type)}" if thermo_type else ""
    return mp_cache_dir() / f"formula_{Composition(query).reduced_formula}{suffix}.json"


def _read_cache(path: Path) -> Structure | None:
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
        return Structure.from_dict(record["structure"])
    except Exception:  # a corrupt cache entry is ignored and refetched
        return None


def _write_cache(path: Path, structure: Structure, **meta: object) -> None:
    record = {"structure": structure.as_dict(), "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%S"), **meta}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, default=str))
    tmp.replace(path)  # atomic: a crash never leaves a half-written cache entry


def _is_formula(text: str) -> bool:
    """True for a chemical formula of real elements ("LiF", "Li2O2"), not "X2" or "hello"."""
    from pymatgen.core import Element

    try:
        comp = Composition(text)
    except Exception:
        return False
    return len(comp) > 0 and all(isinstance(el, Element) for el in comp.elements)


def from_materials_project(
    mpid_or_formula: str, *, api_key: str | None = None, thermo_type: str | None = None
) -> Structure:
    """Structure of a Materials Project material, from the disk cache or ``mp-api``.

    Args:
        mpid_or_formula: an id (``"mp-1138"``) or a formula (``"LiF"``); for a formula
            the polymorph with the lowest energy above hull is taken (ties broken by id).
        api_key: Materials Project key; default from ``MP_API_KEY``/``PMG_MAPI_KEY``
            or pymatgen's settings.
        thermo_type: MP thermo type used to rank polymorphs of a formula (e.g.
            ``"GGA_GGA+U"``, ``"R2SCAN"``); default: MP's default mixing scheme.

    The cache (``cache_dir()/mp/*.json``) is read first: a cached structure loads with
    no key and no network. Every fetched structure is written there (atomically).

    Raises:
        MissingAPIKeyError: not cached and no key configured (or the key is rejected).
        NetworkUnavailableError: the Materials Project could not be reached.
        UnknownPhaseError: MP has no material with this id or formula.
    """
    query = mpid_or_formula.strip()
    is_id = bool(_MP_ID.match(query))
    if not is_id and not _is_formula(query):
        raise UnknownPhaseError(f"{query!r} is neither a Materials Project id (mp-1234) nor a formula")
    cache = _cache_file(query, thermo_type)
    cached = _read_cache(cache)
    if cached is not None:
        return cached

    key = api_key or config.mp_api_key()
    if not key:
        raise MissingAPIKeyError(f"fetching {query!r} from the Materials Project needs an API key: {MP_KEY_HINT}")

    try:
        from mp_api.client import MPRester
    except ImportError as exc:  # pragma: no cover - mp-api is a dependency
        raise NetworkUnavailableError(f"mp-api is not installed ({exc}); pip install mp-api") from exc

    try:
        with MPRester(key) as mpr:
            if is_id:
                material_id, e_hull = query.lower(), None
            else:
                material_id, e_hull = _lowest_e_above_hull(mpr, Composition(query).reduced_formula, thermo_type)
            structure = mpr.get_structure_by_material_id(material_id)
    except (UnknownPhaseError, MissingAPIKeyError):
        raise
    except Exception as exc:
        raise _translate_mp_error(exc, query) from exc
    if not structure:
        raise UnknownPhaseError(f"the Materials Project has no structure for {query!r}")

    _write_cache(cache, structure, material_id=material_id, query=query,
                 energy_above_hull=e_hull, thermo_type=thermo_type)
    if not is_id:  # the id is now known too: later look-ups by id hit the cache
        _write_cache(_cache_file(material_id, None), structure, material_id=material_id, query=material_id)
    return structure


def _lowest_e_above_hull(mpr, formula: str, thermo_type: str | None) -> tuple[str, float | None]:
    fields = ["material_id", "energy_above_hull"]
    if thermo_type:
        docs = mpr.materials.thermo.search(formula=formula, thermo_types=[thermo_type], fields=fields)
    else:
        docs = mpr.materials.summary.search(formula=formula, fields=fields)
    if not docs:
        raise UnknownPhaseError(f"the Materials Project has no material with formula {formula}")

    def rank(doc) -> tuple[float, str]:
        e = _get(doc, "energy_above_hull")
        return (float("inf") if e is None else float(e), str(_get(doc, "material_id")))

    best = min(docs, key=rank)
    e = _get(best, "energy_above_hull")
    return str(_get(best, "material_id")), (None if e is None else float(e))


def _get(doc, name: str):
    return doc.get(name) if isinstance(doc, dict) else getattr(doc, name, None)


def _translate_mp_error(exc: Exception, query: str) -> Exception:
    text = _first_line(exc)
    lowered = text.lower()
    if any(w in lowered for w in ("api key", "api_key", "401", "403", "unauthorized", "forbidden")):
        return MissingAPIKeyError(f"the Materials Project rejected the API key while fetching {query!r} ({text}); {MP_KEY_HINT}")
    if "no material" in lowered or "not found" in lowered or "404" in lowered:
        return UnknownPhaseError(f"the Materials Project has no material {query!r} ({text})")
    return NetworkUnavailableError(
        f"cannot reach the Materials Project to fetch {query!r} ({text}); check the network, "
        "or use a structure file or the offline library (`interphases phases`)"
    )


# ------------------------------------------------------------------ entry point
def load_structure(source, *, source_hint: SourceHint | None = None) -> Structure:
    """A pymatgen ``Structure`` from a Structure, ASE Atoms, file, library name or MP query.

    Args:
        source: a ``Structure`` or ``Atoms``; a path; a library name or alias
            (``"LiF"``, ``"beta-Li3PS4"``, ``"LLZO"``; case-insensitive); a Materials
            Project id (``"mp-1138"``) or formula.
        source_hint: force one interpretation of a string: ``"file"``, ``"library"``
            or ``"mp"``.

    Resolution order without a hint: object → existing file → library → MP id/formula.

    Raises:
        StructureReadError: a path that does not exist or cannot be read.
        UnknownPhaseError: a string that is none of the above and cannot be fetched
            (no key): the message names close library matches and how to set a key.
        MissingAPIKeyError: an MP id, or ``source_hint="mp"``, with no key and no cache.
        NetworkUnavailableError: MP asked for but unreachable.
    """
    if isinstance(source, Structure):
        return source.copy()
    try:
        from ase import Atoms
    except ImportError:  # pragma: no cover
        Atoms = ()  # type: ignore[assignment]
    if isinstance(source, Atoms):
        from pymatgen.io.ase import AseAtomsAdaptor

        if not source.pbc.any() or source.cell.rank < 3:
            raise StructureReadError("the ASE Atoms object has no periodic cell; set atoms.cell and atoms.pbc")
        return AseAtomsAdaptor.get_structure(source)
    if not isinstance(source, (str, os.PathLike)):
        raise StructureReadError(
            f"cannot load a structure from a {type(source).__name__}; pass a Structure, Atoms, path or name"
        )

    text = os.fspath(source).strip()
    if not text:
        raise UnknownPhaseError("empty structure name; `interphases phases` lists the library")
    if source_hint == "file" or isinstance(source, os.PathLike):
        return read_structure_file(text)
    if source_hint == "library":
        return library.get_phase(text)
    if source_hint == "mp":
        return from_materials_project(text)
    if source_hint is not None:
        raise ValueError(f"source_hint must be 'file', 'library' or 'mp', not {source_hint!r}")

    if Path(text).expanduser().exists():
        return read_structure_file(text)
    try:
        return library.get_phase(text)
    except UnknownPhaseError:
        pass
    if _MP_ID.match(text):
        return from_materials_project(text)
    if _looks_like_path(text):
        raise StructureReadError(f"{text}: no such file")
    if _is_formula(text):
        cached = _read_cache(_cache_file(text, None))
        if cached is not None:
            return cached
        if config.mp_api_key():
            return from_materials_project(text)
    close = library.close_matches(text)
    hint = f" Close library phases: {', '.join(close)}." if close else ""
    raise UnknownPhaseError(
        f"{text!r} is not a file, a library phase or a cached Materials Project structure.{hint} "
        f"`interphases phases` lists the library; to fetch it from the Materials Project, {MP_KEY_HINT}."
    )


# ------------------------------------------------------------------------ writing
def write_structure(structure: Structure, path: str | os.PathLike, *, fmt: str | None = None) -> Path:
    """Write ``structure`` with pymatgen, or with ASE for formats pymatgen does not write.

    The format follows the file name (``.cif``, ``POSCAR``/``CONTCAR``/``.vasp``,
    ``.json``, ``.xsf``, ``.extxyz``, ``.xyz``, ...) unless ``fmt`` is given. Parent
    folders are created. Returns the path written.
    """
    import ase.io
    from pymatgen.io.ase import AseAtomsAdaptor

    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        structure.to(filename=str(path), fmt=fmt or "")
        return path
    except ValueError:
        pass  # pymatgen does not know the format: ASE (extxyz, xyz, lammps-data, ...)
    try:
        ase.io.write(path, AseAtomsAdaptor.get_atoms(structure), format=fmt)
    except Exception as exc:
        raise StructureReadError(f"cannot write {path}: format {fmt or path.suffix!r} unknown to pymatgen and ASE ({_first_line(exc)})") from exc
    return path


# ------------------------------------------------------------------------ slabs and interfaces given as files

#: Vacuum along c (Å) above which a structure is a slab, not a bulk (as the DFT engines decide).
SLAB_VACUUM = 5.0


def _planes_along_c(structure: Structure, tol: float = 0.3) -> tuple[list[list[int]], list[float]]:
    """Atomic planes parallel to ab (site indices) and their heights (Å), bottom to top,
    starting above the widest gap."""
    a, b, _ = structure.lattice.matrix
    period = float(structure.volume / np.linalg.norm(np.cross(a, b)))
    h = np.mod(structure.frac_coords[:, 2], 1.0) * period
    order = np.argsort(h)
    gaps = np.diff(np.append(h[order], h[order][0] + period))
    start = int(np.argmax(gaps)) + 1
    order = np.roll(order, -start)
    hs = np.mod(h[order] - h[order][0], period)
    planes: list[list[int]] = []
    heights: list[float] = []
    last = 0.0
    for i, z in zip(order, hs, strict=True):
        if planes and z - last < tol:
            planes[-1].append(int(i))
        else:
            planes.append([int(i)])
            heights.append(float(z))
        last = z
    return planes, heights


def split_interface(
    structure: Structure, min_fraction: float = 0.2, min_thickness: float = 4.0, *, cyclic: bool = False
) -> tuple[list[int], list[int]] | None:
    """Site indices (lower, upper) of two stacked phases, or None for a single phase.

    The planes along c are split once; it is an interface when the two blocks (each with
    at least ``min_fraction`` of the atoms, two planes and ``min_thickness`` Å, so that a
    block is not one layer of a layered crystal) have different sets of elements
    (Li | LiF, Al | Ag) or clearly different compositions (fraction of some element
    differing by more than 0.25). One phase cut into a slab, even a polar one with
    alternating single-element planes (LiF(111)), has the same elements on both sides of
    every such split.

    ``cyclic``: for a periodic sandwich (no vacuum, two interfaces) the planes are a ring
    and the split is two cuts anywhere on it (every starting plane is tried), so a phase
    that crosses the cell boundary is kept whole; "lower" is then the block that starts
    at the first cut.
    """
    planes, heights = _planes_along_c(structure)
    if len(planes) < 4:
        return None
    n = len(structure)
    a, b, _ = structure.lattice.matrix
    period = float(structure.volume / np.linalg.norm(np.cross(a, b)))
    keys = sorted({str(site.species) for site in structure})
    counts = np.zeros((len(planes), len(keys)))
    for p, idx in enumerate(planes):
        for i in idx:
            counts[p, keys.index(str(structure[i].species))] += 1
    best: tuple[float, int, int] | None = None
    for start in range(len(planes) if cyclic else 1):
        order = np.roll(np.arange(len(planes)), -start)
        c = counts[order]
        h = np.mod(np.asarray(heights)[order] - heights[start], period)
        cum = np.cumsum(c, axis=0)
        total = cum[-1]
        for k in range(2, len(planes) - 1):
            low, up = cum[k - 1], total - cum[k - 1]
            if low.sum() < min_fraction * n or up.sum() < min_fraction * n:
                continue
            if h[k - 1] - h[0] < min_thickness or h[-1] - h[k] < min_thickness:
                continue
            diff = float(np.max(np.abs(low / low.sum() - up / up.sum())))
            if not np.array_equal(low > 0, up > 0):
                diff += 1.0
            if best is None or diff > best[0] + 1e-12:
                best = (diff, start, k)
    if best is None or best[0] <= 0.25:
        return None
    _, start, k = best
    ring = planes[start:] + planes[:start]
    return [i for p in ring[:k] for i in p], [i for p in ring[k:] for i in p]


def classify_structure(structure: Structure, vacuum_threshold: float = SLAB_VACUUM) -> str:
    """``"bulk"``, ``"slab"`` (vacuum along c above ``vacuum_threshold`` Å) or ``"interface"``
    (two stacked phases, see :func:`split_interface`, with or without vacuum).

    The vacuum test is the DFT engines' (:func:`interphases.workflows.engines.dft_common.is_slab`).
    """
    from interphases.workflows.engines.dft_common import is_slab

    if len(structure) > 1 and split_interface(structure) is not None:
        return "interface"
    return "slab" if is_slab(structure, vacuum_threshold) else "bulk"


def label_given_interface(structure: Structure) -> Structure:
    """A copy of an interface file with the ``interface_label`` site property (``"substrate"``
    for the lower phase, ``"film"`` for the upper one, :func:`split_interface`; both
    interfaces of a periodic sandwich found), as the interface workflows that take a
    labelled Structure (e.g. :class:`interphases.workflows.migration.InterfaceHopMaker`)
    expect. Raises :class:`~interphases.errors.InvalidStructureError` for one phase."""
    from interphases.errors import InvalidStructureError
    from interphases.workflows.engines.dft_common import is_slab

    parts = split_interface(structure, cyclic=not is_slab(structure, SLAB_VACUUM)) if len(structure) > 1 else None
    if parts is None:
        raise InvalidStructureError(
            f"{structure.composition.reduced_formula} ({len(structure)} atoms) is one phase, not two stacked phases"
        )
    labels = [""] * len(structure)
    for which, idx in zip(("substrate", "film"), parts, strict=True):
        for i in idx:
            labels[i] = which
    out = structure.copy()
    out.add_site_property("interface_label", labels)
    return out
