"""Machine-learned interatomic potentials and the fast engine around them: model
registry, batched evaluation, batched relaxation, batched climbing-image NEB.
"""
