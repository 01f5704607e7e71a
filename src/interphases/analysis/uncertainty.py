"""Model uncertainty of a work of adhesion: a two-model committee at fixed geometry.

The screening computes W_ad with its engine (model 1): the interface and the two
isolated slabs are relaxed with model 1 and

    W_ad = (E_A,slab + E_B,slab - E_AB) / S            (all three energies of model 1).

A second model (e.g. SevenNet-0 beside CHGNet) then evaluates single points of the same
three relaxed cells, and

    W_ad,2 = (E2_A,slab + E2_B,slab - E2_AB) / S       (all three energies of model 2),

with the same area S and the same formula
(:func:`interphases.analysis.energetics.work_of_adhesion`). The two models are never mixed
inside one energy difference. The uncertainty is the spread of the committee,
``|W_ad - W_ad,2|`` (J/m²).

What it captures: how much two independently trained potentials disagree about the
bonding across the interface at the model-1 structure (training-set coverage, the
energy scale of the interface chemistry). What it does not capture: the geometric part
of the model error (model 2 does not relax: its own minima may lie elsewhere, and its
W_ad at its own geometry differs by the relaxation energies of the interface and of the
two slabs that it would find; a different registry or gap is not explored), errors the
two models share (same DFT functional and training data: both miss what PBE misses),
and the numerical noise of the slab model itself (thickness, vacuum, registry).
A small spread is therefore necessary, not sufficient, for a trustworthy W_ad.
"""

from __future__ import annotations

import math

from interphases.analysis.energetics import j_per_m2, work_of_adhesion

__all__ = ["model_uncertainty", "second_model_work_of_adhesion"]


def second_model_work_of_adhesion(
    substrate_slab_energy: float, film_slab_energy: float, interface_energy: float, area: float
) -> float | None:
    """W_ad (J/m²) of one model from its three single points on fixed cells:
    ``(E_A + E_B - E_AB) / S`` (one interface, the AdhesionDocument's formula and area).

    None when an energy is missing or not finite (a failed single point).
    """
    energies = (substrate_slab_energy, film_slab_energy, interface_energy)
    if any(e is None or not math.isfinite(float(e)) for e in energies):
        return None
    return j_per_m2(work_of_adhesion(float(substrate_slab_energy), float(film_slab_energy),
                                     float(interface_energy), float(area), 1))


def model_uncertainty(work_of_adhesion_1: float | None, work_of_adhesion_2: float | None) -> float | None:
    """``|W_ad(model 1) - W_ad(model 2)|`` (J/m²), None when either is missing."""
    if work_of_adhesion_1 is None or work_of_adhesion_2 is None:
        return None
    w1, w2 = float(work_of_adhesion_1), float(work_of_adhesion_2)
    if not (math.isfinite(w1) and math.isfinite(w2)):
        return None
    return abs(w1 - w2)
