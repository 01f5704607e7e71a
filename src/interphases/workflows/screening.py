"""Interface screening: two phases in, a ranking of their interfaces out.

:class:`InterfaceScreeningMaker` (also importable as ``InterfaceScreeningFlow``) composes:

1. ``prepare phases``: the two bulk phases (library names, files, MP ids or Structures),
   relaxed with the engine (cell and positions) so that the substrate is unstrained
   with respect to the model;
2. ``enumerate candidates``: lattice-matched candidates of the relaxed phases
   (:func:`interphases.structures.enumerate_candidates`), the ``max_candidates`` first by
   strain, area and size;
3. :class:`~interphases.workflows.energetics.AdhesionMaker` over all candidates at once
   (one batched registry scan, one batched relaxation);
4. optionally :class:`~interphases.workflows.energetics.InterfaceEnergyMaker` over all
   candidates at once (strained-bulk references and z-relaxed sandwiches, batched);
5. ``rank``: converged results first, non-polar before polar (Tasker 3) ones, then by
   W_ad (largest first), then by sigma (smallest first), ties by von Mises strain and
   atom count;
6. optionally ``refine``: the ``refine_top`` best candidates again with another engine
   (a DFT engine: multi-fidelity), added to the flow at run time.

Every step's document goes to the JobStore; the W_ad, sigma, E_f and E_el rows to the
summary collection (``interphases query work_of_adhesion --phases Li,LiF``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jobflow import Flow, Maker, Response, job
from pydantic import BaseModel, Field
from pymatgen.core import Structure

from interphases.structures.interfaces import InterfaceCandidate, enumerate_candidates
from interphases.workflows.energetics import (
    AdhesionMaker,
    AdhesionSetDocument,
    BulkReference,
    InterfaceEnergyMaker,
    InterfaceEnergySetDocument,
    _model_name,
    _provenance,
    bulk_fmax,
)
from interphases.workflows.engines import get_engine

__all__ = [
    "BulkPhasesDocument",
    "CandidateSet",
    "InterfaceScreeningFlow",
    "InterfaceScreeningMaker",
    "RankedInterface",
    "ScreeningDocument",
    "rank_interfaces",
]


class BulkPhasesDocument(BaseModel):
    """The two bulk phases of a screening, as given and as relaxed."""

    substrate_name: str
    film_name: str
    substrate: BulkReference
    film: BulkReference
    relaxed: bool
    provenance: dict[str, Any]


class CandidateSet(BaseModel):
    """The interface candidates a screening computes."""

    substrate_name: str
    film_name: str
    n_enumerated: int = Field(description="Distinct candidates found before the max_candidates cut.")
    candidates: list[InterfaceCandidate]
    enumeration: dict[str, Any]


class RankedInterface(BaseModel):
    """One row of the screening ranking (energies in J/m^2)."""

    rank: int
    candidate_id: str
    substrate: str
    film: str
    substrate_miller: tuple[int, int, int]
    film_miller: tuple[int, int, int]
    terminations: str
    von_mises_strain: float
    area: float
    n_atoms: int
    work_of_adhesion: float
    unrelaxed_work_of_adhesion: float
    interfacial_energy: float | None = None
    formation_energy: float | None = None
    elastic_energy_mev_per_a3: float | None = None
    eq18_difference: float | None = None
    polar: bool = Field(description="A side of the interface is a polar slab (dipole or net charge).")
    converged: bool
    engine: str
    model: str
    flags: list[str] = Field(
        default_factory=list,
        description="interphases.analysis.ranking.row_flags: polar, unconverged, W_ad<0, eq18.",
    )
    label: str = Field("", description="'Li(110) | LiF(110), Li|LiF [id]' (analysis.ranking.interface_label).")


class ScreeningDocument(BaseModel):
    """The ranking of the interfaces of two phases."""

    task_label: str
    substrate: str
    film: str
    ranking: list[RankedInterface]
    n_enumerated: int
    provenance: dict[str, Any]
    parameters: dict[str, Any]

    def summary_rows(self) -> list[dict[str, Any]]:
        """One ``screening_rank`` row per candidate (value = rank, 1 = best)."""
        return [
            {
                "kind": "screening_rank",
                "formulas": [r.substrate, r.film],
                "miller": [list(r.substrate_miller), list(r.film_miller)],
                "value": float(r.rank),
                "units": "rank",
                "engine": r.engine,
                "model": r.model,
                "candidate_id": r.candidate_id,
                "terminations": r.terminations,
                "work_of_adhesion": r.work_of_adhesion,
                "interfacial_energy": r.interfacial_energy,
                "converged": r.converged,
                "polar": r.polar,
                "flags": r.flags,
                "label": r.label,
            }
            for r in self.ranking
        ]


def rank_interfaces(
    adhesion: AdhesionSetDocument, energies: InterfaceEnergySetDocument | None = None, polar_last: bool = True
) -> list[RankedInterface]:
    """:func:`interphases.analysis.ranking.rank_rows`: sound rows first, then flagged ones
    (unconverged last, polar before them; ``polar_last=False`` sorts raw); W_ad largest
    first; then sigma smallest; ties by strain, then size.

    Polar (Tasker 3) slabs carry a dipole normal to the interface that a finite slab with
    vacuum (and a local MLIP) describes poorly, and real polar surfaces reconstruct or get
    passivated; their numbers are kept and flagged, and ranked after the non-polar ones.
    """
    by_id = {d.candidate_id: d for d in energies.results} if energies is not None else {}
    rows = []
    for a in adhesion.results:
        e = by_id.get(a.candidate_id)
        rows.append(
            RankedInterface(
                rank=0,
                candidate_id=a.candidate_id,
                substrate=a.substrate_formula,
                film=a.film_formula,
                substrate_miller=a.substrate_miller,
                film_miller=a.film_miller,
                terminations=f"{a.substrate_plane}|{a.film_plane}",
                von_mises_strain=a.von_mises_strain,
                area=a.area,
                n_atoms=a.n_atoms,
                work_of_adhesion=a.work_of_adhesion_j_per_m2,
                unrelaxed_work_of_adhesion=a.unrelaxed_work_of_adhesion_j_per_m2,
                interfacial_energy=e.interfacial_energy_j_per_m2 if e else None,
                formation_energy=e.formation_energy_j_per_m2 if e else None,
                elastic_energy_mev_per_a3=e.elastic_energy_mev_per_a3 if e else None,
                eq18_difference=e.eq18_difference_j_per_m2 if e else None,
                polar=a.substrate_polar or a.film_polar,
                converged=a.converged and (e.converged if e else True),
                engine=str(a.provenance.get("engine")),
                model=_model_name(a.provenance),
            )
        )
    from interphases.analysis.ranking import rank_rows, row_flags, row_label

    for r in rows:
        r.flags = row_flags(r.model_dump())
        r.label = row_label(r.model_dump())
    # one ranking everywhere (screen, query, report, ranking.json): flagged rows after the
    # sound ones; polar_last=False asks for the raw order (by W_ad, then sigma, strain, size)
    rows = rank_rows(rows, raw=not polar_last)
    for i, r in enumerate(rows, start=1):
        r.rank = i
    return rows


# ------------------------------------------------------------------------------- jobs


def _load(phase: Any) -> tuple[Structure, str]:
    from interphases.structures import load_structure

    if isinstance(phase, Structure):
        return phase, phase.composition.reduced_formula
    return load_structure(str(phase)), str(phase)


@job(data=["initial_structure", "structure"])
def prepare_phases(substrate: Any, film: Any, engine: Any, relax: bool, fmax: float, max_steps: int) -> BulkPhasesDocument:
    """Load the two phases and relax them (cell and positions) with ``engine``."""
    eng = get_engine(engine)
    (sub, sub_name), (fil, film_name) = _load(substrate), _load(film)
    labels = [f"{sub_name}-bulk", f"{film_name}-bulk"]
    if relax:
        results = eng.relax([sub, fil], cell="full", fmax=bulk_fmax(fmax), max_steps=max_steps, labels=labels)
    else:
        results = eng.static([sub, fil], labels=labels)
    mode = "full" if relax else "fixed"
    return BulkPhasesDocument(
        substrate_name=sub_name,
        film_name=film_name,
        substrate=BulkReference.from_result(labels[0], mode, sub, results[0]),
        film=BulkReference.from_result(labels[1], mode, fil, results[1]),
        relaxed=relax,
        provenance=_provenance(eng),
    )


@job(data=["interface", "substrate_reference", "film_reference"])
def enumerate_for_screening(phases: BulkPhasesDocument, enumeration: dict[str, Any], max_candidates: int | None) -> CandidateSet:
    """Candidates of the (relaxed) phases, the ``max_candidates`` first by strain, area, size."""
    options = {"cell_model": "slab", **enumeration}
    found = enumerate_candidates(
        phases.substrate.structure,
        phases.film.structure,
        substrate_name=phases.substrate_name,
        film_name=phases.film_name,
        **options,
    )
    if not found:
        from interphases.errors import InterphasesError

        raise InterphasesError(
            f"no interface candidate of {phases.film_name} on {phases.substrate_name} within the limits "
            f"{options}: raise max_area or max_strain"
        )
    return CandidateSet(
        substrate_name=phases.substrate_name,
        film_name=phases.film_name,
        n_enumerated=len(found),
        candidates=found[: max_candidates or None],
        enumeration=options,
    )


@job
def rank_job(candidates: CandidateSet, adhesion: AdhesionSetDocument, energies: InterfaceEnergySetDocument | None,
             parameters: dict[str, Any]) -> ScreeningDocument:
    ranking = rank_interfaces(adhesion, energies, parameters.get("polar_last", True))
    prov = adhesion.results[0].provenance if adhesion.results else {}
    return ScreeningDocument(
        task_label=f"interface screening: {candidates.film_name} on {candidates.substrate_name}",
        substrate=candidates.substrate_name,
        film=candidates.film_name,
        ranking=ranking,
        n_enumerated=candidates.n_enumerated,
        provenance=prov,
        parameters=parameters,
    )


@job
def refine_job(screening: ScreeningDocument, candidates: CandidateSet, maker: AdhesionMaker, top: int) -> Response:
    """Add the adhesion flow of the ``top`` best candidates with ``maker`` (another engine)."""
    best = [r.candidate_id for r in screening.ranking[:top]]
    chosen = [c for cid in best for c in candidates.candidates if c.candidate_id == cid]
    flow = maker.make_batch(chosen)
    return Response(addition=flow, output={"refined": best, "engine": get_engine(maker.engine).name})


# ------------------------------------------------------------------------------- maker


@dataclass
class InterfaceScreeningMaker(Maker):
    """Screen the interfaces of a substrate (electrode) and a film (SEI phase or electrolyte).

    Attributes:
        engine: energy engine of the screening (default ``"mlip"``: CHGNet).
        relax_bulks: relax both phases with ``engine`` before enumerating.
        enumeration: keyword arguments of :func:`~interphases.structures.enumerate_candidates`
            (``max_index``, ``max_area``, ``max_strain``, ``max_atoms``,
            ``substrate_thickness``, ``film_thickness``, ``gap``, ``vacuum``, ...).
        max_candidates: candidates computed (the first by strain, area, size).
        adhesion: the AdhesionMaker settings (its engine is replaced by ``engine``).
        interfacial_energy: also compute sigma, E_f and E_el (strained bulks + sandwiches).
        refine_engine: engine (name or Engine) for the multi-fidelity step; None: no refinement.
        refine_top: candidates refined.
        polar_last: rank interfaces with a polar (Tasker 3) side after the non-polar ones.
    """

    name: str = "interface screening"
    engine: Any = "mlip"
    relax_bulks: bool = True
    enumeration: dict[str, Any] = field(
        default_factory=lambda: {"max_index": 1, "max_area": 60.0, "max_strain": 0.05,
                                 "substrate_thickness": 8.0, "film_thickness": 8.0, "vacuum": 12.0}
    )
    max_candidates: int | None = 6
    adhesion: AdhesionMaker = field(default_factory=AdhesionMaker)
    interfacial_energy: bool = True
    refine_engine: Any = None
    refine_top: int = 1
    polar_last: bool = True
    fmax: float = 0.05
    max_steps: int = 300

    def make(self, substrate: Any, film: Any) -> Flow:
        """Flow screening ``film`` on ``substrate`` (names, files or Structures)."""
        phases = prepare_phases(substrate, film, self.engine, self.relax_bulks, self.fmax, self.max_steps)
        phases.name = f"{self.name}: prepare phases"
        cands = enumerate_for_screening(phases.output, dict(self.enumeration), self.max_candidates)
        cands.name = f"{self.name}: enumerate candidates"
        adhesion_maker = _with_engine(self.adhesion, self.engine, self.fmax, self.max_steps)
        adhesion = adhesion_maker.make_batch(cands.output)
        jobs: list[Any] = [phases, cands, adhesion]
        energies_output = None
        if self.interfacial_energy:
            energies = InterfaceEnergyMaker(engine=self.engine, fmax=self.fmax, max_steps=self.max_steps,
                                            deduplicate=adhesion_maker.deduplicate).make_batch(
                cands.output, adhesion=adhesion.output
            )
            jobs.append(energies)
            energies_output = energies.output
        params = {
            "relax_bulks": self.relax_bulks,
            "enumeration": dict(self.enumeration),
            "max_candidates": self.max_candidates,
            "interfacial_energy": self.interfacial_energy,
            "fmax": self.fmax,
            "max_steps": self.max_steps,
            "gaps": list(adhesion_maker.gaps),
            "max_registries": adhesion_maker.max_registries,
            "scan": adhesion_maker.scan,
            "polar_last": self.polar_last,
        }
        ranking = rank_job(cands.output, adhesion.output, energies_output, params)
        ranking.name = f"{self.name}: rank"
        jobs.append(ranking)
        if self.refine_engine is not None:
            refine = refine_job(
                ranking.output, cands.output, _with_engine(self.adhesion, self.refine_engine, self.fmax, self.max_steps),
                self.refine_top,
            )
            refine.name = f"{self.name}: refine top {self.refine_top}"
            jobs.append(refine)
        return Flow(jobs, output=ranking.output, name=self.name)


def _with_engine(maker: AdhesionMaker, engine: Any, fmax: float, max_steps: int) -> AdhesionMaker:
    from dataclasses import replace

    return replace(maker, engine=engine, fmax=fmax, max_steps=max_steps)


#: the name the issue tracker uses for the screening flow
InterfaceScreeningFlow = InterfaceScreeningMaker
