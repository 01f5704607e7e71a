"""Computed entries for one chemical system, from one consistent energy scale.

Three sources, one rule: a convex hull is built from entries computed with **one**
functional and **one** correction scheme. Mixing GGA(+U) with r2SCAN, MP2020-corrected
with uncorrected energies, DFT with MLIP energies, or two Materials Project database
generations in one hull shifts every window and reaction energy by the size of the
scheme difference (tenths of an eV), so :func:`check_entries` refuses such a set with
:class:`IncompatibleEntriesError` instead of computing something wrong.

- :func:`entries_from_mp`: the Materials Project through ``mp-api`` (needs a key and the
  network); the thermo type (``"GGA_GGA+U"`` or ``"R2SCAN"``) is a parameter, never the
  mixed ``GGA_GGA+U_R2SCAN`` hull. Results are cached on disk under
  ``interphases.config.cache_dir() / "mp"`` so a second call works offline.
- :func:`entries_from_file`: a local JSON/JSON.gz file of pymatgen ``ComputedEntry`` /
  ``ComputedStructureEntry`` objects (monty ``loadfn``), a dict of them, or the slim
  formation-energy records of matterviz/Alexandria hull files.
- :func:`entries_from_results`: engine results (the user's structures relaxed with an MLIP,
  see :func:`interphases.workflows.stability.entries_from_structures`) put on the Materials
  Project 2020 energy scale (pymatgen ``MaterialsProject2020Compatibility``) where the model
  needs it.

What the field's libraries do not do, and this module adds: the consistency check of an
entry set (thermo type, correction scheme, energy model, database generation), the disk
cache of MP queries, and the energy-scale bookkeeping of MLIP energies (which models
predict raw GGA(+U) energies and which already predict MP2020-corrected ones).

MLIP energy scales (measured here, single points on MP relaxed structures from
``shared/data/mp_entries/Fe_Li_O_P_entries_MP2020.json.gz``, eV/atom):

==========  ============  ==========  ================  ================
phase       CHGNet 0.3.0  SevenNet-0  MP uncorrected    MP2020 corrected
==========  ============  ==========  ================  ================
Li2O        -4.927        -4.741      -4.755            -4.984
Li2O2       -5.028        -4.835      -4.846            -5.079
Fe2O3       -7.918        -6.633      -6.749            -8.064
==========  ============  ==========  ================  ================

CHGNet 0.3.0 was trained on MP2020-*corrected* energies (MPtrj), so applying the MP2020
corrections again would count the anion and +U corrections twice; SevenNet-0 predicts raw
GGA(+U) energies and needs them. :data:`MLIP_ENERGY_SCALES` records this; for any other
model the caller says which it is (``correction="mp2020"`` or ``"none"``).

References: Jain et al., APL Mater. 1, 011002 (2013) (Materials Project); Wang et al.,
Sci. Rep. 11, 15496 (2021) (MP2020 correction scheme); Deng et al., Nat. Mach. Intell. 5,
1031 (2023) (CHGNet, MPtrj).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from monty.json import MSONable
from monty.serialization import dumpfn, loadfn
from pymatgen.core import Composition, Element
from pymatgen.entries.computed_entries import ComputedEntry, ComputedStructureEntry

from interphases.config import cache_dir, mp_api_key
from interphases.errors import InterphasesError, MissingAPIKeyError, NetworkUnavailableError

__all__ = [
    "MLIP_ENERGY_SCALES",
    "THERMO_TYPES",
    "EntriesError",
    "EntrySet",
    "EntrySource",
    "IncompatibleEntriesError",
    "check_entries",
    "chemsys_elements",
    "entries_from_file",
    "entries_from_mp",
    "entries_from_results",
    "filter_chemsys",
    "get_entries",
    "thermo_type_of",
]

#: thermo types one hull may be built from (Materials Project names)
THERMO_TYPES = ("GGA_GGA+U", "R2SCAN")

#: energy scale of MLIP predictions: "mp2020" = model predicts MP2020-corrected energies
#: (no correction to apply), "raw" = raw GGA(+U) energies (apply MP2020). Keys are matched
#: against the lower-cased model name. Measured, see the module docstring.
MLIP_ENERGY_SCALES: dict[str, Literal["mp2020", "raw"]] = {
    "chgnet": "mp2020",
    "7net-0": "raw",
    "sevennet-0": "raw",
}

_MP_ID_NEW = re.compile(r"^mp-\d+-(GGA|GGA\+U|r2SCAN|R2SCAN)$")
_MP_ID_LEGACY = re.compile(r"^mp-\d+$")
_SOURCE_KEY = "interphases_source"


class EntriesError(InterphasesError, ValueError):
    """Entries are missing, unreadable, or do not cover the requested chemical system."""


class IncompatibleEntriesError(EntriesError):
    """An entry set mixes functionals, correction schemes, energy models or MP database versions."""


# --------------------------------------------------------------------------- helpers


def chemsys_elements(*items: str | Composition | Element | Iterable[str]) -> list[str]:
    """Sorted element symbols of formulas / element symbols, e.g. ``("Li3PO4", "Li") -> [Li, O, P]``."""
    symbols: set[str] = set()
    for item in items:
        if isinstance(item, Element):
            symbols.add(item.symbol)
        elif isinstance(item, Composition):
            symbols |= {el.symbol for el in item.elements}
        elif isinstance(item, str):
            try:
                comp = Composition(item)
            except Exception as exc:
                raise EntriesError(
                    f"cannot read formula {item!r}: give a formula such as Li3PO4"
                ) from exc
            symbols |= {el.symbol for el in comp.elements}
        else:
            symbols |= set(chemsys_elements(*item))
    return sorted(symbols)


def filter_chemsys(
    entries: Iterable[ComputedEntry], elements: Iterable[str]
) -> list[ComputedEntry]:
    """Entries whose elements all lie in ``elements`` (the full sub-system hierarchy)."""
    allowed = set(elements)
    return [e for e in entries if {el.symbol for el in e.composition.elements} <= allowed]


def _mlip_model(entry: ComputedEntry) -> str | None:
    source = str(entry.data.get(_SOURCE_KEY, ""))
    return source.split(":", 1)[1] if source.startswith("mlip:") else None


def thermo_type_of(entry: ComputedEntry) -> str:
    """The energy scale an entry belongs to.

    ``"GGA_GGA+U"`` or ``"R2SCAN"`` (Materials Project thermo types), ``"GGA_GGA+U_R2SCAN"``
    for an entry moved onto the r2SCAN hull by MP's mixing scheme, ``"MLIP:<model>"`` for
    entries computed here with a machine-learned potential, ``"Alexandria_PBE"`` for
    Alexandria formation energies, ``"unknown"`` when nothing says.
    """
    model = _mlip_model(entry)
    if model:
        return f"MLIP:{model}"
    if str(entry.data.get("source", "")).lower().startswith("alexandria"):
        return "Alexandria_PBE"
    if any("R2SCAN mixing" in adj.name for adj in entry.energy_adjustments):
        return "GGA_GGA+U_R2SCAN"
    run_type = str(entry.parameters.get("run_type") or entry.data.get("run_type") or "")
    if not run_type and isinstance(entry.entry_id, str):
        match = _MP_ID_NEW.match(entry.entry_id)
        run_type = match.group(1) if match else ""
    rt = run_type.upper().replace("PBE", "GGA")
    if rt in {"GGA", "GGA+U"}:
        return "GGA_GGA+U"
    if rt in {"R2SCAN", "R2SCAN+U", "SCAN"}:
        return "R2SCAN"
    return "unknown"


def _database_of(entry: ComputedEntry) -> str | None:
    """MP database generation from the id style: legacy ``mp-123`` vs ``mp-123-GGA`` (2021+)."""
    entry_id = entry.entry_id if isinstance(entry.entry_id, str) else ""
    if _MP_ID_NEW.match(entry_id):
        return "mp-thermo (ids mp-N-<run type>)"
    if _MP_ID_LEGACY.match(entry_id):
        return "mp-legacy (ids mp-N)"
    return None


def _mp2020_class(entry: ComputedEntry, compat: Any) -> str:
    """'MP2020', 'uncorrected', 'other' or 'neutral' (MP2020 would not correct it)."""
    from pymatgen.entries.compatibility import CompatibilityError

    try:
        expected = sum(adj.value for adj in compat.get_adjustments(entry))
    except (CompatibilityError, ValueError):
        return "other"
    actual = entry.correction
    if abs(expected) < 1e-9:
        return "neutral" if abs(actual) < 1e-9 else "other"
    if abs(actual - expected) < 1e-6:
        return "MP2020"
    return "uncorrected" if abs(actual) < 1e-9 else "other"


@dataclass
class EntrySet:
    """Entries of one chemical system plus where they come from (written into every document)."""

    entries: list[ComputedEntry]
    source: str
    thermo_type: str
    correction_scheme: str
    database: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def elements(self) -> list[str]:
        return chemsys_elements(*(e.composition for e in self.entries))

    def provenance(self) -> dict[str, Any]:
        """Flat description of the entry set for result documents and database rows."""
        return {
            "entry_source": self.source,
            "thermo_type": self.thermo_type,
            "correction_scheme": self.correction_scheme,
            "mp_database": self.database,
            "n_entries": len(self.entries),
            "chemsys": "-".join(self.elements),
            "notes": list(self.notes),
        }


def check_entries(
    entries: Sequence[ComputedEntry],
    *,
    thermo_type: str | None = None,
    allow_mixed_databases: bool = False,
    source: str = "entries",
) -> EntrySet:
    """Check that ``entries`` form one consistent energy scale and describe it.

    Refuses (``IncompatibleEntriesError``) a set that mixes thermo types (GGA(+U) vs
    r2SCAN vs MLIP vs Alexandria), MP2020-corrected with uncorrected GGA energies (checked
    by recomputing the MP2020 adjustments each entry should carry), or legacy with current
    Materials Project ids (the database was recomputed in between; pass
    ``allow_mixed_databases=True`` after checking yourself).
    """
    entries = list(entries)
    if not entries:
        raise EntriesError(
            f"no entries in {source}: give a file with entries of this chemical system"
        )
    for e in entries:
        if not isinstance(e, ComputedEntry):
            raise EntriesError(f"{source} holds a {type(e).__name__}, not a pymatgen ComputedEntry")

    types = {thermo_type_of(e) for e in entries}
    if len(types) > 1:
        examples = {t: next(e for e in entries if thermo_type_of(e) == t) for t in sorted(types)}
        listing = ", ".join(
            f"{t} (e.g. {e.entry_id or e.composition.reduced_formula})" for t, e in examples.items()
        )
        raise IncompatibleEntriesError(
            f"entries in {source} mix energy scales: {listing}; build one hull per functional/model "
            "(filter the file, or choose one thermo type)"
        )
    found = types.pop()
    if found == "GGA_GGA+U_R2SCAN":
        raise IncompatibleEntriesError(
            f"entries in {source} carry the GGA(+U)/r2SCAN mixing adjustment; use pure 'GGA_GGA+U' or 'R2SCAN' entries"
        )
    if thermo_type is not None and found not in (thermo_type, "unknown"):
        raise IncompatibleEntriesError(
            f"entries in {source} are {found}, but thermo type {thermo_type} was asked for"
        )

    scheme = {
        "R2SCAN": "none (r2SCAN)",
        "Alexandria_PBE": "none (Alexandria formation energies)",
    }.get(found, "unknown")
    if found.startswith("MLIP:"):
        scheme = "MP2020 scale (MLIP)"
    elif found == "GGA_GGA+U":
        from pymatgen.entries.compatibility import MaterialsProject2020Compatibility

        compat = MaterialsProject2020Compatibility(check_potcar=False)
        classes: dict[str, ComputedEntry] = {}
        # pymatgen warns on every failed oxidation-state guess (peroxides...): noise, not errors
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for e in entries:
                classes.setdefault(_mp2020_class(e, compat), e)
        classes.pop("neutral", None)
        if len(classes) > 1:
            listing = ", ".join(
                f"{c} (e.g. {e.entry_id or e.composition.reduced_formula})"
                for c, e in sorted(classes.items())
            )
            raise IncompatibleEntriesError(
                f"entries in {source} mix correction schemes: {listing}; correct all with MP2020 "
                "(EntrySource(apply_mp2020=True) / --mp2020) or use one set"
            )
        scheme = {
            "MP2020": "MP2020",
            "uncorrected": "none (raw GGA/GGA+U)",
            "other": "other (legacy MP or custom corrections, not MP2020)",
        }.get(next(iter(classes), "neutral"), "MP2020 (no entry needs a correction)")

    databases = {_database_of(e) for e in entries} - {None}
    if len(databases) > 1 and not allow_mixed_databases:
        raise IncompatibleEntriesError(
            f"entries in {source} come from two Materials Project database generations ({', '.join(sorted(databases))}); "
            "energies changed between them: use one set (or, after checking, allow them: --allow-mixed-mp / "
            "allow_mixed_databases=True)"
        )
    return EntrySet(
        entries=entries,
        source=source,
        thermo_type=found,
        correction_scheme=scheme,
        database=", ".join(sorted(databases)) or None,
    )


def apply_mp2020(entries: Sequence[ComputedEntry]) -> list[ComputedEntry]:
    """Re-apply MP2020 corrections to GGA/GGA+U entries, on copies (pymatgen's ``clean=True``:
    every previous energy adjustment is dropped first).

    Entries MP2020 cannot place (wrong U values, other functionals) raise ``EntriesError``
    naming them rather than being dropped silently.
    """
    from pymatgen.entries.compatibility import CompatibilityError, MaterialsProject2020Compatibility

    compat = MaterialsProject2020Compatibility(check_potcar=False)
    corrected = []
    for entry in entries:
        new = entry.copy()
        new.energy_adjustments = []  # pymatgen's clean=True: drop old corrections, then apply MP2020
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                new.energy_adjustments = compat.get_adjustments(new)
        except (CompatibilityError, ValueError) as exc:
            raise EntriesError(
                f"MP2020 cannot correct {entry.entry_id or entry.composition.reduced_formula}: {exc}"
            ) from exc
        corrected.append(new)
    return corrected


# --------------------------------------------------------------------------- local files


def _slim_record_to_entry(record: dict[str, Any]) -> ComputedEntry:
    """A matterviz/Alexandria hull record (composition, energy = formation energy per cell)."""
    data = dict(record.get("data") or {})
    data.setdefault("source", "Alexandria PBE")
    data["e_form_per_atom"] = record.get("e_form_per_atom")
    return ComputedEntry(
        Composition(record["composition"]),
        float(record["energy"]),
        entry_id=record.get("entry_id"),
        data=data,
    )


def _read_entry_file(path: Path) -> list[ComputedEntry]:
    if not path.is_file():
        raise EntriesError(
            f"entries file {path} not found: give a JSON(.gz) file of pymatgen ComputedEntry objects"
        )
    try:
        obj = loadfn(path)
    except Exception as exc:
        raise EntriesError(f"cannot read entries from {path}: {exc}") from exc
    if isinstance(obj, dict):
        obj = obj.get("entries", list(obj.values()))
    if not isinstance(obj, list):
        raise EntriesError(f"{path} holds a {type(obj).__name__}, not a list of entries")
    entries: list[ComputedEntry] = []
    for item in obj:
        if isinstance(item, ComputedEntry):
            entries.append(item)
        elif (
            isinstance(item, dict)
            and {"composition", "energy"} <= set(item)
            and "e_form_per_atom" in item
        ):
            entries.append(_slim_record_to_entry(item))
        else:
            raise EntriesError(
                f"{path} holds a {type(item).__name__} that is not a pymatgen ComputedEntry"
            )
    return entries


def entries_from_file(
    path: str | Path, elements: Iterable[str] | None = None
) -> list[ComputedEntry]:
    """Entries from a local ``.json`` / ``.json.gz`` file, restricted to ``elements`` if given.

    Slim formation-energy records (matterviz/Alexandria: ``composition``, ``energy`` =
    formation energy per cell, ``e_form_per_atom``) are read too; as their elemental
    references are 0 eV by construction, zero-energy elemental entries are added for the
    elements of ``elements`` that have none.
    """
    path = Path(path).expanduser()
    entries = _read_entry_file(path)
    if elements is not None:
        elements = list(elements)
        entries = filter_chemsys(entries, elements)
        if entries and all(thermo_type_of(e) == "Alexandria_PBE" for e in entries):
            have = {e.composition.elements[0].symbol for e in entries if e.composition.is_element}
            for el in set(elements) - have:
                entries.append(
                    ComputedEntry(
                        Composition(el),
                        0.0,
                        entry_id=f"alexandria-ref-{el}",
                        data={"source": "Alexandria PBE", "e_form_per_atom": 0.0},
                    )
                )
    return entries


# --------------------------------------------------------------------------- Materials Project


def _mp_cache_path(elements: Sequence[str], thermo_type: str) -> Path:
    return cache_dir() / "mp" / f"entries_{'-'.join(sorted(elements))}_{thermo_type}.json.gz"


def _mp_error(exc: Exception) -> InterphasesError:
    text = str(exc)
    if re.search(r"api[ _-]?key|401|403|unauthori[sz]ed|forbidden", text, re.IGNORECASE):
        return MissingAPIKeyError(
            f"the Materials Project rejected the API key ({text[:120]}): check MP_API_KEY"
        )
    return NetworkUnavailableError(
        f"the Materials Project could not be reached ({type(exc).__name__}): work offline with --entries FILE"
    )


def entries_from_mp(
    elements: Iterable[str],
    thermo_type: str = "GGA_GGA+U",
    *,
    api_key: str | None = None,
    use_cache: bool = True,
    band_gaps: bool = True,
) -> list[ComputedEntry]:
    """All Materials Project entries of the chemical system ``elements`` (and its sub-systems).

    ``thermo_type`` is ``"GGA_GGA+U"`` (MP2020-corrected GGA/GGA+U hull) or ``"R2SCAN"``;
    the mixed ``GGA_GGA+U_R2SCAN`` hull is refused. With ``band_gaps`` the MP band gap of
    each material is stored in ``entry.data["band_gap"]`` (eV, PBE/r2SCAN as MP lists it).
    Results are cached in ``cache_dir()/"mp"``; a cached system is served without a key.
    """
    elements = sorted(set(elements))
    if thermo_type not in THERMO_TYPES:
        raise EntriesError(f"thermo type {thermo_type!r} is not one of {', '.join(THERMO_TYPES)}")
    cache = _mp_cache_path(elements, thermo_type)
    if use_cache and cache.is_file():
        return list(loadfn(cache))
    key = api_key or mp_api_key()
    if not key:
        raise MissingAPIKeyError(
            "no Materials Project API key: set MP_API_KEY (or PMG_MAPI_KEY), or give a local entries file (--entries FILE)"
        )
    try:
        from mp_api.client import MPRester
    except ImportError as exc:  # pragma: no cover - mp-api is a dependency
        raise InterphasesError("mp-api is not installed: pip install mp-api") from exc
    try:
        with MPRester(key) as mpr:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                entries = list(
                    mpr.get_entries_in_chemsys(
                        elements, additional_criteria={"thermo_types": [thermo_type]}
                    )
                )
            if band_gaps and entries:
                _attach_mp_band_gaps(mpr, entries)
    except InterphasesError:
        raise
    except Exception as exc:  # network, HTTP and mp-api errors all end here
        raise _mp_error(exc) from exc
    if not entries:
        raise EntriesError(
            f"the Materials Project has no {thermo_type} entries for {'-'.join(elements)}"
        )
    check_entries(entries, thermo_type=thermo_type, source=f"Materials Project {thermo_type}")
    cache.parent.mkdir(parents=True, exist_ok=True)
    dumpfn(entries, cache)
    return entries


def _material_id(entry: ComputedEntry) -> str | None:
    mid = entry.data.get("material_id") or entry.entry_id
    if not isinstance(mid, str):
        return None
    match = re.match(r"^(mp-\d+|mvc-\d+)", mid)
    return match.group(1) if match else None


def _attach_mp_band_gaps(mpr: Any, entries: Sequence[ComputedEntry]) -> None:
    """Store MP summary band gaps in ``entry.data["band_gap"]`` (a failure only warns)."""
    ids = sorted({mid for e in entries if (mid := _material_id(e))})
    try:
        docs = mpr.materials.summary.search(material_ids=ids, fields=["material_id", "band_gap"])
    except Exception as exc:
        warnings.warn(
            f"Materials Project band gaps not retrieved ({exc}); verdicts will use other sources",
            stacklevel=3,
        )
        return
    gaps = {str(getattr(d, "material_id", "")): getattr(d, "band_gap", None) for d in docs}
    for e in entries:
        gap = gaps.get(_material_id(e) or "")
        if gap is not None:
            e.data["band_gap"] = float(gap)
            e.data["band_gap_source"] = "Materials Project summary"


# --------------------------------------------------------------------------- computed (MLIP)


def _mp_hubbards(comp: Composition) -> dict[str, float]:
    """Hubbard U the MP GGA+U scheme uses for ``comp`` (oxides/fluorides of Co Cr Fe Mn Mo Ni V W)."""
    from pymatgen.io.vasp.sets import MPRelaxSet

    anion = max(comp.elements, key=lambda el: el.X).symbol
    settings = MPRelaxSet.CONFIG["INCAR"]["LDAUU"].get(anion, {})
    return {
        el.symbol: float(settings[el.symbol])
        for el in comp.elements
        if float(settings.get(el.symbol, 0)) > 0
    }


def _energy_scale(model: str, correction: str) -> Literal["mp2020", "raw"]:
    if correction == "mp2020":
        return "raw"  # raw energies: MP2020 corrections to apply
    if correction == "none":
        return "mp2020"
    key = model.lower()
    for name, scale in MLIP_ENERGY_SCALES.items():
        if name in key:
            return scale
    raise EntriesError(
        f"unknown energy scale of model {model!r}: pass correction='mp2020' (model predicts raw GGA/GGA+U energies) "
        "or correction='none' (already MP2020-corrected)"
    )


def entries_from_results(
    results: Sequence[Any],
    *,
    correction: Literal["auto", "mp2020", "none"] = "auto",
    labels: Sequence[str] | None = None,
) -> list[ComputedStructureEntry]:
    """Turn engine results (:class:`~interphases.parsers.schema.CalcResult`) into entries on the MP2020 scale.

    Each entry carries MP-style parameters (``run_type`` GGA or GGA+U with MP's U values, so
    pymatgen's ``MaterialsProject2020Compatibility`` can place it) and
    ``data["interphases_source"] = "mlip:<model>"`` so :func:`check_entries` never lets it
    share a hull with DFT entries. ``correction="auto"`` looks the model up in
    :data:`MLIP_ENERGY_SCALES`. Unconverged relaxations are kept, flagged in ``data``.
    """
    from pymatgen.entries.compatibility import CompatibilityError, MaterialsProject2020Compatibility

    compat = MaterialsProject2020Compatibility(check_potcar=False)
    entries = []
    for i, res in enumerate(results):
        model = str(res.model or res.code)
        scale = _energy_scale(model, correction)
        structure = res.structure.copy()
        if "selective_dynamics" in structure.site_properties:
            structure.remove_site_property("selective_dynamics")
        comp = structure.composition
        hubbards = _mp_hubbards(comp)
        label = labels[i] if labels else (res.task_label or comp.reduced_formula)
        entry = ComputedStructureEntry(
            structure,
            float(res.energy),
            parameters={
                "run_type": "GGA+U" if hubbards else "GGA",
                "is_hubbard": bool(hubbards),
                "hubbards": hubbards,
                "software": "mlip",
            },
            data={
                _SOURCE_KEY: f"mlip:{model}",
                "engine": res.engine,
                "code": res.code,
                "code_version": res.code_version,
                "converged": bool(res.converged),
                "energy_scale": "MP2020-corrected by the model"
                if scale == "mp2020"
                else "raw GGA/GGA+U + MP2020 corrections",
            },
            entry_id=f"{model}-{label}-{i}",
        )
        if not res.converged:
            warnings.warn(
                f"relaxation of {label} did not converge ({res.error or 'no reason given'}); entry kept, flagged",
                stacklevel=2,
            )
        if scale == "raw":
            try:
                entry.energy_adjustments = compat.get_adjustments(entry)
            except (CompatibilityError, ValueError) as exc:
                raise EntriesError(
                    f"MP2020 cannot correct the computed entry {label}: {exc}"
                ) from exc
        entries.append(entry)
    return entries


def merge_entries(groups: Sequence[Sequence[ComputedEntry]], names: Sequence[str] | None = None) -> list[ComputedEntry]:
    """Entries of several sources as one list; an entry id seen twice is kept once (the first),
    unless the two energies differ (then :class:`EntriesError`: two sources disagree)."""
    merged: list[ComputedEntry] = []
    seen: dict[str, tuple[float, int]] = {}
    for k, group in enumerate(groups):
        for entry in group:
            key = entry.entry_id if isinstance(entry.entry_id, str) and entry.entry_id else None
            if key is not None and key in seen:
                energy, first = seen[key]
                if abs(energy - entry.energy) > 1e-6:
                    a = names[first] if names else f"source {first + 1}"
                    b = names[k] if names else f"source {k + 1}"
                    raise EntriesError(
                        f"entry {key} has two energies ({energy:.4f} eV in {a}, {entry.energy:.4f} eV in {b}): "
                        "the files do not share one energy scale; use one of them"
                    )
                continue
            if key is not None:
                seen[key] = (entry.energy, k)
            merged.append(entry)
    return merged


def uncorrected_mix_warning(entry_set: EntrySet) -> str | None:
    """A loud line when raw (uncorrected) GGA and GGA+U energies share one hull."""
    if not entry_set.correction_scheme.startswith("none (raw"):
        return None

    def hubbard(e: ComputedEntry) -> bool:
        params = e.parameters or {}
        return bool(params.get("is_hubbard")) or str(params.get("run_type", "")).upper() == "GGA+U"

    compounds = [e for e in entry_set.entries if not e.composition.is_element]
    if not compounds:
        return None
    mixed = {hubbard(e) for e in compounds} == {True, False}
    what = "mixed GGA and GGA+U" if mixed else "GGA/GGA+U"
    return (f"WARNING: uncorrected {what} energies (no MP2020 anion{' and +U' if mixed else ''} corrections): "
            "voltages can be off by tenths of a volt (LiF: 5.87 V raw vs 6.33 V corrected); "
            "apply the corrections with --mp2020 (EntrySource(apply_mp2020=True))")


# --------------------------------------------------------------------------- one front door


@dataclass
class EntrySource(MSONable):
    """Where a workflow takes its entries from (serialisable into a jobflow Flow).

    ``kind``: ``"mp"`` (Materials Project, ``thermo_type``), ``"file"`` (``path``) or
    ``"entries"`` (``entries`` given inline, e.g. computed with an MLIP).
    """

    kind: Literal["mp", "file", "entries"] = "mp"
    path: str | None = None
    #: more files merged with ``path`` (kind "file"): one hull from several files
    paths: list[str] | None = None
    thermo_type: str = "GGA_GGA+U"
    entries: list[ComputedEntry] | None = None
    apply_mp2020: bool = False
    allow_mixed_databases: bool = False

    @classmethod
    def from_any(
        cls, obj: EntrySource | str | Path | Sequence[ComputedEntry] | None, **kwargs: Any
    ) -> EntrySource:
        """``None`` -> MP, a path -> file, a list of entries -> inline."""
        if isinstance(obj, EntrySource):
            return obj
        if obj is None:
            return cls(kind="mp", **kwargs)
        if isinstance(obj, (str, Path)):
            return cls(kind="file", path=str(obj), **kwargs)
        return cls(kind="entries", entries=list(obj), **kwargs)

    def _files(self) -> list[str]:
        return [p for p in [self.path, *(self.paths or [])] if p]

    def describe(self) -> str:
        if self.kind == "file":
            return "file:" + "+".join(Path(p).name for p in self._files())
        if self.kind == "mp":
            return f"mp:{self.thermo_type}"
        return "inline entries"

    def load(self, elements: Iterable[str]) -> EntrySet:
        """Entries of the chemical system ``elements``, checked for consistency."""
        elements = sorted(set(elements))
        if self.kind == "mp":
            entries = entries_from_mp(elements, self.thermo_type)
        elif self.kind == "file":
            if not self._files():
                raise EntriesError("EntrySource(kind='file') needs a path")
            entries = merge_entries([entries_from_file(p, elements) for p in self._files()], self._files())
        else:
            entries = filter_chemsys(self.entries or [], elements)
        if self.apply_mp2020:
            entries = apply_mp2020(entries)
        missing = [
            el
            for el in elements
            if not any(
                e.composition.is_element and e.composition.elements[0].symbol == el for e in entries
            )
        ]
        if missing:
            raise EntriesError(
                f"{self.describe()} has no elemental entry for {', '.join(missing)}: a hull of {'-'.join(elements)} needs every element"
            )
        entry_set = check_entries(
            entries,
            thermo_type=self.thermo_type if self.kind == "mp" else None,
            allow_mixed_databases=self.allow_mixed_databases,
            source=self.describe(),
        )
        if self.apply_mp2020:
            entry_set.notes.append("MP2020 corrections (re)applied here")
        if len(self._files()) > 1:
            entry_set.notes.append(f"{len(entry_set.entries)} entries merged from {len(self._files())} files")
        warning = uncorrected_mix_warning(entry_set)
        if warning:
            entry_set.notes.append(warning)
        if entry_set.thermo_type == "Alexandria_PBE":
            entry_set.notes.append(
                "Alexandria PBE formation energies; elemental references at 0 eV; not MP-compatible"
            )
        return entry_set


def get_entries(
    elements: Iterable[str],
    source: EntrySource | str | Path | Sequence[ComputedEntry] | None = None,
    **kwargs: Any,
) -> EntrySet:
    """Checked entries of a chemical system from any source (see :class:`EntrySource`)."""
    return EntrySource.from_any(source, **kwargs).load(elements)
