"""Every option checked once, where its configuration is built, with one-line errors.

A training configuration (:class:`~pyro_vae.training.TrainConfig`) is checked when it is
made, whether from command-line flags, from Python or from a run's saved ``config.json``;
evaluate and sample options are checked by :class:`EvaluateOptions` and
:class:`SampleOptions`. Each error names the option (as its command-line flag), the value and
what is allowed, e.g. ``--batch-size must be an integer >= 1, got 0``.

Model hyper-parameters (``--model-opt``) are checked against the model's signature by
:func:`check_hyperparameters`: the default of each keyword says what it takes.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .errors import OptionError
from .evaluation.settings import AIS_INITS, AIS_SCHEDULES, DEFAULT_MAX_ELEMENTS, AISSettings

SEED_MAX = 2**32 - 1
DEVICES = ("cpu", "cuda")
#: Picture formats ``sample --out`` writes (PIL through torchvision, or matplotlib).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
#: Options that may differ on ``--resume`` from the saved run; any other difference is refused.
RESUMABLE = ("epochs", "progress", "on_nan", "data_dir", "device", "logger", "capture", "log_every")
#: What ``--logger`` may name (``None``: per-epoch lines on stderr only).
LOGGERS = ("tensorboard", "mlflow")
#: What ``--capture`` may be (see :mod:`pyro_vae.training.capture`).
CAPTURE_MODES = ("auto", "on", "off")
#: Options that apply only to a user's data file (``--dataset PATH``).
FILE_OPTIONS = ("data_kind", "split", "label_column", "image_size", "standardize")

_FLAGS = {"model_options": "--model-opt", "loss_options": "--loss-opt", "progress": "--no-progress",
          "max_skipped_fraction": "max_skipped_fraction"}


def flag(field: str) -> str:
    """The command-line flag of a configuration field (``batch_size`` -> ``--batch-size``)."""
    return _FLAGS.get(field, "--" + field.replace("_", "-"))


# ---- single values -------------------------------------------------------------------------------
def check_int(name: str, value, minimum: int, maximum: Optional[int] = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise OptionError(f"{name} must be an integer, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        allowed = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise OptionError(f"{name} must be an integer {allowed}, got {value}")
    return value


def check_float(name: str, value, minimum: float = -math.inf, strict: bool = False,
                maximum: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise OptionError(f"{name} must be a number, got {value!r}")
    value = float(value)
    low_ok = value > minimum if strict else value >= minimum
    if not math.isfinite(value) or not low_ok or value > maximum:
        what = ("> " if strict else ">= ") + f"{minimum:g}" if minimum > -math.inf else "finite"
        if maximum < math.inf:
            what += f" and <= {maximum:g}"
        raise OptionError(f"{name} must be a number {what}, got {value}")
    return value


def check_choice(name: str, value, choices) -> str:
    if value not in choices:
        raise OptionError(f"{name} must be one of {', '.join(map(str, choices))}, got {value!r}")
    return value


def check_seed(name: str, value) -> int:
    return check_int(name, value, 0, SEED_MAX)


def check_device(name: str, value) -> str:
    """``cpu``, ``cuda`` or ``cuda:N``."""
    if not isinstance(value, str) or not (value in DEVICES or (value.startswith("cuda:") and value[5:].isdigit())):
        raise OptionError(f"{name} must be cpu, cuda or cuda:N, got {value!r}")
    return value


def resolve_device(name: str):
    """The ``torch.device`` for ``name``; an :class:`OptionError` when CUDA is asked for and absent."""
    import torch

    check_device("--device", name)
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise OptionError(f"--device {name} was asked for but torch sees no CUDA device: use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise OptionError(f"--device {name}: torch sees {torch.cuda.device_count()} CUDA device(s): "
                              f"use cuda:0..cuda:{torch.cuda.device_count() - 1}")
    return device


# ---- training ------------------------------------------------------------------------------------
def check_train_config(cfg) -> None:
    """Check every field of a :class:`~pyro_vae.training.TrainConfig` (called when it is made)."""
    from .training.schedule import SCHEDULES

    for field in ("model", "dataset"):
        value = getattr(cfg, field)
        if not isinstance(value, str) or not value.strip():
            raise OptionError(f"{flag(field)} must be a name or a path, got {value!r}")
    if cfg.data_dir is not None and not isinstance(cfg.data_dir, str):
        raise OptionError(f"--data-dir must be a folder path, got {cfg.data_dir!r}")
    for field in ("model_options", "loss_options"):
        value = getattr(cfg, field)
        if not isinstance(value, dict) or not all(isinstance(k, str) and k for k in value):
            raise OptionError(f"{flag(field)} must be KEY=VALUE pairs (a JSON object), got {value!r}")
    if cfg.loss is not None and (not isinstance(cfg.loss, str) or not cfg.loss):
        raise OptionError(f"--loss must be a loss name (see `pyro-vae losses`), got {cfg.loss!r}")
    cfg.num_particles = check_int("--num-particles", cfg.num_particles, 1)
    cfg.epochs = check_int("--epochs", cfg.epochs, 1)
    cfg.batch_size = check_int("--batch-size", cfg.batch_size, 1)
    cfg.lr = check_float("--lr", cfg.lr, 0.0, strict=True)
    check_choice("--lr-schedule", cfg.lr_schedule, sorted(SCHEDULES))
    cfg.seed = check_seed("--seed", cfg.seed)
    check_device("--device", cfg.device)
    check_choice("--on-nan", cfg.on_nan, ("stop", "skip"))
    check_choice("--capture", cfg.capture, CAPTURE_MODES)
    cfg.max_skipped_fraction = check_float("max_skipped_fraction", cfg.max_skipped_fraction, 0.0, maximum=1.0)
    cfg.kl_warmup = check_int("--kl-warmup", cfg.kl_warmup, 0)
    cfg.early_stopping = check_int("--early-stopping", cfg.early_stopping, 0)
    cfg.lr_warmup = check_int("--lr-warmup", cfg.lr_warmup, 0)
    cfg.log_every = check_int("--log-every", cfg.log_every, 0)
    cfg.valid_k = check_int("--valid-k", cfg.valid_k, 1)
    if not isinstance(cfg.progress, bool):
        raise OptionError(f"progress must be true or false, got {cfg.progress!r}")
    if cfg.logger is not None:
        check_choice("--logger", cfg.logger, LOGGERS)
    check_data_file_options(cfg)
    for field in ("model", "dataset", "data_dir"):  # one rule: paths are saved absolute
        setattr(cfg, field, absolute_path(getattr(cfg, field), field))


def absolute_path(value: Optional[str], field: str) -> Optional[str]:
    """A path (a model ``file.py[:NAME]``, a data file or folder, --data-dir) made absolute; a
    registered name unchanged."""
    if value is None:
        return None
    if field == "model":
        target, sep, pick = value.rpartition(":") if ".py:" in value else (value, "", "")
        return str(Path(target).expanduser().resolve()) + sep + pick if target.endswith(".py") else value
    if field == "dataset":
        from .data.files import looks_like_path
        from .data.registry import dataset_names

        return str(Path(value).expanduser().resolve()) if value not in dataset_names() and looks_like_path(value) \
            else value
    return str(Path(value).expanduser().resolve())


def check_data_file_options(cfg) -> None:
    """--data-kind, --split, --label-column, --image-size: their values, and only with a data file."""
    from .data.arrays import check_split
    from .data.arrays import KINDS
    from .data.registry import dataset_names, refuse_file_options

    if cfg.dataset in dataset_names():
        refuse_file_options(cfg.dataset, [flag(f) for f in FILE_OPTIONS if getattr(cfg, f) not in (None, False)])
    if cfg.data_kind is not None:
        check_choice("--data-kind", cfg.data_kind, KINDS)
    if cfg.split is not None:
        cfg.split = list(check_split(cfg.split))
    if cfg.image_size is not None:
        size = cfg.image_size
        if not isinstance(size, (list, tuple)) or len(size) != 2:
            raise OptionError(f"--image-size must be two integers H W, got {size!r}")
        cfg.image_size = [check_int("--image-size", s, 1) for s in size]
    if cfg.standardize is not None and not isinstance(cfg.standardize, bool):
        raise OptionError(f"standardize must be true or false, got {cfg.standardize!r}")
    if cfg.label_column is not None and not isinstance(cfg.label_column, (str, int)):
        raise OptionError(f"--label-column must be a column name or number, got {cfg.label_column!r}")
    if cfg.data_source is not None and not (isinstance(cfg.data_source, dict) and "sha256" in cfg.data_source
                                            and "path" in cfg.data_source):
        raise OptionError(f"data_source must be the record a run writes (path, sha256, ...), got {cfg.data_source!r}")


def check_minutes(minutes) -> Optional[float]:
    """``--minutes``: a time budget >= 0 (0: stop after the first epoch), or None."""
    return None if minutes is None else check_float("--minutes", minutes, 0.0)


def resume_conflicts(saved: dict, given: dict) -> list[str]:
    """``["--lr: the run has 0.001, given 0.01", ...]`` for each given option that differs from
    the saved run and may not change on resume (see :data:`RESUMABLE`)."""
    out = []
    for field, value in given.items():
        if field in RESUMABLE or value is None:
            continue
        if saved.get(field) != value:
            out.append(f"{flag(field)}: the run has {saved.get(field)!r}, given {value!r}")
    return out


# ---- evaluate and sample -------------------------------------------------------------------------
#: The ``evaluate --method ais|bdmc`` settings and their defaults: those of :class:`AISSettings`
#: (all but ``target_accept``, which the CLI leaves at its default).
ANNEALING_DEFAULTS = {name: value for name, value in AISSettings().to_dict().items() if name != "target_accept"}


@dataclass
class EvaluateOptions:
    k: object = None  # one K or a list of K (default 1000); afterwards ``ks`` (sorted) and ``k = max(ks)``
    split: str = "test"
    seed: int = 0
    n: Optional[int] = None
    subset: str = "random"  # how --n takes its rows: a seeded random sample ("random") or the first n
    subset_seed: Optional[int] = None  # None: pyro_vae.data.subset.SUBSET_SEED
    checkpoint: str = "best"
    max_elements: int = DEFAULT_MAX_ELEMENTS
    device: str = "cpu"
    proposal: str = "guide"
    method: str = "iw"  # iw, ais or bdmc
    capture: str = "auto"  # chunks (IW) or densities (AIS) captured once and replayed: auto, on or off
    # AIS/BDMC settings (None: their defaults, ANNEALING_DEFAULTS; refused with --method iw)
    num_chains: Optional[int] = None
    num_steps: object = None  # one or a list; afterwards ``steps`` (sorted)
    schedule: Optional[str] = None
    leapfrog_steps: Optional[int] = None
    init: Optional[str] = None
    tune_chains: Optional[int] = None
    step_size: Optional[float] = None

    def __post_init__(self):
        check_choice("--method", self.method, ("iw", "ais", "bdmc"))
        check_choice("--capture", self.capture, CAPTURE_MODES)
        given = [flag(f) for f in ANNEALING_DEFAULTS if getattr(self, f) is not None]
        if self.method == "iw" and given:
            raise OptionError(f"{', '.join(given)} belong to --method ais or bdmc (annealed importance sampling); "
                              f"add --method ais, or drop them")
        if self.method != "iw":
            self._check_annealing()
        if self.k is None:
            self.k = 1000
        given = self.k if isinstance(self.k, (list, tuple)) else [self.k]
        if not given:
            raise OptionError("--k needs at least one value, e.g. --k 1000 or --k 1,10,100")
        self.ks = sorted({check_int("--k", k, 1) for k in given})
        self.k = self.ks[-1]
        self.proposals = [p.strip() for p in str(self.proposal).split(",") if p.strip()]
        for p in self.proposals:
            check_choice("--proposal", p, ("guide", "prior"))
        if not self.proposals or len(set(self.proposals)) != len(self.proposals):
            raise OptionError(f"--proposal must be guide, prior or guide,prior, got {self.proposal!r}")
        check_choice("--split", self.split, ("test", "valid", "train"))
        self.seed = check_seed("--seed", self.seed)
        if self.n is not None:
            self.n = check_int("--n", self.n, 1)
        from .data.subset import SUBSET_RULES, SUBSET_SEED

        check_choice("--subset", self.subset, SUBSET_RULES)
        self.subset_seed = check_seed("--subset-seed", SUBSET_SEED if self.subset_seed is None else self.subset_seed)
        check_choice("--checkpoint", self.checkpoint, ("best", "last"))
        self.max_elements = check_int("--max-elements", self.max_elements, 1)
        check_device("--device", self.device)

    def _check_annealing(self) -> None:
        """AIS/BDMC settings (``--k`` and ``--proposal`` belong to IW: AIS starts from the prior with --init prior)."""
        if self.k is not None or self.proposal != "guide":
            raise OptionError(f"--k and --proposal belong to --method iw; --method {self.method} takes --num-chains, "
                              f"--num-steps and --init (guide or prior)")
        self.k, self.proposal = 1000, "guide"
        for name, default in ANNEALING_DEFAULTS.items():
            if getattr(self, name) is None:
                setattr(self, name, default)
        self.num_chains = check_int("--num-chains", self.num_chains, 1)
        given = self.num_steps if isinstance(self.num_steps, (list, tuple)) else [self.num_steps]
        if not given:
            raise OptionError("--num-steps needs at least one value, e.g. --num-steps 1000 or --num-steps 100,1000")
        self.steps = sorted({check_int("--num-steps", t, 1) for t in given})
        check_choice("--schedule", self.schedule, AIS_SCHEDULES)
        self.leapfrog_steps = check_int("--leapfrog-steps", self.leapfrog_steps, 0)
        check_choice("--init", self.init, AIS_INITS)
        self.tune_chains = check_int("--tune-chains", self.tune_chains, 0)
        self.step_size = check_float("--step-size", self.step_size, 0, strict=True, maximum=10)

    def ais_options(self, num_steps: int) -> dict:
        """The :class:`AISSettings` fields (keywords of :func:`pyro_vae.evaluation.ais.evaluate_ais`)
        for one ``num_steps``."""
        return {**{name: getattr(self, name) for name in ANNEALING_DEFAULTS}, "num_steps": num_steps}


@dataclass
class SampleOptions:
    n: int = 64
    out: Optional[str] = None
    label: Optional[int] = None
    seed: int = 0
    checkpoint: str = "best"
    device: str = "cpu"

    def __post_init__(self):
        self.n = check_int("--n", self.n, 1)
        if self.label is not None:
            self.label = check_int("--label", self.label, 0)
        self.seed = check_seed("--seed", self.seed)
        check_choice("--checkpoint", self.checkpoint, ("best", "last"))
        check_device("--device", self.device)
        if self.out is not None:
            check_choice("the extension of --out", Path(self.out).suffix.lower(), IMAGE_SUFFIXES)


#: What ``encode --out`` writes.
LATENT_SUFFIXES = (".npz", ".csv")


@dataclass
class EncodeOptions:
    split: str = "test"
    out: Optional[str] = None
    checkpoint: str = "best"
    batch_size: int = 1000
    device: str = "cpu"

    def __post_init__(self):
        check_choice("--split", self.split, ("test", "valid", "train"))
        check_choice("--checkpoint", self.checkpoint, ("best", "last"))
        self.batch_size = check_int("--batch-size", self.batch_size, 1)
        check_device("--device", self.device)
        if self.out is not None:
            check_choice("the extension of --out", Path(self.out).suffix.lower(), LATENT_SUFFIXES)


def check_label(label: Optional[int], uses_labels: bool, num_classes: Optional[int]) -> None:
    """``sample --label``: only for a conditional model, and one of its classes."""
    if label is None:
        return
    if not uses_labels:
        raise OptionError(f"--label {label} was given but the model is not conditioned on labels: drop --label")
    if num_classes is not None and not 0 <= label < num_classes:
        raise OptionError(f"--label must be a class in [0, {num_classes - 1}], got {label}")


# ---- model hyper-parameters ----------------------------------------------------------------------
def hyperparameter_signature(cls) -> inspect.Signature:
    """The keywords a model takes: ``declare`` of a declarative model, else ``__init__`` after ``data``."""
    from .declarative import DeclarativeModel

    fn = cls.declare if issubclass(cls, DeclarativeModel) else cls.__init__
    params = list(inspect.signature(fn).parameters.values())[1:]  # self
    if fn is cls.__init__ and params:
        params = params[1:]  # data
    return inspect.Signature(params)


def check_hyperparameters(model_name: str, cls, options: dict, zoo: bool = True) -> None:
    """Check ``--model-opt`` values against the model's keyword defaults.

    The default of each keyword says what it takes: an integer default an integer, a float
    default a finite number, a list or tuple of positive integers (layer widths) such lists, a
    string a string, a boolean a boolean, ``None`` anything. For the ``zoo``'s models, whose
    integer and float options are sizes, counts and scales, the default also gives the range: an
    integer default > 0 takes integers >= 1 (0: >= 0), a float default > 0 numbers > 0. A user's
    model (``zoo=False``) gets the type checks only: its own code knows its ranges (an integer
    option whose default is 1 may well take 0). Unknown keywords are refused unless the model
    takes ``**kwargs``.
    """
    sig = hyperparameter_signature(cls)
    params = sig.parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    known = [n for n, p in params.items() if p.kind not in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)]
    for key, value in options.items():
        if key not in params and not takes_any:
            raise OptionError(f"model {model_name!r} has no option {key!r}: its options are "
                              f"{', '.join(known) or 'none'}")
        default = params[key].default if key in params else inspect.Parameter.empty
        _check_like_default(f"model option {key}={value!r}", value, default, zoo)


def _check_like_default(name: str, value, default, ranges: bool = True) -> None:
    if default is inspect.Parameter.empty or default is None:
        return
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise OptionError(f"{name}: must be true or false")
    elif isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise OptionError(f"{name}: must be an integer (default {default})")
        if ranges and value < min(default, 1):
            raise OptionError(f"{name}: must be >= {min(default, 1)}")
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise OptionError(f"{name}: must be a finite number (default {default})")
        if ranges and default > 0 and value <= 0:
            raise OptionError(f"{name}: must be > 0")
    elif isinstance(default, (list, tuple)):
        if not isinstance(value, (list, tuple)):
            raise OptionError(f"{name}: must be a list like {list(default)}")
        if all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in default) and not all(
                isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
            raise OptionError(f"{name}: must be a list of integers >= 1 like {list(default)}")
    elif isinstance(default, str):
        if not isinstance(value, str):
            raise OptionError(f"{name}: must be a string (default {default!r})")
