"""Derive, once and offline, the library entries that are not plain transcriptions.

``src/interphases/structures/data/phases.yaml`` holds crystallographic facts. For a few
phases the published model cannot be used as is, and this script documents (and
re-runs) what was done instead. Nothing here runs at import or test time; the results
are pasted into the data file as explicit coordinates.

1. **Orderings of partially occupied structures** (Li3YCl6, Li6PS5Cl; for Li6PS5Cl the
   result is compared with the published ordering of Deng et al.; for beta-Li3PS4 the
   site choice is given in the data).
   The lowest-electrostatic-energy arrangement (formal charges, pymatgen
   ``EwaldSummation``) of the partially occupied sites, with the stoichiometry fixed.
   The Ewald energy of an occupation vector ``o`` is the quadratic form ``o·M·o`` of
   the total-energy matrix ``M`` of the fully occupied structure, as in pymatgen's
   ``EwaldMinimizer``; pymatgen's exhaustive branch-and-bound does not finish for the
   48h sites of Li6PS5Cl (C(48, 24) arrangements), so we minimise it by simulated
   annealing with swap moves, many restarts, and check on Li3YCl6 that it finds the
   same minimum as pymatgen's ``OrderDisorderedStructureTransformation``.
2. **Internal coordinates** that the crystallographic source available to us does not
   give reliably (OBELiX redistributes ICSD-derived CIFs with randomised positional
   noise of up to ~0.2 Å, see its documentation) are relaxed with CHGNet 0.3.0
   (B. Deng et al., Nat. Mach. Intell. 5, 1031 (2023), doi:10.1038/s42256-023-00716-3)
   at the **fixed experimental lattice**, with the space-group symmetry of the model
   imposed (ASE ``FixSymmetry``), to fmax < 0.01 eV/Å. The lattice, space group and
   Wyckoff sites stay those of the experiment.

Usage (about 5–10 min on 2 cores)::

    OMP_NUM_THREADS=1 .venv/bin/python scripts/derive_library_models.py > derived.yaml

Needs ``../shared/data`` (OBELiX CIFs) beside the repository.
"""

from __future__ import annotations

import sys
import tarfile
import tempfile
import warnings
from pathlib import Path

import numpy as np
from pymatgen.core import Lattice, Structure
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

warnings.filterwarnings("ignore")

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
OBELIX = SHARED / "structures" / "OBELiX_all_cifs.tar.gz"


def obelix_structure(entry_id: str) -> Structure:
    """One CIF of the OBELiX dataset (Therrien et al., CC-BY-4.0), read with pymatgen."""
    with tarfile.open(OBELIX) as tar, tempfile.TemporaryDirectory() as tmp:
        member = next(m for m in tar.getmembers() if m.name.endswith(f"/{entry_id}.cif"))
        tar.extract(member, tmp, filter="data")
        return Structure.from_file(Path(tmp) / member.name)


# ------------------------------------------------------------------ Ewald ordering
def lowest_ewald_ordering(
    disordered: Structure,
    oxidation_states: dict[str, float],
    n_restarts: int = 40,
    n_sweeps: int = 400,
    seed: int = 0,
) -> tuple[Structure, float, int]:
    """Lowest-Ewald-energy ordering of single-species partially occupied sites.

    Sites with identical partial species (e.g. ``Li:0.5``) form one group; each group
    gets ``round(occupancy × count)`` atoms. Returns the ordered structure, its Ewald
    energy (eV per cell) and how many restarts reached that energy.
    """
    from pymatgen.analysis.ewald import EwaldSummation

    groups: dict[str, list[int]] = {}
    fixed: list[int] = []
    full = disordered.copy()
    for i, site in enumerate(disordered):
        if site.is_ordered:
            fixed.append(i)
            continue
        (sp, occ), = site.species.items()
        groups.setdefault(f"{sp}:{occ:.6f}", []).append(i)
        full.replace(i, sp.symbol)
    full.add_oxidation_state_by_element(oxidation_states)
    matrix = EwaldSummation(full).total_energy_matrix
    matrix = 0.5 * (matrix + matrix.T)
    n_occ = {}
    for key, idx in groups.items():
        occ = float(key.split(":")[1])
        n = occ * len(idx)
        if abs(n - round(n)) > 1e-3:
            raise ValueError(f"group {key}: occupancy × multiplicity = {n} is not an integer")
        n_occ[key] = int(round(n))

    rng = np.random.default_rng(seed)
    best_e, best_o, hits = np.inf, None, 0
    for _ in range(n_restarts):
        o = np.zeros(len(full))
        o[fixed] = 1
        for key, idx in groups.items():
            o[rng.choice(idx, n_occ[key], replace=False)] = 1
        field = matrix @ o
        energy = o @ field
        for temp in np.geomspace(2.0, 1e-3, n_sweeps):
            for key, idx in groups.items():
                occupied = [i for i in idx if o[i]]
                vacant = [i for i in idx if not o[i]]
                if not vacant:
                    continue
                for _ in range(len(idx)):
                    a = occupied[rng.integers(len(occupied))]
                    b = vacant[rng.integers(len(vacant))]
                    delta = 2 * (field[b] - field[a]) + matrix[a, a] + matrix[b, b] - 2 * matrix[a, b]
                    if delta < 0 or rng.random() < np.exp(-delta / temp):
                        o[a], o[b] = 0, 1
                        field += matrix[:, b] - matrix[:, a]
                        energy += delta
                        occupied[occupied.index(a)] = b
                        vacant[vacant.index(b)] = a
        energy = o @ matrix @ o
        if energy < best_e - 1e-6:
            best_e, best_o, hits = energy, o.copy(), 1
        elif abs(energy - best_e) < 1e-6:
            hits += 1
    ordered = full.copy()
    ordered.remove_oxidation_states()
    ordered.remove_sites([i for i in range(len(full)) if not best_o[i]])
    return ordered, float(best_e), hits


# ------------------------------------------------------------- CHGNet relaxation
def relax_internal(structure: Structure, symprec: float = 1e-3, fmax: float = 0.01, steps: int = 2000) -> Structure:
    """Relax positions only (cell fixed), keeping the symmetry found at ``symprec``."""
    import torch
    from ase.constraints import FixSymmetry
    from ase.optimize import BFGS
    from chgnet.model import CHGNet
    from chgnet.model.dynamics import CHGNetCalculator
    from pymatgen.io.ase import AseAtomsAdaptor

    torch.set_num_threads(1)
    atoms = AseAtomsAdaptor.get_atoms(structure)
    atoms.calc = CHGNetCalculator(CHGNet.load(verbose=False), use_device="cpu")
    atoms.set_constraint(FixSymmetry(atoms, symprec=symprec))
    opt = BFGS(atoms, logfile=None)
    opt.run(fmax=fmax, steps=steps)
    fmax_reached = float(np.abs(atoms.get_forces()).max())
    energy = atoms.get_potential_energy() / len(atoms)
    print(f"# relaxed in {opt.get_number_of_steps()} steps, max |F| = {fmax_reached:.4f} eV/Å, "
          f"E = {energy:.5f} eV/atom (CHGNet)", file=sys.stderr)
    atoms.set_constraint()
    relaxed = AseAtomsAdaptor.get_structure(atoms)
    relaxed.properties["chgnet_energy_per_atom"] = energy
    return relaxed


def wyckoff_parameters(relaxed: Structure, start: Structure, representatives: list) -> list[list[float]]:
    """Relaxed coordinates of each Wyckoff representative (nearest relaxed site)."""
    out = []
    for xyz in representatives:
        d = relaxed.lattice.get_all_distances(relaxed.frac_coords, [xyz])[:, 0]
        i = int(np.argmin(d))
        f = relaxed.frac_coords[i]
        # express in the same periodic image as the starting representative
        f = f - np.round(f - np.asarray(xyz))
        out.append([round(float(x), 4) for x in f])
    return out


def from_wyckoff(sg: str, lattice: Lattice, sites: list) -> Structure:
    return Structure.from_spacegroup(sg, lattice, [s[0] for s in sites], [s[1] for s in sites], tol=1e-3)


def report(name: str, structure: Structure, sites: list | None = None, sg: str | None = None) -> None:
    sga = SpacegroupAnalyzer(structure, symprec=1e-3)
    print(f"# ---- {name}: {structure.composition.reduced_formula}, {len(structure)} atoms, "
          f"{sga.get_space_group_symbol()} ({sga.get_space_group_number()}), rho = {structure.density:.3f} g/cm3")
    if sites is not None:
        print(f"  # setting: {sg}")
        print("  sites:")
        for el, xyz, w in sites:
            print(f"  - [{el}, {w}, [{xyz[0]:.4f}, {xyz[1]:.4f}, {xyz[2]:.4f}]]")
    else:
        print("  sites:")
        for site in sorted(structure, key=lambda s: (s.specie.Z, *np.round(s.frac_coords, 4))):
            f = site.frac_coords % 1.0
            f[np.isclose(f, 1.0, atol=5e-6)] = 0.0
            print(f"  - [{site.specie.symbol}, '-', [{f[0]:.5f}, {f[1]:.5f}, {f[2]:.5f}]]")
    sys.stdout.flush()


def derive_wyckoff(name: str, sg: str, lattice: Lattice, sites: list) -> Structure:
    """Build from (element, start xyz, Wyckoff letter), relax internal coords, print."""
    start = from_wyckoff(sg, lattice, [(el, xyz) for el, xyz, _ in sites])
    relaxed = relax_internal(start)
    params = wyckoff_parameters(relaxed, start, [xyz for _, xyz, _ in sites])
    new_sites = [(el, p, w) for (el, _, w), p in zip(sites, params, strict=True)]
    rebuilt = from_wyckoff(sg, lattice, [(el, p) for el, p, _ in new_sites])
    report(name, rebuilt, new_sites, sg)
    return rebuilt


def main() -> None:
    which = set(sys.argv[1:])

    def want(name: str) -> bool:
        return not which or name in which

    if want("LiOH"):
        # Dachs (1959) lattice; start z(O) = 0.19, z(H) = 0.41 (anti-PbO layers)
        derive_wyckoff("LiOH", "P4/nmm:1", Lattice.tetragonal(3.549, 4.334),
                       [("Li", [0, 0, 0], "2a"), ("O", [0, 0.5, 0.19], "2c"), ("H", [0, 0.5, 0.41], "2c")])

    if want("AlF3"):
        # alpha-AlF3 lattice (Le Bail et al. 1988); start x(F) = 0.43
        derive_wyckoff("AlF3", "R-3c", Lattice.hexagonal(4.9254, 12.4477),
                       [("Al", [0, 0, 0], "6b"), ("F", [0.43, 0, 0.25], "18e")])

    if want("Li3PS4"):
        # beta-Li3PS4, Homma et al. (2011) at 637 K, ICSD 180319 (via OBELiX 'nhq').
        # Ordered model: Li1 8d and Li2 4b fully occupied (4b is the majority site,
        # occ. 0.7), Li3 4c (occ. 0.3) empty -> exactly 12 Li per cell.
        nhq = obelix_structure("nhq")
        print(f"# OBELiX nhq: {nhq.composition}, {nhq.lattice.abc}", file=sys.stderr)
        derive_wyckoff("Li3PS4", "Pnma", Lattice.orthorhombic(12.819, 8.2195, 6.1236), [
            ("Li", [0.1517, 0.5136, 0.9357], "8d"),
            ("Li", [0.0, 0.0, 0.5], "4b"),
            ("P", [0.0944, 0.25, 0.1616], "4c"),
            ("S", [0.1509, 0.0544, 0.2813], "8d"),
            ("S", [0.0741, 0.75, 0.7367], "4c"),
            ("S", [0.1042, 0.25, 0.8383], "4c"),
        ])

    if want("Li3PO4"):
        # gamma-Li3PO4, Zemann (1960) cell; start from the OBELiX '9lo' positions
        derive_wyckoff("Li3PO4", "Pnma", Lattice.orthorhombic(10.490, 6.120, 4.9266), [
            ("Li", [0.1558, 0.5033, 0.2968], "8d"),
            ("Li", [0.0832, 0.25, 0.7026], "4c"),
            ("P", [0.0880, 0.75, 0.8090], "4c"),
            ("O", [0.1685, 0.5443, 0.7093], "8d"),
            ("O", [0.0581, 0.25, 0.2985], "4c"),
            ("O", [0.0921, 0.75, 0.1084], "4c"),
        ])

    if want("Na3PS4"):
        # tetragonal Na3PS4 (Jansen & Henseler 1992): P-42_1c, a = 6.9520, c = 7.0757 A.
        # Start from the cubic (I-43m) arrangement written in P-42_1c, with a small
        # displacement that breaks the body centring, and let the positions relax.
        derive_wyckoff("Na3PS4", "P-421c", Lattice.tetragonal(6.9520, 7.0757), [
            ("Na", [0, 0, 0.5], "2b"),
            ("Na", [0, 0.5, 0.03], "4d"),
            ("P", [0, 0, 0], "2a"),
            ("S", [0.175, 0.162, 0.170], "8e"),
        ])

    if want("Li3YCl6"):
        # Asano et al. (2018), P-3m1, via OBELiX 'ei3' (positions) with the paper's cell.
        # Partial sites: Y 2d (z~0.49, occ 0.566) / Y 2d (z~0.98, occ 0.434); Li 6h
        # (occ 0.875) / 6g (occ 0.625). Stoichiometry kept: 2 Y on the four 2d sites,
        # 9 Li on the twelve 6g+6h sites; lowest Ewald energy.
        ei3 = obelix_structure("ei3")
        ei3.lattice = Lattice.hexagonal(11.2217, 6.05517)
        for i, site in enumerate(ei3):
            if site.species_string.startswith("Li"):
                ei3.replace(i, {"Li": 0.75})
            elif not site.is_ordered and site.species_string.startswith("Y"):
                ei3.replace(i, {"Y": 0.5})
        ordered, e, hits = lowest_ewald_ordering(ei3, {"Li": 1, "Y": 3, "Cl": -1})
        print(f"# Li3YCl6 SA ordering: E_Ewald = {e:.4f} eV, found by {hits} restarts", file=sys.stderr)
        from pymatgen.transformations.standard_transformations import OrderDisorderedStructureTransformation

        ox = ei3.copy()
        ox.add_oxidation_state_by_element({"Li": 1, "Y": 3, "Cl": -1})
        exact = OrderDisorderedStructureTransformation(algo=0).apply_transformation(ox, return_ranked_list=1)[0]
        print(f"# Li3YCl6 pymatgen EwaldMinimizer (ALGO_FAST) ordering: E_Ewald = {exact['energy']:.4f} eV", file=sys.stderr)
        report("Li3YCl6", relax_internal(ordered))

    if want("Li6PS5Cl"):
        # Kraft et al. (2017) cell: F-43m, a = 9.898 A, Li 48h half occupied; anions as
        # in Deiseroth's ideal argyrodite (Cl on 4a, S2- on 4d, no site exchange).
        # (a) our lowest-Ewald ordering of the 48h Li, positions relaxed at that cell;
        # (b) the published ordered model of Deng et al. (Chem. Mater. 29, 281 (2017),
        #     doi:10.1021/acs.chemmater.6b02648; the GGA-relaxed R3 structure in
        #     ../shared/data/vasp/relax), its fractional coordinates put into the
        #     experimental cubic cell and relaxed there with R3 symmetry.
        # The library uses the one lower in CHGNet energy at the experimental cell: (a),
        # by 3.3 meV/atom. (With the cell relaxed too, (b) becomes 3.3 meV/atom lower,
        # through a rhombohedral distortion to 93 degrees that the cubic material does
        # not show.)
        from pymatgen.io.vasp import Vasprun

        lattice = Lattice.cubic(9.898)
        lpsc = Structure.from_spacegroup("F-43m", lattice, ["P", "S", "Cl", "S", {"Li": 0.5}],
                                         [(0, 0, 0.5), (0.1178, 0.3822, 0.1178), (0, 0, 0), (0.25, 0.25, 0.75),
                                          (0.0204, 0.1851, 0.8149)])
        ordered, e, hits = lowest_ewald_ordering(lpsc, {"Li": 1, "P": 5, "S": -2, "Cl": -1}, n_restarts=60)
        print(f"# Li6PS5Cl SA ordering: E_Ewald = {e:.4f} eV, found by {hits}/60 restarts", file=sys.stderr)
        ewald_model = relax_internal(ordered)
        deng = Vasprun(SHARED / "vasp" / "relax" / "Li6PS5Cl_relax_vasprun.xml.gz",
                       parse_dos=False, parse_eigen=False).final_structure
        p_site = next(site.frac_coords for site in deng if site.specie.symbol == "P")
        shift = np.round(p_site * 2) / 2 - p_site  # put that P exactly on a 4b position
        published = Structure(lattice, deng.species, deng.frac_coords + shift)
        deng_model = relax_internal(published)
        de = 1000 * (ewald_model.properties["chgnet_energy_per_atom"] - deng_model.properties["chgnet_energy_per_atom"])
        print(f"# Li6PS5Cl: lowest-Ewald model minus Deng model = {de:+.1f} meV/atom (CHGNet, fixed cell)",
              file=sys.stderr)
        chosen, other = (ewald_model, deng_model) if de < 0 else (deng_model, ewald_model)
        report("Li6PS5Cl (library model)", chosen)
        report("Li6PS5Cl (other ordering, not used)", other)

if __name__ == "__main__":
    main()
