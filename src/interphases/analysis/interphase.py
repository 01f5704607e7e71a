"""Interphase verdict for a solid electrolyte against a metal anode.

The classification of Wenzel, Janek et al. (Solid State Ionics 286, 24 (2016); Chem.
Mater. 28, 2400 (2016)) as used by Xiao et al., Nat. Rev. Mater. 5, 105 (2020):

1. **stable** - thermodynamically stable interface: the electrolyte is on the hull and
   stable at 0 V vs M/M^z+ (its reduction limit is 0 V).
2. **mixed-conducting** (MCI) - the products formed in contact with the metal include an
   electronic conductor (metal, alloy, small-gap phase): the reaction front is fed with
   electrons and M ions and the interphase keeps growing.
3. **passivating** (SEI) - every product is an electronic insulator: once a thin layer has
   formed it blocks electrons and growth stops (kinetically stable interface).

The products are those in equilibrium with M metal (the most M-rich assemblage of the
M-uptake profile, mu_M = mu_M^0). "Electronically insulating" means a band gap at or above
``gap_threshold``; the default 0.5 eV is the Kohn-Sham (PBE) gap filter of Xiao et al.,
Joule 3, 1252 (2019) - a lower bound, since GGA underestimates gaps. Gaps are taken, in this
order, from the user, from the entries (Materials Project ``band_gap`` data), from the
all-metal rule (a composition of metallic elements only - a metal or alloy - is taken as
conducting), then from :data:`BUNDLED_BAND_GAPS`. A product with no gap from any of these is
reported as unknown, and the verdict is "unknown" unless another product already makes the
interphase mixed-conducting.

What the field's libraries do not do and this module adds: the verdict itself and the
evidence list behind it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from pymatgen.core import Composition

from interphases.analysis.stability import StabilityWindow

__all__ = [
    "BUNDLED_BAND_GAPS",
    "DEFAULT_GAP_THRESHOLD",
    "InterphaseVerdict",
    "ProductEvidence",
    "interphase_verdict",
    "lookup_band_gap",
]

#: eV; Kohn-Sham gap filter for "electronically insulating" (Xiao et al., Joule 3, 1252 (2019))
DEFAULT_GAP_THRESHOLD = 0.5

_ALEXANDRIA = "Alexandria PBE (Schmidt et al.), ground-state polymorph"

#: PBE band gaps (eV) of common interphase products, ground-state polymorph on the
#: Alexandria PBE hull (read from ../shared/data/alexandria_hull/*.json.gz, CC-BY-4.0).
BUNDLED_BAND_GAPS: dict[str, tuple[float, str]] = {
    "Li2O": (5.061, _ALEXANDRIA),
    "Li2S": (3.531, _ALEXANDRIA),
    "Li3P": (0.698, _ALEXANDRIA),
    "LiP": (0.912, _ALEXANDRIA),
    "Li3P7": (1.825, _ALEXANDRIA),
    "LiP7": (1.645, _ALEXANDRIA),
    "Li3PS4": (3.224, _ALEXANDRIA),
    "P2S5": (2.635, _ALEXANDRIA),
    "Li4TiO4": (4.558, _ALEXANDRIA),
    "Li2TiO3": (3.053, _ALEXANDRIA),
    "Li4Ti5O12": (2.674, _ALEXANDRIA),
    "LiTiO2": (0.0, _ALEXANDRIA),
    "TiO2": (2.697, _ALEXANDRIA),
    "TiO": (0.0, _ALEXANDRIA),
    "Ti2O3": (0.0, _ALEXANDRIA),
    "MgO": (4.447, _ALEXANDRIA),
    "Mg2Si": (0.343, _ALEXANDRIA),
    "Mg2SiO4": (4.645, _ALEXANDRIA),
    "SiO2": (5.711, _ALEXANDRIA),
    "CaO": (3.635, _ALEXANDRIA),
    "CaCO3": (5.043, _ALEXANDRIA),
}

Verdict = Literal["stable", "passivating", "mixed-conducting", "unknown"]


class ProductEvidence(BaseModel):
    """One product at the metal contact and what is known of its electronic character."""

    formula: str
    band_gap: float | None = Field(None, description="eV; None = unknown.")
    source: str | None = Field(None, description="Where the gap comes from.")
    insulating: bool | None = Field(None, description="Gap >= threshold; None = unknown.")


class InterphaseVerdict(BaseModel):
    """stable / passivating / mixed-conducting (or unknown) with the evidence."""

    phase: str
    metal: str
    verdict: Verdict
    gap_threshold: float
    reduction_limit: float | None = Field(description="V vs M/M^z+ (0 = stable against the metal).")
    reaction: str | None = Field(
        None, description="Reaction of the phase with M metal (to the M-rich assemblage)."
    )
    decomposition_energy: float = Field(description="E_D at 0 V, eV per atom of the phase.")
    products: list[ProductEvidence] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)


def lookup_band_gap(
    formula: str,
    *,
    user_gaps: dict[str, float] | None = None,
    entry_gaps: dict[str, float | None] | None = None,
) -> tuple[float | None, str | None]:
    """Band gap (eV) and its source for ``formula`` (see module docstring for the order)."""
    reduced = Composition(formula).reduced_formula
    for key, value in (user_gaps or {}).items():
        if Composition(key).reduced_formula == reduced:
            return float(value), "user"
    gap = (entry_gaps or {}).get(reduced)
    if gap is not None:
        return float(gap), "band_gap in the entry data"
    comp = Composition(reduced)
    if all(el.is_metal for el in comp.elements):
        return 0.0, "all elements metallic: metal or alloy, taken as electronically conducting"
    if reduced in BUNDLED_BAND_GAPS:
        value, source = BUNDLED_BAND_GAPS[reduced]
        return value, source
    return None, None


def interphase_verdict(
    window: StabilityWindow,
    *,
    band_gaps: dict[str, float] | None = None,
    gap_threshold: float = DEFAULT_GAP_THRESHOLD,
) -> InterphaseVerdict:
    """Classify the interphase of ``window.formula`` against ``window.working_ion`` metal."""
    metal = window.working_ion
    base = {
        "phase": window.formula,
        "metal": metal,
        "gap_threshold": gap_threshold,
        "reduction_limit": window.reduction.voltage,
        "decomposition_energy": window.decomposition_energy_at_metal,
    }
    if window.stable_against_metal and window.is_stable:
        return InterphaseVerdict(
            **base,
            verdict="stable",
            reasons=[
                f"{window.formula} is on the hull and stable down to 0 V vs {metal}/{metal}+: no reaction with {metal} metal"
            ],
        )

    contact = (
        window.metal_contact
    )  # assemblage in equilibrium with M metal (mu_M = mu_M^0), real hull
    reasons: list[str] = []
    if window.stable_against_metal:  # metastable phase, stable vs M after the hull shift
        reasons.append(
            f"{window.formula} is {1000 * (window.e_above_hull or 0):.0f} meV/atom above the hull: "
            "it decomposes at fixed composition even without the metal"
        )
    else:
        reasons.append(
            f"reduced below {window.reduction.voltage:.2f} V vs {metal}: in contact with {metal} it forms {' + '.join(contact.phases)}"
        )
    evidence = []
    for formula in contact.phases:
        gap, source = lookup_band_gap(formula, user_gaps=band_gaps, entry_gaps=contact.band_gaps)
        insulating = None if gap is None else gap >= gap_threshold
        evidence.append(
            ProductEvidence(formula=formula, band_gap=gap, source=source, insulating=insulating)
        )

    conducting = [p for p in evidence if p.insulating is False]
    unknown = [p for p in evidence if p.insulating is None]
    for p in evidence:
        if p.band_gap is None:
            reasons.append(f"{p.formula}: band gap unknown (give it with band_gaps / --gap)")
        else:
            kind = "insulating" if p.insulating else "electronically conducting"
            margin = (
                " (close to the threshold)"
                if abs(p.band_gap - gap_threshold) < 0.3 and p.band_gap > 0
                else ""
            )
            reasons.append(f"{p.formula}: gap {p.band_gap:.2f} eV ({p.source}) -> {kind}{margin}")
    verdict: Verdict
    if conducting:
        verdict = "mixed-conducting"
    elif unknown:
        verdict = "unknown"
    else:
        verdict = "passivating"
    return InterphaseVerdict(
        **base,
        verdict=verdict,
        reaction=None if contact.phases == [window.formula] else contact.reaction,
        products=evidence,
        reasons=reasons,
    )
