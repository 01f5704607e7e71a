"""The compute step of every workflow, and job-level resume.

- :func:`run_calculations_job`: the in-process engines' compute step (MLIP, any ASE
  calculator): ONE job that runs every :class:`~interphases.workflows.engines.base.Calculation`
  of a build step through :meth:`Engine.run_calculations` (batched).
- Job-level resume: every job of this project's workflows carries a content key in its
  metadata (``metadata.cache_key``: a hash of the function, the engine's
  :meth:`~interphases.workflows.engines.base.Engine.identity` and the resolved inputs).
  Before it runs, a job looks the key up in the JobStore it runs on; a stored output
  is returned as it is (``metadata.reused_from`` names the job that computed it), so
  rerunning a killed flow, from the CLI or :func:`interphases.workflows.run.run_and_store`,
  recomputes only what had not finished. jobflow itself has no such lookup (a rerun
  gets new job uuids), which is why this module exists; it uses only jobflow's own
  ``CURRENT_JOB.store`` and job metadata, so it works the same on the embedded store,
  MongoDB and jobflow-remote workers.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from jobflow import job
from pymatgen.core import Structure

__all__ = [
    "CACHE_KEY",
    "cache_key",
    "lookup",
    "resumable",
    "run_calculations_job",
    "structure_fingerprint",
]

logger = logging.getLogger(__name__)

#: metadata field holding a job's content key
CACHE_KEY = "cache_key"
#: version of the keying scheme (bump when the meaning of a stored output changes)
_SCHEME = 1


def structure_fingerprint(structure: Structure) -> dict[str, Any]:
    """Species, lattice and Cartesian positions (rounded to 1e-6 Å), charge and the site
    properties that change a result (``selective_dynamics``, ``magmom``)."""
    props = {k: v for k, v in structure.site_properties.items() if k in ("selective_dynamics", "magmom", "fix")}
    return {
        "species": [str(sp) for sp in structure.species],
        "lattice": np.round(structure.lattice.matrix, 6).tolist(),
        "cart": np.round(structure.cart_coords, 6).tolist(),
        "charge": float(structure.charge or 0.0),
        "props": {k: [list(map(bool, x)) if k == "selective_dynamics" and x is not None else x for x in v]
                  for k, v in sorted(props.items())},
    }


def _canonical(obj: Any) -> Any:
    """JSON-ready, deterministic form of job inputs (Structures by fingerprint)."""
    from monty.json import jsanitize

    if isinstance(obj, Structure):
        return structure_fingerprint(obj)
    if hasattr(obj, "fingerprint") and callable(obj.fingerprint):
        return obj.fingerprint()
    if hasattr(obj, "identity") and callable(obj.identity):  # an Engine
        return obj.identity()
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, list | tuple):
        return [_canonical(v) for v in obj]
    if isinstance(obj, float):
        return round(obj, 9)
    if hasattr(obj, "model_dump"):  # pydantic documents: structures inside by fingerprint
        return _canonical({k: getattr(obj, k) for k in type(obj).model_fields})
    return jsanitize(obj, strict=True, enum_values=True)


def cache_key(function: str, *args: Any, **kwargs: Any) -> str | None:
    """Content key of a call, or None when an input cannot be made canonical (an
    in-process ASE calculator as the model, say): such a job always runs."""
    try:
        payload = json.dumps([_SCHEME, function, _canonical(list(args)), _canonical(kwargs)], sort_keys=True,
                             default=str)
    except Exception:  # noqa: BLE001 - no key, no resume; the job still runs
        return None
    return hashlib.sha256(payload.encode()).hexdigest()


def lookup(store: Any, key: str) -> dict[str, Any] | None:
    """The newest stored job document with ``metadata.cache_key == key`` (blobs loaded), or None."""
    if store is None or key is None:
        return None
    try:
        docs = list(store.query({f"metadata.{CACHE_KEY}": key}, properties=["uuid", "index", "output", "completed_at"],
                                load=True, sort={"completed_at": -1}, limit=5))
    except Exception as exc:  # noqa: BLE001 - a store that cannot be queried means: run
        logger.debug("job cache lookup failed: %s", exc)
        return None
    for doc in docs:
        out = doc.get("output")
        # a job replaced by a fan-out stores no output itself: its replacement does
        if out is None or (isinstance(out, dict) and out.get("@class") == "OutputReference"):
            continue
        return doc
    return None


def _current() -> tuple[Any, Any]:
    from jobflow import CURRENT_JOB

    return CURRENT_JOB.job, CURRENT_JOB.store


def resumable(function: Callable) -> Callable:
    """Decorator (under ``@job``) that makes a job reuse a stored output with the same content key.

    The key is computed from the resolved inputs when the job runs; on a hit the stored
    output is decoded and returned, and ``metadata.reused_from`` says whose it was.
    The job must be created with ``expose_store`` (see :func:`resumable_job`).
    """

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        current, store = _current()
        key = cache_key(f"{function.__module__}.{function.__qualname__}", *args, **kwargs)
        if current is not None and key is not None:
            current.metadata[CACHE_KEY] = key
            hit = lookup(store, key)
            if hit is not None:
                from monty.json import MontyDecoder

                current.metadata["reused_from"] = hit["uuid"]
                logger.info("reused stored output of job %s (%s)", hit["uuid"], current.name)
                return MontyDecoder().process_decoded(hit["output"])
        return function(*args, **kwargs)

    return wrapper


def resumable_job(function: Callable | None = None, **job_kwargs: Any) -> Any:
    """``@job`` + :func:`resumable` + ``expose_store``: the decorator of this project's jobs."""

    def decorate(fn: Callable) -> Any:
        wrapped = resumable(fn)
        decorated = job(wrapped, **job_kwargs)
        original_call = decorated

        @functools.wraps(fn)
        def make(*args: Any, **kwargs: Any) -> Any:
            j = original_call(*args, **kwargs)
            j.config.expose_store = True
            return j

        make.original = getattr(decorated, "original", wrapped)  # type: ignore[attr-defined]
        return make

    if function is not None:
        return decorate(function)
    return decorate


@resumable_job
def run_calculations_job(engine: Any, calculations: Sequence[Any]) -> list[Any]:
    """Compute step of an in-process engine: every calculation in this job, batched."""
    from interphases.workflows.engines import get_engine

    calcs = list(calculations)
    logger.info("computing %d calculation(s) on %s", len(calcs), getattr(engine, "name", engine))
    return get_engine(engine).run_calculations(calcs)


def job_counts(store: Any, uuids: Sequence[str]) -> tuple[int, int]:
    """(reused, ran) among the stored jobs ``uuids`` (latest index of each)."""
    reused = ran = 0
    if not uuids:
        return 0, 0
    docs = list(store.query({"uuid": {"$in": list(uuids)}}, properties=["uuid", "index", "metadata"]))
    latest: dict[str, dict[str, Any]] = {}
    for d in docs:
        if d["uuid"] not in latest or d["index"] > latest[d["uuid"]]["index"]:
            latest[d["uuid"]] = d
    for d in latest.values():
        if (d.get("metadata") or {}).get("reused_from"):
            reused += 1
        else:
            ran += 1
    return reused, ran
