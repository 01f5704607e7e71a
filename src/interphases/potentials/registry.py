"""Model registry: one call turns a model name, a checkpoint path or an ASE calculator
into a :class:`Model` that the evaluator, the batched optimisers and the ASE reference
paths all share.

Names understood (case-insensitive):

================================  =========================================================
``chgnet`` (default)              CHGNet 0.3.0, weights ship in the ``chgnet`` wheel
``chgnet-0.3.0``, ``chgnet-0.2.0``, ``chgnet-r2scan``   the other CHGNet checkpoints of the wheel
``sevennet``, ``7net-0``          SevenNet-0 (11Jul2024), weights ship in the ``sevenn`` wheel
``7net-l3i5``, ``7net-0_22may2024``, ``7net-mf-0``      the other wheel checkpoints
                                  (``7net-mf-0`` uses its ``PBE`` fidelity unless
                                  ``modal=...`` is given)
atomate2 ``MLFF`` names           ``CHGNet`` and ``SevenNet`` map to the rows above; the
                                  others (MACE, M3GNet, MatPES, ...) need a download and
                                  raise :class:`ModelUnavailableError` unless a local
                                  ``checkpoint`` is given and their package is installed
``emt``                           ASE's effective-medium theory (Al, Cu, Ag, Au, Ni, Pd, Pt,
                                  H, C, N, O): tests and examples
``lj``                            ASE's Lennard-Jones (``sigma``, ``epsilon``, ``rc`` as
                                  keyword arguments): tests
an ASE ``Calculator`` instance    used as is (ASE reference paths get deep copies)
================================  =========================================================

Models that would need a download (``mace``, ``matgl``/``m3gnet``, ``orb``,
``mattersim``, ``7net-omat``, ...) fail at once with a message naming the model and
saying it needs network access or a local checkpoint path: no download is ever started,
so nothing hangs offline. Loaded models are cached per process (same name, checkpoint,
device and options -> the same :class:`Model`), so jobs and NEB images never reload
weights.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.metadata
import importlib.util
import io
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interphases.errors import ModelUnavailableError, UnsupportedElementsError

if TYPE_CHECKING:
    from ase.calculators.calculator import Calculator
    from pymatgen.core import Structure

    from interphases.potentials.evaluate import Evaluator

__all__ = [
    "Model",
    "available_models",
    "clear_model_cache",
    "load_model",
    "resolve_device",
]

#: CHGNet checkpoints shipped inside the chgnet wheel (name -> CHGNet.load model_name)
_CHGNET_NAMES = {
    "chgnet": "0.3.0",
    "chgnet-0.3.0": "0.3.0",
    "chgnet-0.2.0": "0.2.0",
    "chgnet-r2scan": "r2scan",
}

#: SevenNet names -> canonical sevenn pretrained name
_SEVENN_NAMES = {
    "sevennet": "7net-0",
    "sevenn": "7net-0",
    "sevennet-0": "7net-0",
    "7net-0": "7net-0",
    "7net-0_11jul2024": "7net-0",
    "7net-0_22may2024": "7net-0_22may2024",
    "7net-l3i5": "7net-l3i5",
    "sevennet-l3i5": "7net-l3i5",
    "7net-mf-0": "7net-mf-0",
    "sevennet-mf-0": "7net-mf-0",
    "7net-mf-ompa": "7net-mf-ompa",
    "7net-omat": "7net-omat",
    "7net-omni": "7net-omni",
    "7net-omni-i8": "7net-omni-i8",
    "7net-omni-i12": "7net-omni-i12",
}

#: models (and atomate2 MLFF names) whose weights are always downloaded: package to install
_DOWNLOAD_ONLY = {
    "mace": "mace-torch",
    "mace-mp-0": "mace-torch",
    "mace-mpa-0": "mace-torch",
    "mace-mp-0b3": "mace-torch",
    "mace-omat": "mace-torch",
    "m3gnet": "matgl",
    "matgl": "matgl",
    "matpes-pbe": "matgl",
    "matpes-r2scan": "matgl",
    "tensornet": "matgl",
    "orb": "orb-models",
    "orb-v3": "orb-models",
    "mattersim": "mattersim",
    "pet-mad": "pet-mad",
    "upet": "upet",
    "fairchem": "fairchem-core",
    "uma": "fairchem-core",
    "eqv2": "fairchem-core",
    "gap": "quippy-ase",
    "nep": "calorine",
    "nequip": "nequip",
    "allegro": "nequip-allegro",
    "deepmd": "deepmd-kit",
    "grace": "tensorpotential",
}

#: pip package -> import name, for the download-only families above
_IMPORT_NAMES = {
    "mace-torch": "mace",
    "orb-models": "orb_models",
    "fairchem-core": "fairchem",
    "quippy-ase": "quippy",
    "nequip-allegro": "allegro",
    "deepmd-kit": "deepmd",
    "pet-mad": "pet_mad",
}

_EMT_ELEMENTS = frozenset({"Ag", "Al", "Au", "C", "Cu", "H", "N", "Ni", "O", "Pd", "Pt"})

_CACHE: dict[tuple, Model] = {}


@dataclass(eq=False)
class Model:
    """A loaded interatomic potential, shared by everything that evaluates it.

    Attributes:
        name: canonical model name written into results (``"chgnet-0.3.0"``, ``"7net-0"``,
            ``"emt"``, ``"lj"``, ``"ase:EMT"``).
        family: code family (``"chgnet"``, ``"sevenn"``, ``"emt"``, ``"lj"``, ``"ase"``),
            the ``code`` of every result document.
        version: version of the weights / parametrisation (``"0.3.0"``).
        package: Python package providing it, ``package_version`` its installed version.
        elements: chemical symbols the model covers, ``None`` if unknown (any ASE calculator).
        device: ``"cpu"`` or ``"cuda"`` (``"cpu"`` for pure-Python ASE calculators).
        isolated_atom_cutoff: Å; a site without a neighbour that close cannot be described
            (CHGNet's 5 Å graph cutoff), ``None`` if the model has no such limit.
        torch_model: the underlying ``torch.nn.Module`` (CHGNet, SevenNet) or ``None``.
        options: extra model options (e.g. SevenNet ``modal``, LJ ``sigma``).
    """

    name: str
    family: str
    version: str | None
    package: str | None
    package_version: str | None
    elements: frozenset[str] | None
    device: str
    calculator_factory: Callable[[], Calculator] = field(repr=False)
    torch_model: Any = field(default=None, repr=False)
    isolated_atom_cutoff: float | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def calculator(self) -> Calculator:
        """A fresh ASE calculator on this model (weights shared, no reload).

        Used by the ASE reference paths (one calculator per NEB image, as atomate2 does)
        and by anyone who wants to drive ASE directly.
        """
        return self.calculator_factory()

    def evaluator(self, *, batch_size: int | None = None, num_threads: int | None = None) -> Evaluator:
        """The fast evaluator of this model (see :mod:`interphases.potentials.evaluate`)."""
        from interphases.potentials.evaluate import make_evaluator

        return make_evaluator(self, batch_size=batch_size, num_threads=num_threads)

    def fast_calculator(self, *, num_threads: int | None = None, compute_stress: bool = False) -> Calculator:
        """An ASE calculator on the fast evaluator: energy + forces, and the stress when ASE
        asks for it (or always with ``compute_stress=True``, for ASE cell filters)."""
        from interphases.potentials.evaluate import EvaluatorCalculator

        return EvaluatorCalculator(self.evaluator(num_threads=num_threads), compute_stress=compute_stress)

    def provenance(self) -> dict[str, Any]:
        """Model name, family, version and package version for result documents."""
        return {
            "model": self.name,
            "code": self.family,
            "code_version": self.version,
            "package": self.package,
            "package_version": self.package_version,
        }

    def unsupported_elements(self, symbols: Iterable[str]) -> list[str]:
        """Symbols among ``symbols`` the model does not cover (empty if all are covered)."""
        if self.elements is None:
            return []
        return sorted(set(symbols) - self.elements)

    def check_elements(self, structures: Iterable[Structure], labels: Iterable[str] | None = None) -> None:
        """Raise :class:`UnsupportedElementsError` if any structure has an uncovered element."""
        labels = list(labels) if labels is not None else None
        for i, structure in enumerate(structures):
            symbols = {el.symbol for el in structure.composition.elements}
            missing = self.unsupported_elements(symbols)
            if missing:
                where = (labels[i] if labels else None) or f"structure {i} ({structure.composition.reduced_formula})"
                raise UnsupportedElementsError(
                    f"model {self.name!r} does not cover {', '.join(missing)} in {where}: "
                    f"choose a model that covers them (e.g. 'chgnet')"
                )


def resolve_device(device: str | None) -> str:
    """``None``/``"auto"`` -> ``"cuda"`` when a GPU is visible, else ``"cpu"``."""
    if device in (None, "auto"):
        try:
            import torch

            return "cuda" if torch.cuda.is_available() else "cpu"
        except ImportError:  # pragma: no cover - torch is a dependency
            return "cpu"
    device = str(device).lower()
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ModelUnavailableError(f"device {device!r} asked for but no CUDA GPU is visible: use device='cpu'")
    elif device not in {"cpu", "mps"}:
        raise ModelUnavailableError(f"unknown device {device!r}: use 'cpu', 'cuda' or None (auto)")
    return device


def _package_version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def available_models() -> dict[str, str]:
    """Names that load offline on this installation, with a one-line description."""
    out: dict[str, str] = {}
    if importlib.util.find_spec("chgnet") is not None:
        chgnet_dir = Path(importlib.util.find_spec("chgnet").origin).parent / "pretrained"
        for name, tag in _CHGNET_NAMES.items():
            if name != "chgnet" and any((chgnet_dir / tag).glob("*.pth.tar")):
                out[name] = f"CHGNet {tag} (weights in the chgnet wheel)"
        if "chgnet-0.3.0" in out:
            out["chgnet"] = "CHGNet 0.3.0 (default)"
    if importlib.util.find_spec("sevenn") is not None:
        for canonical in sorted(set(_SEVENN_NAMES.values())):
            if _sevenn_checkpoint_path(canonical, must_exist=False)[1]:
                out[canonical] = "SevenNet (weights in the sevenn wheel)"
    out["emt"] = "ASE effective-medium theory (Ag Al Au C Cu H N Ni O Pd Pt), for tests"
    out["lj"] = "ASE Lennard-Jones (sigma, epsilon, rc keyword arguments), for tests"
    return out


def clear_model_cache() -> None:
    """Forget every loaded model (tests; frees memory)."""
    _CACHE.clear()


def load_model(
    name_or_calc: str | Calculator | Model = "chgnet",
    *,
    checkpoint: str | os.PathLike | None = None,
    device: str | None = None,
    **options: Any,
) -> Model:
    """Load a model once per process and return the shared :class:`Model`.

    Args:
        name_or_calc: a model name (see the module docstring), a path to a checkpoint
            file, an ASE ``Calculator`` instance or an already loaded :class:`Model`.
        checkpoint: local checkpoint file for the named family (CHGNet ``.pth.tar``,
            SevenNet ``.pth``, or a MACE/matgl model when that package is installed).
        device: ``"cpu"``, ``"cuda"`` or ``None`` (GPU when visible).
        **options: model options: SevenNet ``modal``; LJ ``sigma``, ``epsilon``, ``rc``,
            ``smooth``; CHGNet ``on_isolated_atoms``.

    Raises:
        ModelUnavailableError: unknown name, a model that would need a download, a
            checkpoint path that does not exist, a package that is not installed.
    """
    if isinstance(name_or_calc, Model):
        return name_or_calc
    if not isinstance(name_or_calc, str | os.PathLike):
        key = ("ase-instance", id(name_or_calc))
        cached = _CACHE.get(key)
        if cached is None or cached.options.get("calculator_instance") is not name_or_calc:
            cached = _CACHE[key] = _wrap_calculator(name_or_calc)
        return cached

    raw = str(name_or_calc).strip()
    key_name = raw.lower().removeprefix("mlff.")
    if checkpoint is None and (os.sep in raw or raw.endswith((".pth", ".tar", ".pt", ".model"))):
        # a bare path: the family is read from the file
        checkpoint, key_name = raw, _family_of_checkpoint(raw)
    checkpoint_path = None
    if checkpoint is not None:
        checkpoint_path = Path(checkpoint).expanduser().resolve()
        if not checkpoint_path.is_file():
            raise ModelUnavailableError(
                f"checkpoint {str(checkpoint)!r} for model {raw!r} not found: give the path of a local checkpoint file"
            )
    if key_name in _CHGNET_NAMES:
        key_name = f"chgnet-{_CHGNET_NAMES[key_name]}"
    elif key_name in _SEVENN_NAMES:
        key_name = _SEVENN_NAMES[key_name]
    elif key_name in {"lennardjones", "lennard-jones"}:
        key_name = "lj"
    device_key = "cpu" if key_name in {"emt", "lj"} else resolve_device(device)
    cache_key = (key_name, str(checkpoint_path) if checkpoint_path else None, device_key, tuple(sorted(options.items())))
    if cache_key in _CACHE:
        return _CACHE[cache_key]

    if key_name in _CHGNET_NAMES or (checkpoint_path is not None and key_name.startswith("chgnet")):
        model = _load_chgnet(_CHGNET_NAMES.get(key_name, "0.3.0"), checkpoint_path, device_key, options)
    elif key_name in _SEVENN_NAMES or (checkpoint_path is not None and key_name.startswith(("7net", "sevenn"))):
        model = _load_sevenn(_SEVENN_NAMES.get(key_name, "7net-0"), checkpoint_path, device_key, options)
    elif key_name == "emt":
        model = _load_emt()
    elif key_name == "lj":
        model = _load_lj(options)
    elif key_name in _DOWNLOAD_ONLY:
        model = _load_via_atomate2(raw, key_name, checkpoint_path, device_key, options)
    else:
        known = ", ".join(sorted(available_models()))
        raise ModelUnavailableError(
            f"unknown model {raw!r}: use one of {known}, a local checkpoint path, or an ASE calculator instance"
        )
    _CACHE[cache_key] = model
    return model


# --------------------------------------------------------------------------- families


def _load_chgnet(tag: str, checkpoint: Path | None, device: str, options: dict[str, Any]) -> Model:
    if importlib.util.find_spec("chgnet") is None:
        raise ModelUnavailableError("model 'chgnet' needs the chgnet package: pip install chgnet")
    from chgnet.model.dynamics import CHGNetCalculator
    from chgnet.model.model import CHGNet

    if checkpoint is not None:
        with contextlib.redirect_stdout(io.StringIO()):
            torch_model = CHGNet.from_file(str(checkpoint))
        version = torch_model.version or checkpoint.name
        name = f"chgnet:{checkpoint.name}"
    else:
        chgnet_dir = Path(importlib.util.find_spec("chgnet").origin).parent / "pretrained" / tag
        if not any(chgnet_dir.glob("*.pth.tar")):
            raise ModelUnavailableError(
                f"model 'chgnet-{tag}' is not in the installed chgnet wheel and would need network: "
                "give a local checkpoint path (checkpoint=...)"
            )
        with contextlib.redirect_stdout(io.StringIO()):  # CHGNet prints its parameter count
            torch_model = CHGNet.load(model_name=tag, use_device="cpu", verbose=False)
        version = tag
        name = f"chgnet-{tag}"
    torch_model = torch_model.to(device)
    torch_model.eval()
    on_isolated = options.get("on_isolated_atoms", "error")
    torch_model.graph_converter.set_isolated_atom_response(on_isolated)
    n_elements = torch_model.atom_embedding.embedding.num_embeddings  # Z = 1 .. n_elements

    def factory() -> Calculator:
        # the calculator prints its device on construction; keep logs clean
        with contextlib.redirect_stdout(io.StringIO()):
            calc = CHGNetCalculator(model=torch_model, use_device=device, on_isolated_atoms="warn")
        torch_model.graph_converter.set_isolated_atom_response(on_isolated)
        return calc

    return Model(
        name=name,
        family="chgnet",
        version=version,
        package="chgnet",
        package_version=_package_version("chgnet"),
        elements=_symbols_of_numbers(range(1, n_elements + 1)),
        device=device,
        calculator_factory=factory,
        torch_model=torch_model,
        isolated_atom_cutoff=float(torch_model.graph_converter.atom_graph_cutoff),
        options=dict(options),
    )


def _sevenn_checkpoint_path(canonical: str, must_exist: bool = True) -> tuple[str, bool]:
    """Path of a SevenNet pretrained checkpoint, without ever triggering sevenn's download."""
    import sevenn._const as sc

    attr = {
        "7net-0": "SEVENNET_0_11Jul2024",
        "7net-0_22may2024": "SEVENNET_0_22May2024",
        "7net-l3i5": "SEVENNET_l3i5",
        "7net-mf-0": "SEVENNET_MF_0",
        "7net-mf-ompa": "SEVENNET_MF_ompa",
        "7net-omat": "SEVENNET_omat",
        "7net-omni": "SEVENNET_omni",
        "7net-omni-i8": "SEVENNET_omni_i8",
        "7net-omni-i12": "SEVENNET_omni_i12",
    }[canonical]
    path = getattr(sc, attr, None)
    if path is None:
        return "", False
    for candidate in (path, path.replace(sc._prefix, os.path.expanduser("~/.cache/sevennet"))):
        if os.path.isfile(candidate):
            return candidate, True
    if must_exist:
        raise ModelUnavailableError(
            f"model {canonical!r} is not in the installed sevenn wheel and would need network to download: "
            "give a local checkpoint path (checkpoint=...) or use '7net-0'"
        )
    return path, False


def _load_sevenn(canonical: str, checkpoint: Path | None, device: str, options: dict[str, Any]) -> Model:
    if importlib.util.find_spec("sevenn") is None:
        raise ModelUnavailableError("SevenNet models need the sevenn package: pip install sevenn")
    import warnings

    import sevenn._keys as KEY
    from sevenn.calculator import SevenNetCalculator
    from sevenn.util import load_checkpoint

    path = str(checkpoint) if checkpoint is not None else _sevenn_checkpoint_path(canonical)[0]
    cp = load_checkpoint(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch_model = cp.build_model()
    torch_model.set_is_batch_data(False)
    config = cp.config
    modal = options.get("modal")
    modal_map = config.get("_modal_map") or {}
    if modal_map and modal is None:
        modal = "PBE" if "PBE" in modal_map else next(iter(modal_map))
    type_map = config[KEY.TYPE_MAP]

    def factory() -> Calculator:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return SevenNetCalculator(model=torch_model, file_type="model_instance", device=device, modal=modal)

    name = canonical if checkpoint is None else f"sevenn:{checkpoint.name}"
    # weights version: the release folder of the wheel's checkpoint (e.g. SevenNet_0__11Jul2024)
    version = Path(path).parent.name if checkpoint is None else str(config.get("version") or checkpoint.name)
    opts = dict(options)
    if modal is not None:
        opts["modal"] = modal
    return Model(
        name=name,
        family="sevenn",
        version=version,
        package="sevenn",
        package_version=_package_version("sevenn"),
        elements=_symbols_of_numbers(type_map),
        device=device,
        calculator_factory=factory,
        torch_model=torch_model,
        isolated_atom_cutoff=None,
        options=opts,
    )


def _load_emt() -> Model:
    from ase.calculators.emt import EMT

    return Model(
        name="emt",
        family="emt",
        version=None,
        package="ase",
        package_version=_package_version("ase"),
        elements=_EMT_ELEMENTS,
        device="cpu",
        calculator_factory=EMT,
    )


def _load_lj(options: dict[str, Any]) -> Model:
    from ase.calculators.lj import LennardJones

    allowed = {"sigma", "epsilon", "rc", "ro", "smooth"}
    unknown = set(options) - allowed
    if unknown:
        raise ModelUnavailableError(f"unknown Lennard-Jones option(s) {sorted(unknown)}: use {sorted(allowed)}")
    return Model(
        name="lj",
        family="lj",
        version=None,
        package="ase",
        package_version=_package_version("ase"),
        elements=None,
        device="cpu",
        calculator_factory=lambda: LennardJones(**options),
        options=dict(options),
    )


def _wrap_calculator(calc: Any) -> Model:
    from ase.calculators.calculator import BaseCalculator

    if not isinstance(calc, BaseCalculator):
        raise ModelUnavailableError(
            f"cannot use {type(calc).__name__!r} as a model: give a model name, a checkpoint path or an ASE calculator"
        )
    cls = type(calc)
    package = cls.__module__.split(".")[0]
    elements = None
    if cls.__name__ == "EMT":
        elements = _EMT_ELEMENTS

    def factory() -> Calculator:
        return copy.deepcopy(calc)

    return Model(
        name=f"ase:{cls.__name__}",
        family="ase",
        version=None,
        package=package,
        package_version=_package_version(package),
        elements=elements,
        device="cpu",
        calculator_factory=factory,
        torch_model=None,
        options={"calculator_instance": calc},
    )


def _load_via_atomate2(
    raw: str, key_name: str, checkpoint: Path | None, device: str, options: dict[str, Any]
) -> Model:
    """Models that atomate2 can build but whose weights must be downloaded."""
    package = _DOWNLOAD_ONLY[key_name]
    if checkpoint is None:
        raise ModelUnavailableError(
            f"model {raw!r} is not available offline: its weights are downloaded on first use, which needs "
            f"network; give a local checkpoint path (checkpoint=...) with the {package} package installed, "
            "or use 'chgnet' / '7net-0' whose weights ship with their wheels"
        )
    module = _IMPORT_NAMES.get(package, package.replace("-", "_"))
    if importlib.util.find_spec(module) is None:
        raise ModelUnavailableError(f"model {raw!r} needs the {package} package: pip install {package}")
    from atomate2.forcefields.utils import ase_calculator

    path_kwarg = {"mace-torch": "model", "matgl": "path", "calorine": "model_filename"}.get(package)
    if path_kwarg is None:
        raise ModelUnavailableError(
            f"loading {raw!r} from a checkpoint is not wired here: build its ASE calculator and pass the instance"
        )
    mlff = {"mace": "MACE", "m3gnet": "M3GNet", "matgl": "M3GNet", "nep": "NEP"}.get(key_name, raw)
    kwargs = {path_kwarg: str(checkpoint), **options}
    if package == "mace-torch":
        kwargs["device"] = device

    def factory() -> Calculator:
        return ase_calculator(mlff, **kwargs)

    factory()  # fail now, not in the middle of a workflow
    return Model(
        name=f"{key_name}:{checkpoint.name}",
        family=key_name.split("-")[0],
        version=None,
        package=package,
        package_version=_package_version(package),
        elements=None,
        device=device,
        calculator_factory=factory,
        options=dict(options),
    )


def _family_of_checkpoint(path: str) -> str:
    """Guess the family of a bare checkpoint path from the file's content."""
    if not os.path.isfile(path):
        raise ModelUnavailableError(f"checkpoint {path!r} not found: give the path of a local checkpoint file")
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's input error
        raise ModelUnavailableError(f"cannot read checkpoint {path!r} ({exc}): give a CHGNet or SevenNet checkpoint") from exc
    if isinstance(state, dict) and isinstance(state.get("model"), dict) and "model_args" in state["model"]:
        return "chgnet"
    if isinstance(state, dict) and "config" in state and "model_state_dict" in state:
        return "sevennet"
    raise ModelUnavailableError(
        f"cannot tell which model family {path!r} belongs to: pass name='chgnet' or 'sevennet' with checkpoint=..."
    )


def _symbols_of_numbers(numbers: Iterable[int]) -> frozenset[str]:
    from ase.data import chemical_symbols

    return frozenset(chemical_symbols[int(z)] for z in numbers if 0 < int(z) < len(chemical_symbols))
