"""What a user sees while a long command runs: progress, log lines, a log file per run.

Two pieces:

* :func:`configure_logging` sets up the standard :mod:`logging` tree once per command:
  the ``interphases`` logger prints to stderr (INFO by default, DEBUG with ``-v``, WARNING
  with ``-q``) and *everything* (jobflow's own log included, and Python warnings) goes to
  a log file per run in ``$INTERPHASES_PROJECT/logs/``. Third-party deprecation noise
  (jobflow's ``FutureWarning: cd is deprecated`` ...) is kept out of the terminal.
* :class:`RunProgress` follows one jobflow run: the stage (jobflow job) ``i/N`` from
  jobflow's "Starting job" log records, and the optimiser / NEB step with the current
  largest force from :func:`watch`, which the batched relaxation and NEB loops wrap their
  evaluator with. On a terminal this is a rich progress display (stage, step, fmax,
  elapsed, ETA); off a terminal the same information is written as log lines. Ctrl-C
  inside it says how many jobs were finished and stored, and how to go on.

:func:`watch` costs nothing when no :class:`RunProgress` is active (it returns the
evaluator unchanged), so library users who never touch this module see no change.
"""

from __future__ import annotations

import logging
import math
import os
import re
import sys
import time
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Sequence

logger = logging.getLogger("interphases")

#: the active listener of optimiser steps (one :class:`RunProgress` at a time)
_listener: Callable[[dict[str, Any]], None] | None = None

_log_file: Path | None = None
_configured_handlers: list[tuple[logging.Logger, logging.Handler]] = []

# warnings that say nothing to a user of interphases (kept in the log file only)
_NOISE = (
    (FutureWarning, r"cd is deprecated"),
    (DeprecationWarning, r".*"),
    (PendingDeprecationWarning, r".*"),
)


# --------------------------------------------------------------------------- logging


class _ThirdPartyWarningFilter(logging.Filter):
    """Keep Python warnings raised outside interphases off the terminal (they stay in the file)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name != "py.warnings":
            return True
        return "interphases" in record.getMessage().split(":", 1)[0]


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at emit time (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:  # StreamHandler.__init__ assigns it
        pass


def reset_logging() -> None:
    """Remove the handlers :func:`configure_logging` added (tests, embedding)."""
    global _log_file
    for lg, handler in _configured_handlers:
        lg.removeHandler(handler)
        handler.close()
        lg.propagate = True
    _configured_handlers.clear()
    _log_file = None


def log_file() -> Path | None:
    """The log file of the current run (None before :func:`configure_logging`)."""
    return _log_file


#: commands that compute (and get a log file in the project folder)
COMPUTE_COMMANDS = frozenset({"screen", "surface-energy", "neb", "neb-interface", "demo", "run-chunk", "run-flow", "rank-campaign"})


def configure_logging(verbosity: int = 0, command: str = "run", *, to_file: bool | None = None) -> Path | None:
    """Set up logging for one CLI command; returns the log file (or None).

    ``verbosity``: -1 quiet (warnings and errors only), 0 normal, 1 verbose (debug lines
    and jobflow's log on stderr too).
    """
    global _log_file
    reset_logging()

    for category, message in _NOISE:  # jobflow's `cd` deprecation was printed on every compute command
        warnings.filterwarnings("ignore", message=message, category=category)
    logging.captureWarnings(True)

    level = logging.DEBUG if verbosity > 0 else logging.WARNING if verbosity < 0 else logging.INFO
    stderr = _StderrHandler()
    stderr.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    stderr.setLevel(level)
    stderr.addFilter(_ThirdPartyWarningFilter())

    handlers: list[logging.Handler] = [stderr]
    _log_file = None
    if to_file is None:
        to_file = command in COMPUTE_COMMANDS
    if to_file:
        try:
            from interphases.config import project_dir

            folder = project_dir() / "logs"
            folder.mkdir(parents=True, exist_ok=True)
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", command) or "run"
            _log_file = folder / f"{stamp}-{safe}-{os.getpid()}.log"  # pid: array tasks start together
            fh = logging.FileHandler(_log_file, encoding="utf-8", delay=True)
            fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
            fh.setLevel(logging.DEBUG)
            handlers.append(fh)
        except OSError:  # read-only project folder: no file, the terminal still works
            _log_file = None

    ours = logging.getLogger("interphases")
    ours.setLevel(logging.DEBUG)
    ours.propagate = False
    for h in handlers:
        ours.addHandler(h)
        _configured_handlers.append((ours, h))

    # jobflow logs "Starting job - ..." at INFO: into the file always, on stderr with -v
    jf = logging.getLogger("jobflow")
    jf.setLevel(logging.INFO)
    jf.propagate = False
    for h in handlers:
        if h is stderr and verbosity <= 0:
            continue
        jf.addHandler(h)
        _configured_handlers.append((jf, h))

    pyw = logging.getLogger("py.warnings")
    pyw.propagate = False
    for h in handlers:
        pyw.addHandler(h)
        _configured_handlers.append((pyw, h))
    logger.debug("interphases %s, log file %s", " ".join(sys.argv[1:]), _log_file)
    return _log_file


# --------------------------------------------------------------------------- optimiser hook


class _WatchedEvaluator:
    """Evaluator proxy that reports the lockstep loop's state before each evaluation."""

    def __init__(self, evaluator: Any, jobs: Sequence[Any], fmax: float, kind: str, max_steps: int | None) -> None:
        self._evaluator = evaluator
        self._jobs = jobs
        self._fmax = fmax
        self._kind = kind
        self._max_steps = max_steps
        self._calls = 0

    def _report(self) -> None:
        listener = _listener
        if listener is None:
            return
        active = [j for j in self._jobs if not getattr(j, "finished", False)]
        forces = [getattr(j, "max_force", math.nan) for j in active]
        forces = [f for f in forces if f is not None and math.isfinite(f)]
        listener({
            "kind": self._kind,
            "step": max((getattr(j, "n_steps", 0) for j in self._jobs), default=0),
            "max_steps": self._max_steps,
            "fmax": max(forces) if forces else math.nan,
            "target": self._fmax,
            "done": len(self._jobs) - len(active),
            "total": len(self._jobs),
        })

    def evaluate(self, *args: Any, **kwargs: Any) -> Any:
        if self._calls:
            self._report()
        self._calls += 1
        return self._evaluator.evaluate(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._evaluator, name)


def watch(evaluator: Any, jobs: Sequence[Any], fmax: float, kind: str = "relax", max_steps: int | None = None) -> Any:
    """``evaluator``, reporting each lockstep step to the active :class:`RunProgress`.

    Returns ``evaluator`` itself when nothing listens (library use: no overhead).
    """
    if _listener is None:
        return evaluator
    return _WatchedEvaluator(evaluator, jobs, fmax, kind, max_steps)


# --------------------------------------------------------------------------- one run


_JOB_RE = re.compile(r"^(Starting|Finished) job - (.*) \(([0-9a-f-]{36})(?:, \d+)?\)$")


class _JobflowHandler(logging.Handler):
    def __init__(self, progress: RunProgress) -> None:
        super().__init__(logging.INFO)
        self.progress = progress

    def emit(self, record: logging.LogRecord) -> None:
        match = _JOB_RE.match(record.getMessage())
        if match is None:
            return
        if match.group(1) == "Starting":
            self.progress.stage(match.group(2))
        else:
            self.progress.finished_job(match.group(2))


def _fmt_seconds(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds >= 60 else f"{seconds} s"


class RunProgress:
    """Progress of one long command (context manager).

    Args:
        title: what runs, e.g. ``"screening LiF on Li (chgnet)"``.
        n_stages: jobs expected in the flow (jobflow may add some while it runs).
        tty: rich display (True) or log lines (False); default: is stderr a terminal.
        resume_hint: what to run to go on after Ctrl-C.
        log_every: seconds between two step lines off a terminal.
    """

    def __init__(self, title: str, n_stages: int | None = None, *, tty: bool | None = None,
                 resume_hint: str | None = None, log_every: float = 5.0) -> None:
        self.title = title
        self.n_stages = n_stages
        self.tty = sys.stderr.isatty() if tty is None else tty
        self.resume_hint = resume_hint
        self.log_every = log_every
        self.stage_index = 0
        self.stage_name = ""
        self.finished: list[str] = []
        self._start = time.monotonic()
        self._last_step_log = 0.0
        self._last_kind = ""
        self._rich: Any = None
        self._stage_task: Any = None
        self._step_task: Any = None
        self._handler = _JobflowHandler(self)
        self._previous_listener: Any = None

    # ------------------------------------------------------------------ context
    def __enter__(self) -> RunProgress:
        global _listener
        self._previous_listener = _listener
        _listener = self.step
        jf = logging.getLogger("jobflow")
        if jf.level == logging.NOTSET or jf.level > logging.INFO:
            jf.setLevel(logging.INFO)
        jf.addHandler(self._handler)
        if self.tty:
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)

            self._rich = Progress(
                SpinnerColumn(), TextColumn("{task.description}"), BarColumn(bar_width=24), MofNCompleteColumn(),
                TextColumn("elapsed"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                console=Console(stderr=True), transient=False,
            )
            self._rich.start()
            self._stage_task = self._rich.add_task(self.title, total=self.n_stages)
            self._step_task = self._rich.add_task("waiting for the first step", total=None, visible=False)
        else:
            logger.info("%s: started", self.title)
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        global _listener
        _listener = self._previous_listener
        logging.getLogger("jobflow").removeHandler(self._handler)
        elapsed = _fmt_seconds(time.monotonic() - self._start)
        if self._rich is not None:
            if exc_type is None:
                self._rich.update(self._stage_task, description=f"{self.title}: done",
                                  completed=self.n_stages or self.stage_index, total=self.n_stages or self.stage_index)
            self._rich.update(self._step_task, visible=False)
            self._rich.stop()
        if exc_type is KeyboardInterrupt:
            self._interrupted()
            return False
        if exc_type is None:
            logger.info("%s: done in %s", self.title, elapsed)
        else:
            logger.info("%s: stopped after %s (%s)", self.title, elapsed, exc_type.__name__)
        return False

    def _interrupted(self) -> None:
        n = len(self.finished)
        stored = (f"{n} finished job(s) are stored in the project JobStore ({', '.join(self.finished[-3:])}"
                  f"{', ...' if n > 3 else ''}; `interphases db ingest` makes them queryable)"
                  if n else "no job had finished, nothing was stored")
        where = f"interrupted during stage {self.stage_index}" + (f"/{self.n_stages}" if self.n_stages else "")
        hint = self.resume_hint or "run the same command again"
        msg = f"{where} ({self.stage_name or 'start'}); {stored}. To go on: {hint}"
        if log_file() is not None:
            msg += f" (log: {log_file()})"
        logger.warning(msg)

    # ------------------------------------------------------------------ events
    def stage(self, name: str) -> None:
        """A new stage (jobflow job) started."""
        self.stage_index += 1
        self.stage_name = name
        of = f"/{self.n_stages}" if self.n_stages and self.stage_index <= self.n_stages else ""
        label = f"stage {self.stage_index}{of}: {name}"
        if self._rich is not None:
            total = max(self.n_stages or 0, self.stage_index) if self.n_stages else None
            self._rich.update(self._stage_task, description=label, completed=self.stage_index - 1, total=total)
            self._rich.update(self._step_task, visible=False)
        else:
            logger.info("%s (elapsed %s)", label, _fmt_seconds(time.monotonic() - self._start))
        self._last_step_log = 0.0
        self._last_kind = ""

    def finished_job(self, name: str) -> None:
        self.finished.append(name)
        if self._rich is not None:
            self._rich.update(self._stage_task, completed=len(self.finished))

    def step(self, info: dict[str, Any]) -> None:
        """One optimiser / NEB step of the batch (from :func:`watch`)."""
        kind = info.get("kind", "relax")
        what = "NEB" if kind == "neb" else "relaxation"
        fmax = info.get("fmax", math.nan)
        fm = "?" if not math.isfinite(fmax) else f"{fmax:.3f}"
        text = (f"{what} step {info['step']}: fmax {fm} eV/Å (target {info['target']:g}), "
                f"{info['done']}/{info['total']} converged")
        if self._rich is not None:
            self._rich.update(self._step_task, description=text, completed=info["step"],
                              total=info.get("max_steps"), visible=True)
            return
        now = time.monotonic()
        new_kind = kind != self._last_kind
        self._last_kind = kind
        if new_kind or self._last_step_log == 0.0 or now - self._last_step_log >= self.log_every:
            self._last_step_log = now
            logger.info("  %s", text)
        else:
            logger.debug("  %s", text)
