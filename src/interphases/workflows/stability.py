"""jobflow Makers for electrochemical stability: windows, interface reactions, interphase verdicts.

- :class:`ComputedEntriesMaker`  relax structures with an engine (MLIP by default) and return
  entries on the MP2020 energy scale (:func:`entries_from_structures`).
- :class:`StabilityWindowMaker`   window of a phase against a working-ion metal, with the
  M-uptake profile and (optionally) the interphase verdict.
- :class:`InterfaceReactionMaker` reaction energy vs mixing ratio of two phases, closed or
  with an open working-ion reservoir at a voltage.
- :class:`ElectrolyteMetalStabilityMaker` the Flow for a solid electrolyte against a metal:
  window + reaction with the metal + verdict, collected into one document.

The physics lives in :mod:`interphases.analysis.stability`, :mod:`~interphases.analysis.reactions`
and :mod:`~interphases.analysis.interphase`; every document carries the provenance of its
entries (source, thermo type, correction scheme, working ion and charge) and a
``summary_rows()`` method giving flat rows for the results database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from jobflow import Flow, Maker, job
from pydantic import BaseModel, Field
from pymatgen.core import Structure
from pymatgen.entries.computed_entries import ComputedEntry, ComputedStructureEntry

from interphases.analysis.entries import (
    EntrySet,
    EntrySource,
    check_entries,
    chemsys_elements,
    entries_from_results,
)
from interphases.analysis.interphase import (
    DEFAULT_GAP_THRESHOLD,
    InterphaseVerdict,
    interphase_verdict,
)
from interphases.analysis.reactions import InterfaceReaction, interface_reactions
from interphases.analysis.stability import (
    StabilityWindow,
    couple_label,
    ion_charge,
    stability_window,
)
from interphases.workflows.engines import get_engine

__all__ = [
    "ComputedEntriesMaker",
    "ElectrolyteMetalStabilityDocument",
    "ElectrolyteMetalStabilityMaker",
    "EntryProvenance",
    "InterfaceReactionDocument",
    "InterfaceReactionMaker",
    "StabilityWindowDocument",
    "StabilityWindowMaker",
    "entries_from_structures",
]


class EntryProvenance(BaseModel):
    """Where the energies behind a result come from."""

    entry_source: str = Field(description="'mp:<thermo type>', 'file:<name>' or 'inline entries'.")
    thermo_type: str = Field(
        description="GGA_GGA+U, R2SCAN, MLIP:<model>, Alexandria_PBE, unknown."
    )
    correction_scheme: str
    mp_database: str | None = None
    n_entries: int
    chemsys: str
    engine: str = Field(
        description="'dft' for database/DFT entries, 'mlip' for entries computed here."
    )
    model: str = Field(description="Thermo type for DFT entries, model name for MLIP entries.")
    working_ion: str | None = None
    ion_charge: int | None = None
    notes: list[str] = Field(default_factory=list)

    @classmethod
    def from_entry_set(
        cls, entry_set: EntrySet, working_ion: str | None = None, charge: int | None = None
    ) -> EntryProvenance:
        info = entry_set.provenance()
        mlip = entry_set.thermo_type.startswith("MLIP:")
        return cls(
            **info,
            engine="mlip" if mlip else "dft",
            model=entry_set.thermo_type.split(":", 1)[1] if mlip else entry_set.thermo_type,
            working_ion=working_ion,
            ion_charge=charge,
        )

    def row_keys(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "model": self.model,
            "entry_source": self.entry_source,
            "thermo_type": self.thermo_type,
            "correction_scheme": self.correction_scheme,
            "chemsys": self.chemsys,
        }


class StabilityWindowDocument(BaseModel):
    """Window of one phase against a working-ion metal, with its provenance."""

    task_label: str
    window: StabilityWindow
    verdict: InterphaseVerdict | None = None
    provenance: EntryProvenance

    def summary_rows(self) -> list[dict[str, Any]]:
        """Flat rows: reduction/oxidation limits, decomposition energy vs metal (+ verdict), E_hull.

        Values are always finite numbers (database contract): an unbounded oxidation limit
        (no M to extract) gives no row, and ``oxidation_unbounded`` on the others says so.
        """
        w, base = self.window, self.provenance.row_keys()
        ion = f"V vs {couple_label(w.working_ion, w.ion_charge)}"
        common = {
            **base,
            "working_ion": w.working_ion,
            "ion_charge": w.ion_charge,
            "convention": w.convention,
            "oxidation_unbounded": w.oxidation.voltage is None,
        }
        rows = [
            {
                "kind": "reduction_limit",
                "formulas": [w.formula],
                "value": w.reduction.voltage,
                "units": ion,
                "products": w.reduction.products,
                "reaction": w.reduction.reaction,
                **common,
            },
            {
                "kind": "decomposition_energy_vs_metal",
                "formulas": [w.formula, w.working_ion],
                "value": w.decomposition_energy_at_metal,
                "units": "eV/atom",
                "products": w.metal_contact.phases,
                "verdict": self.verdict.verdict if self.verdict else None,
                **common,
            },
        ]
        # a phase with no M to extract has no oxidation limit: no row (values must be finite)
        if w.oxidation.voltage is not None:
            rows.insert(
                1,
                {
                    "kind": "oxidation_limit",
                    "formulas": [w.formula],
                    "value": w.oxidation.voltage,
                    "units": ion,
                    "products": w.oxidation.products,
                    "reaction": w.oxidation.reaction,
                    **common,
                },
            )
        if w.e_above_hull is not None:
            rows.append(
                {
                    "kind": "e_above_hull",
                    "formulas": [w.formula],
                    "value": w.e_above_hull,
                    "units": "eV/atom",
                    **common,
                }
            )
        return rows


class InterfaceReactionDocument(BaseModel):
    """Pseudo-binary reaction table of two phases, with its provenance."""

    task_label: str
    reaction: InterfaceReaction
    provenance: EntryProvenance

    def summary_rows(self) -> list[dict[str, Any]]:
        r, k = self.reaction, self.reaction.most_negative
        return [
            {
                "kind": "reaction_energy",
                "formulas": [r.reactant_1, r.reactant_2],
                "value": k.energy,
                "units": "eV/atom",
                "mixing_ratio": k.mixing_ratio,
                "reaction": k.reaction,
                "products": k.products,
                "open_element": r.open_element,
                "voltage": r.voltage,
                **self.provenance.row_keys(),
            }
        ]


class ElectrolyteMetalStabilityDocument(BaseModel):
    """Solid electrolyte | metal: window, reaction with the metal, verdict."""

    task_label: str
    electrolyte: str
    metal: str
    window: StabilityWindowDocument
    reaction: InterfaceReactionDocument

    @property
    def verdict(self) -> InterphaseVerdict | None:
        return self.window.verdict

    def summary_rows(self) -> list[dict[str, Any]]:
        return self.window.summary_rows() + self.reaction.summary_rows()


def _resolve_entries(
    source: EntrySource, elements: Sequence[str], entries: Sequence[ComputedEntry] | None
) -> EntrySet:
    if entries is not None:
        return EntrySource(kind="entries", entries=list(entries)).load(elements)
    return source.load(elements)


def entries_from_structures(
    structures: Sequence[Structure],
    engine: Any = "mlip",
    *,
    correction: Literal["auto", "mp2020", "none"] = "auto",
    labels: Sequence[str] | None = None,
    fmax: float = 0.05,
    max_steps: int = 300,
    cell: str | Sequence[str] = "full",
) -> list[ComputedStructureEntry]:
    """Relax ``structures`` with ``engine`` and return MP2020-scale entries.

    ``cell="full"`` (cell and positions) by default; a list gives one mode per structure
    (e.g. ``"fixed"`` for a molecular-crystal reference such as O2 whose soft cell takes
    hundreds of steps). The hull needs every phase of the chemical system that could
    compete, the elements included: relax all of them with the same model
    (:func:`~interphases.analysis.entries.check_entries` refuses MLIP entries next to DFT ones).
    """
    eng = get_engine(engine)
    cells = cell if isinstance(cell, str) else list(cell)
    results = eng.relax(list(structures), cell=cells, fmax=fmax, max_steps=max_steps, labels=labels)  # type: ignore[arg-type]
    return entries_from_results(results, correction=correction, labels=labels)


@dataclass
class ComputedEntriesMaker(Maker):
    """Relax structures with ``engine`` (cell + positions) and return MP2020-scale entries.

    ``correction``: "auto" (look the model up, see
    :data:`interphases.analysis.entries.MLIP_ENERGY_SCALES`), "mp2020" or "none".
    """

    name: str = "computed entries"
    engine: Any = "mlip"
    correction: str = "auto"
    fmax: float = 0.05
    max_steps: int = 300

    @job
    def make(
        self,
        structures: Sequence[Structure],
        labels: Sequence[str] | None = None,
        cell: str | Sequence[str] = "full",
    ) -> list[ComputedEntry]:
        entries = entries_from_structures(
            structures,
            self.engine,
            correction=self.correction,
            labels=labels,
            fmax=self.fmax,
            max_steps=self.max_steps,
            cell=cell,  # type: ignore[arg-type]
        )
        check_entries(entries, source="computed entries")
        return entries


@dataclass
class StabilityWindowMaker(Maker):
    """Electrochemical stability window of a phase against ``working_ion`` metal.

    ``entries`` of :meth:`make` (e.g. the output of :class:`ComputedEntriesMaker`) override
    ``entry_source``. With ``verdict`` the interphase against the metal is classified.
    """

    name: str = "stability window"
    working_ion: str = "Li"
    charge: int | None = None
    entry_source: EntrySource = field(default_factory=EntrySource)
    verdict: bool = True
    band_gaps: dict[str, float] | None = None
    gap_threshold: float = DEFAULT_GAP_THRESHOLD

    @job
    def make(
        self, formula: str, entries: Sequence[ComputedEntry] | None = None
    ) -> StabilityWindowDocument:
        return self.compute(formula, entries)

    def compute(
        self, formula: str, entries: Sequence[ComputedEntry] | None = None
    ) -> StabilityWindowDocument:
        """The job's work, callable without jobflow."""
        z = ion_charge(self.working_ion, self.charge)
        entry_set = _resolve_entries(
            self.entry_source, chemsys_elements(formula, self.working_ion), entries
        )
        window = stability_window(entry_set.entries, formula, self.working_ion, charge=z)
        verdict = (
            interphase_verdict(window, band_gaps=self.band_gaps, gap_threshold=self.gap_threshold)
            if self.verdict
            else None
        )
        return StabilityWindowDocument(
            task_label=f"{self.name}: {window.formula} vs {self.working_ion}",
            window=window,
            verdict=verdict,
            provenance=EntryProvenance.from_entry_set(entry_set, self.working_ion, z),
        )


@dataclass
class InterfaceReactionMaker(Maker):
    """Reaction energy vs mixing ratio of two phases; open ``open_element`` at ``voltage`` if given."""

    name: str = "interface reaction"
    entry_source: EntrySource = field(default_factory=EntrySource)
    open_element: str | None = None
    voltage: float | None = None
    charge: int | None = None

    @job
    def make(
        self, reactant_1: str, reactant_2: str, entries: Sequence[ComputedEntry] | None = None
    ) -> InterfaceReactionDocument:
        return self.compute(reactant_1, reactant_2, entries)

    def compute(
        self, reactant_1: str, reactant_2: str, entries: Sequence[ComputedEntry] | None = None
    ) -> InterfaceReactionDocument:
        """The job's work, callable without jobflow."""
        extra = [self.open_element] if self.open_element else []
        entry_set = _resolve_entries(
            self.entry_source, chemsys_elements(reactant_1, reactant_2, *extra), entries
        )
        reaction = interface_reactions(
            entry_set.entries,
            reactant_1,
            reactant_2,
            open_element=self.open_element,
            voltage=self.voltage,
            charge=self.charge,
        )
        z = reaction.ion_charge
        return InterfaceReactionDocument(
            task_label=f"{self.name}: {reaction.reactant_1} | {reaction.reactant_2}",
            reaction=reaction,
            provenance=EntryProvenance.from_entry_set(entry_set, self.open_element, z),
        )


@job
def collect_electrolyte_metal(
    window: StabilityWindowDocument,
    reaction: InterfaceReactionDocument,
    electrolyte: str,
    metal: str,
    task_label: str,
) -> ElectrolyteMetalStabilityDocument:
    """Put the window (with verdict) and the reaction with the metal into one document."""
    return ElectrolyteMetalStabilityDocument(
        task_label=task_label,
        electrolyte=electrolyte,
        metal=metal,
        window=window,
        reaction=reaction,
    )


@dataclass
class ElectrolyteMetalStabilityMaker(Maker):
    """Flow: window of the electrolyte vs the metal, its reaction with the metal, the verdict.

    The metal is the working ion (Li, Na, Mg, ...). One entry source feeds both jobs, so the
    window and the reaction come from the same hull.
    """

    name: str = "electrolyte | metal stability"
    metal: str = "Li"
    charge: int | None = None
    entry_source: EntrySource = field(default_factory=EntrySource)
    band_gaps: dict[str, float] | None = None
    gap_threshold: float = DEFAULT_GAP_THRESHOLD

    def make(self, electrolyte: str, entries: Sequence[ComputedEntry] | None = None) -> Flow:
        window_job = StabilityWindowMaker(
            working_ion=self.metal,
            charge=self.charge,
            entry_source=self.entry_source,
            verdict=True,
            band_gaps=self.band_gaps,
            gap_threshold=self.gap_threshold,
        ).make(electrolyte, entries)
        reaction_job = InterfaceReactionMaker(entry_source=self.entry_source).make(
            electrolyte, self.metal, entries
        )
        collect = collect_electrolyte_metal(
            window_job.output,
            reaction_job.output,
            electrolyte,
            self.metal,
            f"{self.name}: {electrolyte} | {self.metal}",
        )
        return Flow(
            [window_job, reaction_job, collect],
            output=collect.output,
            name=f"{self.name}: {electrolyte} | {self.metal}",
        )
