"""Benchmark of the screening compute levers (issue 16), side by side in one process.

The demo's screening (``interphases demo``: Li | LiF and Li | Li2O on CHGNet, the demo's
enumeration, gaps, registries, fmax) is run once per configuration, each lever switched
on in turn on top of the previous ones:

0. ``main``: every lever off (forces in the registry scan, every structure computed
   for every candidate, one 1-thread worker, full registry x gap grid);
1. ``+energy-only``: the registry scan asks for energies only (no force backward);
2. ``+dedup``: a structure shared by several candidates (the same slab cut, the same
   strained bulk) computed once;
3. ``+one relax call``: the interface energies relax the bulks (to the tighter bulk
   threshold) and the sandwiches (to ``fmax``) in one lock-step call, one threshold per
   structure, instead of main's two calls one after the other (same steps per structure,
   fewer and fuller model calls: 99 -> 54 on the demo; measured neutral in wall time, see
   the two extra configurations ``all but one call`` and ``main + one call``);
4. ``+2 workers``: the evaluator spreads the structures of each call over 2 one-thread
   workers (``num_threads=2``);
5. ``+reduced scan``: coarse-to-fine registry x gap scan (``AdhesionMaker(scan="reduced")``).

For each it prints the wall time, the structures evaluated with forces and energy only
(counted in the evaluator), the structures de-duplicated, the scan points, the fraction
of wall time inside the model (graph building + forward/backward), and the ranking with
W_ad and sigma of every candidate; then the throughput ratios against ``main``, whether
the rankings are identical and the largest W_ad difference (target: >= 1.6x, identical
rankings, W_ad within 0.016 J/m^2 = 1 meV/Å^2).

Every run starts from a fresh in-memory JobStore (no job reused); the model is loaded
once. The machine may be shared: compare the ratios, not the seconds.

Usage::

    .venv/bin/python benchmarks/bench_screening.py                 # all five configurations (~10-15 min on 2 cores)
    .venv/bin/python benchmarks/bench_screening.py --configs main,all
    .venv/bin/python benchmarks/bench_screening.py --pairs Li:LiF:40:2 --configs main,all   # smaller
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from dataclasses import replace

#: cumulative levers: name -> (energy_only, deduplicate, one relax call, num_threads, scan)
CUMULATIVE = {
    "main": (False, False, False, 1, "grid"),
    "+energy-only": (True, False, False, 1, "grid"),
    "+dedup": (True, True, False, 1, "grid"),
    "+one relax call": (True, True, True, 1, "grid"),
    "+2 workers": (True, True, True, 2, "grid"),
    "+reduced scan": (True, True, True, 2, "reduced"),
}
#: not cumulative: the one relax call alone, and every lever but it (run on request)
CONFIGS = {
    **CUMULATIVE,
    "all but one call": (True, True, False, 2, "reduced"),
    "main + one call": (False, False, True, 1, "grid"),
}
ALIASES = {"all": "+reduced scan"}
_ONE_CALL = None  # energetics.relax_with as shipped (set in main)


class Counts:
    """Structures evaluated, counted in the evaluator (class-level wrapper: every engine
    instance that jobflow rebuilds is counted)."""

    force = energy_only = 0
    seconds_model = 0.0

    @classmethod
    def install(cls) -> None:
        from interphases.potentials import evaluate as ev

        original = ev.Evaluator.evaluate

        def evaluate(self, atoms_list, *, stress=False, forces=True):
            m0 = self.stats.seconds_model + self.stats.seconds_inputs
            out = original(self, atoms_list, stress=stress, forces=forces)
            cls.seconds_model += self.stats.seconds_model + self.stats.seconds_inputs - m0
            if forces:
                cls.force += len(atoms_list)
            else:
                cls.energy_only += len(atoms_list)
            return out

        ev.Evaluator.evaluate = evaluate

    @classmethod
    def reset(cls) -> None:
        cls.force = cls.energy_only = 0
        cls.seconds_model = 0.0


def _relax_per_threshold(engine, structures, cells, labels, *, fmax, max_steps):
    """main's interface-energy relaxation: one engine call per distinct threshold (the bulks
    to the bulk threshold, then the sandwiches to fmax), results in the input order."""
    thresholds = [fmax] * len(structures) if isinstance(fmax, (int, float)) else list(fmax)
    results = [None] * len(structures)
    for value in sorted(set(thresholds)):
        idx = [i for i, t in enumerate(thresholds) if t == value]
        out = engine.relax_cells([structures[i] for i in idx], [cells[i] for i in idx], fmax=value,
                                 max_steps=max_steps, labels=[labels[i] for i in idx])
        for i, r in zip(idx, out, strict=True):
            results[i] = r
    return results


def run_config(name: str, pairs, model: str) -> dict:
    from jobflow import JobStore, run_locally
    from maggma.stores import MemoryStore

    from interphases.cli.energetics import screening_maker
    from interphases.workflows import energetics
    from interphases.workflows.engines.mlip import MLIPEngine

    energy_only, dedup, one_call, threads, scan = CONFIGS[name]
    engine = MLIPEngine(model=model, num_threads=threads)
    # the interface energies call energetics.relax_with (module global, looked up per call)
    energetics.relax_with = _ONE_CALL if one_call else _relax_per_threshold
    Counts.reset()
    energetics.reset_compute_counters()
    rows = []
    t0 = time.perf_counter()
    for substrate, film, max_area, n in pairs:
        maker = screening_maker(
            engine, max_area=max_area, max_strain=0.05, substrate_thickness=6.0, film_thickness=6.0, vacuum=10.0,
            max_candidates=n, gaps=(1.6, 2.0, 2.4, 2.8), max_registries=4, fmax=0.1, max_steps=300,
        )
        maker.adhesion = replace(maker.adhesion, energy_only=energy_only, deduplicate=dedup, scan=scan)
        flow = maker.make(substrate, film)
        store = JobStore(MemoryStore(), additional_stores={"data": MemoryStore()})
        responses = run_locally(flow, store=store, ensure_success=True, log=False)
        doc = responses[flow.output.uuid][1].output
        for r in doc.ranking:
            rows.append((f"{substrate}|{film}", r.rank, r.candidate_id, r.terminations, r.work_of_adhesion,
                         r.interfacial_energy))
    wall = time.perf_counter() - t0
    energetics.relax_with = _ONE_CALL
    return dict(
        name=name, wall=wall, force=Counts.force, energy_only=Counts.energy_only,
        dedup=energetics.COMPUTE_COUNTERS["deduplicated"], scan_points=energetics.COMPUTE_COUNTERS["scan_points"],
        scan_full=energetics.COMPUTE_COUNTERS["scan_points_full_grid"], model_fraction=Counts.seconds_model / wall,
        rows=rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", default=",".join(CUMULATIVE), help=f"comma list of {list(CONFIGS)} (or 'all')")
    parser.add_argument("--pairs", default="Li:LiF:40:3,Li:Li2O:70:3", help="substrate:film:max_area:n,... (demo's)")
    parser.add_argument("--model", default="chgnet")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    warnings.filterwarnings("ignore")
    import logging

    logging.getLogger("jobflow").setLevel(logging.ERROR)
    names = [ALIASES.get(c.strip(), c.strip()) for c in args.configs.split(",") if c.strip()]
    pairs = []
    for p in args.pairs.split(","):
        s, f, a, n = p.split(":")
        pairs.append((s, f, float(a), int(n)))
    from interphases.potentials import load_model

    load_model(args.model)  # once, outside the timings
    # the modules the first configuration would otherwise import inside its timing
    import interphases.structures.interface_cells  # noqa: F401
    import interphases.structures.interfaces  # noqa: F401
    import interphases.workflows.screening  # noqa: F401
    import pymatgen.analysis.interfaces.coherent_interfaces  # noqa: F401
    Counts.install()
    global _ONE_CALL
    from interphases.workflows import energetics

    _ONE_CALL = energetics.relax_with
    print(f"screening {', '.join(f'{s}|{f} (area <= {a:g}, {n} candidates)' for s, f, a, n in pairs)} on "
          f"{args.model}; {os.cpu_count()} CPUs; load {os.getloadavg()[0]:.2f}", flush=True)
    results = []
    for name in names:
        r = run_config(name, pairs, args.model)
        results.append(r)
        print(f"\n== {name}: {r['wall']:.1f} s, force structures {r['force']}, energy-only structures "
              f"{r['energy_only']}, de-duplicated {r['dedup']}, scan points {r['scan_points']}/{r['scan_full']}, "
              f"model share of wall {100 * r['model_fraction']:.1f} %", flush=True)
        for pair, rank, cid, term, w, sigma in r["rows"]:
            sig = "-" if sigma is None else f"{sigma:.4f}"
            print(f"   {pair:8s} #{rank} {cid} {term:10s} W_ad {w:.4f} J/m2  sigma {sig} J/m2")
    base = results[0]
    print(f"\n{'configuration':16s} {'wall s':>8s} {'x main':>7s} {'force':>6s} {'E-only':>6s} {'dedup':>5s} "
          f"{'scan pts':>8s} {'model %':>7s} {'same ranking':>12s} {'max dW_ad J/m2':>14s}")
    for r in results:
        same = [row[:3] for row in r["rows"]] == [row[:3] for row in base["rows"]]
        dw = max(abs(a[4] - b[4]) for a, b in zip(r["rows"], base["rows"], strict=False)) if same else float("nan")
        print(f"{r['name']:16s} {r['wall']:8.1f} {base['wall'] / r['wall']:7.2f} {r['force']:6d} {r['energy_only']:6d} "
              f"{r['dedup']:5d} {r['scan_points']:8d} {100 * r['model_fraction']:7.1f} {str(same):>12s} {dw:14.5f}")


if __name__ == "__main__":
    main()
