"""Submission of workflows to a batch queue (SLURM) through qtoolkit and jobflow-remote.

- :mod:`.slurm`     qtoolkit wrapper: batch scripts, job arrays, ``afterok`` dependencies,
  queue listing, cancel (``scripts/slurm/start.sh`` starts a test SLURM);
- :mod:`.campaign`  campaigns: many flows as one job array + a ranking job, resumable
  from the results database (``interphases submit / status``);
- :mod:`.flowjob`   one serialised flow as one batch job;
- :mod:`.remote`    jobflow-remote project with a SLURM worker, and submission to it;
- :mod:`.examples`  cheap EMT jobs to try the queue (and for the tests).
"""
