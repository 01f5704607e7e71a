"""Electrochemical stability window of a phase against a working-ion metal M.

The grand-canonical construction (Ong et al., Chem. Mater. 20, 1798 (2008); Mo, Ong, Ceder,
Chem. Mater. 24, 15 (2012); Zhu, He, Mo, ACS AMI 7, 23685 (2015); Richards et al., Chem.
Mater. 28, 266 (2016)): the phase is open to M, whose chemical potential is set by the
electrode potential V (vs M/M^z+),

    mu_M(V) = mu_M^0 - z e V            (mu per atom of M, mu_M^0 = energy/atom of M metal)
    V       = -(mu_M - mu_M^0) / (z e)

and the phase (composition c) is stable while it minimises the grand potential
Phi[c, mu_M] = E[c] - n_M[c] mu_M among all assemblages reachable by exchanging M.
pymatgen does the hull work: :meth:`PhaseDiagram.get_element_profile` walks the tie line
from M to the M-free part of ``c`` and returns, for each critical composition i, the
assemblage (``entries``), the M taken up per formula unit (``evolution`` > 0 = uptake)
and ``chempot`` c_i, the chemical potential of M at the M-rich edge of that assemblage's
field. Chemical potentials decrease along the list (c_0 = mu_M^0), so

    assemblage i is stable for mu_M in [c_{i+1}, c_i],  i.e.  V in [V(c_i), V(c_{i+1})]

(the last one up to +inf). The phase itself is the step with zero uptake, k; its window is
[V(c_k), V(c_{k+1})]: reduction limit V_red = V(c_k) (k = 0: stable against M metal,
V_red = 0 V), products at V_red = assemblage k-1; oxidation limit V_ox = V(c_{k+1}),
products = assemblage k+1 (none when the phase holds no M to extract: V_ox = +inf).
The chemical potentials pymatgen returns are per atom of M, so the voltage divides by the
ion charge z (Li, Na, K: 1; Mg, Ca, Zn: 2; Al: 3).

Unstable phases (E_hull > 0) follow the convention of Zhu, He, Mo (2015) and Richards et
al. (2016): the phase's energy is lowered onto the hull (by E_hull plus a 1e-6 eV/atom
margin) and its window computed as for a stable phase (``convention="hull_shifted"``);
E_hull is reported with it, together with the decomposition products at fixed composition
and the voltage range over which that product assemblage itself is in equilibrium
(``products_window``: a single voltage when the composition sits inside a two-phase field
of the M-open tie line). A composition without any entry gets the same hull-shifted window.

Decomposition energy at voltage V (Zhu et al. 2015, eq. 2), per atom of the phase:

    E_D(V) = [E_hull(c + n M) - E[c] - n mu_M(V)] / N_atoms(c),   n = uptake at V

What pymatgen lacks and this module adds: the ion-charge division, the reading of the
element profile as a window with products and reactions at both limits, the hull-shift
convention for metastable phases, the uptake-profile table and plot.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field
from pymatgen.analysis.phase_diagram import PhaseDiagram
from pymatgen.core import Composition, Element
from pymatgen.entries.computed_entries import ComputedEntry

from interphases.analysis.entries import EntriesError

__all__ = [
    "WORKING_ION_CHARGES",
    "ProfileStep",
    "StabilityWindow",
    "WindowLimit",
    "chempot_from_voltage",
    "couple_label",
    "ion_charge",
    "phase_diagram",
    "plot_uptake_profile",
    "stability_window",
    "voltage_from_chempot",
]

#: charge z of the working ion M^z+
WORKING_ION_CHARGES: dict[str, int] = {"Li": 1, "Na": 1, "K": 1, "Mg": 2, "Ca": 2, "Zn": 2, "Al": 3}

#: energy margin (eV/atom) below the hull for the hull-shifted convention
HULL_SHIFT_MARGIN = 1e-6
_EVOLUTION_TOL = 1e-6
_STABLE_TOL = 1e-8


def ion_charge(ion: str, charge: int | None = None) -> int:
    """Charge z of working ion ``ion`` (given ``charge`` wins; unknown ion without one: error)."""
    if charge is not None:
        if int(charge) < 1:
            raise EntriesError(f"ion charge must be a positive integer, got {charge}")
        return int(charge)
    if ion not in WORKING_ION_CHARGES:
        raise EntriesError(
            f"no default charge for working ion {ion!r}: give it (--charge), known: {', '.join(WORKING_ION_CHARGES)}"
        )
    return WORKING_ION_CHARGES[ion]


def couple_label(ion: str, charge: int) -> str:
    """Reference couple of the voltage scale, e.g. ``Li/Li+``, ``Mg/Mg2+``."""
    return f"{ion}/{ion}{'' if charge == 1 else charge}+"


def voltage_from_chempot(mu: float, mu_ref: float, charge: int) -> float:
    """V vs M/M^z+ = -(mu - mu_ref)/z, with mu, mu_ref in eV per atom of M."""
    return -(mu - mu_ref) / charge


def chempot_from_voltage(voltage: float, mu_ref: float, charge: int) -> float:
    """mu_M = mu_M^0 - z V (eV per atom of M)."""
    return mu_ref - charge * voltage


def phase_diagram(entries: Sequence[ComputedEntry] | PhaseDiagram) -> PhaseDiagram:
    """A pymatgen ``PhaseDiagram`` (passed through if already one)."""
    if isinstance(entries, PhaseDiagram):
        return entries
    try:
        return PhaseDiagram(list(entries))
    except ValueError as exc:
        raise EntriesError(f"cannot build a convex hull from these entries: {exc}") from exc


def _formula(entry: ComputedEntry) -> str:
    return entry.composition.reduced_formula


class ProfileStep(BaseModel):
    """One assemblage of the M-uptake profile (one field of the M-open hull)."""

    voltage_low: float = Field(
        description="Lower edge of the voltage range where this assemblage is stable, V vs M/M^z+."
    )
    voltage_high: float | None = Field(
        description="Upper edge, V vs M/M^z+ (None: no upper limit)."
    )
    chempot: float = Field(
        description="pymatgen's chempot of the step: mu_M at the M-rich edge, eV per atom of M (absolute)."
    )
    uptake: float = Field(
        description="M atoms taken up per formula unit of the phase (negative: extracted)."
    )
    phases: list[str] = Field(description="Reduced formulas of the assemblage.")
    entry_ids: list[str | None] = Field(default_factory=list)
    band_gaps: dict[str, float | None] = Field(
        default_factory=dict, description="Band gap (eV) from each entry's data, when present."
    )
    reaction: str = Field(description="Phase (+ M) -> assemblage, balanced per formula unit.")


class WindowLimit(BaseModel):
    """One end of the window: where and how the phase decomposes."""

    voltage: float | None = Field(
        description="V vs M/M^z+; reduction: 0.0 if stable against M metal; oxidation: None = no limit."
    )
    products: list[str] = Field(
        default_factory=list, description="Assemblage formed beyond the limit."
    )
    reaction: str | None = None
    uptake: float = Field(
        0.0, description="M exchanged per formula unit in that reaction (>0 taken up)."
    )
    note: str | None = None


class StabilityWindow(BaseModel):
    """Electrochemical stability window of ``formula`` against ``working_ion`` metal."""

    formula: str
    working_ion: str
    ion_charge: int
    chemsys: str
    entry_id: str | None = Field(
        None, description="Lowest-energy entry of the formula (None: composition only)."
    )
    e_above_hull: float | None = Field(
        None, description="eV/atom; None when no entry of the formula exists."
    )
    convention: Literal["stable", "hull_shifted"]
    reduction: WindowLimit
    oxidation: WindowLimit
    decomposition_products: list[str] = Field(
        default_factory=list, description="Hull products at fixed composition (E_hull > 0)."
    )
    products_window: tuple[float, float | None] | None = Field(
        None,
        description="Voltage range where the fixed-composition products are in equilibrium (unstable phases).",
    )
    decomposition_energy_at_metal: float = Field(
        description="E_D at 0 V vs M (eV per atom of the phase); 0 if stable."
    )
    metal_contact: ProfileStep = Field(
        description="Assemblage in equilibrium with M metal on the real hull (mu_M = mu_M^0)."
    )
    mu_ref: float = Field(description="mu_M^0: energy per atom of the M reference, eV.")
    profile: list[ProfileStep]
    notes: list[str] = Field(default_factory=list)

    @property
    def width(self) -> float | None:
        """V_ox - V_red in V (None if unbounded)."""
        if self.oxidation.voltage is None or self.reduction.voltage is None:
            return None
        return self.oxidation.voltage - self.reduction.voltage

    @property
    def is_stable(self) -> bool:
        return self.convention == "stable"

    @property
    def stable_against_metal(self) -> bool:
        return self.reduction.voltage == 0.0 and not self.reduction.products

    def summary(self) -> str:
        ox = "inf" if self.oxidation.voltage is None else f"{self.oxidation.voltage:.3f}"
        return f"{self.formula} vs {self.working_ion}: {self.reduction.voltage:.3f}-{ox} V"


def _lowest_entry(pd: PhaseDiagram, comp: Composition) -> ComputedEntry | None:
    reduced = comp.reduced_composition
    matches = [e for e in pd.all_entries if e.composition.reduced_composition == reduced]
    return min(matches, key=lambda e: e.energy_per_atom) if matches else None


def _steps(profile: list[dict[str, Any]], mu_ref: float, z: int) -> list[ProfileStep]:
    steps = []
    for i, step in enumerate(profile):
        v_low = voltage_from_chempot(step["chempot"], mu_ref, z)
        v_high = (
            voltage_from_chempot(profile[i + 1]["chempot"], mu_ref, z)
            if i + 1 < len(profile)
            else None
        )
        entries = list(step["entries"])
        steps.append(
            ProfileStep(
                voltage_low=0.0 if i == 0 else v_low,  # c_0 is mu_M^0 up to round-off
                voltage_high=v_high,
                chempot=float(step["chempot"]),
                uptake=float(step["evolution"]),
                phases=[_formula(e) for e in entries],
                entry_ids=[e.entry_id if isinstance(e.entry_id, str) else None for e in entries],
                band_gaps={_formula(e): e.data.get("band_gap") for e in entries},
                reaction=str(step["reaction"]),
            )
        )
    return steps


def _zero_uptake_index(steps: list[ProfileStep]) -> int | None:
    for i, step in enumerate(steps):
        if abs(step.uptake) < _EVOLUTION_TOL:
            return i
    return None


def _products_window(steps: list[ProfileStep]) -> tuple[float, float | None] | None:
    """Voltage range where the fixed-composition assemblage is in equilibrium (unshifted hull)."""
    k = _zero_uptake_index(steps)
    if k is not None:
        return (steps[k].voltage_low, steps[k].voltage_high)
    for j in range(len(steps) - 1):
        if steps[j].uptake > 0 > steps[j + 1].uptake:
            v = steps[j + 1].voltage_low  # inside one facet: a single mu_M
            return (v, v)
    return None


def stability_window(
    entries: Sequence[ComputedEntry] | PhaseDiagram,
    formula: str,
    working_ion: str = "Li",
    *,
    charge: int | None = None,
) -> StabilityWindow:
    """Window of ``formula`` against ``working_ion`` metal from ``entries`` (one consistent hull).

    ``entries`` must cover the chemical system of the phase plus M, elements included; an
    ion-free phase (Al2O3 against Li) needs the Li-Al-O system. See the module docstring
    for the construction and the convention for unstable phases.
    """
    z = ion_charge(working_ion, charge)
    pd = phase_diagram(entries)
    try:
        comp = Composition(formula).reduced_composition
        ion = Element(working_ion)
    except Exception as exc:
        raise EntriesError(f"cannot read formula {formula!r} or ion {working_ion!r}") from exc
    missing = sorted({el.symbol for el in comp.elements} - {el.symbol for el in pd.elements})
    if ion not in pd.elements:
        missing.append(working_ion)
    if missing:
        raise EntriesError(
            f"the entries lack {', '.join(missing)}: load the {'-'.join(sorted({*map(str, comp.elements), working_ion}))} system"
        )
    if comp.is_element:
        raise EntriesError(f"{formula} is an element: a window needs a compound")

    mu_ref = pd.el_refs[ion].energy_per_atom
    entry = _lowest_entry(pd, comp)
    no_entry_msg = (
        f"the entries have no {comp.reduced_formula}{{why}}: add a file with its entry (several --entries files "
        "are merged) or compute one (interphases.analysis.entries.entries_from_results)"
    )
    if entry is None and not any(
        not e.composition.is_element for e in pd.stable_entries
    ):
        raise EntriesError(no_entry_msg.format(why=f" and no compound of {'-'.join(sorted(el.symbol for el in pd.elements))}"))
    e_hull = float(pd.get_e_above_hull(entry)) if entry is not None else None
    notes: list[str] = []
    decomposition: list[str] = []
    products_window = None

    if e_hull is not None and e_hull <= _STABLE_TOL:
        convention: Literal["stable", "hull_shifted"] = "stable"
        work_pd = pd
        phase_energy = entry.energy_per_atom * comp.num_atoms  # type: ignore[union-attr]
    else:
        convention = "hull_shifted"
        hull_e = pd.get_hull_energy_per_atom(comp)
        virtual = ComputedEntry(
            comp,
            (hull_e - HULL_SHIFT_MARGIN) * comp.num_atoms,
            entry_id=f"hull-shifted:{comp.reduced_formula}",
        )
        work_pd = PhaseDiagram([*pd.stable_entries, virtual])
        decomposition = sorted({_formula(e) for e in pd.get_decomposition(comp)})
        phase_energy = (
            (entry.energy_per_atom * comp.num_atoms)
            if entry is not None
            else hull_e * comp.num_atoms
        )
        if entry is None:
            notes.append(
                f"no entry for {comp.reduced_formula}: window of the composition placed on the hull"
            )
        else:
            notes.append(
                f"{comp.reduced_formula} is {1000 * e_hull:.0f} meV/atom above the hull (decomposes to {' + '.join(decomposition)}); "
                "window computed with its energy lowered onto the hull (Zhu, He, Mo 2015; Richards et al. 2016)"
            )

    real_steps = _steps(pd.get_element_profile(ion, comp), mu_ref, z)
    steps = (
        real_steps
        if convention == "stable"
        else _steps(work_pd.get_element_profile(ion, comp), mu_ref, z)
    )
    if convention == "hull_shifted":
        products_window = _products_window(real_steps)
    k = _zero_uptake_index(steps)
    if k is None:  # pragma: no cover - a phase on the hull is always a critical composition
        raise EntriesError(
            f"{comp.reduced_formula} not found on its own M-uptake profile; check the entries"
        )

    if k == 0:
        reduction = WindowLimit(voltage=0.0, note=f"stable against {working_ion} metal")
    else:
        prev = steps[k - 1]
        reduction = WindowLimit(
            voltage=steps[k].voltage_low,
            products=prev.phases,
            reaction=prev.reaction,
            uptake=prev.uptake,
        )
    if k == len(steps) - 1:
        oxidation = WindowLimit(
            voltage=None,
            note=f"no {working_ion} to extract: no oxidation limit in the {working_ion}-open system",
        )
    else:
        nxt = steps[k + 1]
        oxidation = WindowLimit(
            voltage=steps[k].voltage_high,
            products=nxt.phases,
            reaction=nxt.reaction,
            uptake=nxt.uptake,
        )

    if (
        reduction.voltage is not None
        and oxidation.voltage is not None
        and oxidation.voltage - reduction.voltage < 1e-3
    ):
        notes.append(
            f"zero-width window: {comp.reduced_formula} sits inside one field of the {working_ion}-open hull, "
            "in equilibrium at a single voltage only"
        )

    # E_D at the metal (V = 0, mu = mu_ref): products = most M-rich assemblage of the real hull
    n0 = real_steps[0].uptake
    if n0 < 0 and -n0 > comp[ion] + 1e-8:
        # the composition alone cannot reach the metal side: only possible without its own entry
        raise EntriesError(no_entry_msg.format(why=" and its composition is not bounded by the hull's phases"))
    e_d = (
        pd.get_hull_energy(comp + Composition({ion: n0})) - phase_energy - n0 * mu_ref
    ) / comp.num_atoms
    if convention == "stable" and k == 0:
        e_d = 0.0  # on the hull and in equilibrium with M: no driving force (not round-off)

    return StabilityWindow(
        formula=comp.reduced_formula,
        working_ion=working_ion,
        ion_charge=z,
        chemsys="-".join(sorted(el.symbol for el in pd.elements)),
        entry_id=entry.entry_id if entry is not None and isinstance(entry.entry_id, str) else None,
        e_above_hull=e_hull,
        convention=convention,
        reduction=reduction,
        oxidation=oxidation,
        decomposition_products=decomposition,
        products_window=products_window,
        decomposition_energy_at_metal=float(min(e_d, 0.0)),
        metal_contact=real_steps[0],
        mu_ref=float(mu_ref),
        profile=steps,
        notes=notes,
    )


def plot_uptake_profile(
    window: StabilityWindow,
    path: str | Path | None = None,
    *,
    v_max: float | None = None,
    ax: Any = None,
) -> Any:
    """Voltage (V vs M/M^z+) against M uptake per formula unit, with the phases of each field.

    Each plateau is the two-phase-field boundary at V(c_i) where the uptake jumps from the
    assemblage i to i-1; the window of the phase is shaded. Returns the matplotlib figure
    (saved to ``path`` if given).
    """
    from matplotlib.figure import Figure  # object API: no pyplot state, no backend switch

    steps = window.profile
    edges = [s.voltage_low for s in steps] + [s.voltage_high for s in steps if s.voltage_high]
    top = v_max if v_max is not None else max(edges) + 0.5
    fig = ax.figure if ax is not None else Figure(figsize=(6.4, 4.6))
    ax = ax or fig.add_subplot(111)
    xs, ys = [], []
    for step in steps:  # vertical segment per assemblage; the joins between them are the plateaus
        hi = min(step.voltage_high if step.voltage_high is not None else top, top)
        xs += [step.uptake, step.uptake]
        ys += [step.voltage_low, hi]
        ax.annotate(
            " + ".join(step.phases),
            (step.uptake, 0.5 * (step.voltage_low + hi)),
            xytext=(4, 0),
            textcoords="offset points",
            fontsize=7,
            va="center",
        )
    ax.plot(xs, ys, "-", color="tab:blue", lw=1.8)
    v_ox = window.oxidation.voltage if window.oxidation.voltage is not None else top
    ax.axhspan(
        window.reduction.voltage or 0.0,
        v_ox,
        color="tab:green",
        alpha=0.12,
        label=f"{window.formula} window",
    )
    ax.set_xlabel(f"{window.working_ion} uptake per formula unit of {window.formula}")
    ax.set_ylabel(f"V vs {couple_label(window.working_ion, window.ion_charge)}")
    ax.set_ylim(0, top)
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(
        f"{window.formula}: {window.working_ion} uptake profile ({window.chemsys})", fontsize=9
    )
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=150)
    return fig
