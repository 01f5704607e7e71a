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
5. optionally ``model uncertainty`` (``uncertainty_engine``): a second model's single
   points of each candidate's relaxed interface and slabs, its W_ad on the same cells and
   the spread ``|W_ad - W_ad,2|`` as the candidate's ``uncertainty`` (one batched call;
   :func:`model_uncertainty_job`);
6. ``rank``: converged results first, non-polar before polar (Tasker 3) ones, then by
   W_ad (largest first), then by sigma (smallest first), ties by von Mises strain and
   atom count; the uncertainty is shown, never used to order;
7. optionally ``refine``: ``refine_top`` candidates again with another engine (a DFT
   engine: multi-fidelity), added to the flow at run time; picked by rank, or by rank and
   uncertainty together (``refine_by="ucb"``, :func:`interphases.analysis.ranking.select_for_refinement`).

Every step's document goes to the JobStore; the W_ad, sigma, E_f and E_el rows to the
summary collection (``interphases query work_of_adhesion --phases Li,LiF``).
"""

from __future__ import annotations

import math
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
    _static,
    bulk_fmax,
)
from interphases.workflows.engines import get_engine

__all__ = [
    "BulkPhasesDocument",
    "CandidateSet",
    "InterfaceScreeningFlow",
    "InterfaceScreeningMaker",
    "ModelUncertainty",
    "ModelUncertaintyDocument",
    "RankedInterface",
    "ScreeningDocument",
    "compute_model_uncertainty",
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
    uncertainty: float | None = Field(
        None, description="|W_ad - W_ad of the second model at the same relaxed cells|, J/m^2 (None: not computed)."
    )
    second_model: str | None = Field(None, description="The model of the uncertainty (e.g. 7net-0).")
    second_model_work_of_adhesion: float | None = Field(
        None, description="W_ad of the second model on the first model's relaxed cells, J/m^2."
    )


class ModelUncertainty(BaseModel):
    """W_ad of one candidate with a second model, at the first model's relaxed geometry."""

    candidate_id: str
    area: float = Field(description="Interface area S, Å^2 (the AdhesionDocument's).")
    interface_energy: float | None = Field(description="E_AB of the second model, eV (None: the single point failed).")
    substrate_slab_energy: float | None = Field(description="E_A,slab of the second model, eV.")
    film_slab_energy: float | None = Field(description="E_B,slab of the second model, eV.")
    errors: list[str] = Field(default_factory=list, description="Why a single point failed, if one did.")
    work_of_adhesion: float = Field(description="W_ad of the first model, J/m^2.")
    second_model_work_of_adhesion: float | None = Field(description="W_ad of the second model, J/m^2.")
    uncertainty: float | None = Field(description="|W_ad - second_model_work_of_adhesion|, J/m^2.")


class ModelUncertaintyDocument(BaseModel):
    """A two-model committee at fixed geometry (see :mod:`interphases.analysis.uncertainty`)."""

    task_label: str
    model: str = Field(description="The first model (relaxed the cells).")
    second_model: str
    results: list[ModelUncertainty]
    provenance: dict[str, Any] = Field(description="The second engine's provenance.")


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
                "uncertainty": r.uncertainty,
                "second_model": r.second_model,
                "second_model_work_of_adhesion": r.second_model_work_of_adhesion,
            }
            for r in self.ranking
        ]


def rank_interfaces(
    adhesion: AdhesionSetDocument,
    energies: InterfaceEnergySetDocument | None = None,
    polar_last: bool = True,
    uncertainty: ModelUncertaintyDocument | None = None,
) -> list[RankedInterface]:
    """:func:`interphases.analysis.ranking.rank_rows`: sound rows first, then flagged ones
    (unconverged last, polar before them; ``polar_last=False`` sorts raw); W_ad largest
    first; then sigma smallest; ties by strain, then size.

    ``uncertainty``: the second model's W_ad and the spread, copied into the rows; the
    order does not depend on it.

    Polar (Tasker 3) slabs carry a dipole normal to the interface that a finite slab with
    vacuum (and a local MLIP) describes poorly, and real polar surfaces reconstruct or get
    passivated; their numbers are kept and flagged, and ranked after the non-polar ones.
    """
    by_id = {d.candidate_id: d for d in energies.results} if energies is not None else {}
    spread = {u.candidate_id: u for u in uncertainty.results} if uncertainty is not None else {}
    rows = []
    for a in adhesion.results:
        e = by_id.get(a.candidate_id)
        u = spread.get(a.candidate_id)
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
                uncertainty=u.uncertainty if u else None,
                second_model=uncertainty.second_model if u else None,
                second_model_work_of_adhesion=u.second_model_work_of_adhesion if u else None,
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


def compute_model_uncertainty(adhesion: AdhesionSetDocument, engine: Any) -> ModelUncertaintyDocument:
    """W_ad of a second model on the first model's relaxed cells, and the spread.

    For every candidate: energy-only single points of the relaxed interface and of the two
    relaxed isolated slabs (the AdhesionDocument's structures), all candidates in one
    ``engine.static`` call; ``W_ad,2 = (E_A + E_B - E_AB) / S`` with the document's area
    (:func:`interphases.analysis.uncertainty.second_model_work_of_adhesion`), and
    ``uncertainty = |W_ad - W_ad,2|``. Each energy difference uses one model only.
    A failed single point (no finite energy) leaves that candidate's W_ad,2 and
    uncertainty None.
    """
    from interphases.analysis.uncertainty import model_uncertainty, second_model_work_of_adhesion

    eng = get_engine(engine)
    structures, labels = [], []
    for a in adhesion.results:
        structures += [a.interface_structure, a.substrate_slab_structure, a.film_slab_structure]
        labels += [f"{a.candidate_id}-interface", f"{a.candidate_id}-substrate", f"{a.candidate_id}-film"]
    results = _static(eng, structures, labels, energy_only=True, deduplicate=False) if structures else []
    prov = _provenance(eng)
    out = []
    for k, a in enumerate(adhesion.results):
        r_if, r_sub, r_film = results[3 * k : 3 * k + 3]
        w2 = second_model_work_of_adhesion(_energy(r_sub), _energy(r_film), _energy(r_if), a.area)
        failed = [f"{what}: {r.error or 'no energy'}" for what, r in
                  (("interface", r_if), ("substrate slab", r_sub), ("film slab", r_film)) if _energy(r) is None]
        out.append(
            ModelUncertainty(
                candidate_id=a.candidate_id,
                area=a.area,
                interface_energy=_energy(r_if),
                substrate_slab_energy=_energy(r_sub),
                film_slab_energy=_energy(r_film),
                errors=failed,
                work_of_adhesion=a.work_of_adhesion_j_per_m2,
                second_model_work_of_adhesion=w2,
                uncertainty=model_uncertainty(a.work_of_adhesion_j_per_m2, w2),
            )
        )
    first = _model_name(adhesion.results[0].provenance) if adhesion.results else "?"
    return ModelUncertaintyDocument(
        task_label=f"model uncertainty of W_ad: {_model_name(prov)} on the {first} geometries",
        model=first,
        second_model=_model_name(prov),
        results=out,
        provenance=prov,
    )


def _energy(result: Any) -> float | None:
    e = getattr(result, "energy", None)
    try:
        e = float(e)
    except (TypeError, ValueError):
        return None
    return e if math.isfinite(e) else None


@job
def model_uncertainty_job(adhesion: AdhesionSetDocument, engine: Any) -> ModelUncertaintyDocument:
    """:func:`compute_model_uncertainty` as a job (after adhesion, before rank)."""
    return compute_model_uncertainty(adhesion, engine)


@job
def rank_job(candidates: CandidateSet, adhesion: AdhesionSetDocument, energies: InterfaceEnergySetDocument | None,
             parameters: dict[str, Any], uncertainty: ModelUncertaintyDocument | None = None) -> ScreeningDocument:
    ranking = rank_interfaces(adhesion, energies, parameters.get("polar_last", True), uncertainty)
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
def refine_job(screening: ScreeningDocument, candidates: CandidateSet, maker: AdhesionMaker, top: int,
               by: str = "rank") -> Response:
    """Add the adhesion flow of ``top`` candidates with ``maker`` (another engine), picked by
    :func:`interphases.analysis.ranking.select_for_refinement` (``by``: "rank" or "ucb")."""
    from interphases.analysis.ranking import select_for_refinement

    best = [r.candidate_id for r in select_for_refinement(screening.ranking, top, by)]
    chosen = [c for cid in best for c in candidates.candidates if c.candidate_id == cid]
    flow = maker.make_batch(chosen)
    return Response(addition=flow, output={"refined": best, "refine_by": by, "engine": get_engine(maker.engine).name})


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
        uncertainty_engine: a second model (engine name such as ``"sevenn"`` = SevenNet-0, or
            an Engine such as ``MLIPEngine(model="7net-0")``); None: off. One extra job
            evaluates single points of every candidate's relaxed interface and slabs with
            it and gives each ranked row the second model's W_ad on the same cells and
            ``uncertainty = |W_ad - W_ad,2|`` (J/m²). A two-model committee at fixed
            geometry: it measures how much the models disagree about the bonding of this
            structure, not the error of the geometry (the second model does not relax) nor
            errors both models share (same functional and training data); see
            :mod:`interphases.analysis.uncertainty`. The ranking order does not use it.
        refine_engine: engine (name or Engine) for the multi-fidelity step; None: no refinement.
        refine_top: candidates refined.
        refine_by: ``"rank"`` (the ``refine_top`` best rows of the ranking) or ``"ucb"``
            (upper confidence bound: largest W_ad + uncertainty, sound rows first; needs
            ``uncertainty_engine``), see :func:`interphases.analysis.ranking.select_for_refinement`.
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
    uncertainty_engine: Any = None
    refine_engine: Any = None
    refine_top: int = 1
    refine_by: str = "rank"
    polar_last: bool = True
    fmax: float = 0.05
    max_steps: int = 300

    def make(self, substrate: Any, film: Any) -> Flow:
        """Flow screening ``film`` on ``substrate`` (names, files or Structures)."""
        self._check_settings()
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
            "refine_by": self.refine_by,
        }
        uncertainty_output = None
        if self.uncertainty_engine is not None:
            spread = model_uncertainty_job(adhesion.output, self.uncertainty_engine)
            spread.name = f"{self.name}: model uncertainty"
            jobs.append(spread)
            uncertainty_output = spread.output
            params["uncertainty_model"] = _engine_label(self.uncertainty_engine)
        ranking = rank_job(cands.output, adhesion.output, energies_output, params, uncertainty_output)
        ranking.name = f"{self.name}: rank"
        jobs.append(ranking)
        if self.refine_engine is not None:
            refine = refine_job(
                ranking.output, cands.output, _with_engine(self.adhesion, self.refine_engine, self.fmax, self.max_steps),
                self.refine_top, self.refine_by,
            )
            refine.name = f"{self.name}: refine top {self.refine_top}" + (" by W_ad + uncertainty" if self.refine_by == "ucb" else "")
            jobs.append(refine)
        return Flow(jobs, output=ranking.output, name=self.name)

    def _check_settings(self) -> None:
        """One-line errors for settings that cannot run, before any job is made."""
        from interphases.analysis.ranking import REFINE_BY
        from interphases.errors import InterphasesError

        if self.refine_by not in REFINE_BY:
            raise InterphasesError(f"refine_by must be one of {', '.join(REFINE_BY)} (got {self.refine_by!r})")
        if self.refine_by == "ucb" and self.uncertainty_engine is None:
            raise InterphasesError(
                "refine_by='ucb' picks candidates by W_ad + uncertainty: set uncertainty_engine "
                "(a second model, e.g. 'sevenn' for SevenNet-0), or use refine_by='rank'"
            )
        if self.uncertainty_engine is not None:
            get_engine(self.uncertainty_engine)  # an unknown engine name fails here, not after the relaxations


def _engine_label(engine: Any) -> str:
    """``"sevenn"``, ``"mlip:7net-0"``: the engine as set, for the parameters record."""
    if isinstance(engine, str):
        return engine
    model = getattr(engine, "model", None)
    name = getattr(engine, "name", type(engine).__name__)
    return f"{name}:{model}" if isinstance(model, str) else str(name)


def _with_engine(maker: AdhesionMaker, engine: Any, fmax: float, max_steps: int) -> AdhesionMaker:
    from dataclasses import replace

    return replace(maker, engine=engine, fmax=fmax, max_steps=max_steps)


#: the name the issue tracker uses for the screening flow
InterfaceScreeningFlow = InterfaceScreeningMaker
