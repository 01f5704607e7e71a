"""Benchmark of the MLIP engine: batched NEB and batched relaxation vs the plain ASE paths.

Everything runs side by side in one process, on the same model object and the same
inputs, and the script prints ratios (wall time and CPU time) and agreement:

1. NEB: Li vacancy hop in LiF (rock-salt primitive cell x3x3x3 = 54 sites, minus one Li:
   53 atoms), endpoints relaxed, 5 moving images by IDPP, CHGNet, CI-NEB (improved
   tangent), FIRE, fmax 0.05 eV/Å.
     * batched engine (``neb_batch``: all images evaluated together once per step,
       energies + forces only);
     * ASE path as atomate2 runs it: ``ase.mep.NEB(method="improvedtangent", climb=True)``
       with one ``CHGNetCalculator`` per image, ``FIRE.run``;
     * atomate2's own ``ForceFieldNebFromImagesMaker`` (one jobflow job);
     * with ``--shared``: ASE with one shared calculator (matcalc's way; slow).
   Target: same barrier within 0.01 eV, >= 2x faster.
2. Relaxation of 8 structures (interface candidates from
   ``interphases.structures.interfaces.enumerate_candidates``: Li | LiF, completed with
   Li | Li2O; Li, LiF and Li2O slabs if the enumerator is not usable), bottom layers
   frozen, FIRE, fmax 0.05, fixed cell:
     * batched FIRE (``relax_batch``) vs atomate2's own ``ForceFieldRelaxMaker`` (one
       jobflow job per structure), vs sequential ASE FIRE with ``CHGNetCalculator``
       (what CHGNet's StructOptimizer / atomate2 do), and sequential ASE FIRE with the
       lean calculator (``Model.fast_calculator()``) to separate "compute only what is
       needed" from "lock-step batching".
   Target: >= 2x throughput, final energies within 2 meV/atom; fraction of the batched
   run's wall time inside the model forward + backward >= 90 %.

The machine may be shared: wall times are noisy, so each comparison is run ``--repeat``
times alternating the variants, and CPU-time ratios (``time.process_time``, which counts
only this process) are printed beside the wall-time ratios.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_potentials.py            # full (~10 min)
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_potentials.py --quick    # smoke run (~1 min)
    .venv/bin/python benchmarks/bench_potentials.py --threads 2 --device cuda --batch-size 64
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings
from dataclasses import dataclass

import numpy as np


@dataclass
class Timing:
    wall: float
    cpu: float


class timer:
    def __enter__(self):
        self.w0, self.c0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.result = Timing(time.perf_counter() - self.w0, time.process_time() - self.c0)


def ratio_text(ref: list[Timing], new: list[Timing]) -> str:
    wall = [r.wall / n.wall for r, n in zip(ref, new, strict=True)]
    cpu = [r.cpu / n.cpu for r, n in zip(ref, new, strict=True)]
    return (
        f"wall {statistics.median(wall):.2f}x (runs: {', '.join(f'{x:.2f}' for x in wall)}), "
        f"cpu {statistics.median(cpu):.2f}x (runs: {', '.join(f'{x:.2f}' for x in cpu)})"
    )


# ----------------------------------------------------------------------------- inputs


def lif_vacancy_hop(model, repeat: int, n_images: int, fmax: float, evaluator):
    """Relaxed endpoints of a nearest-neighbour Li vacancy hop in LiF and its IDPP path."""
    from pymatgen.core import Lattice, Structure

    from interphases.potentials import interpolate_atoms, relax_batch, structure_to_atoms

    lif = Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.03), ["Li", "F"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    cell = lif.get_primitive_structure()
    cell.make_supercell([repeat] * 3)
    li = [i for i, s in enumerate(cell) if s.specie.symbol == "Li"]
    vacancy = li[0]
    dists = [cell.get_distance(vacancy, j) for j in li]
    dists[0] = np.inf
    hopper = li[int(np.argmin(dists))]
    initial = cell.copy()
    final = cell.copy()
    final.replace(hopper, "Li", coords=cell[vacancy].frac_coords)
    initial.remove_sites([vacancy])
    final.remove_sites([vacancy])
    ends = [structure_to_atoms(initial), structure_to_atoms(final)]
    with timer() as t:
        out = relax_batch(ends, evaluator, fmax=fmax, max_steps=300)
    print(
        f"  endpoints ({len(ends[0])} atoms, hop {min(dists):.2f} Å) relaxed together: "
        f"{[o.n_steps for o in out]} FIRE steps, {t.result.wall:.1f} s"
    )
    return interpolate_atoms(ends[0], ends[1], n_images, method="idpp")


def relax_inputs(quick: bool):
    """8 interface candidates if the enumerator is available, else slabs (Structures)."""
    try:
        from interphases.structures.interfaces import enumerate_candidates  # noqa: F401

        candidates = _interface_candidates(4 if quick else 8)
        if candidates:
            return "interface candidates (enumerate_candidates)", candidates
    except Exception as exc:  # noqa: BLE001 - fall back to slabs, say why
        print(f"  (interface enumerator not usable here: {type(exc).__name__}: {exc}; using slabs)")
    return "slabs (Li, LiF, Li2O; bottom third frozen)", _slabs(quick)


def _interface_candidates(n: int):
    """The first ``n`` interface candidates (lowest strain first) of Li | LiF, then Li | Li2O."""
    from interphases.structures.interfaces import enumerate_candidates
    from interphases.structures.library import get_phase

    structures = []
    for film in ("LiF", "Li2O"):
        candidates = enumerate_candidates(
            get_phase("Li"), get_phase(film), max_area=60.0, max_atoms=120 if n > 4 else 40,
            substrate_thickness=6.0, film_thickness=6.0, vacuum=10.0,
        )
        structures.extend(c.interface for c in candidates[: n - len(structures)])
    return structures


def _slabs(quick: bool):
    from pymatgen.core import Lattice, Structure
    from pymatgen.core.surface import SlabGenerator

    li = Structure(Lattice.cubic(3.44), ["Li", "Li"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    lif = Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.03), ["Li", "F"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    li2o = Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.61), ["O", "Li"], [[0, 0, 0], [0.25, 0.25, 0.25]])
    specs = [
        (lif, (1, 0, 0), 8, (2, 2, 1)),
        (li, (1, 0, 0), 9, (2, 2, 1)),
        (lif, (1, 1, 0), 8, (1, 2, 1)),
        (li, (1, 1, 0), 9, (2, 1, 1)),
        (li2o, (1, 1, 0), 7, (1, 1, 1)),
        (lif, (1, 0, 0), 12, (1, 1, 1)),
        (li, (1, 1, 1), 7, (1, 1, 1)),
        (li2o, (1, 0, 0), 7, (1, 1, 1)),
    ]
    if quick:
        specs = [(b, h, 6, (1, 1, 1)) for b, h, _, _ in specs[:4]]
    rng = np.random.default_rng(42)
    slabs = []
    for bulk, hkl, thickness, scale in specs:
        slab = SlabGenerator(bulk, hkl, thickness, 10, center_slab=True, primitive=True).get_slabs()[0]
        slab = Structure.from_sites(slab.sites)
        slab.make_supercell(scale)
        z = slab.cart_coords[:, 2]
        frozen = z < z.min() + (z.max() - z.min()) / 3 - 0.1
        slab.add_site_property("selective_dynamics", [[not f] * 3 for f in frozen])
        disp = rng.normal(0, 0.05, (len(slab), 3)) * (~frozen)[:, None]
        slab = Structure(slab.lattice, slab.species, slab.cart_coords + disp, coords_are_cartesian=True,
                         site_properties=slab.site_properties)
        slabs.append(slab)
    return slabs


# ----------------------------------------------------------------------------- benchmarks


def bench_neb(model, args) -> dict:
    from interphases.potentials import neb_batch, neb_sequential_ase

    repeat, n_images = (2, 3) if args.quick else (3, 5)
    evaluator = model.evaluator(batch_size=args.batch_size, num_threads=args.threads)
    print(f"\n== NEB: Li vacancy hop in LiF ({repeat}x{repeat}x{repeat} primitive), {n_images} images, fmax {args.fmax}")
    path = lif_vacancy_hop(model, repeat, n_images, args.fmax, evaluator)
    kw = dict(k=0.1, climb=True, fmax=args.fmax, max_steps=args.neb_max_steps)
    runs: dict[str, list] = {"batched": [], "ase_per_image": [], "ase_shared": []}
    times: dict[str, list[Timing]] = {k: [] for k in runs}
    for rep in range(args.repeat):
        evaluator.stats.reset()
        with timer() as t:
            (out,) = neb_batch([[im.copy() for im in path]], evaluator, **kw)
        runs["batched"].append(out)
        times["batched"].append(t.result)
        frac = evaluator.stats.seconds_model / t.result.wall
        print(
            f"  [{rep}] batched      : barrier {out.barrier_forward:.4f} eV, {out.n_steps} steps, "
            f"{evaluator.stats.n_calls} model calls, {t.result.wall:.1f} s wall / {t.result.cpu:.1f} s cpu, "
            f"{100 * frac:.1f} % in model fwd+bwd, converged={out.converged}"
        )
        with timer() as t:
            (ref,) = neb_sequential_ase([[im.copy() for im in path]], model, **kw)
        runs["ase_per_image"].append(ref)
        times["ase_per_image"].append(t.result)
        print(
            f"  [{rep}] ASE per-image: barrier {ref.barrier_forward:.4f} eV, {ref.n_steps} steps, "
            f"{t.result.wall:.1f} s wall / {t.result.cpu:.1f} s cpu, converged={ref.converged}"
        )
        if not args.skip_atomate2 and args.model == "chgnet":
            with timer() as t:
                a2 = atomate2_neb(path, args.fmax, args.neb_max_steps)
            runs.setdefault("atomate2", []).append(a2)
            times.setdefault("atomate2", []).append(t.result)
            print(f"  [{rep}] atomate2 ForceFieldNebFromImagesMaker: barrier {a2.forward_barrier:.4f} eV, "
                  f"{t.result.wall:.1f} s wall / {t.result.cpu:.1f} s cpu")
        if args.shared:
            with timer() as t:
                (shr,) = neb_sequential_ase([[im.copy() for im in path]], model, shared_calculator=True, **kw)
            runs["ase_shared"].append(shr)
            times["ase_shared"].append(t.result)
            print(f"  [{rep}] ASE shared   : barrier {shr.barrier_forward:.4f} eV, {shr.n_steps} steps, {t.result.wall:.1f} s")
    b, r = runs["batched"][0], runs["ase_per_image"][0]
    print(f"  barrier: batched {b.barrier_forward:.4f} eV vs ASE {r.barrier_forward:.4f} eV "
          f"(|diff| {abs(b.barrier_forward - r.barrier_forward) * 1000:.1f} meV; target < 10 meV)")
    print(f"  energies along the path (eV, rel.): {np.round(np.array(b.energies) - b.energies[0], 3).tolist()}")
    print(f"  speed-up vs ASE per-image calculators: {ratio_text(times['ase_per_image'], times['batched'])}")
    if times.get("atomate2"):
        print(f"  speed-up vs atomate2 ForceFieldNebFromImagesMaker: {ratio_text(times['atomate2'], times['batched'])}"
              f" (barrier {runs['atomate2'][0].forward_barrier:.4f} eV)")
    if args.shared:
        print(f"  speed-up vs ASE shared calculator:     {ratio_text(times['ase_shared'], times['batched'])}")
    return {
        "barrier_batched": b.barrier_forward,
        "barrier_ase": r.barrier_forward,
        "steps_batched": b.n_steps,
        "steps_ase": r.n_steps,
        "wall_batched": [t.wall for t in times["batched"]],
        "wall_ase_per_image": [t.wall for t in times["ase_per_image"]],
        "cpu_batched": [t.cpu for t in times["batched"]],
        "cpu_ase_per_image": [t.cpu for t in times["ase_per_image"]],
        "wall_ase_shared": [t.wall for t in times["ase_shared"]],
    }


def atomate2_neb(path, fmax: float, max_steps: int):
    """atomate2's own ``ForceFieldNebFromImagesMaker`` (CHGNet, its ASE NEB: improved tangent,
    climbing image, FIRE) on the same images, one jobflow job; returns emmet's ``NebResult``."""
    from atomate2.forcefields.neb import ForceFieldNebFromImagesMaker
    from jobflow import JobStore, run_locally
    from maggma.stores import MemoryStore
    from pymatgen.io.ase import AseAtomsAdaptor

    maker = ForceFieldNebFromImagesMaker(
        force_field_name="CHGNet", steps=max_steps, relax_kwargs={"fmax": fmax},
        neb_kwargs={"k": 0.1, "climb": True, "method": "improvedtangent"},
    )
    job = maker.make([AseAtomsAdaptor.get_structure(im) for im in path])
    responses = run_locally(job, store=JobStore(MemoryStore(), additional_stores={"data": MemoryStore()}), log=False,
                            ensure_success=True, create_folders=True, root_dir=_scratch())
    return responses[job.uuid][1].output


def _scratch() -> str:
    """A throw-away folder for atomate2's job files (it writes final_atoms_object.xyz)."""
    import tempfile

    return tempfile.mkdtemp(prefix="bench-atomate2-")


def atomate2_relax(structures, fmax: float, max_steps: int) -> list[float]:
    """Final energies of atomate2's own ``ForceFieldRelaxMaker`` (CHGNet, FIRE, fixed cell),
    each structure one jobflow job run with ``run_locally`` into a memory store, as a user
    of atomate2 runs it (its calculator loads the model in every job: part of its cost)."""
    from atomate2.forcefields.jobs import ForceFieldRelaxMaker
    from jobflow import JobStore, run_locally
    from maggma.stores import MemoryStore

    maker = ForceFieldRelaxMaker(force_field_name="CHGNet", relax_cell=False, steps=max_steps,
                                 relax_kwargs={"fmax": fmax}, optimizer_kwargs={"optimizer": "FIRE"})
    energies = []
    for structure in structures:
        job = maker.make(structure)
        responses = run_locally(job, store=JobStore(MemoryStore(), additional_stores={"data": MemoryStore()}), log=False,
                            ensure_success=True, create_folders=True, root_dir=_scratch())
        energies.append(float(responses[job.uuid][1].output.output.energy))
    return energies


def bench_relax(model, args) -> dict:
    from interphases.potentials import relax_batch, relax_sequential_ase, structure_to_atoms
    from interphases.potentials.relax import cell_target
    from interphases.potentials.lockstep import make_optimizer

    what, structures = relax_inputs(args.quick)
    n_atoms = [len(s) for s in structures]
    print(f"\n== Relaxation: {len(structures)} {what}, atoms {n_atoms}, FIRE, fmax {args.fmax}, fixed cell")
    evaluator = model.evaluator(batch_size=args.batch_size, num_threads=args.threads)
    lean = model.fast_calculator(num_threads=args.threads)
    kw = dict(fmax=args.fmax, max_steps=args.relax_max_steps)
    times: dict[str, list[Timing]] = {"batched": [], "ase": [], "ase_lean": []}
    fractions, fractions_inputs = [], []
    for rep in range(args.repeat):
        evaluator.stats.reset()
        with timer() as t:
            batched = relax_batch([structure_to_atoms(s) for s in structures], evaluator, **kw)
        times["batched"].append(t.result)
        fractions.append(evaluator.stats.seconds_model / t.result.wall)
        fractions_inputs.append((evaluator.stats.seconds_model + evaluator.stats.seconds_inputs) / t.result.wall)
        print(
            f"  [{rep}] batched FIRE     : steps {[o.n_steps for o in batched]}, {evaluator.stats.n_calls} model calls, "
            f"{t.result.wall:.1f} s wall / {t.result.cpu:.1f} s cpu; in model fwd+bwd {100 * fractions[-1]:.1f} %, "
            f"+ graph building {100 * fractions_inputs[-1]:.1f} %"
        )
        with timer() as t:
            sequential = relax_sequential_ase([structure_to_atoms(s) for s in structures], model, **kw)
        times["ase"].append(t.result)
        print(f"  [{rep}] ASE FIRE (CHGNetCalculator, one after the other): steps {[o.n_steps for o in sequential]}, "
              f"{t.result.wall:.1f} s wall / {t.result.cpu:.1f} s cpu")
        with timer() as t:
            lean_out = []
            for s in structures:
                atoms = structure_to_atoms(s)
                atoms.calc = lean
                opt = make_optimizer("FIRE", cell_target(atoms, "fixed"))
                opt.run(fmax=args.fmax, steps=args.relax_max_steps)
                lean_out.append(atoms.get_potential_energy())
        times["ase_lean"].append(t.result)
        print(f"  [{rep}] ASE FIRE (lean calculator): {t.result.wall:.1f} s wall / {t.result.cpu:.1f} s cpu")
        if not args.skip_atomate2 and args.model == "chgnet":
            with timer() as t:
                a2_energies = atomate2_relax(structures, args.fmax, args.relax_max_steps)
            times.setdefault("atomate2", []).append(t.result)
            print(f"  [{rep}] atomate2 ForceFieldRelaxMaker (CHGNet, FIRE, run_locally, one job per structure): "
                  f"{t.result.wall:.1f} s wall / {t.result.cpu:.1f} s cpu")
    de = [abs(b.energy - s.energy) / n for b, s, n in zip(batched, sequential, n_atoms, strict=True)]
    conv = [(b.converged, s.converged) for b, s in zip(batched, sequential, strict=True)]
    print(f"  final energies: max |E_batched - E_ASE| = {1000 * max(de):.3f} meV/atom (target < 2); converged {conv}")
    print(f"  throughput vs sequential ASE FIRE + CHGNetCalculator: {ratio_text(times['ase'], times['batched'])}")
    print(f"  throughput vs sequential ASE FIRE + lean calculator:  {ratio_text(times['ase_lean'], times['batched'])}")
    if times.get("atomate2"):
        de_a2 = [abs(b.energy - e) / n for b, e, n in zip(batched, a2_energies, n_atoms, strict=True)]
        print(f"  throughput vs atomate2 ForceFieldRelaxMaker:          {ratio_text(times['atomate2'], times['batched'])}"
              f" (final energies within {1000 * max(de_a2):.3f} meV/atom)")
    print(f"  fraction of batched wall time in model forward+backward: "
          f"{', '.join(f'{100 * f:.1f} %' for f in fractions)} (with graph building: "
          f"{', '.join(f'{100 * f:.1f} %' for f in fractions_inputs)})")
    return {
        "structures": what,
        "n_atoms": n_atoms,
        "max_energy_diff_mev_per_atom": 1000 * max(de),
        "wall_batched": [t.wall for t in times["batched"]],
        "wall_ase": [t.wall for t in times["ase"]],
        "wall_ase_lean": [t.wall for t in times["ase_lean"]],
        "wall_atomate2": [t.wall for t in times.get("atomate2", [])],
        "cpu_batched": [t.cpu for t in times["batched"]],
        "cpu_ase": [t.cpu for t in times["ase"]],
        "model_fraction": fractions,
        "model_plus_graph_fraction": fractions_inputs,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run of a minute or two")
    parser.add_argument("--model", default="chgnet")
    parser.add_argument("--device", default=None, help="cpu / cuda (default: GPU when visible)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: OMP_NUM_THREADS or cores)")
    parser.add_argument("--batch-size", type=int, default=None, help="structures per model call (default: auto)")
    parser.add_argument("--repeat", type=int, default=None, help="runs of each comparison (default 2, quick 1)")
    parser.add_argument("--fmax", type=float, default=0.05)
    parser.add_argument("--neb-max-steps", type=int, default=300)
    parser.add_argument("--relax-max-steps", type=int, default=300)
    parser.add_argument("--shared", action="store_true", help="also run ASE NEB with one shared calculator (slow)")
    parser.add_argument("--skip-neb", action="store_true")
    parser.add_argument("--skip-relax", action="store_true")
    parser.add_argument("--skip-atomate2", action="store_true", help="skip atomate2's ForceFieldRelaxMaker / ForceFieldNebFromImagesMaker baselines")
    parser.add_argument("--json", default=None, help="write the numbers to this file")
    args = parser.parse_args(argv)
    if args.repeat is None:
        args.repeat = 1 if args.quick else 2

    warnings.filterwarnings("ignore")
    from interphases.potentials import configure_threads, load_model

    threads = configure_threads(args.threads)
    import torch

    model = load_model(args.model, device=args.device)
    print(f"model {model.name} ({model.family} {model.version}) on {model.device}, torch {torch.__version__}, "
          f"{threads} thread(s), OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, "
          f"batch_size={model.evaluator(batch_size=args.batch_size).batch_size}")
    report: dict = {"model": model.name, "device": model.device, "threads": threads}
    if not args.skip_neb:
        report["neb"] = bench_neb(model, args)
    if not args.skip_relax:
        report["relax"] = bench_relax(model, args)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))
    sys.exit(main())
