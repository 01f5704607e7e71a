"""Climbing-image NEB with CP2K forces: ASE's NEB (improved tangent) driving one
``ase.calculators.cp2k.CP2K`` shell per image.

atomate2 has no CP2K NEB Maker, so the path is ASE's (``ase.mep.NEB`` with
``method="improvedtangent"``, FIRE by default), and the only thing written here is the glue:
the CP2K input template is the exact input :meth:`CP2KEngine.cp2k_input` makes for a
static job (same basis, grids, k-points, smearing, dipole correction), minus what
ASE writes itself (coordinates, cell, project name); every image keeps its own CP2K
process, so wavefunctions are reused from one NEB step to the next.

Files in the path's folder: ``cp2k-template.inp``, ``BASIS``, ``POTENTIAL``,
``image_XX.inp/.out`` (one CP2K output per image), ``neb.traj`` (all images at every
step), ``neb.log`` and ``neb-result.json``. A rerun of the same request returns the
stored result if it converged, otherwise archives the attempt (``attempt-N/``) and
restarts from its last images.
"""

from __future__ import annotations

import json
import shlex
from copy import deepcopy
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from monty.json import MontyDecoder, jsanitize
from pymatgen.core import Lattice, Structure

from interphases.errors import CalculationError
from interphases.parsers.cp2k import scf_converged_last
from interphases.parsers.schema import NEBResult, barriers_from_energies
from interphases.workflows.engines.dft_common import RunFolder, request_hash, rotate_back, standard_orientation

if TYPE_CHECKING:
    from interphases.workflows.engines.cp2k import CP2KEngine

__all__ = ["ase_template", "run_cp2k_neb"]

_RESULT = "neb-result.json"
_TRAJ = "neb.traj"


def ase_template(input_set: Any, elements: list[str]) -> str:
    """CP2K input text for ASE's CP2K calculator from an atomate2 ``Cp2kInputSet``.

    Coordinates, cell and project name are removed (ASE writes them); kinds are named by
    element (ASE's COORD lines use element symbols), keeping the basis and potential.
    """
    cp2k_input = deepcopy(input_set.cp2k_input)
    subsys = cp2k_input["FORCE_EVAL"]["SUBSYS"]
    kinds = {}
    for kind in subsys.subsections.values():
        sections = kind.sections if hasattr(kind, "sections") else [kind]
        for section in sections:
            if section.name.upper() != "KIND":
                continue
            element = section.get("ELEMENT").values[0]
            kinds[element] = {
                key: section.get(key).values[0]
                for key in ("BASIS_SET", "POTENTIAL")
                if section.get(key) is not None
            }
    del cp2k_input["FORCE_EVAL"]["SUBSYS"]
    for key in ("PROJECT_NAME", "PROJECT"):
        if cp2k_input["GLOBAL"].get(key) is not None:
            del cp2k_input["GLOBAL"][key]
    if cp2k_input["FORCE_EVAL"].get("STRESS_TENSOR") is not None:
        del cp2k_input["FORCE_EVAL"]["STRESS_TENSOR"]
    if cp2k_input.check("FORCE_EVAL/PRINT/STRESS_TENSOR"):
        del cp2k_input["FORCE_EVAL"]["PRINT"]["STRESS_TENSOR"]
    from ase.calculators.cp2k import InputSection, parse_input

    body = "\n".join(line for line in str(cp2k_input).splitlines() if not line.strip().startswith("!"))
    root = parse_input(body)
    subsys = root.get_subsection("FORCE_EVAL/SUBSYS")
    for element in elements:
        spec = kinds.get(element)
        if spec is None:
            raise CalculationError(f"no CP2K kind for {element} in the generated input")
        section = InputSection(name="KIND", params=element)
        section.keywords += [f"ELEMENT {element}", *[f"{key} {value}" for key, value in spec.items()]]
        subsys.subsections.append(section)
    return "\n".join(root.write()) + "\n"


def _image_scf_ok(folder: Path, n_images: int) -> list[str]:
    """Images whose last SCF did not converge (or that have no CP2K output)."""
    bad = []
    for i in range(n_images):
        out = folder / f"image_{i:02d}.out"
        if not out.is_file():
            bad.append(f"image {i}: no CP2K output")
            continue
        if scf_converged_last(out.read_text(errors="replace")) is False:
            bad.append(f"image {i}: last SCF not converged")
    return bad


def _load_result(folder: Path) -> NEBResult | None:
    path = folder / _RESULT
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(), cls=MontyDecoder)
        return NEBResult(**data)
    except Exception:
        return None


def run_cp2k_neb(
    engine: CP2KEngine,
    images: list[Structure],
    folder: Path,
    *,
    climb: bool,
    fmax: float,
    max_steps: int,
    spring_constant: float,
    label: str | None,
) -> NEBResult:
    """One CI-NEB path with CP2K; see the module docstring for the files it keeps."""
    from ase.calculators.cp2k import CP2K
    from ase.io import read
    from ase.mep import NEB
    from ase import optimize

    from interphases.potentials.conversion import atoms_to_structure, structure_to_atoms
    from interphases.potentials.interpolate import reaction_coordinate

    first, q, slab, dipole = engine._prepare(images[0])
    work = [first] + [standard_orientation(Structure.from_sites(s.sites))[0] if q is not None else s for s in images[1:]]
    request = request_hash(
        {
            "task": "neb",
            "images": [s.as_dict() for s in images],
            "climb": climb,
            "fmax": fmax,
            "max_steps": max_steps,
            "spring_constant": spring_constant,
            "engine": engine.physics_settings(),
        }
    )
    run = RunFolder(folder, request)
    if run.state() == "same":
        stored = _load_result(folder)
        if stored is not None and stored.converged:
            return stored.model_copy(update={"parameters": {**stored.parameters, "reused": True}})
        traj = folder / _TRAJ
        if traj.is_file():
            try:
                last = read(str(traj), index=f"-{len(images)}:")
                if len(last) == len(images):
                    work = [
                        Structure(s.lattice, s.species, a.positions, coords_are_cartesian=True, site_properties=s.site_properties)
                        for s, a in zip(work, last, strict=True)
                    ]
            except Exception:  # noqa: S110 - unreadable trajectory: start from the given images
                pass
    run.archive()
    folder.mkdir(parents=True, exist_ok=True)

    input_set = engine.cp2k_input(work[0], task="static")
    input_set.write_input(folder)  # BASIS, POTENTIAL (+ the static input, kept for reference)
    elements = sorted({el.symbol for el in work[0].composition.elements})
    template = ase_template(input_set, elements)
    (folder / "cp2k-template.inp").write_text(template)
    run.write_marker(engine="cp2k", task="neb", label=label, n_images=len(images), rotated=q is not None)

    argv = engine._argv()
    command = (
        f"cd {shlex.quote(str(folder))} && exec env OMP_NUM_THREADS={int(engine.omp_num_threads)} "
        + " ".join(shlex.quote(a) for a in argv)
        + " -s"
    )
    calcs: list[Any] = []
    try:
        atoms_list = [structure_to_atoms(s) for s in work]
        for i, atoms in enumerate(atoms_list):
            calc = CP2K(
                command=command,
                label=f"image_{i:02d}",
                inp=template,
                basis_set=None,
                basis_set_file=None,
                potential_file=None,
                pseudo_potential=None,
                xc=None,
                cutoff=None,
                max_scf=None,
                stress_tensor=False,
                poisson_solver=None,
                charge=0,
                print_level="LOW",
                force_eval_method=None,
            )
            calcs.append(calc)
            atoms.calc = calc
        neb = NEB(atoms_list, k=spring_constant, climb=climb, method="improvedtangent")
        optimizer_class = getattr(optimize, engine.neb_optimizer)
        optimizer = optimizer_class(neb, trajectory=str(folder / _TRAJ), logfile=str(folder / "neb.log"))
        converged = bool(optimizer.run(fmax=fmax, steps=max_steps))
        energies = [float(a.get_potential_energy()) for a in atoms_list]
        n_steps = int(optimizer.nsteps)
        coordinate = reaction_coordinate(atoms_list)
        finals = [atoms_to_structure(a, s) for a, s in zip(atoms_list, work, strict=True)]
    except Exception as exc:
        raise CalculationError(f"CP2K NEB failed in {folder}: {type(exc).__name__}: {exc}") from exc
    finally:
        for calc in calcs:
            try:
                calc.close()
            except Exception:  # noqa: S110 - a dead shell is already closed
                pass

    errors = _image_scf_ok(folder, len(images))
    if not converged:
        errors.insert(0, f"NEB not converged: forces above fmax {fmax} eV/Å after {n_steps} steps")
    out_images = []
    for final, original in zip(finals, images, strict=True):
        lattice, coords, _, _ = rotate_back(q, final.lattice.matrix, final.cart_coords)
        out_images.append(
            Structure(Lattice(lattice, pbc=original.lattice.pbc), original.species, coords, coords_are_cartesian=True,
                      site_properties=original.site_properties, charge=original.charge)
        )
    forward, backward = barriers_from_energies(energies)
    result = NEBResult(
        images=out_images,
        energies=energies,
        reaction_coordinate=coordinate,
        barrier_forward=forward,
        barrier_backward=backward,
        converged=converged and not errors,
        n_steps=n_steps,
        climbing_image=1 + int(np.argmax(energies[1:-1])) if climb and len(energies) > 2 else None,
        engine="cp2k",
        code="cp2k",
        code_version=_version_from_outputs(folder),
        model=engine.xc_functional,
        parameters={
            "task": "neb",
            "method": "improvedtangent",
            "optimizer": engine.neb_optimizer,
            "climb": climb,
            "fmax": fmax,
            "max_steps": max_steps,
            "spring_constant": spring_constant,
            "engine_settings": engine.physics_settings(),
            "slab": slab,
            "dipole_correction": dipole,
            "dir_name": str(folder),
        },
        task_label=label,
        error="; ".join(errors) or None,
    )
    (folder / _RESULT).write_text(json.dumps(jsanitize(result.model_dump(), strict=True, allow_bson=False), indent=1))
    return result


def _version_from_outputs(folder: Path) -> str | None:
    import re

    out = folder / "image_00.out"
    if not out.is_file():
        return None
    match = re.search(r"CP2K\|\s+version string:\s+CP2K version\s+(\S+)", out.read_text(errors="replace"))
    return match.group(1) if match else None
