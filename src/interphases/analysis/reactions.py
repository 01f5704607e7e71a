"""Interface reactions between two phases (SE | electrode, SE | cathode, SE | coating).

The pseudo-binary construction of Richards et al., Chem. Mater. 28, 266 (2016), as done by
pymatgen's :class:`~pymatgen.analysis.interface_reactions.InterfacialReactivity`: the two
reactants a, b are mixed at atomic fraction x of a, and the reaction energy is the hull
energy of the mixture minus the reactants' energies,

    dE(x) = E_hull[x c_a + (1-x) c_b] - x E[c_a] - (1-x) E[c_b]       (eV/atom of mixture)

whose minimum over x is the most favourable reaction (its kinks are the critical mixing
ratios). With a working-ion reservoir open at voltage V (cathode or anode potential),
E is replaced by the grand potential Phi = E - n_M mu_M with mu_M = mu_M^0 - z e V
(:class:`~pymatgen.analysis.interface_reactions.GrandPotentialInterfacialReactivity`);
the energy is then per atom of the non-open elements and x counts only those atoms.

What this module adds to pymatgen: the voltage -> chemical potential conversion with the
ion charge, the checks that give a one-line error, and a typed, serialisable result.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, Field
from pymatgen.analysis.interface_reactions import (
    GrandPotentialInterfacialReactivity,
    InterfacialReactivity,
)
from pymatgen.analysis.phase_diagram import GrandPotentialPhaseDiagram, PhaseDiagram
from pymatgen.core import Composition, Element
from pymatgen.entries.computed_entries import ComputedEntry

from interphases.analysis.entries import EntriesError
from interphases.analysis.stability import chempot_from_voltage, ion_charge, phase_diagram

__all__ = ["InterfaceReaction", "ReactionKink", "interface_reactions"]


class ReactionKink(BaseModel):
    """One critical mixing ratio of the pseudo-binary."""

    index: int
    mixing_ratio: float = Field(
        description="Atomic fraction x of reactant 1 (non-open atoms only when a reservoir is open)."
    )
    molar_ratio: float | None = Field(
        None, description="Moles of reactant 1 per mole of both reactants (formula units)."
    )
    energy: float = Field(description="Reaction (grand-potential) energy, eV/atom of the mixture.")
    energy_kj_per_mol: float = Field(
        description="Reaction energy per mole of reaction formula, kJ/mol."
    )
    reaction: str
    products: list[str]


class InterfaceReaction(BaseModel):
    """Reaction energy vs mixing ratio of ``reactant_1`` | ``reactant_2`` and the most negative reaction."""

    reactant_1: str
    reactant_2: str
    chemsys: str
    open_element: str | None = None
    voltage: float | None = Field(
        None, description="V vs M/M^z+ of the open working-ion reservoir."
    )
    ion_charge: int | None = None
    delta_mu: float | None = Field(None, description="mu - mu^0 of the open element, eV/atom.")
    kinks: list[ReactionKink]
    most_negative: ReactionKink

    @property
    def is_stable(self) -> bool:
        """No reaction lowers the (grand) energy by more than 1 meV/atom."""
        return self.most_negative.energy > -1e-3

    @property
    def products(self) -> list[str]:
        return self.most_negative.products


def interface_reactions(
    entries: Sequence[ComputedEntry] | PhaseDiagram,
    reactant_1: str,
    reactant_2: str,
    *,
    open_element: str | None = None,
    voltage: float | None = None,
    delta_mu: float | None = None,
    charge: int | None = None,
    use_hull_energy: bool | None = None,
    include_no_mixing_energy: bool = False,
) -> InterfaceReaction:
    """Reaction table of ``reactant_1`` | ``reactant_2`` from one consistent hull.

    Closed system by default. With ``open_element`` (e.g. the working ion) the element is
    exchanged with a reservoir at ``voltage`` (V vs M/M^z+, mu = mu^0 - z V) or at
    ``delta_mu`` (eV/atom relative to the element's reference). ``use_hull_energy``
    defaults to pymatgen's choices (False closed: reactants at their own entry energy, so a
    metastable reactant's decomposition counts; True open).
    """
    pd = phase_diagram(entries)
    try:
        c1, c2 = Composition(reactant_1), Composition(reactant_2)
    except Exception as exc:
        raise EntriesError(f"cannot read reactants {reactant_1!r}, {reactant_2!r}") from exc
    missing = sorted({el.symbol for el in (c1 + c2).elements} - {el.symbol for el in pd.elements})
    if missing:
        raise EntriesError(
            f"the entries lack {', '.join(missing)}: load a system containing both reactants"
        )
    chemsys = "-".join(sorted(el.symbol for el in pd.elements))

    if open_element is None:
        if voltage is not None or delta_mu is not None:
            raise EntriesError("a voltage or chemical potential needs --open-element (e.g. Li)")
        ri = InterfacialReactivity(c1, c2, pd, norm=True, use_hull_energy=bool(use_hull_energy))
        z = None
    else:
        el = Element(open_element)
        if el not in pd.elements:
            raise EntriesError(f"open element {open_element} is not in the entries ({chemsys})")
        for comp, name in ((c1, reactant_1), (c2, reactant_2)):
            if not any(e != el for e in comp.elements):
                raise EntriesError(
                    f"{name} is made only of the open element {open_element}: it is the reservoir, not a reactant"
                )
        if (voltage is None) == (delta_mu is None):
            raise EntriesError(
                "give exactly one of voltage (V vs M/M^z+) or delta_mu (eV/atom) for the open element"
            )
        mu_ref = pd.el_refs[el].energy_per_atom
        z = ion_charge(open_element, charge) if voltage is not None else None
        mu = (
            chempot_from_voltage(voltage, mu_ref, z)
            if voltage is not None
            else mu_ref + float(delta_mu)
        )  # type: ignore[arg-type]
        delta_mu = mu - mu_ref
        gpd = GrandPotentialPhaseDiagram(list(pd.all_entries), {el: mu})
        ri = GrandPotentialInterfacialReactivity(
            c1,
            c2,
            gpd,
            pd,
            include_no_mixing_energy=include_no_mixing_energy,
            norm=True,
            use_hull_energy=True if use_hull_energy is None else use_hull_energy,
        )

    kinks_raw = ri.get_kinks()
    try:
        molar = ri.get_critical_original_kink_ratio()
    except Exception:  # pymatgen cannot always map back (e.g. identical reactants)
        molar = [None] * len(kinks_raw)
    kinks = [
        ReactionKink(
            index=int(i),
            mixing_ratio=float(x),
            molar_ratio=None if m is None else float(m),
            energy=float(e),
            energy_kj_per_mol=float(ekj),
            reaction=str(rxn),
            products=sorted(
                {
                    p.reduced_formula
                    for p in rxn.products
                    if not (open_element and p.reduced_formula == open_element)
                }
            ),
        )
        for (i, x, e, rxn, ekj), m in zip(kinks_raw, molar, strict=True)
    ]
    most_negative = min(kinks, key=lambda k: k.energy)
    return InterfaceReaction(
        reactant_1=c1.reduced_formula,
        reactant_2=c2.reduced_formula,
        chemsys=chemsys,
        open_element=open_element,
        voltage=voltage,
        ion_charge=z,
        delta_mu=delta_mu,
        kinks=kinks,
        most_negative=most_negative,
    )
