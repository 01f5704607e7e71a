"""Exceptions raised by interphases.

Every error a user can trigger with bad input derives from :class:`InterphasesError`
and carries a one-line message that says what was wrong and what to do about it.
The CLI prints that line (no traceback) and exits with status 2.
"""

from __future__ import annotations


class InterphasesError(Exception):
    """Base class of all user-facing errors."""


class UnknownPhaseError(InterphasesError, KeyError):
    """A phase name is not in the offline library (and no other source was asked)."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class StructureReadError(InterphasesError, ValueError):
    """A structure file is missing, empty or not readable by pymatgen or ASE."""


class MissingAPIKeyError(InterphasesError, RuntimeError):
    """The Materials Project was asked for but no API key is configured."""


class NetworkUnavailableError(InterphasesError, RuntimeError):
    """A remote resource (Materials Project, a model hub) could not be reached."""


class InvalidStructureError(InterphasesError, ValueError):
    """A structure is physically unusable (overlapping atoms, empty cell, ...)."""


class UnsupportedElementsError(InterphasesError, ValueError):
    """A model or engine does not cover some elements of the input."""


class ModelUnavailableError(InterphasesError, RuntimeError):
    """A model is unknown, or would need a download that is not possible offline."""


class CalculationError(InterphasesError, RuntimeError):
    """An energy/force calculation failed (DFT run crashed, SCF not converged, ...)."""


class EngineUnavailableError(InterphasesError, RuntimeError):
    """An engine's executable (cp2k, vasp) is not installed or not on PATH."""


class ParseError(InterphasesError, ValueError):
    """A calculation output could not be parsed."""


class DatabaseError(InterphasesError, RuntimeError):
    """The results database is misconfigured or unreachable."""


class SchedulerError(InterphasesError, RuntimeError):
    """Submission to or querying of a batch queue (SLURM) failed."""
