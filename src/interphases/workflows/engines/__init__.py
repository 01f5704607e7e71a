"""Energy engines behind the workflows: MLIP (default), CP2K, VASP.

``get_engine("mlip")`` / ``get_engine("cp2k")`` / ``get_engine("vasp")`` or an
:class:`~interphases.workflows.engines.base.Engine` instance.
"""

from __future__ import annotations

from typing import Any

from interphases.workflows.engines.base import CellRelax, Engine

__all__ = ["CellRelax", "Engine", "get_engine"]


def get_engine(engine: str | Engine = "mlip", **kwargs: Any) -> Engine:
    """Return an engine instance from a name (``"mlip"``, ``"cp2k"``, ``"vasp"``) or pass one through.

    Keyword arguments go to the engine's constructor (e.g. ``model="chgnet"`` for the MLIP).
    """
    if isinstance(engine, Engine):
        return engine
    key = str(engine).lower()
    if key in {"mlip", "chgnet", "sevenn", "emt", "lj"}:
        from interphases.workflows.engines.mlip import MLIPEngine

        if key != "mlip":
            kwargs.setdefault("model", key)
        return MLIPEngine(**kwargs)
    if key == "cp2k":
        from interphases.workflows.engines.cp2k import CP2KEngine

        return CP2KEngine(**kwargs)
    if key == "vasp":
        from interphases.workflows.engines.vasp import VASPEngine

        return VASPEngine(**kwargs)
    from interphases.errors import InterphasesError

    raise InterphasesError(f"unknown engine {engine!r}: use 'mlip', 'cp2k', 'vasp' or an Engine instance")
