"""Bulk phases (files, Materials Project, the bundled offline library), slabs with all
terminations, and lattice-matched interface candidates.
"""

# --- bulk phases: loading, the offline library, sanity checks
from interphases.structures.bulk import from_materials_project, load_structure, read_structure_file
from interphases.structures.library import PhaseInfo, Reference, get_phase, list_phases, phase_info, phase_names

# --- slabs and lattice-matched interface candidates
from interphases.structures.interfaces import (
    InterfaceCandidate,
    enumerate_candidates,
    load_candidates,
    registry_shifts,
    write_candidates,
)
from interphases.structures.slabs import SlabRecord, generate_slabs, load_slabs, write_slabs
from interphases.structures.validation import (
    check_charge_balance,
    check_min_distance,
    check_ordered,
    density_g_cm3,
    min_distance,
    min_pair_distances,
)

__all__ = [
    "InterfaceCandidate",
    "SlabRecord",
    "enumerate_candidates",
    "generate_slabs",
    "load_candidates",
    "load_slabs",
    "registry_shifts",
    "write_candidates",
    "write_slabs",
    "PhaseInfo",
    "Reference",
    "check_charge_balance",
    "check_min_distance",
    "check_ordered",
    "density_g_cm3",
    "from_materials_project",
    "get_phase",
    "list_phases",
    "load_structure",
    "min_distance",
    "min_pair_distances",
    "phase_info",
    "phase_names",
    "read_structure_file",
]
