"""Interface energetics: surface energy, work of adhesion, interface formation energy,
interfacial energy and elastic (strain) energy, from total energies.

Pure functions of energies, atom counts and areas (no engine calls), used by the Makers
of :mod:`interphases.workflows.energetics` and by their tests. Notation (A = substrate,
e.g. the Li electrode; B = film, e.g. the LiF SEI phase; S = interface area):

- **Surface energy** of a stoichiometric slab with N atoms and two surfaces of area S::

      gamma = (E_slab - N e_bulk) / 2S                                   (both sides relaxed)

  ``e_bulk`` is the bulk energy per atom. When the bottom layers are frozen (the usual
  slab set-up), only the top surface relaxes; with the unrelaxed slab energy
  ``E_unrelaxed`` the relaxed top surface has::

      gamma_top = (E_unrelaxed - N e_bulk) / 2S + (E_slab - E_unrelaxed) / S

  (unrelaxed surfaces of a symmetric slab are equal; the relaxation energy belongs to
  the top one). For an asymmetric slab (different top and bottom terminations) only the
  mean of the two surface energies is defined by one slab; it is what is returned and
  the result says so. A non-stoichiometric slab needs chemical potentials for the excess
  elements: ``gamma = (E_slab - n_fu e_fu - sum_j dn_j mu_j) / 2S`` with ``n_fu`` set by
  the elements without a given chemical potential.

- **Work of adhesion** (Finnis, J. Phys. Condens. Matter 8, 5811 (1996); Siegel, Hector &
  Adams, Phys. Rev. B 65, 085415 (2002)), the isolated slabs cut from the same strained
  cell as the interface so that the strain energy cancels::

      W_ad = (E_A,slab + E_B,slab - E_AB) / (n_if S)

  with ``n_if`` interfaces in the cell (1 for a slab with vacuum, 2 for a periodic
  sandwich). Positive W_ad: the two slabs stick together.

- **Interface formation energy** (Eq. 14), on the periodic sandwich (two interfaces),
  referenced to the stress-free bulks::

      E_f = E_AB - N_A e_A - N_B e_B                      (eV; E_f / 2S per interface area)

- **Interfacial energy** (Eq. 16), referenced to the bulks strained to the interface's
  in-plane lattice and relaxed along the normal only (``e_A^s``, ``e_B^s``)::

      sigma = (E_AB - N_A e_A^s - N_B e_B^s) / 2S

- **Elastic (strain) energy** (Eq. 17): what E_f holds beyond ``2S sigma``::

      E_el = E_f - 2S sigma = N_A (e_A^s - e_A) + N_B (e_B^s - e_B)       (eV)

  reported per volume of the sandwich cell (eV/Å^3) and per interface area.

- **Consistency** (Eq. 18): ``W_ad = gamma_A + gamma_B - sigma_AB``, with the surface
  energies of the interface-side terminations of the strained slabs.

These are the definitions of Lepley & Holzwarth, Phys. Rev. B 92, 214201 (2015)
("Modeling interfaces between solids: application to Li battery materials"), Eq. 14-18
of the review this project follows. Units: energies in eV, areas in Å^2, surface and
interface energies in eV/Å^2 internally; :data:`EV_PER_A2_TO_J_PER_M2` converts.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, Field
from pymatgen.core import Composition

from interphases.errors import InterphasesError

__all__ = [
    "EV_PER_A2_TO_J_PER_M2",
    "InterfaceEnergetics",
    "SurfaceEnergy",
    "interface_energetics",
    "j_per_m2",
    "slab_bulk_units",
    "surface_energy",
    "work_of_adhesion",
]

#: 1 eV/Å^2 in J/m^2 (1.602176634e-19 J / 1e-20 m^2)
EV_PER_A2_TO_J_PER_M2 = 16.02176634


def j_per_m2(value_ev_per_a2: float) -> float:
    """eV/Å^2 -> J/m^2."""
    return value_ev_per_a2 * EV_PER_A2_TO_J_PER_M2


class EnergeticsError(InterphasesError, ValueError):
    """Energies that cannot define the quantity (wrong composition, zero area, ...)."""


def slab_bulk_units(
    slab: Composition,
    bulk: Composition,
    chemical_potentials: Mapping[str, float] | None = None,
    tol: float = 1e-6,
) -> tuple[float, dict[str, float]]:
    """(number of bulk formula units, excess atoms per element given a chemical potential).

    Elements without a chemical potential must be in the bulk ratio in ``slab``; they set
    the number of formula units. Raises :class:`EnergeticsError` otherwise.
    """
    mus = dict(chemical_potentials or {})
    bulk_fu = bulk.reduced_composition
    fixed = [el for el in bulk_fu.elements if el.symbol not in mus]
    if not fixed:
        raise EnergeticsError("give chemical potentials for at most all but one element of the bulk")
    units = {slab[el] / bulk_fu[el] for el in fixed}
    n_fu = next(iter(units))
    if any(abs(u - n_fu) > tol for u in units):
        raise EnergeticsError(
            f"slab {slab.formula} is not stoichiometric in {', '.join(e.symbol for e in fixed)} with respect to "
            f"{bulk_fu.reduced_formula}: give chemical potentials of the excess elements"
        )
    extra = [el for el in slab.elements if el not in bulk_fu]
    if extra:
        raise EnergeticsError(f"slab contains {', '.join(e.symbol for e in extra)}, absent from the bulk")
    excess = {el: slab[el] - n_fu * bulk_fu[el] for el in mus}
    return n_fu, excess


class SurfaceEnergy(BaseModel):
    """One surface energy and what it was computed from."""

    value: float = Field(description="Surface energy, eV/Å^2.")
    value_j_per_m2: float = Field(description="Surface energy, J/m^2.")
    area: float = Field(description="Surface area S of the cell, Å^2.")
    n_atoms: int
    bulk_energy_per_atom: float = Field(description="e_bulk, eV/atom.")
    slab_energy: float = Field(description="E_slab (relaxed), eV.")
    unrelaxed_slab_energy: float | None = Field(None, description="E_slab before relaxation, eV.")
    unrelaxed_value: float | None = Field(None, description="gamma of the unrelaxed slab, eV/Å^2.")
    convention: str = Field(description="'both sides', 'top surface (bottom frozen)' or 'mean of top and bottom'.")
    chemical_potentials: dict[str, float] = Field(default_factory=dict)


def surface_energy(
    slab_energy: float,
    slab_composition: Composition | str,
    bulk_energy_per_atom: float,
    bulk_composition: Composition | str,
    area: float,
    *,
    unrelaxed_slab_energy: float | None = None,
    bottom_frozen: bool = False,
    symmetric: bool = True,
    chemical_potentials: Mapping[str, float] | None = None,
) -> SurfaceEnergy:
    """Surface energy of a slab (see the module docstring for the formulas).

    Args:
        slab_energy: total energy of the (relaxed) slab, eV.
        slab_composition, bulk_composition: compositions (the bulk's formula unit matters).
        bulk_energy_per_atom: e_bulk, eV/atom, same engine and settings.
        area: surface area of the cell, Å^2.
        unrelaxed_slab_energy: single point of the slab as cut (needed with ``bottom_frozen``).
        bottom_frozen: only the top surface relaxed (the bottom planes were frozen).
        symmetric: top and bottom terminations are equivalent.
        chemical_potentials: eV/atom, for the excess elements of a non-stoichiometric slab.
    """
    if area <= 0:
        raise EnergeticsError(f"surface area must be > 0, got {area}")
    slab_c, bulk_c = Composition(slab_composition), Composition(bulk_composition)
    n_fu, excess = slab_bulk_units(slab_c, bulk_c, chemical_potentials)
    atoms_per_fu = bulk_c.reduced_composition.num_atoms
    mus = dict(chemical_potentials or {})
    reference = n_fu * atoms_per_fu * bulk_energy_per_atom + sum(dn * mus[el.symbol] for el, dn in excess.items())

    unrelaxed_value = None
    if unrelaxed_slab_energy is not None:
        unrelaxed_value = (unrelaxed_slab_energy - reference) / (2 * area)
    if bottom_frozen and symmetric:
        if unrelaxed_slab_energy is None:
            raise EnergeticsError("a slab with frozen bottom layers needs its unrelaxed energy for the top-surface energy")
        value = unrelaxed_value + (slab_energy - unrelaxed_slab_energy) / area  # type: ignore[operator]
        convention = "top surface (bottom frozen)"
    else:
        value = (slab_energy - reference) / (2 * area)
        convention = "both sides" if symmetric else "mean of top and bottom"
    return SurfaceEnergy(
        value=value,
        value_j_per_m2=j_per_m2(value),
        area=area,
        n_atoms=int(round(slab_c.num_atoms)),
        bulk_energy_per_atom=bulk_energy_per_atom,
        slab_energy=slab_energy,
        unrelaxed_slab_energy=unrelaxed_slab_energy,
        unrelaxed_value=unrelaxed_value,
        convention=convention,
        chemical_potentials=mus,
    )


def work_of_adhesion(
    substrate_slab_energy: float,
    film_slab_energy: float,
    interface_energy: float,
    area: float,
    n_interfaces: int = 1,
) -> float:
    """W_ad = (E_A,slab + E_B,slab - E_AB) / (n_if S), eV/Å^2."""
    if area <= 0:
        raise EnergeticsError(f"interface area must be > 0, got {area}")
    if n_interfaces not in (1, 2):
        raise EnergeticsError(f"a cell holds 1 (slab) or 2 (sandwich) interfaces, got {n_interfaces}")
    return (substrate_slab_energy + film_slab_energy - interface_energy) / (n_interfaces * area)


class InterfaceEnergetics(BaseModel):
    """Eq. 14-18 for one interface (values in eV/Å^2 unless the name says otherwise)."""

    area: float = Field(description="Interface area S, Å^2.")
    n_atoms_substrate: int
    n_atoms_film: int
    sandwich_energy: float = Field(description="E_AB of the periodic sandwich (two interfaces), eV.")
    sandwich_volume: float = Field(description="Volume of the sandwich cell, Å^3.")
    substrate_bulk_energy_per_atom: float = Field(description="e_A, stress-free bulk, eV/atom.")
    film_bulk_energy_per_atom: float = Field(description="e_B, stress-free bulk, eV/atom.")
    substrate_strained_energy_per_atom: float = Field(description="e_A^s, strained in plane, relaxed along z, eV/atom.")
    film_strained_energy_per_atom: float = Field(description="e_B^s, strained in plane, relaxed along z, eV/atom.")
    formation_energy: float = Field(description="E_f = E_AB - N_A e_A - N_B e_B, eV (Eq. 14).")
    formation_energy_per_area: float = Field(description="E_f / 2S, eV/Å^2.")
    interfacial_energy: float = Field(description="sigma = (E_AB - N_A e_A^s - N_B e_B^s) / 2S, eV/Å^2 (Eq. 16).")
    elastic_energy: float = Field(description="E_el = E_f - 2S sigma, eV (Eq. 17).")
    elastic_energy_per_volume: float = Field(description="E_el / V_sandwich, eV/Å^3.")
    elastic_energy_per_area: float = Field(description="E_el / 2S, eV/Å^2.")
    work_of_adhesion: float | None = Field(None, description="Direct W_ad (slab model), eV/Å^2.")
    substrate_surface_energy: float | None = Field(None, description="gamma_A of the strained interface-side surface, eV/Å^2.")
    film_surface_energy: float | None = Field(None, description="gamma_B of the strained interface-side surface, eV/Å^2.")
    work_of_adhesion_eq18: float | None = Field(None, description="gamma_A + gamma_B - sigma, eV/Å^2 (Eq. 18).")
    eq18_difference: float | None = Field(None, description="work_of_adhesion_eq18 - work_of_adhesion, eV/Å^2.")

    def in_j_per_m2(self, name: str) -> float | None:
        value = getattr(self, name)
        return None if value is None else j_per_m2(value)


def interface_energetics(
    *,
    sandwich_energy: float,
    sandwich_volume: float,
    area: float,
    n_atoms_substrate: int,
    n_atoms_film: int,
    substrate_bulk: float,
    film_bulk: float,
    substrate_strained: float,
    film_strained: float,
    work_of_adhesion: float | None = None,
    substrate_surface_energy: float | None = None,
    film_surface_energy: float | None = None,
) -> InterfaceEnergetics:
    """Eq. 14-18 from the sandwich energy and the four bulk references (eV/atom).

    ``work_of_adhesion`` (direct, from the slab model) and the strained surface energies
    of the two interface-side terminations, when given, fill the Eq. 18 check.
    """
    if area <= 0 or sandwich_volume <= 0:
        raise EnergeticsError("interface area and cell volume must be > 0")
    two_s = 2 * area
    e_f = sandwich_energy - n_atoms_substrate * substrate_bulk - n_atoms_film * film_bulk
    sigma = (sandwich_energy - n_atoms_substrate * substrate_strained - n_atoms_film * film_strained) / two_s
    e_el = e_f - two_s * sigma
    w18 = diff = None
    if substrate_surface_energy is not None and film_surface_energy is not None:
        w18 = substrate_surface_energy + film_surface_energy - sigma
        if work_of_adhesion is not None:
            diff = w18 - work_of_adhesion
    return InterfaceEnergetics(
        area=area,
        n_atoms_substrate=n_atoms_substrate,
        n_atoms_film=n_atoms_film,
        sandwich_energy=sandwich_energy,
        sandwich_volume=sandwich_volume,
        substrate_bulk_energy_per_atom=substrate_bulk,
        film_bulk_energy_per_atom=film_bulk,
        substrate_strained_energy_per_atom=substrate_strained,
        film_strained_energy_per_atom=film_strained,
        formation_energy=e_f,
        formation_energy_per_area=e_f / two_s,
        interfacial_energy=sigma,
        elastic_energy=e_el,
        elastic_energy_per_volume=e_el / sandwich_volume,
        elastic_energy_per_area=e_el / two_s,
        work_of_adhesion=work_of_adhesion,
        substrate_surface_energy=substrate_surface_energy,
        film_surface_energy=film_surface_energy,
        work_of_adhesion_eq18=w18,
        eq18_difference=diff,
    )
