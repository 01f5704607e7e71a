"""VASP, CP2K and ASE outputs into one result schema (:mod:`interphases.parsers.schema`)."""

from interphases.parsers.schema import CalcResult, NEBResult

__all__ = ["CalcResult", "NEBResult"]
