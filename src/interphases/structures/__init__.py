"""Bulk phases (files, Materials Project, the bundled offline library), slabs with all
terminations, and lattice-matched interface candidates.
"""
