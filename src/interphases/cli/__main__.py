"""``python -m interphases.cli``: the same as the ``interphases`` script.

Batch jobs call it through the absolute path of the submitting interpreter, so they
run in the same environment whatever is on their PATH.
"""

from interphases.cli import main

main()
