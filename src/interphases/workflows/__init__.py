"""jobflow Makers (atomate2 style): surface energy, work of adhesion, interface
energies, screening, migration barriers, electrochemical stability. The energy code
is a field (``engine``), see :mod:`interphases.workflows.engines`.
"""
