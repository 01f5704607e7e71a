"""Shared pytest fixtures.

- ``shared_data``: the public DFT outputs and MP entries in ``../shared/data`` (read in
  place, never copied into the repository).
- Every test gets its own project folder and cache (``INTERPHASES_PROJECT``,
  ``INTERPHASES_CACHE``) so no test sees another's database, and no MP key leaks in.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# One thread per process: oversubscribed OpenMP on 2 cores can stall a call 30x.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Folder of real public test data (``../shared/data``, see its SOURCES.md)."""
    if not SHARED_DATA.is_dir():
        raise FileNotFoundError(f"{SHARED_DATA} not found: CI places ../shared beside the clone")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _isolated_project(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Give each test a private project folder and cache, and no Materials Project key."""
    root = tmp_path_factory.mktemp("project")
    monkeypatch.setenv("INTERPHASES_PROJECT", str(root / "project"))
    monkeypatch.setenv("INTERPHASES_CACHE", str(root / "cache"))
    for var in ("MP_API_KEY", "PMG_MAPI_KEY"):
        monkeypatch.delenv(var, raising=False)
    return root
