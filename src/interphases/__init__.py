"""interphases: build, compute and rank battery interfaces at the atomic scale.

Layout (one folder per concern):

- ``structures/``  bulk phases (files, Materials Project, bundled offline library),
  slabs with all terminations, lattice-matched interface candidates.
- ``potentials/``  machine-learned interatomic potentials (CHGNet by default) and the
  fast engine around them: batched evaluation, relaxation and climbing-image NEB.
- ``workflows/``   jobflow Makers: surface energy, work of adhesion, interface
  energies, migration barriers, electrochemical stability; ``workflows/engines``
  runs the same Maker on an MLIP, CP2K or VASP.
- ``analysis/``    the formulas behind the workflows (energies, hulls, windows).
- ``parsers/``     VASP, CP2K and ASE outputs into one result schema.
- ``database/``    the results store (embedded by default, MongoDB in production)
  and its query API.
- ``cluster/``     submission to a SLURM queue (qtoolkit, jobflow-remote).
- ``cli/``         the ``interphases`` command.
"""

__version__ = "0.1.0"
