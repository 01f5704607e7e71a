"""What the DFT engines (CP2K, VASP) share: slab geometry, k-point meshes, run folders.

Nothing here runs a code. The pieces:

- slab detection: the largest empty gap along ``c`` (measured perpendicular to the
  ``ab`` plane) above ``vacuum_threshold`` makes a structure a slab; a slab gets one
  k-point along ``c`` and, when its two surfaces differ, a dipole correction;
- :func:`is_symmetric_slab`: pymatgen's ``Slab.is_symmetric`` test (an operation
  that maps ``z -> -z``: inversion, a mirror parallel to the surface or an in-plane
  2-fold axis) for any ``Structure``;
- :func:`standard_orientation`: codes apply the surface-dipole correction along a
  Cartesian axis, so a slab is rotated (rigidly, fractional coordinates kept) into
  pymatgen's standard frame: ``a`` along x, ``b`` in the xy plane, normal along z;
  :func:`rotate_back` returns positions, forces and stress to the caller's frame;
- :class:`RunFolder`: one folder per calculation with a readable name, a marker file
  holding the hash of the request (structure + settings), earlier attempts moved to
  ``attempt-N/`` (nothing is deleted) and finished runs reused on a rerun.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from monty.json import jsanitize
from pymatgen.core import Lattice, Structure

from interphases.errors import InterphasesError, InvalidStructureError
from interphases.parsers.schema import free_mask

__all__ = [
    "MARKER",
    "RunFolder",
    "check_no_overlap",
    "command_executable",
    "folder_names",
    "is_slab",
    "is_symmetric_slab",
    "kpoint_mesh",
    "request_hash",
    "rotate_back",
    "slab_center_frac_c",
    "standard_orientation",
    "vacuum_along_c",
    "wants_dipole_correction",
]

#: marker file written into every run folder
MARKER = "interphases-run.json"


# --------------------------------------------------------------------------- slabs


def _gaps_along_c(structure: Structure) -> tuple[np.ndarray, np.ndarray]:
    """Sorted fractional c coordinates (wrapped to [0, 1)) and the gaps after each."""
    fc = np.sort(np.mod(structure.frac_coords[:, 2], 1.0))
    gaps = np.diff(np.append(fc, fc[0] + 1.0))
    return fc, gaps


def _interplanar_c(structure: Structure) -> float:
    """Distance between the two ab-planes of the cell (Å): V / |a x b|."""
    a, b, _ = structure.lattice.matrix
    return float(structure.volume / np.linalg.norm(np.cross(a, b)))


def vacuum_along_c(structure: Structure) -> float:
    """Largest empty gap along c, measured perpendicular to the ab plane (Å)."""
    if len(structure) == 0:
        return _interplanar_c(structure)
    _, gaps = _gaps_along_c(structure)
    return float(gaps.max() * _interplanar_c(structure))


def is_slab(structure: Structure, vacuum_threshold: float = 5.0) -> bool:
    """True when the structure has a vacuum gap of more than ``vacuum_threshold`` Å along c."""
    return vacuum_along_c(structure) > vacuum_threshold


def slab_center_frac_c(structure: Structure) -> float:
    """Fractional c of the middle of the slab (the atoms between the vacuum gaps), in [0, 1)."""
    fc, gaps = _gaps_along_c(structure)
    k = int(np.argmax(gaps))
    top = fc[k]
    bottom = fc[(k + 1) % len(fc)]
    if bottom > top:  # slab crosses the periodic boundary
        bottom -= 1.0
    return float(np.mod(0.5 * (bottom + top), 1.0))


def is_symmetric_slab(structure: Structure, symprec: float = 0.1) -> bool:
    """Whether the two surfaces of a slab are equivalent (pymatgen ``Slab.is_symmetric``).

    True if a symmetry operation of the slab maps fractional ``c`` onto ``-c``
    (inversion, mirror plane parallel to the surface, 2-fold axis in the plane).
    """
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    try:
        ops = SpacegroupAnalyzer(structure, symprec=symprec).get_symmetry_operations(cartesian=False)
    except Exception:  # spglib failure: assume no symmetry (the dipole correction is then applied)
        return False
    return any(np.allclose(op.rotation_matrix[2], [0, 0, -1]) for op in ops)


def wants_dipole_correction(structure: Structure, setting: bool | str, slab: bool) -> bool:
    """Dipole correction for this structure: only slabs; ``"auto"`` when the surfaces differ."""
    return slab and (setting is True or (setting == "auto" and not is_symmetric_slab(structure)))


def check_no_overlap(structure: Structure, where: str, min_distance: float = 0.5) -> None:
    """Raise :class:`InvalidStructureError` if two sites are closer than ``min_distance`` Å."""
    if len(structure) < 2:
        return
    centers, neighbors, _, distances = structure.get_neighbor_list(r=min_distance)
    if len(distances):
        k = int(np.argmin(distances))
        raise InvalidStructureError(
            f"{where}: sites {int(centers[k])} and {int(neighbors[k])} are {distances[k]:.2f} Å apart: overlapping atoms"
        )


def kpoint_mesh(structure: Structure, kspacing: float | None, *, slab: bool) -> tuple[int, int, int]:
    """Monkhorst-Pack divisions ``n_i = max(1, ceil(|b_i| / kspacing))``; 1 along c for slabs.

    ``kspacing`` in Å⁻¹ with the 2π of the reciprocal vectors included (VASP's KSPACING
    convention); ``None`` means the Γ point only.
    """
    if kspacing is None:
        return (1, 1, 1)
    if kspacing <= 0:
        raise InterphasesError(f"kspacing must be > 0 Å⁻¹ (or None for Γ only), got {kspacing}")
    lengths = structure.lattice.reciprocal_lattice.abc
    mesh = [max(1, int(np.ceil(length / kspacing - 1e-9))) for length in lengths]
    if slab:
        mesh[2] = 1
    return (mesh[0], mesh[1], mesh[2])


# --------------------------------------------------------------------------- orientation


def standard_orientation(structure: Structure) -> tuple[Structure, np.ndarray | None]:
    """``structure`` rotated so that a ∥ x and b lies in the xy plane, and the rotation.

    Returns ``(rotated, Q)`` with Cartesian row vectors transforming as ``r_std = r Q``;
    ``Q`` is None when the structure is already in that frame. Site properties are kept;
    a structure frozen only along some Cartesian directions cannot be rotated (the
    ``selective_dynamics`` flags would change meaning) and raises.
    """
    matrix = structure.lattice.matrix
    if abs(matrix[0, 1]) < 1e-8 and abs(matrix[0, 2]) < 1e-8 and abs(matrix[1, 2]) < 1e-8:
        return structure, None
    std = Lattice.from_parameters(*structure.lattice.abc, *structure.lattice.angles, vesta=True, pbc=structure.lattice.pbc)
    q = np.linalg.solve(matrix, std.matrix)
    if not np.allclose(q @ q.T, np.eye(3), atol=1e-6):
        raise InvalidStructureError("could not rotate the cell to the standard frame (lattice is not right-handed?)")
    mask = free_mask(structure)
    if ((mask.sum(axis=1) > 0) & (mask.sum(axis=1) < 3)).any():
        raise InvalidStructureError(
            "atoms frozen along only some Cartesian directions cannot be rotated into the frame the "
            "dipole correction needs (a along x, b in the xy plane): give the slab in that frame"
        )
    rotated = Structure(
        std,
        structure.species,
        structure.frac_coords,
        site_properties=structure.site_properties,
        charge=structure.charge,
    )
    return rotated, q


def rotate_back(
    q: np.ndarray | None,
    lattice: np.ndarray,
    cart_coords: np.ndarray,
    forces: Any = None,
    stress: Any = None,
) -> tuple[np.ndarray, np.ndarray, list | None, list | None]:
    """Lattice, positions, forces (rows) and stress (3x3) from the standard frame back.

    With ``r_std = r Q`` and Q orthogonal: ``r = r_std Qᵀ`` and ``σ = Q σ_std Qᵀ``.
    """
    if q is None:
        return lattice, cart_coords, forces, stress
    qt = q.T
    out_forces = (np.asarray(forces) @ qt).tolist() if forces is not None else None
    out_stress = (q @ np.asarray(stress) @ qt).tolist() if stress is not None else None
    return np.asarray(lattice) @ qt, np.asarray(cart_coords) @ qt, out_forces, out_stress


# --------------------------------------------------------------------------- run folders


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", text).strip("_") or "calc"


def request_hash(payload: dict[str, Any]) -> str:
    """Short SHA-256 of a JSON-serialisable request (structures as pymatgen dicts)."""
    blob = json.dumps(jsanitize(payload, strict=True, allow_bson=False), sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def folder_names(
    prefix: str,
    structures: Sequence[Structure | Sequence[Structure]],
    labels: Sequence[str | None] | None,
) -> list[str]:
    """One readable, unique folder name per structure (or NEB path): ``<prefix>-<label>``.

    Without a label: ``<index>-<formula>-<hash of the structure(s)>``, so reruns of the
    same input land in the same folder and different inputs never share one.
    """
    names = []
    for i, item in enumerate(structures):
        label = labels[i] if labels is not None else None
        if label:
            name = f"{prefix}-{_safe(label)}"
        else:
            group = [item] if isinstance(item, Structure) else list(item)
            digest = request_hash({"s": [s.as_dict() for s in group]})[:6]
            name = f"{prefix}-{i:03d}-{group[0].composition.reduced_formula}-{digest}"
        names.append(name)
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        count = seen.get(name, 0)
        seen[name] = count + 1
        unique.append(name if count == 0 else f"{name}-{count}")
    return unique


@dataclass
class RunFolder:
    """A calculation folder: marker with the request hash, earlier attempts archived.

    ``state()`` is ``"new"`` (nothing there), ``"same"`` (a run of this very request is
    there: reuse it if finished, else resume from it) or ``"other"`` (files of another
    request). ``archive()`` moves everything but earlier archives into ``attempt-N/``.
    """

    path: Path
    request: str

    @property
    def marker(self) -> Path:
        return self.path / MARKER

    def previous_request(self) -> str | None:
        try:
            return json.loads(self.marker.read_text()).get("request")
        except (OSError, ValueError):
            return None

    def state(self) -> str:
        if not self.path.is_dir() or not any(self.path.iterdir()):
            return "new"
        return "same" if self.previous_request() == self.request else "other"

    def archive(self) -> Path | None:
        """Move the folder's content into a new ``attempt-N`` subfolder; its path, or None."""
        if not self.path.is_dir():
            return None
        content = [p for p in self.path.iterdir() if not p.name.startswith("attempt-")]
        if not content:
            return None
        n = 1 + sum(1 for p in self.path.iterdir() if p.name.startswith("attempt-"))
        target = self.path / f"attempt-{n}"
        target.mkdir()
        for item in content:
            shutil.move(str(item), str(target / item.name))
        return target

    def attempts(self) -> list[Path]:
        if not self.path.is_dir():
            return []
        found = [p for p in self.path.iterdir() if p.is_dir() and p.name.startswith("attempt-")]
        return sorted(found, key=lambda p: int(p.name.split("-")[1]) if p.name.split("-")[1].isdigit() else 0)

    def write_marker(self, **info: Any) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        data = {"request": self.request, **jsanitize(info, strict=True, allow_bson=False)}
        self.marker.write_text(json.dumps(data, indent=1, default=str))


def command_executable(command: str, code_hint: str) -> tuple[list[str], str | None]:
    """Split a launch command; return (argv, first program not found on PATH, or None).

    Checks the first word (the code or a launcher such as ``srun``/``mpirun``) and the
    first word containing ``code_hint`` (``"cp2k"``, ``"vasp"``), e.g. both words of
    ``srun cp2k.psmp``.
    """
    argv = shlex.split(os.path.expandvars(command))
    if not argv:
        return argv, "<empty command>"
    to_check = [argv[0]] + [w for w in argv[1:] if code_hint in os.path.basename(w).lower()][:1]
    for word in to_check:
        if shutil.which(word) is None:
            return argv, word
    return argv, None
