"""MLIP against DFT, side by side: W_ad and γ of the best sound demo candidates on
CHGNet, SevenNet-0 and CP2K (PBE), all on the same cells.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_mlip_vs_dft.py --out mlip-vs-dft-output

What it does:

1. the demo's screening (``interphases demo``: Li | LiF and Li | Li2O on CHGNet, the same
   :class:`~interphases.workflows.screening.InterfaceScreeningMaker` settings, see
   :mod:`interphases.cli.demo`) into a project folder (``--project``, default
   ``OUT/project``; a rerun, or a project that already holds the demo, reads the stored
   flow outputs instead of recomputing);
2. the two best sound candidates of the one ranking (no flag, see
   :func:`interphases.analysis.ranking.row_flags`; ``--from DEMO_OUTPUT`` takes them from a
   demo's ``ranking.json`` instead, ``--pick smallest`` the smallest-area sound candidate of
   each pair when the best ones are too big for CP2K here);
3. for each: the cells of the CHGNet result, at the CHGNet geometry: the relaxed interface
   and the two relaxed isolated slabs (W_ad = (E_A + E_B - E_AB) / S), the substrate slab as
   cut (its bottom is frozen: the top-surface γ needs it) and the two bulks strained to the
   interface's in-plane lattice (relaxed along z by CHGNet), the γ references;
4. single points of every cell with CHGNet, SevenNet-0 (``7net-0``, energies only) and
   CP2K (:class:`~interphases.workflows.engines.cp2k.CP2KEngine`; default the cheap
   ``CP2KEngine.quick()`` settings, 200/30 Ry, kspacing 0.7 Å⁻¹, Fermi-Dirac 500 K; not
   converged: the output says so), CP2K runs ``--jobs`` at a time (1 OpenMP thread each);
5. W_ad and γ with the project's formulas (:func:`~interphases.analysis.energetics.work_of_adhesion`,
   :func:`~interphases.analysis.energetics.surface_energy` with the strained bulk as the
   reference, as :func:`~interphases.workflows.energetics.compute_interface_energies` does;
   γ of a non-stoichiometric slab is not defined without chemical potentials: "n/a").

Printed and written to ``OUT/mlip_vs_dft.md`` / ``.json``: per candidate W_ad and γ of
each side for the three methods, and the CP2K wall time of each calculation. The CHGNet
numbers are also checked against the screening's own documents (same cells, same model:
they must agree). CP2K run folders (``OUT/cp2k-runs``) are kept and reused by a rerun.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

J = 16.02176634  # eV/Å^2 -> J/m^2


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="Command: " + __doc__.split("\n\n")[1].strip(),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("mlip-vs-dft-output"), help="output folder (tables, JSON, CP2K runs)")
    p.add_argument("--project", type=Path, default=None,
                   help="interphases project folder of the screening (default OUT/project); one holding the demo is read back")
    p.add_argument("--from", dest="from_dir", type=Path, default=None,
                   help="a demo output folder: its ranking.json picks the candidates (they must be in the screening)")
    p.add_argument("--pick", choices=("best", "smallest"), default="best",
                   help="best: the two best sound candidates overall; smallest: the smallest-area sound candidate of each pair")
    p.add_argument("--n", type=int, default=2, help="candidates compared (with --pick best)")
    p.add_argument("--cutoff", type=float, default=None, help="CP2K CUTOFF, Ry (default: quick, 200)")
    p.add_argument("--rel-cutoff", type=float, default=None, help="CP2K REL_CUTOFF, Ry (default: quick, 30)")
    p.add_argument("--kspacing", type=float, default=None, help="CP2K k-point spacing, 1/Å (default: quick, 0.7)")
    p.add_argument("--jobs", type=int, default=2, help="CP2K runs at a time (one core each)")
    p.add_argument("--skip-cp2k", action="store_true", help="MLIPs only (a dry run: cells, sizes, k-meshes)")
    return p.parse_args(argv)


# ------------------------------------------------------------------ screening


def demo_screenings(project: Path) -> list[dict[str, Any]]:
    """Run (or read back) the demo's screening of each pair; the flow outputs by type."""
    os.environ["INTERPHASES_PROJECT"] = str(project)
    from dataclasses import asdict

    from interphases.cli.demo import DEMO_PAIRS
    from interphases.cli.energetics import make_engine, screening_maker
    from interphases.database import make_result_key
    from interphases.workflows.energetics import AdhesionSetDocument, InterfaceEnergySetDocument
    from interphases.workflows.run import run_and_store
    from interphases.workflows.screening import CandidateSet, ScreeningDocument

    engine = make_engine("mlip", "chgnet")
    thickness, fmax = 6.0, 0.1  # the demo's defaults (interphases demo --thickness 6 --fmax 0.1)
    out = []
    for substrate, film, max_area, n in DEMO_PAIRS:
        maker = screening_maker(
            engine, max_area=max_area, max_strain=0.05, substrate_thickness=thickness, film_thickness=thickness,
            vacuum=10.0, max_candidates=n, gaps=(1.6, 2.0, 2.4, 2.8), max_registries=4, fmax=fmax, max_steps=300,
        )
        # the key interphases demo stores its screening under (interphases.cli.energetics.run_screening)
        settings = {k: v for k, v in asdict(maker).items() if k not in ("engine", "refine_engine", "name")}
        identity = engine.physics_settings() if hasattr(engine, "physics_settings") else getattr(engine, "model", str(engine))
        key = make_result_key(kind="interface_screening", substrate=substrate, film=film, engine=engine.name,
                              model=str(identity), settings=settings)
        t0 = time.perf_counter()
        flow = maker.make(substrate, film)
        run = run_and_store(flow, result_key=key, skip_completed=True, campaign="demo")
        by_type = {type(v).__name__: v for v in run.outputs.values()}
        if not all(t.__name__ in by_type for t in (ScreeningDocument, CandidateSet, AdhesionSetDocument,
                                                   InterfaceEnergySetDocument)):
            flow = maker.make(substrate, film)  # stored outputs incomplete: compute again
            run = run_and_store(flow, result_key=key, skip_completed=False, campaign="demo")
            by_type = {type(v).__name__: v for v in run.outputs.values()}
        how = "read back" if run.skipped else "computed"
        print(f"screening {substrate} | {film} (CHGNet, demo settings): {how} in {time.perf_counter() - t0:.0f} s",
              flush=True)
        out.append({"pair": f"{substrate}|{film}", **by_type})
    return out


def pick_candidates(screenings: list[dict[str, Any]], args: argparse.Namespace) -> list[dict[str, Any]]:
    """The candidates to compare: rows of the one ranking with their documents."""
    from interphases.analysis.ranking import rank_rows, row_flags

    rows = []
    for s in screenings:
        adh = {d.candidate_id: d for d in s["AdhesionSetDocument"].results}
        en = {d.candidate_id: d for d in s["InterfaceEnergySetDocument"].results}
        cands = {c.candidate_id: c for c in s["CandidateSet"].candidates}
        for r in s["ScreeningDocument"].ranking:
            rows.append({**r.model_dump(), "pair": s["pair"], "adhesion": adh[r.candidate_id],
                         "energies": en.get(r.candidate_id), "candidate": cands[r.candidate_id]})
    ranked = rank_rows(rows)
    sound = [r for r in ranked if not row_flags(r)]
    if args.from_dir is not None:
        stored = json.loads((args.from_dir / "ranking.json").read_text())
        wanted = [r["candidate_id"] for r in stored if not r.get("flags")][: args.n]
        by_id = {r["candidate_id"]: r for r in ranked}
        missing = [w for w in wanted if w not in by_id]
        if missing:
            raise SystemExit(f"{args.from_dir}/ranking.json: candidates {missing} are not in this screening "
                             "(another code version or model?): run without --from")
        return [by_id[w] for w in wanted]
    if args.pick == "smallest":
        out = []
        for pair in dict.fromkeys(r["pair"] for r in ranked):
            group = [r for r in sound if r["pair"] == pair]
            if group:
                out.append(min(group, key=lambda r: (r["area"], r["n_atoms"])))
        return out
    return sound[: args.n]


# ------------------------------------------------------------------ cells and energies


def cells_of(row: dict[str, Any]) -> dict[str, Any]:
    """The cells of one candidate, at the CHGNet geometry (plain structures, no frozen flags)."""
    from pymatgen.core import Structure

    adh, en = row["adhesion"], row["energies"]
    plain = lambda s: Structure.from_sites(s.sites)  # noqa: E731
    cells = {
        "interface": plain(adh.interface_structure),
        "substrate_slab": plain(adh.substrate_slab_structure),
        "film_slab": plain(adh.film_slab_structure),
    }
    if adh.substrate_bottom_frozen and adh.substrate_symmetric:
        cells["substrate_slab_cut"] = plain(adh.substrate_slab_initial)
    if en is not None:
        refs = {r.label: r for r in en.references}
        cells["substrate_bulk"] = plain(refs[f"{adh.substrate_formula} strained"].structure)
        cells["film_bulk"] = plain(refs[f"{adh.film_formula} strained"].structure)
    return cells


def derived(row: dict[str, Any], e: dict[str, float], cells: dict[str, Any]) -> dict[str, Any]:
    """W_ad and γ of both sides (J/m^2) from the energies ``e`` of ``cells``."""
    from interphases.analysis.energetics import surface_energy, work_of_adhesion
    from interphases.errors import InterphasesError

    adh = row["adhesion"]
    area = adh.area
    out: dict[str, Any] = {"W_ad": J * work_of_adhesion(e["substrate_slab"], e["film_slab"], e["interface"], area)}
    for side, frozen, symmetric in (("substrate", adh.substrate_bottom_frozen, adh.substrate_symmetric),
                                    ("film", False, adh.film_symmetric)):
        if f"{side}_bulk" not in e:
            out[f"gamma_{side}"] = None
            continue
        bulk = cells[f"{side}_bulk"]
        try:
            se = surface_energy(
                e[f"{side}_slab"], cells[f"{side}_slab"].composition, e[f"{side}_bulk"] / len(bulk), bulk.composition,
                area, unrelaxed_slab_energy=e.get(f"{side}_slab_cut"), bottom_frozen=frozen and f"{side}_slab_cut" in e,
                symmetric=symmetric,
            )
            out[f"gamma_{side}"] = se.value_j_per_m2
            out[f"gamma_{side}_convention"] = se.convention
        except InterphasesError as exc:  # non-stoichiometric slab: γ needs chemical potentials
            out[f"gamma_{side}"] = None
            out[f"gamma_{side}_note"] = str(exc)
    return out


def mlip_energies(model: str, cells: dict[str, Any]) -> tuple[dict[str, float], float]:
    from interphases.workflows.engines import get_engine

    engine = get_engine("mlip", model=model)
    names = list(cells)
    t0 = time.perf_counter()
    results = engine.static([cells[n] for n in names], labels=names, forces=False)
    return {n: r.energy for n, r in zip(names, results, strict=True)}, time.perf_counter() - t0


def _cp2k_one(engine: Any, structure: Any, label: str) -> tuple[str, float, bool, str | None, float, str | None]:
    t0 = time.perf_counter()
    (r,) = engine.static([structure], labels=[label])
    return label, r.energy, r.converged, r.error, time.perf_counter() - t0, r.dir_name


def cp2k_seconds(folder: str | None) -> float | None:
    """CP2K's own run time (the ``CP2K`` line of its timing report), s."""
    import re

    if not folder:
        return None
    out = Path(folder) / "cp2k.out"
    if not out.is_file():
        return None
    m = re.search(r"^ CP2K\s+1\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+([\d.]+)", out.read_text(errors="replace"), re.M)
    return float(m.group(1)) if m else None


# ------------------------------------------------------------------ main


def md(text: str) -> str:
    """``text`` for a markdown table cell."""
    return text.replace("|", "\\|")


def fmt(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    project = (args.project or out / "project").resolve()
    os.environ["INTERPHASES_PROJECT"] = str(project)
    os.environ.setdefault("INTERPHASES_CACHE", str(out / "cache"))
    t_all = time.perf_counter()

    from interphases.workflows.engines.cp2k import CP2KEngine
    from interphases.workflows.engines.dft_common import is_slab, kpoint_mesh

    screenings = demo_screenings(project)
    picked = pick_candidates(screenings, args)
    if not picked:
        print("no sound candidate in the screening: nothing to compare")
        return 1
    overrides = {k: v for k, v in (("cutoff_ry", args.cutoff), ("rel_cutoff_ry", args.rel_cutoff),
                                   ("kspacing", args.kspacing)) if v is not None}
    cp2k = CP2KEngine.quick(run_dir=str(out / "cp2k-runs"), **overrides)
    settings = (f"CP2K {cp2k.xc_functional}, {cp2k.basis} / GTH, {cp2k.cutoff_ry:g}/{cp2k.rel_cutoff_ry:g} Ry, "
                f"EPS_DEFAULT {cp2k.eps_default:g}, kspacing {cp2k.kspacing} 1/Å (1 k-point along c for slabs), "
                f"Fermi-Dirac {cp2k.smearing_temperature_K:g} K, dipole correction on asymmetric slabs"
                + (" [CP2KEngine.quick(): cheap, NOT converged]" if not overrides else " [quick() with overrides]"))
    print(settings, flush=True)

    records = []
    jobs = []
    for row in picked:
        cells = cells_of(row)
        cid = row["candidate_id"]
        rec: dict[str, Any] = {
            "label": row["label"], "pair": row["pair"], "candidate_id": cid, "area": row["area"],
            "n_atoms": {k: len(v) for k, v in cells.items()},
            "kpoints": {k: list(kpoint_mesh(v, cp2k.kspacing, slab=is_slab(v, cp2k.vacuum_threshold)))
                        for k, v in cells.items()},
            "screening_W_ad": row["work_of_adhesion"],
            "screening_gamma_substrate": (J * row["energies"].energetics.substrate_surface_energy
                                          if row["energies"] is not None else None),
            "screening_gamma_film": (J * row["energies"].energetics.film_surface_energy
                                     if row["energies"] is not None else None),
            "stoichiometric": {side: cells[f"{side}_slab"].composition.reduced_formula
                               == cells.get(f"{side}_bulk", cells[f"{side}_slab"]).composition.reduced_formula
                               for side in ("substrate", "film")},
            "energies": {}, "results": {}, "cp2k": {},
        }
        print(f"\n{row['label']} ({row['pair']}): cells {rec['n_atoms']}, CP2K k-meshes {rec['kpoints']}", flush=True)
        for model in ("chgnet", "7net-0"):
            e, sec = mlip_energies(model, cells)
            rec["energies"][model] = e
            rec["results"][model] = derived(row, e, cells)
            print(f"  {model}: {json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in rec['results'][model].items()})} "
                  f"({sec:.1f} s)", flush=True)
        rec["cells"] = cells
        records.append(rec)
        # largest first, so the pool's two workers finish together
        jobs += [(rec, name, cells[name], f"{cid}-{name}") for name in cells]

    if not args.skip_cp2k:
        jobs.sort(key=lambda j: -len(j[2]))
        print(f"\nCP2K: {len(jobs)} single points, {args.jobs} at a time", flush=True)
        by_label = {j[3]: j for j in jobs}
        with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            futures = [pool.submit(_cp2k_one, cp2k, j[2], j[3]) for j in jobs]
            for f in futures:
                label, energy, converged, error, wall, folder = f.result()
                rec, name = by_label[label][0], by_label[label][1]
                rec["energies"].setdefault("cp2k", {})[name] = energy
                rec["cp2k"][name] = {"wall_s": wall, "cp2k_s": cp2k_seconds(folder), "converged": converged,
                                     "error": error, "folder": folder, "n_atoms": len(by_label[label][2])}
                print(f"  {label}: {energy:.5f} eV, {wall:.0f} s wall, converged={converged}", flush=True)
        for rec in records:
            rec["results"]["cp2k"] = derived(next(r for r in picked if r["candidate_id"] == rec["candidate_id"]),
                                             rec["energies"]["cp2k"], rec["cells"])

    # ------------------------------------------------------------------ tables
    methods = [("chgnet", "CHGNet"), ("7net-0", "SevenNet-0"), ("cp2k", "CP2K PBE")]
    lines = [f"CP2K settings: {settings}", "",
             "| candidate | atoms (interface) | quantity | " + " | ".join(m[1] for m in methods) + " |",
             "|---|---|---|" + "---|" * len(methods)]
    for rec in records:
        sub, film = rec["pair"].split("|")
        for key, name in (("W_ad", "W_ad"), ("gamma_substrate", f"γ {sub} slab"), ("gamma_film", f"γ {film} slab")):
            vals = [fmt(rec["results"].get(m, {}).get(key)) for m, _ in methods]
            lines.append(f"| {md(rec['label'])} | {rec['n_atoms']['interface']} | {name} (J/m²) | " + " | ".join(vals) + " |")
    lines += ["", "CP2K wall time per single point (s; atoms; k-mesh):", "",
              "| candidate | " + " | ".join(("interface", "substrate slab", "substrate slab as cut", "film slab",
                                              "substrate bulk (strained)", "film bulk (strained)")) + " |",
              "|---|" + "---|" * 6]
    for rec in records:
        cells = []
        for name in ("interface", "substrate_slab", "substrate_slab_cut", "film_slab", "substrate_bulk", "film_bulk"):
            c = rec["cp2k"].get(name)
            if c is None:
                cells.append("-" if name not in rec["n_atoms"] else f"not run ({rec['n_atoms'][name]} at.)")
            else:
                k = "x".join(map(str, rec["kpoints"][name]))
                flag = "" if c["converged"] else " UNCONVERGED"
                cells.append(f"{c['wall_s']:.0f} ({c['n_atoms']} at.; {k}){flag}")
        lines.append(f"| {md(rec['label'])} | " + " | ".join(cells) + " |")
    lines += ["", "Check: CHGNet single points at the stored geometry vs the screening's own documents (J/m²): "
              + "; ".join(f"{r['label']}: W_ad {fmt(r['results']['chgnet']['W_ad'], 4)} vs {fmt(r['screening_W_ad'], 4)}, "
                          f"γ {fmt(r['results']['chgnet'].get('gamma_substrate'), 4)} vs {fmt(r['screening_gamma_substrate'], 4)}"
                          f" / {fmt(r['results']['chgnet'].get('gamma_film'), 4)} vs {fmt(r['screening_gamma_film'], 4)}"
                          for r in records)]
    text = "\n".join(lines)
    print("\n" + text)
    (out / "mlip_vs_dft.md").write_text(text + "\n")
    for rec in records:
        rec.pop("cells", None)
    (out / "mlip_vs_dft.json").write_text(json.dumps({"settings": settings, "command": " ".join(sys.argv),
                                                      "records": records}, indent=1, default=str))
    print(f"\nwritten: {out / 'mlip_vs_dft.md'}, {out / 'mlip_vs_dft.json'}; total {time.perf_counter() - t_all:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
