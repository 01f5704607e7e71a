"""Paths and settings shared by the package.

Everything is overridable by environment variables so that a cluster job, a test
and an interactive session can point at the same project folder:

- ``INTERPHASES_PROJECT``  project folder holding the embedded results database and
  the run folders (default: ``./interphases_project``).
- ``INTERPHASES_CACHE``    cache of downloaded data, e.g. Materials Project
  structures and entries (default: ``~/.cache/interphases``).
- ``MP_API_KEY`` / ``PMG_MAPI_KEY``  Materials Project key (optional).
"""

from __future__ import annotations

import os
from pathlib import Path


def project_dir() -> Path:
    """Folder of the current project (created on first use)."""
    path = Path(os.environ.get("INTERPHASES_PROJECT", "interphases_project")).expanduser()
    return path.resolve()


def cache_dir() -> Path:
    """Folder for cached downloads (created on first use)."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "interphases"
    path = Path(os.environ.get("INTERPHASES_CACHE", default)).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def mp_api_key() -> str | None:
    """Materials Project API key from the environment or pymatgen's settings, if any."""
    for var in ("MP_API_KEY", "PMG_MAPI_KEY"):
        if os.environ.get(var):
            return os.environ[var]
    try:
        from pymatgen.core import SETTINGS

        return SETTINGS.get("PMG_MAPI_KEY") or None
    except Exception:  # pragma: no cover - pymatgen settings are optional
        return None
