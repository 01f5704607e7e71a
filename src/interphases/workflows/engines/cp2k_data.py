"""The pymatgen CP2K set-up, done by the project in code (no ``pmg config`` by hand).

pymatgen's CP2K input sets find basis sets and pseudopotentials in per-element YAML
files (``PMG_CP2K_DATA_DIR``) that ``pmg config --cp2k <cp2k data dir> <target>``
builds from CP2K's own data files, and take the functional from
``PMG_DEFAULT_CP2K_FUNCTIONAL``. :func:`ensure_pymatgen_cp2k_setup` does the same:

1. finds CP2K's data folder (``CP2K_DATA_DIR``, else ``/usr/share/cp2k`` of the Debian
   ``cp2k`` package, ``/usr/local/share/cp2k``, ``/opt/cp2k/data``);
2. runs pymatgen's own builder (``pymatgen.cli.pmg_config.setup_cp2k_data``) on just the
   files the engine uses (BASIS_MOLOPT + GTH_POTENTIALS by default: ~4 s instead of ~30 s
   for every file), once, into ``interphases.config.cache_dir()/pymatgen-cp2k/<key>``
   (key: the files' paths, sizes and dates; built in a temporary folder and renamed, so
   concurrent jobs do not see half a folder);
3. sets ``PMG_CP2K_DATA_DIR`` and ``PMG_DEFAULT_CP2K_FUNCTIONAL`` in pymatgen's SETTINGS
   for this process when the user has not set them (a user's ``.pmgrc.yaml`` wins).

:func:`find_basis_and_potential` then picks, from those files, the basis set and the
GTH pseudopotential of an element by name *and* file, paired by valence electrons
(pymatgen's own matcher ignores the file and may take a same-named basis from another one).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from interphases.config import cache_dir
from interphases.errors import EngineUnavailableError, UnsupportedElementsError

__all__ = [
    "cp2k_data_dir",
    "ensure_pymatgen_cp2k_setup",
    "find_basis_and_potential",
]

_CANDIDATE_DATA_DIRS = ("/usr/share/cp2k", "/usr/local/share/cp2k", "/opt/cp2k/data", "/usr/share/cp2k/data")


def cp2k_data_dir(explicit: str | Path | None = None) -> Path:
    """CP2K's data folder (basis sets, potentials)."""
    candidates = [explicit, os.environ.get("CP2K_DATA_DIR"), *_CANDIDATE_DATA_DIRS]
    for candidate in candidates:
        if candidate and (Path(candidate) / "BASIS_MOLOPT").is_file():
            return Path(candidate)
    raise EngineUnavailableError(
        "CP2K data files (BASIS_MOLOPT, GTH_POTENTIALS) not found: install CP2K (Debian/Ubuntu: "
        "apt-get install cp2k) or set CP2K_DATA_DIR to its data folder"
    )


def _key(files: list[Path]) -> str:
    h = hashlib.sha256()
    for f in files:
        stat = f.stat()
        h.update(f"{f.resolve()}:{stat.st_size}:{int(stat.st_mtime)}".encode())
    return h.hexdigest()[:12]


def ensure_pymatgen_cp2k_setup(
    files: tuple[str, ...] = ("BASIS_MOLOPT", "GTH_POTENTIALS"),
    *,
    data_dir: str | Path | None = None,
    functional: str = "PBE",
) -> Path:
    """Build (once) and return pymatgen's CP2K element-data folder for ``files``.

    Also fills pymatgen's process SETTINGS (``PMG_CP2K_DATA_DIR``,
    ``PMG_DEFAULT_CP2K_FUNCTIONAL``) when unset, so pymatgen/atomate2 CP2K sets work in
    this process.
    """
    source = cp2k_data_dir(data_dir)
    paths = []
    for name in sorted(set(files)):
        path = source / name
        if not path.is_file():
            raise EngineUnavailableError(f"CP2K data file {name} not found in {source}: check the basis/potential file names")
        paths.append(path)
    target = cache_dir() / "pymatgen-cp2k" / _key(paths)
    if not (target / "Li").is_file():
        _build(paths, target)

    from pymatgen.core import SETTINGS

    if not SETTINGS.get("PMG_CP2K_DATA_DIR"):
        SETTINGS["PMG_CP2K_DATA_DIR"] = str(target)
    if not SETTINGS.get("PMG_DEFAULT_CP2K_FUNCTIONAL"):
        SETTINGS["PMG_DEFAULT_CP2K_FUNCTIONAL"] = functional
    return target


def _build(paths: list[Path], target: Path) -> None:
    """pymatgen's ``pmg config --cp2k`` builder on ``paths`` only, atomically into ``target``."""
    from pymatgen.cli.pmg_config import setup_cp2k_data

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for path in paths:
            os.symlink(path.resolve(), src / path.name)
        out = Path(tmp) / "out"  # must not exist: the builder asks interactively otherwise
        with contextlib.redirect_stdout(io.StringIO()):
            setup_cp2k_data([str(src), str(out)])
        try:
            os.rename(out, target)
        except OSError:  # another process finished first: keep theirs
            if not (target / "Li").is_file():
                shutil.rmtree(target, ignore_errors=True)
                os.rename(out, target)


@lru_cache(maxsize=512)
def _element_data(data_dir: str, element: str) -> dict[str, Any]:
    path = Path(data_dir) / element
    if not path.is_file():
        return {}
    with open(path) as handle:
        return yaml.safe_load(handle) or {}


def _matches(entry: dict[str, Any], name: str, filename: str) -> bool:
    names = {entry.get("name"), *(entry.get("alias_names") or [])}
    return entry.get("filename") == filename and name in names


def find_basis_and_potential(
    data_dir: str | Path,
    element: str,
    *,
    basis: str,
    basis_file: str,
    potential: str,
    potential_file: str,
) -> dict[str, Any]:
    """pymatgen basis-set and GTH-potential objects of ``element``, paired by valence electrons.

    Raises :class:`UnsupportedElementsError` (with what to set) when the files have none.
    """
    from pymatgen.io.cp2k.inputs import GaussianTypeOrbitalBasisSet, GthPotential

    data = _element_data(str(data_dir), element)
    bases = [b for b in (data.get("basis_sets") or {}).values() if _matches(b, basis, basis_file)]
    potentials = [p for p in (data.get("potentials") or {}).values() if _matches(p, potential, potential_file)]
    for b in sorted(bases, key=lambda e: -(e.get("info", {}).get("electrons") or 0)):
        for p in potentials:
            if b.get("info", {}).get("electrons") == p.get("info", {}).get("electrons"):
                return {
                    "basis": GaussianTypeOrbitalBasisSet.from_dict(b),
                    "potential": GthPotential.from_dict(p),
                    "aux_basis": None,
                }
    raise UnsupportedElementsError(
        f"CP2K: no basis '{basis}' ({basis_file}) with a matching potential '{potential}' ({potential_file}) "
        f"for {element}: set CP2KEngine(element_settings={{'{element}': {{'basis': ..., 'basis_file': ..., "
        "'potential': ..., 'potential_file': ...}})"
    )
