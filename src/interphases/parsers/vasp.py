"""VASP outputs (``vasprun.xml``, ``OUTCAR``, NEB folders ``00..0N``) into the result schema.

Reading is pymatgen's (:class:`~pymatgen.io.vasp.outputs.Vasprun`,
:class:`~pymatgen.io.vasp.outputs.Outcar`, :class:`~pymatgen.core.Structure` for
POSCAR/CONTCAR); this module writes only the mapping to
:class:`~interphases.parsers.schema.CalcResult` / :class:`~interphases.parsers.schema.NEBResult`:

- energy: ``energy(sigma->0)`` of the last ionic step (``Vasprun.final_energy``,
  ``Outcar.final_energy``; atomate2's ``TaskDoc``/``NebTaskDoc`` use the same number);
- stress: VASP prints kBar with the *pressure* sign (positive = compressed), ASE's
  stress is ``(1/V) dE/dε`` (positive = tensile), so ``σ[GPa] = -0.1 σ_VASP[kBar]``;
- convergence: electronic (the last SCF stopped before ``NELM``) *and* ionic (a
  relaxation stopped before ``NSW``, i.e. ``EDIFFG`` was met). A run that did not
  finish, or is unconverged, comes back with ``converged=False`` and ``error`` saying why.

A file that cannot be read (missing, truncated, not VASP) raises
:class:`~interphases.errors.ParseError` naming the file.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from monty.io import zopen
from pymatgen.core import Structure

from interphases.errors import ParseError
from interphases.parsers.schema import CalcResult, NEBResult, barriers_from_energies

__all__ = [
    "KBAR_TO_GPA",
    "find_vasp_file",
    "neb_image_dirs",
    "parse_outcar",
    "parse_vasp_dir",
    "parse_vasp_neb",
    "parse_vasprun",
    "path_length",
]

#: 1 kBar = 0.1 GPa
KBAR_TO_GPA = 0.1

_COMPRESSED = (".gz", ".GZ", ".bz2", ".xz", ".Z", ".z")


def find_vasp_file(directory: str | Path, name: str) -> Path | None:
    """``directory/name`` or its compressed form (``name.gz`` ...), else None."""
    directory = Path(directory)
    for suffix in ("", *_COMPRESSED):
        path = directory / f"{name}{suffix}"
        if path.is_file():
            return path
    return None


def _vasp_stress_to_gpa(stress_kbar: Any) -> list[list[float]] | None:
    """VASP 3x3 stress (kBar, pressure sign) -> GPa, ASE sign."""
    if stress_kbar is None:
        return None
    arr = np.asarray(stress_kbar, dtype=float)
    if arr.shape != (3, 3):
        return None
    return (-KBAR_TO_GPA * arr).tolist()


def _plain(value: Any) -> Any:
    """INCAR/KPOINTS values as JSON-friendly Python objects."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _is_static(parameters: dict[str, Any]) -> bool:
    nsw = int(parameters.get("NSW", 0) or 0)
    ibrion = int(parameters.get("IBRION", -1 if nsw in (-1, 0) else 0))
    return nsw <= 1 or ibrion == -1


# --------------------------------------------------------------------------- vasprun.xml


def _step_e0(step: dict[str, Any]) -> float:
    """energy(sigma->0) of an ionic step, with pymatgen's ``final_energy`` fix for VASP
    builds that write 0.0 there (last SCF step's e_0 - e_fr, plus the ionic e_fr)."""
    e0 = float(step["e_0_energy"])
    try:
        last = step["electronic_steps"][-1]
        fixed = float(last["e_0_energy"]) - float(last["e_fr_energy"]) + float(step["e_fr_energy"])
    except (KeyError, IndexError):
        return e0
    return round(fixed, 8) if abs(e0 - fixed) > 1e-7 else e0


def parse_vasprun(path: str | Path, *, task_label: str | None = None) -> CalcResult:
    """One ``vasprun.xml`` (plain or compressed) into a :class:`CalcResult`.

    Final structure, energy (sigma -> 0), forces, stress (GPa, ASE sign), electronic
    and ionic convergence, VASP version, functional and the INCAR/KPOINTS/POTCAR summary.
    """
    from pymatgen.io.vasp.outputs import Vasprun

    path = Path(path)
    if not path.is_file():
        raise ParseError(f"{path}: file not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            vasprun = Vasprun(
                str(path),
                parse_dos=False,
                parse_eigen=False,
                parse_projected_eigen=False,
                parse_potcar_file=False,
                exception_on_bad_xml=True,
            )
    except Exception as exc:  # pymatgen raises xml / Value / Index errors on bad files
        raise ParseError(f"{path}: not a readable vasprun.xml ({type(exc).__name__}: {exc})") from exc
    if not vasprun.ionic_steps:
        raise ParseError(f"{path}: vasprun.xml has no ionic step (the run stopped before the first SCF ended)")

    last = vasprun.ionic_steps[-1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        energy = float(vasprun.final_energy)
        conv_el = bool(vasprun.converged_electronic)
        conv_ion = bool(vasprun.converged_ionic)
        try:
            functional = vasprun.run_type
        except Exception:  # unknown POTCAR/functional combination
            functional = None
    if not np.isfinite(energy):
        raise ParseError(f"{path}: vasprun.xml holds no total energy")

    parameters = dict(vasprun.parameters)
    static = _is_static(parameters)
    errors = []
    if not conv_el:
        errors.append(f"electronic SCF not converged within NELM={parameters.get('NELM')}")
    if not conv_ion:
        errors.append(f"ionic relaxation not converged within NSW={parameters.get('NSW')} steps")

    structure = vasprun.final_structure.copy()
    forces = last.get("forces")
    kpoints = vasprun.kpoints
    return CalcResult(
        structure=structure,
        energy=energy,
        forces=np.asarray(forces, dtype=float).tolist() if forces is not None else None,
        stress=_vasp_stress_to_gpa(last.get("stress")),
        converged=conv_el and conv_ion,
        n_steps=0 if static else len(vasprun.ionic_steps),
        engine="vasp",
        code="vasp",
        code_version=vasprun.vasp_version,
        model=functional,
        parameters={
            "incar": _plain(dict(vasprun.incar)),
            "kpoints": {
                "style": str(kpoints.style.name) if kpoints is not None else None,
                "mesh": _plain(list(kpoints.kpts[0])) if kpoints is not None and kpoints.kpts else None,
                "n_irreducible": len(vasprun.actual_kpoints),
            },
            "potcar_symbols": list(vasprun.potcar_symbols),
            "is_hubbard": bool(vasprun.is_hubbard),
            "hubbards": _plain(vasprun.hubbards),
            "source": "vasprun.xml",
        },
        task_label=task_label,
        error="; ".join(errors) or None,
        energy_trajectory=[_step_e0(step) for step in vasprun.ionic_steps],
        dir_name=str(path.parent.resolve()),
    )


# --------------------------------------------------------------------------- OUTCAR

_FLOAT = r"[-+]?\d*\.\d+(?:[eE][-+]?\d+)?"


def _outcar_text(path: Path) -> str:
    try:
        with zopen(path, mode="rt", encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except Exception as exc:
        raise ParseError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from exc


def _outcar_forces(text: str) -> list[list[float]] | None:
    """Forces of the last ``POSITION ... TOTAL-FORCE (eV/Angst)`` block."""
    blocks = text.split("TOTAL-FORCE (eV/Angst)")
    if len(blocks) < 2:
        return None
    rows = []
    for line in blocks[-1].splitlines()[2:]:
        if line.strip().startswith("---"):
            break
        parts = line.split()
        if len(parts) != 6:
            break
        rows.append([float(x) for x in parts[3:6]])
    return rows or None


def _outcar_stress_kbar(text: str) -> np.ndarray | None:
    """Last ``in kB  XX YY ZZ XY YZ ZX`` line as a 3x3 tensor (kBar, VASP sign)."""
    matches = re.findall(rf"^\s*in kB\s+({_FLOAT})\s+({_FLOAT})\s+({_FLOAT})\s+({_FLOAT})\s+({_FLOAT})\s+({_FLOAT})", text, re.M)
    if not matches:
        return None
    xx, yy, zz, xy, yz, zx = (float(v) for v in matches[-1])
    return np.array([[xx, xy, zx], [xy, yy, yz], [zx, yz, zz]])


def _outcar_int(text: str, key: str) -> int | None:
    match = re.search(rf"\b{key}\s*=\s*(-?\d+)", text)
    return int(match.group(1)) if match else None


def _outcar_electronic_converged(text: str, nelm: int | None) -> bool:
    """The last ionic step's SCF stopped before NELM iterations (VASP prints no flag)."""
    iterations = re.findall(r"Iteration\s+(\d+)\(\s*(\d+)\)", text)
    if not iterations or nelm is None:
        return bool(iterations)
    last_ionic = iterations[-1][0]
    n_elec = max(int(m) for i, m in iterations if i == last_ionic)
    return n_elec < nelm


def parse_outcar(
    path: str | Path,
    *,
    structure_file: str | Path | None = None,
    task_label: str | None = None,
) -> CalcResult:
    """An ``OUTCAR`` (plain or compressed) into a :class:`CalcResult`.

    The final structure is read from ``structure_file`` or, next to the OUTCAR, from
    ``CONTCAR`` (then ``POSCAR``); VASP writes the relaxed geometry there, not in a form
    pymatgen's ``Outcar`` returns. Energy is pymatgen's ``Outcar.final_energy``
    (sigma -> 0); forces and stress are the last blocks printed.
    """
    from pymatgen.io.vasp.outputs import Outcar

    path = Path(path)
    if not path.is_file():
        raise ParseError(f"{path}: file not found")
    text = _outcar_text(path)
    if "vasp." not in text[:2000]:
        raise ParseError(f"{path}: not a VASP OUTCAR (no 'vasp.<version>' header)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            outcar = Outcar(str(path))
    except Exception as exc:
        raise ParseError(f"{path}: not a readable OUTCAR ({type(exc).__name__}: {exc})") from exc
    energy = outcar.final_energy
    if energy is None:
        raise ParseError(f"{path}: OUTCAR holds no 'energy(sigma->0)' (run stopped before the first SCF ended)")

    if structure_file is None:
        structure_file = find_vasp_file(path.parent, "CONTCAR") or find_vasp_file(path.parent, "POSCAR")
    if structure_file is None:
        raise ParseError(f"{path}: no CONTCAR or POSCAR beside the OUTCAR to read the structure from")
    structure = _read_poscar(Path(structure_file))

    nsw = _outcar_int(text, "NSW") or 0
    ibrion = _outcar_int(text, "IBRION")
    nelm = _outcar_int(text, "NELM")
    parameters: dict[str, Any] = {"NSW": nsw, "IBRION": ibrion if ibrion is not None else -1, "NELM": nelm}
    static = _is_static(parameters)
    finished = "General timing and accounting" in text
    conv_el = _outcar_electronic_converged(text, nelm)
    conv_ion = static or "reached required accuracy" in text
    errors = []
    if not finished:
        errors.append("VASP did not finish (no timing footer in OUTCAR)")
    if not conv_el:
        errors.append(f"electronic SCF not converged within NELM={nelm}")
    if not conv_ion:
        errors.append(f"ionic relaxation did not reach EDIFFG within NSW={nsw} steps")

    forces = _outcar_forces(text)
    if forces is not None and len(forces) != len(structure):
        forces = None
    energies = re.findall(rf"energy\(sigma->0\)\s*=\s*({_FLOAT})", text)
    version = re.search(r"vasp\.(\d+\.\d+\.\d+)", text)
    ediffg = re.search(rf"EDIFFG\s*=\s*({_FLOAT})", text)
    return CalcResult(
        structure=structure,
        energy=float(energy),
        forces=forces,
        stress=_vasp_stress_to_gpa(_outcar_stress_kbar(text)),
        converged=finished and conv_el and conv_ion,
        n_steps=0 if static else len(re.findall(r"Iteration\s+\d+\(\s*1\)", text)),
        engine="vasp",
        code="vasp",
        code_version=version.group(1) if version else None,
        model=None,
        parameters={**parameters, "EDIFFG": float(ediffg.group(1)) if ediffg else None, "source": "OUTCAR"},
        task_label=task_label,
        error="; ".join(errors) or None,
        energy_trajectory=[float(e) for e in energies] or None,
        dir_name=str(path.parent.resolve()),
    )


def _read_poscar(path: Path) -> Structure:
    """POSCAR/CONTCAR structure; velocities (NaN in some VTST CONTCARs) are dropped."""
    from pymatgen.io.vasp.inputs import Poscar

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            poscar = Poscar.from_file(str(path), check_for_potcar=False, read_velocities=False)
    except Exception as exc:
        raise ParseError(f"{path}: not a readable POSCAR/CONTCAR ({type(exc).__name__}: {exc})") from exc
    structure = poscar.structure.copy()
    if "velocities" in structure.site_properties:
        structure.remove_site_property("velocities")
    return structure


# --------------------------------------------------------------------------- folders


def parse_vasp_dir(directory: str | Path, *, task_label: str | None = None) -> CalcResult:
    """The result of the VASP run in ``directory``: vasprun.xml if present, else OUTCAR."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ParseError(f"{directory}: not a folder")
    vasprun = find_vasp_file(directory, "vasprun.xml")
    if vasprun is not None:
        return parse_vasprun(vasprun, task_label=task_label)
    outcar = find_vasp_file(directory, "OUTCAR")
    if outcar is not None:
        return parse_outcar(outcar, task_label=task_label)
    raise ParseError(f"{directory}: no vasprun.xml or OUTCAR to parse")


def neb_image_dirs(directory: str | Path) -> list[Path]:
    """The image folders ``00, 01, ..., 0N`` of a VASP NEB run, in order."""
    directory = Path(directory)
    dirs = sorted((p for p in directory.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))
    if len(dirs) < 3:
        raise ParseError(f"{directory}: a VASP NEB needs image folders 00..0N (N >= 2); found {[p.name for p in dirs]}")
    return dirs


def path_length(structures: Sequence[Structure]) -> list[float]:
    """Cumulative path length (Å): Σ sqrt(Σ_i |Δr_i|²) over consecutive images.

    The same reaction coordinate as pymatgen's ``NEBAnalysis.from_outcars`` (minimum-image
    distances, so images may wrap across the cell).
    """
    lengths = [0.0]
    for prev, cur in zip(structures[:-1], structures[1:], strict=True):
        step = np.sqrt(sum(s2.distance(s1) ** 2 for s1, s2 in zip(prev, cur, strict=True)))
        lengths.append(lengths[-1] + float(step))
    return lengths


def _neb_incar(directory: Path, image_result: CalcResult) -> dict[str, Any]:
    """INCAR of the NEB (head-folder INCAR, else what the image's vasprun records)."""
    from pymatgen.io.vasp.inputs import Incar

    incar_file = find_vasp_file(directory, "INCAR")
    if incar_file is not None:
        try:
            return _plain(dict(Incar.from_file(str(incar_file))))
        except Exception:  # noqa: S110 - fall back to the vasprun's INCAR
            pass
    return dict(image_result.parameters.get("incar") or image_result.parameters)


def _neb_climbing(incar: dict[str, Any], image_dir: Path) -> bool:
    """Whether the NEB used a climbing image.

    ``LCLIMB`` is a VTST tag that vasprun.xml does not echo: take it from the INCAR,
    else from the image OUTCAR (INCAR echo or VTST's ``NEB: LCLIMB`` line); a VTST run
    without the tag climbs (VTST default ``LCLIMB=.TRUE.``); VASP's native NEB does not.
    """
    if "LCLIMB" in incar:
        return bool(incar["LCLIMB"])
    outcar = find_vasp_file(image_dir, "OUTCAR")
    if outcar is None:
        return False
    text = _outcar_text(outcar)
    match = re.search(r"LCLIMB\s*=\s*(\S+)", text) or re.search(r"NEB:\s+LCLIMB\s+(\S+)", text)
    if match:
        return match.group(1).strip(".").upper().startswith("T")
    return "NEB: projections" in text


def parse_vasp_neb(
    directory: str | Path,
    *,
    endpoint_dirs: tuple[str | Path, str | Path] | None = None,
    endpoint_energies: tuple[float, float] | None = None,
    task_label: str | None = None,
) -> NEBResult:
    """A VASP (VTST or native) NEB run with image folders ``00..0N`` into an :class:`NEBResult`.

    Intermediate images are parsed like any run (vasprun.xml, else OUTCAR + CONTCAR).
    VASP does not compute the endpoints during an NEB, so their energies come from, in
    order: ``endpoint_energies`` (eV), ``endpoint_dirs`` (the two endpoint relaxations,
    as atomate2's ``NebTaskDoc.from_directories``), or an OUTCAR/vasprun inside
    ``00``/``0N``. Endpoint structures are the POSCARs of ``00``/``0N`` (else the final
    structures of the endpoint runs).

    ``converged`` requires every image converged (SCF and the NEB force criterion
    ``EDIFFG``) and the endpoint runs converged; the climbing image is the highest
    intermediate image when ``LCLIMB`` is set.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ParseError(f"{directory}: not a folder")
    dirs = neb_image_dirs(directory)
    inner = [parse_vasp_dir(d, task_label=f"{task_label or 'neb'} image {d.name}") for d in dirs[1:-1]]

    endpoint_results: list[CalcResult | None] = [None, None]
    if endpoint_energies is not None:
        end_energies = [float(endpoint_energies[0]), float(endpoint_energies[1])]
    else:
        sources = list(endpoint_dirs) if endpoint_dirs is not None else [dirs[0], dirs[-1]]
        end_energies = []
        for k, source in enumerate(sources):
            source = Path(source)
            if find_vasp_file(source, "vasprun.xml") is None and find_vasp_file(source, "OUTCAR") is None:
                raise ParseError(
                    f"{source}: no OUTCAR/vasprun.xml for NEB endpoint {dirs[0 if k == 0 else -1].name} "
                    "(VASP does not compute endpoints in an NEB): pass endpoint_dirs= (the endpoint "
                    "relaxations) or endpoint_energies="
                )
            endpoint_results[k] = parse_vasp_dir(source, task_label=f"{task_label or 'neb'} endpoint {k}")
            end_energies.append(endpoint_results[k].energy)

    structures: list[Structure] = []
    for k, d in ((0, dirs[0]), (1, dirs[-1])):
        poscar = find_vasp_file(d, "POSCAR")
        if poscar is not None:
            structures.append(_read_poscar(poscar))
        elif endpoint_results[k] is not None:
            structures.append(endpoint_results[k].structure)
        else:
            raise ParseError(f"{d}: no POSCAR for NEB endpoint")
    images = [structures[0], *[r.structure for r in inner], structures[1]]
    n_sites = {len(s) for s in images}
    if len(n_sites) != 1:
        raise ParseError(f"{directory}: NEB images have different numbers of atoms {sorted(n_sites)}")

    energies = [end_energies[0], *[r.energy for r in inner], end_energies[1]]
    forward, backward = barriers_from_energies(energies)
    incar = _neb_incar(directory, inner[0])
    climbing = _neb_climbing(incar, dirs[1])
    climbing_index = 1 + int(np.argmax([r.energy for r in inner])) if climbing else None

    errors = [f"image {d.name}: {r.error}" for d, r in zip(dirs[1:-1], inner, strict=True) if not r.converged]
    errors += [f"endpoint {k}: {r.error}" for k, r in enumerate(endpoint_results) if r is not None and not r.converged]
    return NEBResult(
        images=images,
        energies=energies,
        reaction_coordinate=path_length(images),
        barrier_forward=forward,
        barrier_backward=backward,
        converged=not errors,
        n_steps=max(r.n_steps for r in inner),
        climbing_image=climbing_index,
        engine="vasp",
        code="vasp",
        code_version=inner[0].code_version,
        model=inner[0].model,
        parameters={"incar": incar, "n_images": len(inner), "endpoint_source": "energies" if endpoint_energies else "runs"},
        task_label=task_label,
        error="; ".join(errors) or None,
    )
