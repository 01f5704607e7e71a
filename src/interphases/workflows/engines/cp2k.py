"""The CP2K engine: every workflow's energies from real CP2K (Quickstep, GPW) runs.

Inputs come from atomate2's CP2K input-set generators (``StaticSetGenerator``,
``RelaxSetGenerator``, ``CellOptSetGenerator`` on pymatgen's ``DftSet``), runs go
through custodian's ``Cp2kJob`` with its standard CP2K error handlers (SCF, frozen job,
numerical precision, unconverged relaxation) and outputs are read by
:func:`interphases.parsers.cp2k.parse_cp2k_output`. NEB (which atomate2 has no CP2K
Maker for) runs ASE's climbing-image NEB (improved tangent) with one ASE ``CP2K``
shell calculator per image, on the very input the static job would use.

What this module adds on top, for interfaces:

- k-points: a Monkhorst-Pack mesh from ``kspacing`` (Å⁻¹, 2π included), one point
  along ``c`` for slabs (vacuum > ``vacuum_threshold`` along c), Γ only if None;
- dipole correction (``SURFACE_DIPOLE_CORRECTION``, ``SURF_DIP_DIR Z``) for slabs whose
  two surfaces differ (``dipole_correction="auto"``); CP2K needs the surface normal
  along z, so such a slab is rotated rigidly into the standard frame and results are
  rotated back;
- frozen atoms: ``selective_dynamics`` -> ``MOTION/CONSTRAINT/FIXED_ATOMS``;
- relaxations: ``cell="fixed"`` GEO_OPT, ``"full"`` CELL_OPT, ``"z"`` CELL_OPT with
  ``CONSTRAINT XY`` (the x and y components of the cell are fixed: in-plane lattice kept,
  the out-of-plane vector relaxes); fmax (eV/Å) is CP2K's ``MAX_FORCE`` (RMS_FORCE = 2/3 of it);
- run folders: ``<run_dir or cwd>/cp2k-<task>-<label>``, one per structure, kept; a
  rerun reuses a finished converged run of the same request, archives anything else to
  ``attempt-N/`` and restarts a relaxation from the last geometry of an unfinished one.

Errors: a missing binary raises :class:`EngineUnavailableError` (what to install); an
unconverged run (SCF, geometry, or custodian giving up) returns ``converged=False``
with ``error`` and keeps every file; a run that produced no energy at all (crash,
bad input) raises :class:`CalculationError` with CP2K's own error line and the folder.

Defaults are for production (500/60 Ry, EPS_DEFAULT 1e-12, kspacing 0.25 Å⁻¹, Fermi-Dirac
300 K); :meth:`CP2KEngine.quick` gives the cheap settings the tests use.

Running on a cluster: ``cp2k_cmd="srun cp2k.psmp"`` (or env ``INTERPHASES_CP2K_CMD``),
``omp_num_threads`` per MPI rank, ``CP2K_DATA_DIR`` if CP2K's data files are not in
``/usr/share/cp2k``.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import warnings
from collections.abc import Sequence
from copy import deepcopy
from dataclasses import dataclass, field, fields
from functools import lru_cache
from importlib.resources import files as package_files
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from custodian.cp2k.jobs import Cp2kJob
from pymatgen.core import Lattice, Structure

from interphases.errors import (
    CalculationError,
    EngineUnavailableError,
    InterphasesError,
    InvalidStructureError,
    ParseError,
)
from interphases.parsers.cp2k import HARTREE_PER_BOHR_TO_EV_PER_ANG, parse_cp2k_output
from interphases.parsers.schema import CalcResult, NEBResult, free_mask
from interphases.workflows.engines.base import CellRelax, Engine
from interphases.workflows.engines.cp2k_data import ensure_pymatgen_cp2k_setup, find_basis_and_potential
from interphases.workflows.engines.dft_common import (
    RunFolder,
    command_executable,
    folder_names,
    check_no_overlap,
    is_slab,
    kpoint_mesh,
    request_hash,
    rotate_back,
    standard_orientation,
    wants_dipole_correction,
)

__all__ = ["CP2KEngine", "OwnProcessCp2kJob", "cp2k_version"]

_OUTPUT = "cp2k.out"
_INPUT = "cp2k.inp"
_RUNTIME_FIELDS = frozenset({"cp2k_cmd", "omp_num_threads", "use_custodian", "max_errors", "run_dir"})


@lru_cache(maxsize=8)
def cp2k_version(command: str = "cp2k.psmp") -> str | None:
    """``CP2K version 2023.1`` -> ``"2023.1"`` from ``<command> --version`` (None if it fails)."""
    argv, missing = command_executable(command, "cp2k")
    if missing:
        return None
    try:
        out = subprocess.run([*argv, "--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"CP2K version\s+(\S+)", out)
    return match.group(1) if match else None


def _cp2k_error_line(folder: Path) -> str:
    """CP2K's own ABORT/ERROR message (the text of its boxed banner), with a hint if we know one."""
    for name in (_OUTPUT, "std_err.txt"):
        path = folder / name
        if not path.is_file():
            continue
        lines = path.read_text(errors="replace").splitlines()
        starts = [k for k, line in enumerate(lines) if re.match(r"^\s*\*\s*\[(ABORT|ERROR)\]", line)]
        if not starts:
            continue
        message = []
        for line in lines[starts[-1] + 1 : starts[-1] + 8]:
            if not line.strip().startswith("*") or set(line.strip()) == {"*"}:
                break
            text = line[15:].rstrip(" *").strip()
            if text and not re.fullmatch(r"[\w.]+\.F:\d+", text):
                message.append(re.sub(r"\s+[\w.]+\.F:\d+$", "", text))
        found = " ".join(message) or "CP2K aborted"
        if "more vacuum" in found:
            found += " (CP2K's surface dipole correction needs a wide vacuum, ~12 Å for Li slabs: add vacuum or set dipole_correction=False)"
        return found
    return "no CP2K error message found"


@dataclass
class CP2KEngine(Engine):
    """Static, relaxation and NEB calculations with CP2K.

    Physics (what defines the numbers; production defaults):
        xc_functional: CP2K/libxc functional name (``"PBE"``).
        basis, basis_file: Gaussian basis (``DZVP-MOLOPT-SR-GTH`` from ``BASIS_MOLOPT``).
        potential, potential_file: GTH pseudopotential (``None``: ``GTH-<xc>``, from
            ``GTH_POTENTIALS``); paired with the basis by valence electrons.
        element_settings: per-element overrides, e.g.
            ``{"La": {"basis": "DZVP-MOLOPT-SR-GTH", "basis_file": "BASIS_MOLOPT_UCL"}}``.
        cutoff_ry, rel_cutoff_ry: multigrid CUTOFF / REL_CUTOFF (Ry).
        kspacing: Monkhorst-Pack spacing (Å⁻¹, 2π included; one point along c for slabs);
            ``None`` = Γ only.
        ot: orbital transformation (insulators, Γ only); otherwise diagonalisation with
            Broyden mixing. CP2K has no OT with k-points: a k-mesh switches OT off.
        smearing_temperature_K: Fermi-Dirac electronic temperature with diagonalisation
            (metals, interfaces with a metal); ``None`` = no smearing.
        spin_polarized: UKS.
        max_scf, eps_scf, eps_default: SCF iterations and thresholds (EPS_DEFAULT sets the
            Quickstep integral screening).
        dispersion: ``None``, ``"DFTD3"`` or ``"DFTD3(BJ)"`` (Grimme pair potential).
        dipole_correction: ``"auto"`` (slabs whose surfaces differ), ``True`` (every slab)
            or ``False``.
        vacuum_threshold: Å of vacuum along c that makes a structure a slab.
        input_overrides: nested dict applied last to the CP2K input (any keyword).
        neb_images, neb_interpolation: moving images and ``"idpp"``/``"linear"`` when a
            NEB path is given as its two endpoints.
        neb_optimizer: ASE optimiser of the NEB (FIRE is robust for many images; BFGS
            converges a single climbing image in a few steps).

    Running (not part of a result's identity):
        cp2k_cmd: launch command (``None``: env ``INTERPHASES_CP2K_CMD``, else ``cp2k.psmp``);
            e.g. ``"srun cp2k.psmp"`` or ``"mpirun -np 8 cp2k.psmp"``.
        omp_num_threads: OpenMP threads per process (1 was fastest on small cells here).
        use_custodian: run through custodian's Cp2kJob and handlers (else run CP2K directly).
        max_errors: custodian corrections before giving up.
        run_dir: parent of the run folders (``None``: the current directory, which is
            the job's folder when a jobflow job calls the engine).
    """

    xc_functional: str = "PBE"
    basis: str = "DZVP-MOLOPT-SR-GTH"
    basis_file: str = "BASIS_MOLOPT"
    potential: str | None = None
    potential_file: str = "GTH_POTENTIALS"
    element_settings: dict[str, dict[str, str]] = field(default_factory=dict)
    cutoff_ry: float = 500.0
    rel_cutoff_ry: float = 60.0
    kspacing: float | None = 0.25
    ot: bool = False
    smearing_temperature_K: float | None = 300.0
    spin_polarized: bool = False
    max_scf: int = 200
    eps_scf: float = 1e-6
    eps_default: float = 1e-12
    dispersion: str | None = None
    dipole_correction: bool | Literal["auto"] = "auto"
    vacuum_threshold: float = 5.0
    input_overrides: dict[str, Any] = field(default_factory=dict)
    neb_images: int = 5
    neb_interpolation: Literal["idpp", "linear"] = "idpp"
    neb_optimizer: Literal["FIRE", "BFGS", "LBFGS", "MDMin"] = "FIRE"
    cp2k_cmd: str | None = None
    omp_num_threads: int = 1
    use_custodian: bool = True
    max_errors: int = 5
    run_dir: str | None = None

    name: ClassVar[str] = "cp2k"
    runtime_fields: ClassVar[frozenset[str]] = _RUNTIME_FIELDS

    def __post_init__(self) -> None:
        if self.dipole_correction not in ("auto", True, False):
            raise InterphasesError(f"dipole_correction must be 'auto', True or False, got {self.dipole_correction!r}")
        if self.dispersion not in (None, "DFTD3", "DFTD3(BJ)"):
            raise InterphasesError(f"dispersion must be None, 'DFTD3' or 'DFTD3(BJ)', got {self.dispersion!r}")
        if self.neb_optimizer not in ("FIRE", "BFGS", "LBFGS", "MDMin"):
            raise InterphasesError(f"neb_optimizer must be FIRE, BFGS, LBFGS or MDMin, got {self.neb_optimizer!r}")
        if self.cutoff_ry <= 0 or self.rel_cutoff_ry <= 0:
            raise InterphasesError("cutoff_ry and rel_cutoff_ry must be > 0 Ry")

    @classmethod
    def quick(cls, **overrides: Any) -> CP2KEngine:
        """Cheap settings for tests and smoke runs (NOT converged physics):
        200/30 Ry, EPS_DEFAULT 1e-10, kspacing 0.7 Å⁻¹, Fermi-Dirac 500 K."""
        settings: dict[str, Any] = dict(
            cutoff_ry=200.0, rel_cutoff_ry=30.0, eps_default=1e-10, kspacing=0.7, smearing_temperature_K=500.0, max_scf=100
        )
        settings.update(overrides)
        return cls(**settings)

    # ------------------------------------------------------------------ settings
    @property
    def command(self) -> str:
        return self.cp2k_cmd or os.environ.get("INTERPHASES_CP2K_CMD") or "cp2k.psmp"

    def physics_settings(self) -> dict[str, Any]:
        """The fields that define a result (run-time fields excluded)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _RUNTIME_FIELDS}

    def _potential_name(self) -> str:
        return self.potential or f"GTH-{self.xc_functional.upper()}"

    def _element_spec(self, element: str) -> dict[str, str]:
        spec = {
            "basis": self.basis,
            "basis_file": self.basis_file,
            "potential": self._potential_name(),
            "potential_file": self.potential_file,
        }
        spec.update(self.element_settings.get(element, {}))
        return spec

    def _data_files(self, elements: Sequence[str]) -> tuple[str, ...]:
        specs = [self._element_spec(el) for el in elements] or [self._element_spec("H")]
        return tuple(sorted({s["basis_file"] for s in specs} | {s["potential_file"] for s in specs}))

    def _basis_and_potential(self, elements: Sequence[str]) -> dict[str, Any]:
        data_dir = ensure_pymatgen_cp2k_setup(self._data_files(elements), functional=self.xc_functional)
        return {el: find_basis_and_potential(data_dir, el, **self._element_spec(el)) for el in sorted(set(elements))}

    def provenance(self) -> dict[str, Any]:
        return {
            "engine": self.name,
            "code": "cp2k",
            "code_version": cp2k_version(self.command),
            "model": self.xc_functional,
            **{k: v for k, v in self.physics_settings().items() if k not in ("input_overrides",)},
            "input_overrides": deepcopy(self.input_overrides),
        }

    # ------------------------------------------------------------------ checks
    def check_structures(self, structures: Sequence[Structure], labels: Sequence[str | None] | None = None) -> None:
        """Raise before any work: not a periodic ordered Structure, overlapping atoms,
        elements without the chosen basis/potential, or a dipole correction asked for a
        structure that is not a slab."""
        elements: set[str] = set()
        for i, structure in enumerate(structures):
            where = (labels[i] if labels and labels[i] else None) or f"structure {i}"
            if not isinstance(structure, Structure):
                raise InvalidStructureError(f"{where}: expected a pymatgen Structure, got {type(structure).__name__}")
            if len(structure) == 0:
                raise InvalidStructureError(f"{where} has no sites")
            if not structure.is_ordered:
                raise InvalidStructureError(f"{where} is disordered: order it first (CP2K needs one species per site)")
            check_no_overlap(structure, where)
            if self.dipole_correction is True and not is_slab(structure, self.vacuum_threshold):
                raise InvalidStructureError(
                    f"{where}: dipole_correction=True needs a slab (vacuum > {self.vacuum_threshold} Å along c)"
                )
            elements |= {el.symbol for el in structure.composition.elements}
        self._basis_and_potential(sorted(elements))

    # ------------------------------------------------------------------ inputs
    def _prepare(self, structure: Structure, cell: str = "fixed") -> tuple[Structure, np.ndarray | None, bool, bool]:
        """(structure in the frame CP2K gets, rotation or None, is slab, dipole correction)."""
        structure = Structure.from_sites(structure.sites, charge=structure.charge)
        slab = is_slab(structure, self.vacuum_threshold)
        dipole = wants_dipole_correction(structure, self.dipole_correction, slab)
        q = None
        if dipole or cell == "z":
            structure, q = standard_orientation(structure)
        return structure, q, slab, dipole

    def cp2k_input(
        self,
        structure: Structure,
        *,
        task: Literal["static", "relax"] = "static",
        cell: CellRelax = "fixed",
        fmax: float = 0.05,
        max_steps: int = 300,
    ) -> Any:
        """The atomate2/pymatgen CP2K input set for ``structure`` (in the frame CP2K gets).

        Returns the :class:`atomate2.cp2k.sets.base.Cp2kInputSet` (``cp2k_input`` plus the
        BASIS/POTENTIAL files written beside it, so run folders do not depend on the data
        files of the machine that runs them).
        """
        from atomate2.cp2k.sets.core import CellOptSetGenerator, RelaxSetGenerator, StaticSetGenerator
        from monty.serialization import loadfn
        from pymatgen.io.vasp.inputs import Kpoints

        slab = is_slab(structure, self.vacuum_threshold)
        dipole = wants_dipole_correction(structure, self.dipole_correction, slab)
        mesh = kpoint_mesh(structure, self.kspacing, slab=slab)
        elements = [el.symbol for el in structure.composition.elements]

        config = loadfn(package_files("atomate2.cp2k.sets") / "BaseCp2kSet.yaml")
        cp2k_settings = config["cp2k_input"]
        cp2k_settings["basis_and_potential"] = self._basis_and_potential(elements)
        cp2k_settings.pop("eps_pgf_orb", None)  # 1e-16 there: 10x slower; CP2K default is sqrt(EPS_DEFAULT)
        use_ot = self.ot and mesh == (1, 1, 1)
        settings: dict[str, Any] = {
            "xc_functionals": self.xc_functional,
            "spin_polarized": self.spin_polarized,
            "cutoff": self.cutoff_ry,
            "rel_cutoff": self.rel_cutoff_ry,
            "eps_default": self.eps_default,
            "eps_scf": self.eps_scf,
            "max_scf": self.max_scf,
            "ot": use_ot,
            "smearing": (not use_ot) and self.smearing_temperature_K is not None,
            "elec_temp": self.smearing_temperature_K or 300.0,
            "print_pdos": False,
            "print_dos": False,
            "print_mo_cubes": False,
            "print_v_hartree": False,
            "print_e_density": False,
            "print_bandstructure": False,
        }
        overrides: dict[str, Any] = {"FORCE_EVAL": {"DFT": {"SCF": {"MAX_SCF": self.max_scf}}}}
        if dipole:
            overrides["FORCE_EVAL"]["DFT"].update({"SURFACE_DIPOLE_CORRECTION": True, "SURF_DIP_DIR": "Z"})
        if self.dispersion:
            settings["activate_vdw_potential"] = {"dispersion_functional": "PAIR_POTENTIAL", "potential_type": self.dispersion}

        work = structure.copy()
        if task == "relax":
            max_force = fmax / HARTREE_PER_BOHR_TO_EV_PER_ANG
            settings["activate_motion"] = {
                "optimizer": "BFGS",
                "trust_radius": 0.1,
                "max_force": max_force,
                "rms_force": max_force * 2.0 / 3.0,
                "max_iter": max_steps,
            }
            if "selective_dynamics" in work.site_properties:
                mask = free_mask(work)
                work.add_site_property("fix", ["".join(ax for ax, free in zip("XYZ", row, strict=True) if not free) for row in mask])
            if cell == "z":
                overrides["MOTION"] = {"CELL_OPT": {"CONSTRAINT": "XY"}}
            generator_class = RelaxSetGenerator if cell == "fixed" else CellOptSetGenerator
        else:
            generator_class = StaticSetGenerator
        if "selective_dynamics" in work.site_properties:
            work.remove_site_property("selective_dynamics")
        overrides = _deep_merge(overrides, self.input_overrides)
        settings["override_default_params"] = overrides

        generator = generator_class(
            user_input_settings=settings,
            user_kpoints_settings=Kpoints.monkhorst_automatic(mesh) if mesh != (1, 1, 1) else None,
            sort_structure=False,
            config_dict=config,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return generator.get_input_set(work)

    # ------------------------------------------------------------------ running
    def _argv(self) -> list[str]:
        argv, missing = command_executable(self.command, "cp2k")
        if missing:
            raise EngineUnavailableError(
                f"CP2K executable '{missing}' not found (command: {self.command!r}): install CP2K "
                "(Debian/Ubuntu: apt-get install cp2k; clusters: module load cp2k) or set "
                "INTERPHASES_CP2K_CMD / CP2KEngine(cp2k_cmd=...)"
            )
        return argv

    def _env(self) -> dict[str, str]:
        return {**os.environ, "OMP_NUM_THREADS": str(self.omp_num_threads)}

    def _execute(self, folder: Path) -> str | None:
        """Run CP2K in ``folder``; custodian's verdict when it gave up, else None."""
        argv = self._argv()
        if not self.use_custodian:
            with open(folder / _OUTPUT, "w") as out, open(folder / "std_err.txt", "w") as err:
                code = subprocess.call([*argv, "-i", _INPUT], cwd=folder, stdout=out, stderr=err, env=self._env())
            return None if code == 0 else f"cp2k exited with status {code}"
        from custodian import Custodian
        from custodian.cp2k.handlers import (
            AbortHandler,
            DivergingScfErrorHandler,
            FrozenJobErrorHandler,
            NumericalPrecisionHandler,
            StdErrHandler,
            UnconvergedRelaxationErrorHandler,
            UnconvergedScfErrorHandler,
        )
        from custodian.cp2k.validators import Cp2kOutputValidator
        from custodian.custodian import CustodianError

        handlers = [
            StdErrHandler(std_err=str(folder / "std_err.txt")),  # it ignores `directory`
            UnconvergedScfErrorHandler(),
            DivergingScfErrorHandler(),
            FrozenJobErrorHandler(),
            AbortHandler(),
            NumericalPrecisionHandler(),
            UnconvergedRelaxationErrorHandler(),
        ]
        job = OwnProcessCp2kJob(argv, omp_num_threads=self.omp_num_threads)
        runner = Custodian(
            handlers,
            [job],
            validators=[Cp2kOutputValidator(output_file=_OUTPUT)],
            max_errors=max(1, self.max_errors),
            polling_time_step=1,
            monitor_freq=30,
            directory=str(folder),
        )
        try:
            runner.run()
        except CustodianError as exc:
            return f"custodian: {exc}"
        except RuntimeError as exc:  # custodian raises bare RuntimeError from some handlers
            return f"custodian: {exc}"
        return None

    def _run_one(
        self,
        structure: Structure,
        folder_name: str,
        *,
        task: Literal["static", "relax"],
        cell: CellRelax = "fixed",
        fmax: float = 0.05,
        max_steps: int = 300,
        label: str | None = None,
    ) -> CalcResult:
        work, q, slab, dipole = self._prepare(structure, cell)
        request = request_hash(
            {"task": task, "cell": cell, "fmax": fmax, "max_steps": max_steps, "structure": structure.as_dict(), "engine": self.physics_settings()}
        )
        run = RunFolder(self._root() / folder_name, request)
        start = work
        if run.state() == "same":
            previous = _try_parse(run.path)
            if previous is not None and previous.converged:
                return self._finish(previous, structure, q, task=task, cell=cell, fmax=fmax, max_steps=max_steps, label=label, slab=slab, dipole=dipole, reused=True)
            if task == "relax" and previous is not None and len(previous.structure) == len(work):
                # resume from the last geometry of the unfinished attempt (same request)
                start = Structure(previous.structure.lattice, work.species, previous.structure.cart_coords,
                                  coords_are_cartesian=True, site_properties=work.site_properties, charge=work.charge)
        run.archive()
        run.path.mkdir(parents=True, exist_ok=True)
        input_set = self.cp2k_input(start, task=task, cell=cell, fmax=fmax, max_steps=max_steps)
        input_set.write_input(run.path)
        run.write_marker(engine="cp2k", task=task, cell=cell, label=label, formula=structure.composition.formula,
                         rotated=q is not None, resumed=start is not work)
        verdict = self._execute(run.path)
        try:
            result = parse_cp2k_output(run.path / _OUTPUT, task_label=label)
        except ParseError as exc:
            raise CalculationError(
                f"CP2K produced no result in {run.path}: {_cp2k_error_line(run.path)} ({verdict or exc})"
            ) from exc
        if verdict and result.converged:  # custodian gave up although the output reads fine
            result = result.model_copy(update={"converged": False, "error": verdict})
        elif verdict and result.error:
            result = result.model_copy(update={"error": f"{result.error}; {verdict}"})
        return self._finish(result, structure, q, task=task, cell=cell, fmax=fmax, max_steps=max_steps, label=label, slab=slab, dipole=dipole)

    def _finish(
        self,
        result: CalcResult,
        original: Structure,
        q: np.ndarray | None,
        *,
        task: str,
        cell: str,
        fmax: float,
        max_steps: int,
        label: str | None,
        slab: bool,
        dipole: bool,
        reused: bool = False,
    ) -> CalcResult:
        """Back to the caller's frame, site order and properties; engine settings attached."""
        parsed = result.structure
        if [s.specie.symbol for s in parsed] != [s.specie.symbol for s in original]:
            raise CalculationError(
                f"output in {result.dir_name} is for {parsed.composition.formula}, not {original.composition.formula}: "
                "a foreign run in this folder; move it away"
            )
        lattice, coords, forces, stress = rotate_back(q, parsed.lattice.matrix, parsed.cart_coords, result.forces, result.stress)
        final = Structure(
            Lattice(lattice, pbc=original.lattice.pbc),
            original.species,
            coords,
            coords_are_cartesian=True,
            site_properties=original.site_properties,
            charge=original.charge,
        )
        errors = [result.error] if result.error else []
        converged = result.converged
        if task == "relax" and cell == "z" and not np.allclose(lattice[:2], original.lattice.matrix[:2], atol=1e-4):
            converged = False
            errors.append("in-plane lattice changed during the z-only cell relaxation")
        parameters = {
            **result.parameters,
            "task": task,
            "engine_settings": self.physics_settings(),
            "slab": slab,
            "dipole_correction": dipole,
            "kpoint_mesh": list(kpoint_mesh(original, self.kspacing, slab=slab)),
            "reused": reused,
        }
        if task == "relax":
            parameters.update(cell=cell, fmax=fmax, max_steps=max_steps)
        return result.model_copy(
            update={
                "structure": final,
                "forces": forces,
                "stress": stress,
                "converged": converged,
                "error": "; ".join(errors) or None,
                "model": self.xc_functional,
                "parameters": parameters,
                "task_label": label,
            }
        )

    def _root(self) -> Path:
        return Path(self.run_dir).expanduser().resolve() if self.run_dir else Path.cwd()

    # ------------------------------------------------------------------ Engine API
    def static(self, structures: Sequence[Structure], labels: Sequence[str] | None = None) -> list[CalcResult]:
        """Single points (energy, forces, stress) of ``structures``, one run folder each."""
        structures = list(structures)
        labels = _labels(labels, len(structures))
        self.check_structures(structures, labels)
        self._argv()
        names = folder_names("cp2k-static", structures, labels)
        return [self._run_one(s, n, task="static", label=lab) for s, n, lab in zip(structures, names, labels, strict=True)]

    def relax(
        self,
        structures: Sequence[Structure],
        *,
        cell: CellRelax = "fixed",
        fmax: float = 0.05,
        max_steps: int = 300,
        labels: Sequence[str] | None = None,
    ) -> list[CalcResult]:
        """GEO_OPT (``cell="fixed"``) or CELL_OPT (``"full"``, ``"z"``) of ``structures``;
        frozen atoms (``selective_dynamics``) stay put; ``fmax`` in eV/Å."""
        if cell not in ("fixed", "full", "z"):
            raise InterphasesError(f"cell must be 'fixed', 'full' or 'z', got {cell!r}")
        structures = list(structures)
        labels = _labels(labels, len(structures))
        self.check_structures(structures, labels)
        self._argv()
        names = folder_names(f"cp2k-relax-{cell}", structures, labels)
        return [
            self._run_one(s, n, task="relax", cell=cell, fmax=fmax, max_steps=max_steps, label=lab)
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
        """Climbing-image NEB (ASE, improved tangent, ``neb_optimizer``) with CP2K forces on each image.

        A path is its images, endpoints included (two structures: ``neb_images`` images are
        interpolated, IDPP by default). Endpoint energies are computed with the same input.
        ``spring_constant`` in eV/Å². One folder per path (``cp2k-neb-<label>``) holding
        one CP2K shell per image (``image_XX.inp/.out``), ``neb.traj`` and ``neb.log``; a
        rerun reuses a converged path and restarts an unfinished one from its last images.
        """
        from interphases.workflows.engines.cp2k_neb import run_cp2k_neb

        labels = _labels(labels, len(paths))
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
        self._argv()
        names = folder_names("cp2k-neb", prepared, labels)
        return [
            run_cp2k_neb(self, path, self._root() / name, climb=climb, fmax=fmax, max_steps=max_steps,
                         spring_constant=spring_constant, label=label)
            for path, name, label in zip(prepared, names, labels, strict=True)
        ]


class OwnProcessCp2kJob(Cp2kJob):
    """custodian's :class:`Cp2kJob` that sets ``OMP_NUM_THREADS`` for CP2K and terminates
    only its own process group (upstream ``terminate`` runs ``killall cp2k.psmp``, which
    would kill every CP2K on the node, other users' included)."""

    def __init__(
        self,
        cp2k_cmd: list[str],
        input_file: str = _INPUT,
        output_file: str = _OUTPUT,
        stderr_file: str = "std_err.txt",
        omp_num_threads: int = 1,
    ) -> None:
        super().__init__(cp2k_cmd, input_file=input_file, output_file=output_file, stderr_file=stderr_file)
        self.omp_num_threads = omp_num_threads
        self._process: subprocess.Popen | None = None

    def run(self, directory: str = "./") -> subprocess.Popen:
        env = {**os.environ, "OMP_NUM_THREADS": str(self.omp_num_threads)}
        with open(os.path.join(directory, self.output_file), "w") as out, open(
            os.path.join(directory, self.stderr_file), "w", buffering=1
        ) as err:
            self._process = subprocess.Popen(
                [*self.cp2k_cmd, "-i", self.input_file], cwd=directory, stdout=out, stderr=err, env=env, start_new_session=True
            )
        return self._process

    def terminate(self, directory: str = "./") -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)


def _try_parse(folder: Path) -> CalcResult | None:
    try:
        return parse_cp2k_output(folder / _OUTPUT)
    except (ParseError, OSError):
        return None


def _labels(labels: Sequence[str] | None, n: int) -> list[str | None]:
    if labels is None:
        return [None] * n
    labels = list(labels)
    if len(labels) != n:
        raise InterphasesError(f"got {len(labels)} labels for {n} inputs")
    return labels


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = deepcopy(value)
    return out
