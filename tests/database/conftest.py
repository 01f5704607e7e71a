"""Fixtures of the database tests: a fresh embedded database and synthetic result rows."""

from __future__ import annotations

import random

import pytest

from interphases.database import open_database

PHASES = ["Li", "LiF", "Li2O", "Li3N", "LiCl", "Li2CO3", "Li3PS4", "Li7La3Zr2O12"]
KINDS = [
    "work_of_adhesion",
    "surface_energy",
    "interfacial_energy",
    "interface_formation_energy",
    "migration_barrier",
]


def synthetic_rows(n: int, seed: int = 0) -> list[dict]:
    """``n`` plausible summary rows (random but reproducible)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        kind = rng.choice(KINDS)
        phases = rng.sample(PHASES, 1 if kind == "surface_energy" else 2)
        rows.append(
            {
                "kind": kind,
                "formulas": phases,
                "miller": [[rng.randint(0, 1), rng.randint(0, 1), 1] for _ in phases],
                "value": round(rng.uniform(-0.5, 2.5), 6),
                "units": "eV" if kind == "migration_barrier" else "J/m^2",
                "engine": rng.choice(["mlip", "cp2k"]),
                "model": rng.choice(["CHGNet-0.3.0", "SevenNet-0", "PBE"]),
                "candidate_id": f"cand-{i:05d}",
                "result_key": f"key-{i:05d}",
                "area_A2": round(rng.uniform(20, 200), 3),
                "n_atoms": rng.randint(20, 400),
            }
        )
    return rows


@pytest.fixture(scope="session")
def make_rows():
    """The :func:`synthetic_rows` generator."""
    return synthetic_rows


@pytest.fixture
def db():
    database = open_database()
    yield database
    database.close()
