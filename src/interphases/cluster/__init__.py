"""Submission of workflows to a batch queue (SLURM) through qtoolkit and jobflow-remote.
"""
