"""Machine-learned interatomic potentials and the fast engine around them: model
registry, batched evaluation, batched relaxation, batched climbing-image NEB.

- :func:`load_model` (``registry``): a name (``"chgnet"`` default, ``"7net-0"``, ``"emt"``,
  ``"lj"``...), a checkpoint path or an ASE calculator -> a shared, cached :class:`Model`.
- ``Model.evaluator()`` (``evaluate``): energies + forces (+ stress on request) of many
  structures per call, computing only what is asked.
- :func:`relax_batch` (``relax``): N structures relaxed together with ASE's FIRE (or
  BFGS/LBFGS/MDMin), fixed / full / z-only cell; :func:`relax_sequential_ase` reference.
- :func:`neb_batch` (``neb``): climbing-image, improved-tangent NEB of one or several
  paths, all images evaluated together per step; :func:`neb_sequential_ase` reference.
- :func:`interpolate_atoms` / :func:`interpolate_structures` (``interpolate``): linear or
  IDPP initial paths.

Workflows use these through :class:`interphases.workflows.engines.mlip.MLIPEngine`.
"""

from interphases.potentials.conversion import atoms_to_structure, structure_to_atoms
from interphases.potentials.evaluate import (
    CalculatorEvaluator,
    CHGNetEvaluator,
    Evaluation,
    EvaluationFailed,
    Evaluator,
    EvaluatorStats,
    configure_threads,
    default_num_threads,
)
from interphases.potentials.interpolate import (
    interpolate_atoms,
    interpolate_structures,
    reaction_coordinate,
)
from interphases.potentials.neb import NEBOutcome, neb_batch, neb_sequential_ase
from interphases.potentials.registry import Model, available_models, clear_model_cache, load_model
from interphases.potentials.relax import CELL_MODES, RelaxOutcome, relax_batch, relax_sequential_ase

__all__ = [
    "CELL_MODES",
    "CHGNetEvaluator",
    "CalculatorEvaluator",
    "Evaluation",
    "EvaluationFailed",
    "Evaluator",
    "EvaluatorStats",
    "Model",
    "NEBOutcome",
    "RelaxOutcome",
    "atoms_to_structure",
    "available_models",
    "clear_model_cache",
    "configure_threads",
    "default_num_threads",
    "interpolate_atoms",
    "interpolate_structures",
    "load_model",
    "neb_batch",
    "neb_sequential_ase",
    "reaction_coordinate",
    "relax_batch",
    "relax_sequential_ase",
    "structure_to_atoms",
]
