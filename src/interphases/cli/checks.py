"""Checks the CLI runs before any computation: numbers, output paths, structures, engines.

Every failure is an :class:`~interphases.errors.InterphasesError` (one line, exit 2), raised
before a single relaxation starts, so a typo costs a second instead of minutes.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from interphases.errors import EngineUnavailableError, InterphasesError, UnsupportedElementsError

log = logging.getLogger("interphases")


def positive(value: float | None, option: str, *, allow_zero: bool = False, integer: bool = False) -> None:
    """``option`` must be a finite number > 0 (>= 0 with ``allow_zero``); None passes."""
    if value is None:
        return
    bad = not math.isfinite(float(value)) or (value < 0 if allow_zero else value <= 0)
    if bad:
        kind = "an integer" if integer else "a number"
        bound = ">= 0" if allow_zero else "> 0"
        raise InterphasesError(f"{option} must be {kind} {bound} (got {value})")


def in_range(value: float | None, option: str, low: float, high: float) -> None:
    if value is not None and not (math.isfinite(float(value)) and low <= value <= high):
        raise InterphasesError(f"{option} must be between {low:g} and {high:g} (got {value})")


def output_file(path: Path | None, option: str) -> None:
    """The folder of an output file must exist (checked before the work, not after)."""
    if path is None:
        return
    parent = Path(path).expanduser().resolve().parent
    if not parent.is_dir():
        raise InterphasesError(f"{option} {path}: folder {parent} does not exist; create it first (mkdir -p {parent})")
    if Path(path).is_dir():
        raise InterphasesError(f"{option} {path} is a folder; give a file name, e.g. {Path(path) / 'out.png'}")


def output_dir(path: Path | None, option: str) -> None:
    """An output folder must be creatable (its path must not be an existing file)."""
    if path is not None and Path(path).exists() and not Path(path).is_dir():
        raise InterphasesError(f"{option} {path} is a file; give a folder")


def check_structure(structure: Any, label: str) -> None:
    """One-line error for unusable structures, a warning for near-overlapping atoms."""
    from interphases.structures.validation import screen_structure

    screen_structure(structure, label)


def load_checked(name: str) -> Any:
    """:func:`interphases.structures.load_structure` plus :func:`check_structure`."""
    from interphases.structures import load_structure

    structure = load_structure(name)
    check_structure(structure, name)
    return structure


def _models_covering(symbols: Iterable[str], exclude: str | Sequence[str]) -> list[str]:
    """Installed models (offline) whose element list covers ``symbols`` (not those of ``exclude``)."""
    from interphases.potentials.registry import available_models, load_model

    symbols = set(symbols)
    exclude = {exclude} if isinstance(exclude, str) else set(exclude)
    preferred = [n for n in ("chgnet", "7net-0", "emt") if n in available_models()]
    others = [n for n in available_models() if n not in preferred and n != "lj"]
    found = []
    for name in preferred + others:
        if name in exclude:
            continue
        try:
            model = load_model(name)
        except Exception:  # noqa: BLE001 - a model that does not load is not a suggestion
            continue
        if model.name in exclude:  # an alias of the model in use
            continue
        if not model.unsupported_elements(symbols):
            found.append(name)
            break
    return found


def check_engine(engine: Any, structures: Sequence[Any] = (), labels: Sequence[str] = (), *, option: str = "--engine",
                 avoid: Sequence[str] = ()) -> None:
    """The engine can run here and covers every element of ``structures``.

    ``avoid``: models not to suggest instead (e.g. the screening's own model for --uncertainty).

    MLIP: the model loads and covers the elements (a model that does is suggested);
    CP2K / VASP: the executable is on PATH (or the configured command exists).
    """
    name = getattr(engine, "name", str(engine))
    if name == "mlip":
        model = engine.load()
        symbols = sorted({el.symbol for s in structures for el in s.composition.elements})
        missing = model.unsupported_elements(symbols)
        if missing:
            where = ", ".join(
                f"{lab}" for s, lab in zip(structures, labels or [""] * len(structures))
                if set(missing) & {el.symbol for el in s.composition.elements}
            )
            others = _models_covering(symbols, (model.name, *avoid))
            flag = "--model" if option == "--engine" else option
            hint = (f"use {flag} {others[0]}" if others else
                    "no installed model covers them: use --engine cp2k or --engine vasp")
            raise UnsupportedElementsError(f"model {model.name!r} does not cover {', '.join(missing)} (in {where}); {hint}")
        return
    if name in ("cp2k", "vasp"):
        from interphases.workflows.engines.dft_common import command_executable

        _, missing_exe = command_executable(engine.command, name)
        if missing_exe:
            env = "INTERPHASES_CP2K_CMD" if name == "cp2k" else "INTERPHASES_VASP_CMD"
            install = "apt-get install cp2k, or module load cp2k" if name == "cp2k" else "load your VASP module"
            raise EngineUnavailableError(
                f"{option} {name}: executable '{missing_exe}' not found ({install}; or set {env}); nothing was computed"
            )


def choice(value: str | None, option: str, choices: Sequence[str]) -> None:
    """``option`` must be one of ``choices`` (None passes)."""
    if value is not None and value not in choices:
        raise InterphasesError(f"{option} must be one of {', '.join(choices)} (got {value!r})")


def uncertainty_engine(model: str | None, engine: Any, structures: Sequence[Any] = (), labels: Sequence[str] = (),
                       *, option: str = "--uncertainty") -> Any:
    """The second model of ``--uncertainty MODEL`` (an MLIP model such as ``7net-0``), checked
    like ``--model``: it loads offline, covers every element, and differs from the screening's
    own model (whose spread with itself is 0). None when ``model`` is not given."""
    if not model:
        return None
    from interphases.workflows.engines import get_engine

    second = get_engine("mlip", model=model)
    first = engine.load().name if getattr(engine, "name", None) == "mlip" and isinstance(getattr(engine, "model", None), str) else None
    check_engine(second, structures, labels, option=option, avoid=[first] if first else [])
    if first is not None and first == second.load().name:
        symbols = sorted({el.symbol for s in structures for el in s.composition.elements})
        others = _models_covering(symbols, (first,))
        raise InterphasesError(
            f"{option} {model} is the screening's own model: the spread of a model with itself is 0; "
            + (f"name another model, e.g. {option} {others[0]}" if others else "name another model")
        )
    return second


def refine_selection(refine_by: str, refine: str | None, uncertainty: str | None) -> None:
    """``--refine-by rank|ucb``: ``ucb`` needs ``--uncertainty`` (its W_ad spread) and, like
    ``rank``, only matters with ``--refine``."""
    from interphases.analysis.ranking import REFINE_BY

    choice(refine_by, "--refine-by", REFINE_BY)
    if refine_by == "ucb" and not uncertainty:
        raise InterphasesError(
            "--refine-by ucb picks candidates by W_ad + uncertainty: give --uncertainty MODEL too "
            "(e.g. --uncertainty 7net-0), or use --refine-by rank"
        )
    if refine_by != "rank" and not refine:
        raise InterphasesError(f"--refine-by {refine_by} chooses the candidates of --refine: give --refine ENGINE too")
