"""Bulk phases (files, Materials Project, the bundled offline library), slabs with all
terminations, and lattice-matched interface candidates.

The names below are imported on first use (PEP 562): ``interphases phases`` and
``interphases --help`` do not pay for pymatgen's interface and slab machinery.
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {
    # --- bulk phases: loading, the offline library, sanity checks
    "from_materials_project": "bulk",
    "load_structure": "bulk",
    "read_structure_file": "bulk",
    "PhaseInfo": "library",
    "Reference": "library",
    "get_phase": "library",
    "list_phases": "library",
    "phase_info": "library",
    "phase_names": "library",
    # --- slabs and lattice-matched interface candidates
    "InterfaceCandidate": "interfaces",
    "enumerate_candidates": "interfaces",
    "load_candidates": "interfaces",
    "registry_shifts": "interfaces",
    "write_candidates": "interfaces",
    "SlabRecord": "slabs",
    "generate_slabs": "slabs",
    "load_slabs": "slabs",
    "write_slabs": "slabs",
    "check_charge_balance": "validation",
    "check_min_distance": "validation",
    "check_ordered": "validation",
    "density_g_cm3": "validation",
    "min_distance": "validation",
    "min_pair_distances": "validation",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    module = _NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'interphases.structures' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"interphases.structures.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_NAMES))
