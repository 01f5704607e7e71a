"""The VASP engine: input sets, custodian runs and parsing behind the workflow ``Engine`` API.

VASP is licensed and may be absent; everything around it is real:

- inputs from pymatgen's Materials-Project sets (``input_set="mp-gga"``: ``MPRelaxSet`` /
  ``MPStaticSet``, PBE(+U), 520 eV, the scheme of the MP entries the hulls use) or
  atomate2's own generators (``"atomate2"``: ``RelaxSetGenerator`` /
  ``StaticSetGenerator``); NEB INCARs from atomate2's ``NebSetGenerator`` updates
  (``IMAGES``, ``IBRION=3``/``IOPT=1``/``POTIM=0``, VTST climbing image ``LCLIMB``,
  ``SPRING``) on the same base set;
- for interfaces: ``ISIF=2`` for fixed-cell relaxations, a Γ-centred mesh with one
  k-point along c for slabs (vacuum > ``vacuum_threshold`` along c), ``LDIPOL``,
  ``IDIPOL=3`` and ``DIPOL`` at the slab centre when the two surfaces differ; frozen
  atoms go to POSCAR's selective dynamics; ``cell="z"`` uses ``ISIF=3`` with
  ``LATTICE_CONSTRAINTS = F F T`` only when ``allow_lattice_constraints=True``
  (VASP >= 6.4 honours it in relaxations; older builds ignore it, so by default the
  engine refuses) and checks afterwards that the in-plane lattice did not move;
- POTCARs: written when pymatgen knows where they are (``PMG_VASP_PSP_DIR``), otherwise
  only ``POTCAR.spec`` with the symbols (inputs remain shareable and checkable);
- runs: atomate2's ``run_vasp`` (custodian ``VaspJob`` / ``VaspNEBJob`` with the standard
  error handlers) in the run folder; outputs read by :mod:`interphases.parsers.vasp`.

Run step hook: the engine calls the module-level :func:`run_vasp` (``directory, engine,
job_type``). Tests replace it, atomate2-style, with a function that copies reference
outputs into the folder (see :func:`interphases.workflows.engines.testing.mock_run_vasp`).

Run folders (``<run_dir or cwd>/vasp-<task>-<label>``), reuse of finished runs, archiving
of earlier attempts and restarts of unfinished relaxations work as in the CP2K engine.
When VASP is not installed, the inputs are written and :class:`EngineUnavailableError`
says where they are and what to set.
"""

from __future__ import annotations

import os
import subprocess
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pymatgen.core import Lattice, Structure

from interphases.errors import (
    CalculationError,
    EngineUnavailableError,
    InterphasesError,
    InvalidStructureError,
    ParseError,
    UnsupportedElementsError,
)
from interphases.parsers.schema import CalcResult, NEBResult
from interphases.parsers.vasp import parse_vasp_dir, parse_vasp_neb
from interphases.workflows.engines.base import CellRelax, Engine
from interphases.workflows.engines.dft_common import (
    RunFolder,
    command_executable,
    check_no_overlap,
    folder_names,
    is_slab,
    kpoint_mesh,
    request_hash,
    slab_center_frac_c,
    wants_dipole_correction,
)

__all__ = ["VASPEngine", "potcars_available", "run_vasp"]

_RUNTIME_FIELDS = frozenset({"vasp_cmd", "vasp_gamma_cmd", "use_custodian", "max_errors", "run_dir"})
_NEB_TAGS = ("IMAGES", "LCLIMB", "IOPT", "SPRING", "POTIM")


def potcars_available() -> bool:
    """Whether pymatgen can write real POTCARs (``PMG_VASP_PSP_DIR`` points to a folder)."""
    from pymatgen.core import SETTINGS

    psp = SETTINGS.get("PMG_VASP_PSP_DIR") or os.environ.get("PMG_VASP_PSP_DIR")
    return bool(psp) and Path(psp).expanduser().is_dir()


def run_vasp(directory: Path, engine: VASPEngine, job_type: Literal["normal", "neb"] = "normal") -> str | None:
    """Run VASP in ``directory`` (custodian + atomate2 handlers); custodian's verdict if it gave up.

    This is the hook tests replace (atomate2 style) to copy reference outputs instead.
    Raises :class:`EngineUnavailableError` when the binary or the POTCARs are missing.
    """
    argv, missing = command_executable(engine.command, "vasp")
    if missing:
        raise EngineUnavailableError(
            f"VASP executable '{missing}' not found (command: {engine.command!r}); inputs are ready in "
            f"{directory}: install/load VASP and set INTERPHASES_VASP_CMD (e.g. 'srun vasp_std') or "
            "VASPEngine(vasp_cmd=...)"
        )
    if not (directory / "POTCAR").is_file():
        raise EngineUnavailableError(
            f"no POTCAR in {directory} (only POTCAR.spec): set PMG_VASP_PSP_DIR (pmg config -p ...) so "
            "pymatgen can write POTCARs"
        )
    if not engine.use_custodian:
        with open(directory / "vasp.out", "w") as out, open(directory / "std_err.txt", "w") as err:
            code = subprocess.call(argv, cwd=directory, stdout=out, stderr=err)
        return None if code == 0 else f"vasp exited with status {code}"
    from atomate2.vasp.run import JobType
    from atomate2.vasp.run import run_vasp as atomate2_run_vasp
    from custodian.custodian import CustodianError

    try:
        atomate2_run_vasp(
            job_type=JobType.NEB if job_type == "neb" else JobType.NORMAL,
            vasp_cmd=engine.command,
            vasp_gamma_cmd=engine.gamma_command,
            max_errors=max(1, engine.max_errors),
            vasp_job_kwargs={"output_file": "vasp.out", "stderr_file": "std_err.txt"},
            custodian_kwargs={"directory": str(directory)},
        )
    except (CustodianError, RuntimeError) as exc:
        return f"custodian: {exc}"
    return None


@dataclass
class VASPEngine(Engine):
    """Static, relaxation and NEB calculations with VASP.

    Physics (define the numbers):
        input_set: ``"mp-gga"`` (pymatgen MPRelaxSet/MPStaticSet: PBE(+U), 520 eV,
            MP2020-compatible) or ``"atomate2"`` (atomate2's PBEsol, 680 eV generators).
        incar_settings: INCAR overrides (``None`` values remove a tag).
        kpoints_settings: the input set's k-point settings (e.g. ``{"reciprocal_density": 64}``);
            ``None``: the set's default.
        kspacing: if set, a Γ-centred mesh ``ceil(|b_i|/kspacing)`` (Å⁻¹, 2π included)
            instead (one point along c for slabs either way).
        potcar_functional, potcar_settings: POTCAR family (e.g. ``"PBE_54"``) and per-element choices.
        dipole_correction: ``"auto"`` (slabs whose surfaces differ), ``True`` (every slab), ``False``.
        vacuum_threshold: Å of vacuum along c that makes a structure a slab.
        neb_spring: VASP ``SPRING`` (eV/Å², negative = nudged; VTST default -5). VASP's spring
            is not ASE's ``k``, so :meth:`neb`'s ``spring_constant`` is not used here.
        neb_images, neb_interpolation: images interpolated for two-endpoint NEB paths.
        allow_lattice_constraints: let ``cell="z"`` use ``LATTICE_CONSTRAINTS`` (VASP >= 6.4).

    Running (not part of a result's identity):
        vasp_cmd / vasp_gamma_cmd: commands (``None``: env ``INTERPHASES_VASP_CMD`` /
            ``INTERPHASES_VASP_GAMMA_CMD``, else ``vasp_std`` / ``vasp_gam``), e.g. ``"srun vasp_std"``.
        use_custodian, max_errors: custodian with atomate2's handlers, corrections allowed.
        run_dir: parent of the run folders (``None``: the current directory).
    """

    input_set: Literal["mp-gga", "atomate2"] = "mp-gga"
    incar_settings: dict[str, Any] = field(default_factory=dict)
    kpoints_settings: dict[str, Any] | None = None
    kspacing: float | None = None
    potcar_functional: str | None = None
    potcar_settings: dict[str, str] = field(default_factory=dict)
    dipole_correction: bool | Literal["auto"] = "auto"
    vacuum_threshold: float = 5.0
    neb_spring: float = -5.0
    neb_images: int = 5
    neb_interpolation: Literal["idpp", "linear"] = "idpp"
    allow_lattice_constraints: bool = False
    vasp_cmd: str | None = None
    vasp_gamma_cmd: str | None = None
    use_custodian: bool = True
    max_errors: int = 5
    run_dir: str | None = None

    name: ClassVar[str] = "vasp"
    runtime_fields: ClassVar[frozenset[str]] = _RUNTIME_FIELDS

    def __post_init__(self) -> None:
        if self.input_set not in ("mp-gga", "atomate2"):
            raise InterphasesError(f"input_set must be 'mp-gga' or 'atomate2', got {self.input_set!r}")
        if self.dipole_correction not in ("auto", True, False):
            raise InterphasesError(f"dipole_correction must be 'auto', True or False, got {self.dipole_correction!r}")

    # ------------------------------------------------------------------ settings
    @property
    def command(self) -> str:
        return self.vasp_cmd or os.environ.get("INTERPHASES_VASP_CMD") or "vasp_std"

    @property
    def gamma_command(self) -> str:
        return self.vasp_gamma_cmd or os.environ.get("INTERPHASES_VASP_GAMMA_CMD") or "vasp_gam"

    def physics_settings(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _RUNTIME_FIELDS}

    def provenance(self) -> dict[str, Any]:
        return {"engine": self.name, "code": "vasp", "code_version": None, **self.physics_settings()}

    # ------------------------------------------------------------------ checks
    def check_structures(self, structures: Sequence[Structure], labels: Sequence[str | None] | None = None) -> None:
        """Raise before any work: not an ordered Structure, overlapping atoms, no POTCAR
        mapping for an element in the chosen set, dipole correction asked for a non-slab."""
        generator = self._generator("static")
        config = getattr(generator, "_config_dict", None) or getattr(generator, "config_dict", None) or {}
        potcars = {**(config.get("POTCAR") or {}), **self.potcar_settings}
        for i, structure in enumerate(structures):
            where = (labels[i] if labels and labels[i] else None) or f"structure {i}"
            if not isinstance(structure, Structure):
                raise InvalidStructureError(f"{where}: expected a pymatgen Structure, got {type(structure).__name__}")
            if len(structure) == 0:
                raise InvalidStructureError(f"{where} has no sites")
            if not structure.is_ordered:
                raise InvalidStructureError(f"{where} is disordered: order it first (VASP needs one species per site)")
            check_no_overlap(structure, where)
            missing = sorted({el.symbol for el in structure.composition.elements} - set(potcars)) if potcars else []
            if missing:
                raise UnsupportedElementsError(f"{where}: no POTCAR choice for {missing} in the {self.input_set} set: set potcar_settings")
            if self.dipole_correction is True and not is_slab(structure, self.vacuum_threshold):
                raise InvalidStructureError(f"{where}: dipole_correction=True needs a slab (vacuum > {self.vacuum_threshold} Å along c)")

    # ------------------------------------------------------------------ inputs
    def _generator(self, kind: Literal["static", "relax"], incar: dict[str, Any] | None = None, kpoints: Any = None) -> Any:
        common: dict[str, Any] = {
            "user_incar_settings": {**(incar or {})},
            "user_kpoints_settings": kpoints if kpoints is not None else (self.kpoints_settings or {}),
            "user_potcar_settings": dict(self.potcar_settings) or None,
            "sort_structure": False,
        }
        if self.potcar_functional:
            common["user_potcar_functional"] = self.potcar_functional
        if self.input_set == "mp-gga":
            from pymatgen.io.vasp.sets import MPRelaxSet, MPStaticSet

            cls = MPStaticSet if kind == "static" else MPRelaxSet
            return cls(force_gamma=True, **common)
        from atomate2.vasp.sets.core import RelaxSetGenerator, StaticSetGenerator

        cls = StaticSetGenerator if kind == "static" else RelaxSetGenerator
        return cls(force_gamma=True, **common)

    def vasp_input(
        self,
        structure: Structure,
        *,
        task: Literal["static", "relax", "neb", "neb-endpoint"] = "static",
        cell: CellRelax = "fixed",
        fmax: float = 0.05,
        max_steps: int = 300,
        n_images: int = 1,
        climb: bool = True,
    ) -> Any:
        """The pymatgen ``VaspInput`` (INCAR, KPOINTS, POSCAR, POTCAR or its spec) for a task.

        ``structure`` must already be grouped by species (see :func:`_grouped`).
        """
        slab = is_slab(structure, self.vacuum_threshold)
        incar: dict[str, Any] = {}
        if task == "relax":
            incar.update(EDIFFG=-abs(fmax), NSW=int(max_steps), IBRION=2)
            if cell == "fixed":
                incar["ISIF"] = 2
            elif cell == "full":
                incar["ISIF"] = 3
            else:
                if not self.allow_lattice_constraints:
                    raise InterphasesError(
                        "VASP has no z-only cell relaxation (no ISIF mode does it): use cell='fixed' on the "
                        "strained cell, the CP2K engine (CELL_OPT CONSTRAINT XY), or "
                        "VASPEngine(allow_lattice_constraints=True) with VASP >= 6.4 (LATTICE_CONSTRAINTS)"
                    )
                incar.update(ISIF=3, LATTICE_CONSTRAINTS=[False, False, True])
        elif task in ("neb", "neb-endpoint"):
            # atomate2's NebSetGenerator.incar_updates, on the engine's base set
            # Gaussian smearing: forces of the MP sets' tetrahedron method (ISMEAR=-5) are not variational
            incar.update(ISIF=2, EDIFF=1e-6, PREC="Normal", LCHARG=False, ISMEAR=0, SIGMA=0.05)
            if task == "neb":
                incar.update(IMAGES=int(n_images), SPRING=self.neb_spring, NSW=int(max_steps), EDIFFG=-abs(fmax), IBRION=2)
                if climb:
                    incar.update(LCLIMB=True, IOPT=1, IBRION=3, POTIM=0)
            else:
                incar.update(NSW=0, IBRION=-1)
        if slab and incar.get("ISIF", 2) != 3:
            incar["ISIF"] = 2
        if wants_dipole_correction(structure, self.dipole_correction, slab):
            incar.update(LDIPOL=True, IDIPOL=3, DIPOL=[0.5, 0.5, round(slab_center_frac_c(structure), 6)])
        incar.update(self.incar_settings)

        kpoints = None
        if self.kspacing is not None or slab:
            from pymatgen.io.vasp.inputs import Kpoints

            if self.kspacing is not None:
                mesh = kpoint_mesh(structure, self.kspacing, slab=slab)
            else:  # the set's own mesh, one point along c
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    base = self._generator("relax" if task != "static" else "static").get_input_set(structure, potcar_spec=True)
                mesh = tuple(int(n) for n in base["KPOINTS"].kpts[0])
                mesh = (mesh[0], mesh[1], 1)
            kpoints = Kpoints.gamma_automatic(mesh)
        kind = "static" if task == "static" else "relax"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            generator = self._generator(kind, incar, kpoints)
            vasp_input = generator.get_input_set(structure, potcar_spec=not potcars_available())
        for key, value in incar.items():  # sets may drop tags they do not know (e.g. VTST ones)
            if value is None:
                vasp_input["INCAR"].pop(key, None)
            else:
                vasp_input["INCAR"][key] = value
        if task == "neb-endpoint":
            for key in _NEB_TAGS:
                vasp_input["INCAR"].pop(key, None)
        return vasp_input

    # ------------------------------------------------------------------ running
    def _root(self) -> Path:
        return Path(self.run_dir).expanduser().resolve() if self.run_dir else Path.cwd()

    def _run_one(
        self,
        structure: Structure,
        folder: Path,
        *,
        task: Literal["static", "relax", "neb-endpoint"],
        cell: CellRelax = "fixed",
        fmax: float = 0.05,
        max_steps: int = 300,
        label: str | None = None,
    ) -> CalcResult:
        grouped, order = _grouped(structure)
        request = request_hash(
            {"task": task, "cell": cell, "fmax": fmax, "max_steps": max_steps, "structure": structure.as_dict(), "engine": self.physics_settings()}
        )
        run = RunFolder(folder, request)
        start = grouped
        if run.state() == "same":
            previous = _try_parse(run.path)
            if previous is not None and previous.converged:
                return self._finish(previous, structure, order, task=task, cell=cell, fmax=fmax, max_steps=max_steps, label=label, reused=True)
            if task == "relax" and previous is not None and len(previous.structure) == len(grouped):
                start = Structure(previous.structure.lattice, grouped.species, previous.structure.frac_coords,
                                  site_properties=grouped.site_properties)
        run.archive()
        run.path.mkdir(parents=True, exist_ok=True)
        vasp_input = self.vasp_input(start, task=task, cell=cell, fmax=fmax, max_steps=max_steps)
        _write(vasp_input, run.path)
        run.write_marker(engine="vasp", task=task, cell=cell, label=label, formula=structure.composition.formula,
                         site_order=order, resumed=start is not grouped)
        verdict = run_vasp(run.path, self, "normal")
        try:
            result = parse_vasp_dir(run.path, task_label=label)
        except ParseError as exc:
            raise CalculationError(f"VASP produced no result in {run.path}: {verdict or exc}") from exc
        if verdict:
            result = result.model_copy(update={"converged": False, "error": "; ".join(filter(None, [result.error, verdict]))})
        return self._finish(result, structure, order, task=task, cell=cell, fmax=fmax, max_steps=max_steps, label=label)

    def _finish(
        self,
        result: CalcResult,
        original: Structure,
        order: list[int],
        *,
        task: str,
        cell: str,
        fmax: float,
        max_steps: int,
        label: str | None,
        reused: bool = False,
    ) -> CalcResult:
        """Back to the caller's site order and properties; engine settings attached."""
        parsed = result.structure
        expected = [original[i].specie.symbol for i in order]
        if [s.specie.symbol for s in parsed] != expected:
            raise CalculationError(
                f"output in {result.dir_name} is for {parsed.composition.formula}, not {original.composition.formula}: "
                "a foreign run in this folder; move it away"
            )
        inverse = np.argsort(order)
        coords = parsed.cart_coords[inverse]
        final = Structure(
            Lattice(parsed.lattice.matrix, pbc=original.lattice.pbc),
            original.species,
            coords,
            coords_are_cartesian=True,
            site_properties=original.site_properties,
            charge=original.charge,
        )
        forces = np.asarray(result.forces)[inverse].tolist() if result.forces is not None else None
        errors = [result.error] if result.error else []
        converged = result.converged
        if task == "relax" and cell == "z" and not np.allclose(parsed.lattice.matrix[:2], original.lattice.matrix[:2], atol=1e-4):
            converged = False
            errors.append("in-plane lattice changed during the z-only relaxation: this VASP build ignores LATTICE_CONSTRAINTS")
        slab = is_slab(original, self.vacuum_threshold)
        parameters = {
            **result.parameters,
            "task": task,
            "engine_settings": self.physics_settings(),
            "slab": slab,
            "dipole_correction": bool((result.parameters.get("incar") or {}).get("LDIPOL", False)),
            "reused": reused,
        }
        if task == "relax":
            parameters.update(cell=cell, fmax=fmax, max_steps=max_steps)
        return result.model_copy(
            update={
                "structure": final,
                "forces": forces,
                "converged": converged,
                "error": "; ".join(errors) or None,
                "parameters": parameters,
                "task_label": label,
            }
        )

    # ------------------------------------------------------------------ Engine API
    def static(self, structures: Sequence[Structure], labels: Sequence[str] | None = None) -> list[CalcResult]:
        """Single points of ``structures`` (one run folder each)."""
        structures = list(structures)
        labels = _labels(labels, len(structures))
        self.check_structures(structures, labels)
        names = folder_names("vasp-static", structures, labels)
        return [self._run_one(s, self._root() / n, task="static", label=lab) for s, n, lab in zip(structures, names, labels, strict=True)]

    def relax(
        self,
        structures: Sequence[Structure],
        *,
        cell: CellRelax = "fixed",
        fmax: float = 0.05,
        max_steps: int = 300,
        labels: Sequence[str] | None = None,
    ) -> list[CalcResult]:
        """Relaxations (``ISIF=2`` fixed cell, ``ISIF=3`` full, ``"z"`` see the module doc);
        ``fmax`` (eV/Å) becomes ``EDIFFG=-fmax``, ``max_steps`` ``NSW``."""
        if cell not in ("fixed", "full", "z"):
            raise InterphasesError(f"cell must be 'fixed', 'full' or 'z', got {cell!r}")
        structures = list(structures)
        labels = _labels(labels, len(structures))
        self.check_structures(structures, labels)
        if cell == "z" and not self.allow_lattice_constraints:
            self.vasp_input(structures[0], task="relax", cell="z")  # raises the explanation
        names = folder_names(f"vasp-relax-{cell}", structures, labels)
        return [
            self._run_one(s, self._root() / n, task="relax", cell=cell, fmax=fmax, max_steps=max_steps, label=lab)
            for s, n, lab in zip(structures, names, labels, strict=True)
        ]

    def neb(
        self,
        paths: Sequence[Sequence[Structure]],
        *,
        climb: bool = True,
        fmax: float = 0.05,
        max_steps: int = 500,
        spring_constant: float = 0.1,
        labels: Sequence[str] | None = None,
    ) -> list[NEBResult]:
        """VASP (VTST) climbing-image NEB of each path, endpoints included.

        Per path, folder ``vasp-neb-<label>`` with ``endpoint-start``/``endpoint-end``
        (single points with the NEB's INCAR minus the NEB tags, so all energies are
        comparable) and ``neb`` (INCAR with ``IMAGES``, image folders ``00..0N``, KPOINTS
        copied into each for VASP 6). ``fmax`` -> ``EDIFFG=-fmax``; the spring is
        ``neb_spring`` (see the class doc).
        """
        labels = _labels(labels, len(paths))
        results = []
        prepared = []
        for i, path in enumerate(paths):
            path = list(path)
            where = labels[i] or f"NEB path {i}"
            if len(path) < 2:
                raise InvalidStructureError(f"{where}: give at least the two endpoints")
            self.check_structures(path, [f"{where}, image {j}" for j in range(len(path))])
            if len(path) == 2:
                from interphases.potentials.interpolate import interpolate_structures

                path = interpolate_structures(path[0], path[1], self.neb_images, method=self.neb_interpolation)
            prepared.append(path)
        names = folder_names("vasp-neb", prepared, labels)
        for path, name, label in zip(prepared, names, labels, strict=True):
            root = self._root() / name
            ends = [
                self._run_one(path[0], root / "endpoint-start", task="neb-endpoint", label=f"{label or name} start"),
                self._run_one(path[-1], root / "endpoint-end", task="neb-endpoint", label=f"{label or name} end"),
            ]
            results.append(self._run_neb(path, root / "neb", ends, climb=climb, fmax=fmax, max_steps=max_steps, label=label))
        return results

    def _run_neb(
        self,
        images: list[Structure],
        folder: Path,
        ends: list[CalcResult],
        *,
        climb: bool,
        fmax: float,
        max_steps: int,
        label: str | None,
    ) -> NEBResult:
        grouped = [_grouped(s) for s in images]
        order = grouped[0][1]
        if any(o != order for _, o in grouped):
            raise InvalidStructureError("NEB images must have the same species in the same order")
        request = request_hash(
            {"task": "neb", "images": [s.as_dict() for s in images], "climb": climb, "fmax": fmax, "max_steps": max_steps, "engine": self.physics_settings()}
        )
        run = RunFolder(folder, request)
        endpoint_dirs = (Path(ends[0].dir_name), Path(ends[1].dir_name))
        if run.state() == "same":
            try:
                previous = parse_vasp_neb(folder, endpoint_dirs=endpoint_dirs, task_label=label)
                if previous.converged:
                    return self._finish_neb(previous, images, order, reused=True)
            except ParseError:
                pass
        run.archive()
        folder.mkdir(parents=True, exist_ok=True)
        head = self.vasp_input(grouped[0][0], task="neb", fmax=fmax, max_steps=max_steps, n_images=len(images) - 2, climb=climb)
        _write(head, folder, skip=("POSCAR",))
        from pymatgen.io.vasp.inputs import Poscar

        for k, (structure, _) in enumerate(grouped):
            image_dir = folder / f"{k:02d}"
            image_dir.mkdir(exist_ok=True)
            Poscar(structure).write_file(image_dir / "POSCAR")
            if "KPOINTS" in head:  # VASP 6 checks each image's KPOINTS (atomate2's "kludge")
                head["KPOINTS"].write_file(image_dir / "KPOINTS")
        run.write_marker(engine="vasp", task="neb", label=label, n_images=len(images), site_order=order)
        verdict = run_vasp(folder, self, "neb")
        try:
            result = parse_vasp_neb(folder, endpoint_dirs=endpoint_dirs, task_label=label)
        except ParseError as exc:
            raise CalculationError(f"VASP NEB produced no result in {folder}: {verdict or exc}") from exc
        if verdict:
            result = result.model_copy(update={"converged": False, "error": "; ".join(filter(None, [result.error, verdict]))})
        return self._finish_neb(result, images, order)

    def _finish_neb(self, result: NEBResult, images: list[Structure], order: list[int], reused: bool = False) -> NEBResult:
        inverse = np.argsort(order)
        out = []
        for parsed, original in zip(result.images, images, strict=True):
            if [s.specie.symbol for s in parsed] != [original[i].specie.symbol for i in order]:
                raise CalculationError("NEB output images do not match the input images: a foreign run in the folder")
            out.append(
                Structure(parsed.lattice, original.species, parsed.cart_coords[inverse], coords_are_cartesian=True,
                          site_properties=original.site_properties, charge=original.charge)
            )
        return result.model_copy(
            update={"images": out, "parameters": {**result.parameters, "engine_settings": self.physics_settings(), "reused": reused}}
        )


def _grouped(structure: Structure) -> tuple[Structure, list[int]]:
    """``structure`` with sites grouped by species (POSCAR/POTCAR blocks) and the order used.

    Sites are ordered as pymatgen's ``get_sorted_structure`` does (stable sort of the
    sites); the structure is left alone when each species already forms one block.
    """
    symbols = [site.species_string for site in structure]
    blocks = [s for k, s in enumerate(symbols) if k == 0 or s != symbols[k - 1]]
    if len(blocks) == len(set(blocks)):
        return Structure.from_sites(structure.sites, charge=structure.charge), list(range(len(structure)))
    order = sorted(range(len(structure)), key=lambda i: structure.sites[i])
    return Structure.from_sites([structure.sites[i] for i in order], charge=structure.charge), order


def _write(vasp_input: Any, folder: Path, skip: tuple[str, ...] = ()) -> None:
    """Write INCAR, KPOINTS, POSCAR and POTCAR (or POTCAR.spec) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, obj in vasp_input.items():
        if name in skip:
            continue
        if isinstance(obj, str):  # POTCAR.spec
            (folder / name).write_text(obj)
        else:
            obj.write_file(folder / name)


def _try_parse(folder: Path) -> CalcResult | None:
    try:
        return parse_vasp_dir(folder)
    except (ParseError, OSError):
        return None


def _labels(labels: Sequence[str] | None, n: int) -> list[str | None]:
    if labels is None:
        return [None] * n
    labels = list(labels)
    if len(labels) != n:
        raise InterphasesError(f"got {len(labels)} labels for {n} inputs")
    return labels

