"""Speed of the embedded results database (montydb sqlite) at 10^4 summary rows.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_database.py [N]

Writes N synthetic rows (one ``save_rows`` call) into a fresh project in a temporary
folder, then times typical queries (median of 5) through the public API
(``interphases.database.query``), including DataFrame construction and sorting, and
the time montydb needs just to read every document (no indexes: every query pays it).
Target from the issue: < 1 s at 10^4.
Wall and CPU time are both printed: on a shared machine CPU time is the stable number.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import time


def rows(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    phases = ["Li", "LiF", "Li2O", "Li3N", "LiCl", "Li2CO3", "Li3PS4", "Li7La3Zr2O12"]
    kinds = [
        "work_of_adhesion",
        "surface_energy",
        "interfacial_energy",
        "interface_formation_energy",
        "migration_barrier",
    ]
    out = []
    for i in range(n):
        kind = rng.choice(kinds)
        ph = rng.sample(phases, 1 if kind == "surface_energy" else 2)
        out.append(
            {
                "kind": kind,
                "formulas": ph,
                "miller": [[1, 0, 0]] * len(ph),
                "value": rng.uniform(-0.5, 2.5),
                "units": "J/m^2",
                "engine": "mlip",
                "model": "CHGNet-0.3.0",
                "candidate_id": f"c{i}",
                "result_key": f"k{i}",
                "job_uuid": f"job-{i}",
                "area_A2": rng.uniform(20, 200),
            }
        )
    return out


def timed(fn, repeat: int = 5) -> tuple[float, float, object]:
    """Median wall and CPU seconds (CPU time is what to compare on a shared, loaded machine)."""
    wall, cpu, result = [], [], None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu), result


def main(n: int = 10_000) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["INTERPHASES_PROJECT"] = tmp
        from interphases.database import has_result, open_database, query, save_rows

        db = open_database()
        data = rows(n)
        t0 = time.perf_counter()
        save_rows(data, database=db)
        t_write = time.perf_counter() - t0
        print(f"rows: {db.summary.count()}  (write, one save_rows call: {t_write:.2f} s)")
        cases = {
            "query('work_of_adhesion')": lambda: query("work_of_adhesion", database=db),
            "query('work_of_adhesion', phases='Li,LiF', min=0.3)": lambda: query(
                "work_of_adhesion", phases="Li,LiF", min=0.3, database=db
            ),
            "query() all kinds": lambda: query(database=db),
            "has_result(key)": lambda: has_result(f"k{n // 2}", db),
        }
        print(f"{'':55s} {'wall':>8s}    {'cpu':>8s}")
        for label, fn in cases.items():
            t, c, result = timed(fn)
            size = f"{len(result)} rows" if hasattr(result, "__len__") else str(result)
            print(f"{label:55s} {t * 1000:8.0f} ms {c * 1000:8.0f} ms  ({size})")
        t, c, docs = timed(lambda: list(db.summary._collection.find({})), repeat=3)
        print(
            f"{'(reading every document: the floor without indexes)':55s} {t * 1000:8.0f} ms {c * 1000:8.0f} ms  ({len(docs)} rows)"
        )
        db.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
