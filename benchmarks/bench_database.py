"""Results database at scale: the sqlite default vs montydb (legacy), side by side.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_database.py            # 10^3, 10^4, 10^5
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_database.py 1000 10000 # chosen sizes

For each backend and size N (stored job outputs, each with a ``data`` blob, and N
summary rows):

- write: jobflow ``JobStore.update`` of one output document whose structure (a 32-atom
  cell, ~9 KB) goes to the ``data`` store, as run_locally does; per call, median over 5
  batches of M/5 calls (M = 200 on sqlite, 20 / 5 on montydb at 10^3 / 10^4);
- blob writes/s: the ``data`` store alone, one already-serialised blob per ``update``;
- lookup: ``JobStore.query_one({"uuid": ...}, load=True)`` (output + its blob) of random
  stored jobs; per call, median over 5 batches of M random jobs;
- query: ``interphases.database.query("work_of_adhesion", phases="Li,LiF", min=0.3)``
  over the N summary rows (median of 3, DataFrame included).

The stores are filled before timing: sqlite by bulk inserts (``SQLiteStore.update`` in
batches), montydb with ``insert_many``; the filler outputs carry a 2-atom structure blob
(the index, not the document size, decides lookup cost). montydb is measured at 10^3 and
10^4 only, with fewer timed calls (a write at 10^4 takes seconds); at 10^5 it would take
hours to fill and time.

Then a 10^4-candidate campaign by reference: 10^4 candidate files (~20 KB each,
written beforehand, untimed), the campaign file built and saved (timed), and in a fresh
process one array task's items loaded and their flows rebuilt (time and peak RSS).
Wall times on a shared 2-core machine: compare within one run.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

SUMMARY_KINDS = ["work_of_adhesion", "surface_energy", "interfacial_energy", "migration_barrier"]
PHASES = ["Li", "LiF", "Li2O", "Li3N", "LiCl", "Li2CO3", "Li3PS4", "Li7La3Zr2O12"]


def structure(n_cells: int):
    from pymatgen.core import Lattice, Structure

    s = Structure(Lattice.cubic(4.0), ["Li", "F"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    return s * (n_cells, n_cells, n_cells) if n_cells > 1 else s


def output_doc(job_uuid: str, s_dict: dict, rng: random.Random) -> dict:
    return {
        "uuid": job_uuid,
        "index": 1,
        "name": "relax",
        "output": {"structure": s_dict, "energy": rng.uniform(-5, -1), "converged": True},
        "completed_at": "2026-12-05T12:00:00",
        "metadata": {"cache_key": uuid.uuid4().hex},
        "hosts": [uuid.uuid4().hex],
    }


def summary_rows(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        kind = rng.choice(SUMMARY_KINDS)
        out.append(
            {
                "kind": kind,
                "formulas": rng.sample(PHASES, 1 if kind == "surface_energy" else 2),
                "value": rng.uniform(-0.5, 2.5),
                "units": "J/m^2",
                "engine": "mlip",
                "model": "CHGNet-0.3.0",
                "candidate_id": f"c{i}",
                "result_key": f"k{i}",
                "job_uuid": f"job-{i}",
                "row_id": f"row-{i}",
            }
        )
    return out


def open_backend(kind: str, folder: Path):
    from interphases.database import open_database, parse_config

    return open_database(parse_config({"type": "embedded", "path": str(folder), "storage": kind}))


def fill(db, kind: str, n: int, rng: random.Random) -> list[str]:
    """n outputs (with blobs) and n summary rows, in bulk; returns the job uuids."""
    from monty.json import jsanitize

    from interphases.database.summary import normalize_row

    small = jsanitize(structure(1).as_dict(), strict=True)
    uuids, batch_docs, batch_blobs = [], [], []
    docs_store, data_store = db.jobstore.docs_store, db.jobstore.additional_stores["data"]

    def flush():
        if kind == "sqlite":
            docs_store.update(batch_docs, key=["uuid", "index"])
            data_store.update(batch_blobs, key="blob_uuid")
        else:
            docs_store._collection.insert_many(batch_docs)
            data_store._collection.insert_many(batch_blobs)
        batch_docs.clear()
        batch_blobs.clear()

    for _ in range(n):
        u = str(uuid.uuid4())
        uuids.append(u)
        doc = output_doc(u, small, rng)
        blob_uuid = str(uuid.uuid4())
        blob = {"blob_uuid": blob_uuid, "data": doc["output"]["structure"], "job_uuid": u, "job_index": 1}
        doc["output"]["structure"] = {"@class": "Structure", "@module": "pymatgen.core.structure",
                                      "blob_uuid": blob_uuid, "store": "data"}
        batch_docs.append(doc)
        batch_blobs.append(blob)
        if len(batch_docs) >= 2000:
            flush()
    if batch_docs:
        flush()
    rows = [normalize_row(r) for r in summary_rows(n)]
    for start in range(0, n, 5000):
        chunk = rows[start : start + 5000]
        if kind == "sqlite":
            db.summary.insert_new(chunk)
        else:
            db.summary._collection.insert_many(chunk)
    return uuids


def per_call(fn, args: list) -> float:
    """Seconds per call: the median over 5 batches of the batch mean (a shared machine is noisy)."""
    size = max(1, len(args) // 5)
    means = []
    for start in range(0, size * 5, size):
        t0 = time.perf_counter()
        for a in args[start : start + size]:
            fn(a)
        means.append((time.perf_counter() - t0) / size)
    return statistics.median(means)


def measure(kind: str, n: int, m: int) -> dict:
    from monty.json import jsanitize

    from interphases.database import query

    rng = random.Random(n)
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        db = open_backend(kind, Path(tmp) / "db")
        db.connect()
        t0 = time.perf_counter()
        uuids = fill(db, kind, n, rng)
        t_fill = time.perf_counter() - t0
        assert db.jobstore.count() == n and db.summary.count() == n
        big = structure(2) * (2, 1, 1)  # 32 atoms
        store = db.jobstore
        docs = [
            {"uuid": str(uuid.uuid4()), "index": 1, "name": "relax",
             "output": {"structure": big, "energy": -3.0, "converged": True},
             "metadata": {"cache_key": uuid.uuid4().hex}, "hosts": [uuid.uuid4().hex]}
            for _ in range(m)
        ]
        t_write = per_call(lambda doc: store.update(doc, save={"data": ["structure"]}), docs)
        # the data store alone: one blob (already serialised, as JobStore.update hands it over) per call
        blob_data = jsanitize(big.as_dict(), strict=True)
        blobs = [{"blob_uuid": str(uuid.uuid4()), "data": blob_data, "job_uuid": str(uuid.uuid4()), "job_index": 1}
                 for _ in range(m)]
        data_store = store.additional_stores["data"]
        t_blob = per_call(lambda blob: data_store.update(blob, key="blob_uuid"), blobs)

        def lookup(k):
            assert store.query_one({"uuid": k}, load=True)["output"]["structure"]["lattice"]

        t_lookup = per_call(lookup, rng.sample(uuids, 5 * m))
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            df = query("work_of_adhesion", phases="Li,LiF", min=0.3, database=db)
            times.append(time.perf_counter() - t0)
        assert len(df) > 0
        db.close()
    return {"fill_s": t_fill, "write_s": t_write, "blob_s": t_blob, "lookup_s": t_lookup, "query_s": statistics.median(times), "m": m,
            "rows": len(df)}


CAMPAIGN_TASK = r"""
import json, sys, time
t0 = time.perf_counter()
from interphases.cluster.campaign import Campaign
campaign = Campaign.load(sys.argv[1])
chunk = campaign.chunks()[int(sys.argv[2])]
flows = [campaign.items[i].build() for i in chunk]
t = time.perf_counter() - t0
# VmHWM: this process's peak RSS (ru_maxrss would carry the forking parent's peak over exec)
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"s": t, "items": len(flows), "rss_mb": hwm / 1024}))
"""


def campaign_bench(n: int = 10_000, chunk_size: int = 10) -> dict:
    from monty.json import jsanitize

    from interphases.cluster.campaign import Campaign, CampaignItem
    from interphases.cluster.examples import emt_bulk_energy
    from interphases.database import make_result_key

    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        folder = Path(tmp) / "candidates"
        folder.mkdir()
        # candidate files, written beforehand (untimed): a flow with its ~30 KB candidate
        cand = jsanitize((structure(2) * (2, 2, 2)).as_dict(), strict=True)  # 128 atoms
        template = jsanitize(emt_bulk_energy("Cu", 3.6, label="X"), strict=True)
        template["metadata"] = {"candidate": cand}
        text = json.dumps({"flow": template})
        paths = []
        for i in range(n):
            p = folder / f"cand-{i:05d}.json"
            p.write_text(text.replace('"label": "X"', f'"label": "c{i}"', 1))
            paths.append(p)
        size_kb = paths[0].stat().st_size / 1024
        t0 = time.perf_counter()
        items = [
            CampaignItem(result_key=make_result_key(candidate=p.name, maker="emt"), candidate_id=p.stem, ref=str(p))
            for p in paths
        ]
        campaign = Campaign(name="bench", items=items, chunk_size=chunk_size)
        path = campaign.save(Path(tmp) / "campaign.json")
        t_build = time.perf_counter() - t0
        res = subprocess.run([sys.executable, "-c", CAMPAIGN_TASK, str(path), str(len(campaign.chunks()) // 2)],
                             capture_output=True, text=True, check=True)
        task = json.loads(res.stdout.strip().splitlines()[-1])
        return {"n": n, "candidate_kb": size_kb, "campaign_mb": path.stat().st_size / 2**20, "build_s": t_build,
                "task_s": task["s"], "task_items": task["items"], "task_rss_mb": task["rss_mb"]}


def main(sizes: list[int]) -> None:
    results: dict[tuple[str, int], dict] = {}
    for n in sizes:
        for kind in ("sqlite", "montydb"):
            if kind == "montydb" and n > 10_000:
                continue
            m = 200 if kind == "sqlite" else (20 if n <= 1000 else 5)
            results[(kind, n)] = r = measure(kind, n, m)
            print(f"  {kind:8s} N={n:>6d}: fill {r['fill_s']:.1f} s, write {1e3 * r['write_s']:.2f} ms, "
                  f"lookup {1e3 * r['lookup_s']:.2f} ms, query {1e3 * r['query_s']:.1f} ms", flush=True)
    print()
    print("| stored outputs / rows | backend | write: JobStore.update (doc + blob) | JobStore writes/s | blob store writes/s | lookup by key (+ blob) | filtered summary query |")
    print("|---|---|---|---|---|---|---|")
    for n in sizes:
        for kind in ("sqlite", "montydb"):
            r = results.get((kind, n))
            if r is None:
                print(f"| {n:,} | montydb | not run (hours) | | | | |")
                continue
            print(f"| {n:,} | {kind} | {1e3 * r['write_s']:.2f} ms | {1 / r['write_s']:.0f} | {1 / r['blob_s']:.0f} | "
                  f"{1e3 * r['lookup_s']:.2f} ms | {1e3 * r['query_s']:.0f} ms ({r['rows']} rows) |")
    lo, hi = min(sizes), max(sizes)
    if ("sqlite", lo) in results and ("sqlite", hi) in results and hi > lo:
        a, b = results[("sqlite", lo)], results[("sqlite", hi)]
        print(f"\nsqlite, {hi:,} vs {lo:,}: write x{b['write_s'] / a['write_s']:.2f}, lookup x{b['lookup_s'] / a['lookup_s']:.2f} "
              "(target <= 1.5)")
    c = campaign_bench()
    print(f"\ncampaign by reference, {c['n']:,} candidates ({c['candidate_kb']:.0f} KB files): campaign file "
          f"{c['campaign_mb']:.1f} MB built and saved in {c['build_s']:.2f} s; one array task "
          f"({c['task_items']} items) loaded and rebuilt in {c['task_s']:.2f} s, peak RSS {c['task_rss_mb']:.0f} MB "
          "(targets: < 2 s, < 300 MB)")


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]] or [1_000, 10_000, 100_000]
    main(args)
