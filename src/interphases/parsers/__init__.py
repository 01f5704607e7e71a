"""VASP, CP2K and ASE outputs into one result schema (:mod:`interphases.parsers.schema`).

- :func:`parse_vasprun`, :func:`parse_outcar`, :func:`parse_vasp_dir`, :func:`parse_vasp_neb`
  (``parsers.vasp``): vasprun.xml, OUTCAR, NEB folders 00..0N;
- :func:`parse_cp2k_output` (``parsers.cp2k``): CP2K single points and relaxations;
- :func:`parse_ase_trajectory`, :func:`calc_result_from_atoms` (``parsers.ase``).

The parser functions load lazily (pymatgen's VASP/CP2K readers are not imported until used).
"""

from typing import Any

from interphases.parsers.schema import CalcResult, NEBResult

__all__ = [
    "CalcResult",
    "NEBResult",
    "calc_result_from_atoms",
    "parse_ase_trajectory",
    "parse_cp2k_output",
    "parse_outcar",
    "parse_vasp_dir",
    "parse_vasp_neb",
    "parse_vasprun",
]

_LAZY = {
    "parse_vasprun": "interphases.parsers.vasp",
    "parse_outcar": "interphases.parsers.vasp",
    "parse_vasp_dir": "interphases.parsers.vasp",
    "parse_vasp_neb": "interphases.parsers.vasp",
    "parse_cp2k_output": "interphases.parsers.cp2k",
    "parse_ase_trajectory": "interphases.parsers.ase",
    "calc_result_from_atoms": "interphases.parsers.ase",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'interphases.parsers' has no attribute {name!r}")
