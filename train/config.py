"""The model and training config: dataclasses, read from and written to TOML, validated.

A config file looks like this (every key optional except the conv blocks' `filters`)::

    name = "mine"

    [model]
    head = "flatten"          # flatten | global_avg
    dense = [64]              # hidden dense layers before the softmax
    dense_dropout = 0.2

    [[model.conv]]            # one table per conv block, in order
    filters = 16
    kernel_size = 3
    stride = 1
    padding = "same"          # valid | same
    batch_norm = true
    pool = "max"              # max | avg | sum | none
    pool_size = 2
    pool_stride = 2
    pool_padding = "valid"
    dropout = 0.0

    [training]
    epochs = 10
    batch_size = 128          # the global batch, split among replicas and workers
    learning_rate = 0.001
    schedule = "cosine"       # cosine | constant
    warmup_epochs = 0.0       # linear warm-up before the cosine
    label_smoothing = 0.0
    augment = true            # shifts and flips, and when set, random erasing and mixup
    random_erasing = 0.0      # probability per image
    mixup = 0.0               # Beta(a, a) blend weights; 0 is off
    ...

Every mistake raises EdgeCnnError with one line naming the key and what is allowed.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgecnn.errors import EdgeCnnError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

PADDINGS = ("valid", "same")
POOL_KINDS = ("max", "avg", "sum", "none")
HEADS = ("flatten", "global_avg")
SCHEDULES = ("cosine", "constant")
PRECISIONS = ("float32", "mixed_bfloat16", "auto")


@dataclass
class ConvBlock:
    """One conv block: Conv2D(filters, kernel_size, stride, padding) -> [BatchNorm] -> ReLU
    -> [pooling of its own size and stride] -> [Dropout]."""

    filters: int
    kernel_size: int = 3
    stride: int = 1
    padding: str = "same"
    batch_norm: bool = False
    pool: str = "none"
    pool_size: int = 2
    pool_stride: int = 0  # 0 means "same as pool_size"; resolved on validation
    pool_padding: str = "valid"
    dropout: float = 0.0


@dataclass
class ModelConfig:
    input_height: int = 28
    input_width: int = 28
    channels: int = 1
    num_classes: int = 10
    conv: list[ConvBlock] = field(default_factory=list)
    head: str = "flatten"
    dense: list[int] = field(default_factory=list)
    dense_dropout: float = 0.0


@dataclass
class TrainingConfig:
    epochs: int = 10
    batch_size: int = 128
    learning_rate: float = 1e-3
    schedule: str = "cosine"
    warmup_epochs: float = 0.0  # linear warm-up from 0 before the cosine decay
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    validation_split: float = 0.1
    early_stopping_patience: int = 5  # epochs without a better val accuracy; 0 turns it off
    augment: bool = True
    shift: int = 2  # pixels, each direction, when augmenting
    flip: bool = True  # horizontal flips when augmenting
    random_erasing: float = 0.0  # probability of zeroing a random rectangle, when augmenting
    mixup: float = 0.0  # Beta(a, a) of mixup's blend weights, when augmenting; 0 turns it off
    # Camera variation, when augmenting (0 turns each off): a turn of up to `rotation` degrees
    # and a zoom of up to +-`scale` about the centre, brightness x (1 +- `brightness`),
    # contrast as a gamma of up to (1 + `contrast`) either way.
    rotation: float = 0.0
    scale: float = 0.0
    brightness: float = 0.0
    contrast: float = 0.0
    # Training on a folder of photos: this many variants of each photo, varied as above at
    # full resolution and then drawn by the recipe (train/photo_variants.py); the camera
    # variation then applies to the photos only, not again to the canvases.
    photo_variants: int = 0
    # Fine-tuning (--base): after `epochs` with the base model's conv blocks frozen, this many
    # more with the convolutions trainable at `unfreeze_learning_rate` (0: stay frozen).
    unfreeze_epochs: int = 0
    unfreeze_learning_rate: float = 1e-4
    seed: int = 42
    # Training arithmetic: "auto" is mixed_bfloat16 where the CPU has bfloat16 instructions
    # (about twice as fast there), else float32. The saved model is float32 either way.
    precision: str = "auto"


@dataclass
class TrainConfig:
    name: str = "custom"
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)

    def validated(self) -> TrainConfig:
        """A copy with defaults resolved (pool_stride), or EdgeCnnError naming the bad key."""
        validate(self)
        blocks = [
            dataclasses.replace(b, pool_stride=b.pool_stride or b.pool_size)
            for b in self.model.conv
        ]
        return dataclasses.replace(self, model=dataclasses.replace(self.model, conv=blocks))


def check(ok: bool, where: str, message: str) -> None:
    if not ok:
        raise EdgeCnnError(f"config: {where} {message}")


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_type(value: Any, kind: type, where: str) -> None:
    if kind is bool:
        check(isinstance(value, bool), where, f"must be true or false, got {value!r}")
    elif kind is int:
        check(is_int(value), where, f"must be an integer, got {value!r}")
    elif kind is float:
        check(is_number(value), where, f"must be a number, got {value!r}")
    elif kind is str:
        check(isinstance(value, str), where, f"must be a string, got {value!r}")


def validate(config: TrainConfig) -> None:
    m, t = config.model, config.training
    for name, kind in (("input_height", int), ("input_width", int), ("channels", int)):
        check_type(getattr(m, name), kind, f"model.{name}")
        check(getattr(m, name) >= 1, f"model.{name}", "must be at least 1")
    check_type(m.num_classes, int, "model.num_classes")
    check(m.num_classes >= 2, "model.num_classes", "must be at least 2")
    check(len(m.conv) >= 1, "model.conv", "needs at least one [[model.conv]] block")
    for i, b in enumerate(m.conv, start=1):
        where = f"model.conv block {i}:"
        for name, kind in (
            ("filters", int),
            ("kernel_size", int),
            ("stride", int),
            ("pool_size", int),
            ("pool_stride", int),
            ("batch_norm", bool),
            ("padding", str),
            ("pool", str),
            ("pool_padding", str),
            ("dropout", float),
        ):
            check_type(getattr(b, name), kind, f"{where} {name}")
        check(b.filters >= 1, where, f"filters must be at least 1, got {b.filters}")
        check(b.kernel_size >= 1, where, f"kernel_size must be at least 1, got {b.kernel_size}")
        check(b.stride >= 1, where, f"stride must be at least 1, got {b.stride}")
        check(b.padding in PADDINGS, where, f"padding must be valid or same, got {b.padding!r}")
        check(b.pool in POOL_KINDS, where, f"pool must be max, avg, sum or none, got {b.pool!r}")
        check(b.pool_size >= 1, where, f"pool_size must be at least 1, got {b.pool_size}")
        check(b.pool_stride >= 0, where, f"pool_stride must be at least 1, got {b.pool_stride}")
        check(
            b.pool_padding in PADDINGS,
            where,
            f"pool_padding must be valid or same, got {b.pool_padding!r}",
        )
        check(0 <= b.dropout < 1, where, f"dropout must be in [0, 1), got {b.dropout}")
    check_type(m.head, str, "model.head")
    check(m.head in HEADS, "model.head", f"must be flatten or global_avg, got {m.head!r}")
    check(isinstance(m.dense, list), "model.dense", "must be a list of layer widths")
    for units in m.dense:
        check(is_int(units) and units >= 1, "model.dense", f"widths must be >= 1, got {units!r}")
    check_type(m.dense_dropout, float, "model.dense_dropout")
    check(0 <= m.dense_dropout < 1, "model.dense_dropout", "must be in [0, 1)")
    check_feature_maps(m)

    for name, kind in (
        ("epochs", int),
        ("batch_size", int),
        ("early_stopping_patience", int),
        ("shift", int),
        ("seed", int),
        ("augment", bool),
        ("flip", bool),
        ("schedule", str),
        ("precision", str),
        ("learning_rate", float),
        ("warmup_epochs", float),
        ("random_erasing", float),
        ("mixup", float),
        ("rotation", float),
        ("scale", float),
        ("brightness", float),
        ("contrast", float),
        ("unfreeze_epochs", int),
        ("unfreeze_learning_rate", float),
        ("photo_variants", int),
        ("weight_decay", float),
        ("label_smoothing", float),
        ("validation_split", float),
    ):
        check_type(getattr(t, name), kind, f"training.{name}")
    check(t.epochs >= 1, "training.epochs", f"must be at least 1, got {t.epochs}")
    check(t.batch_size >= 1, "training.batch_size", f"must be at least 1, got {t.batch_size}")
    check(
        t.learning_rate > 0 and math.isfinite(t.learning_rate),
        "training.learning_rate",
        f"must be a positive number, got {t.learning_rate}",
    )
    check(
        t.schedule in SCHEDULES,
        "training.schedule",
        f"must be cosine or constant, got {t.schedule!r}",
    )
    check(
        t.precision in PRECISIONS,
        "training.precision",
        f"must be float32, mixed_bfloat16 or auto, got {t.precision!r}",
    )
    check(t.weight_decay >= 0, "training.weight_decay", "must be >= 0")
    check(
        0 <= t.warmup_epochs < t.epochs,
        "training.warmup_epochs",
        f"must be >= 0 and less than the epochs ({t.epochs}), got {t.warmup_epochs}",
    )
    check(0 <= t.random_erasing <= 1, "training.random_erasing", "must be in [0, 1]")
    check(t.mixup >= 0, "training.mixup", "must be >= 0 (0 turns mixup off)")
    check(0 <= t.label_smoothing < 1, "training.label_smoothing", "must be in [0, 1)")
    check(0 < t.validation_split < 1, "training.validation_split", "must be in (0, 1)")
    check(t.early_stopping_patience >= 0, "training.early_stopping_patience", "must be >= 0")
    check(t.shift >= 0, "training.shift", "must be >= 0 pixels")
    check(0 <= t.rotation <= 180, "training.rotation", "must be 0 to 180 degrees")
    check(0 <= t.scale < 1, "training.scale", "must be in [0, 1)")
    check(0 <= t.brightness < 1, "training.brightness", "must be in [0, 1)")
    check(t.contrast >= 0, "training.contrast", "must be >= 0 (0 turns it off)")
    check(t.photo_variants >= 0, "training.photo_variants", "must be >= 0 (0 turns it off)")
    check(t.unfreeze_epochs >= 0, "training.unfreeze_epochs", "must be >= 0 (0: stay frozen)")
    check(
        t.unfreeze_learning_rate > 0 and math.isfinite(t.unfreeze_learning_rate),
        "training.unfreeze_learning_rate",
        f"must be a positive number, got {t.unfreeze_learning_rate}",
    )


def check_feature_maps(m: ModelConfig) -> None:
    """Every feature map must keep at least one pixel: say which block shrinks it to nothing."""
    from edgecnn.train.feature_maps import feature_map_plan

    for row in feature_map_plan(m):
        if row.height < 1 or row.width < 1:
            raise EdgeCnnError(
                f"config: {row.layer} would make a {row.height}x{row.width} feature map from "
                f"{row.in_height}x{row.in_width} ({row.formula}): use padding 'same', a smaller "
                "kernel/pool or a smaller stride, or fewer blocks"
            )


# ---------------------------------------------------------------- TOML read / write


def from_dict(data: dict, source: str = "config") -> TrainConfig:
    """Build a TrainConfig from parsed TOML, rejecting unknown keys with a one-line error."""

    def known(table: Any, cls: type, where: str) -> dict:
        if not isinstance(table, dict):
            raise EdgeCnnError(f"{source}: [{where}] must be a table")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(table) - names)
        if unknown:
            raise EdgeCnnError(
                f"{source}: unknown key {where}.{unknown[0]} (known: {', '.join(sorted(names))})"
            )
        return dict(table)

    top = known(data, TrainConfig, "top level")
    model = known(top.get("model", {}), ModelConfig, "model")
    training = known(top.get("training", {}), TrainingConfig, "training")
    blocks = model.get("conv", [])
    if not isinstance(blocks, list):
        raise EdgeCnnError(f"{source}: model.conv must be an array of tables ([[model.conv]])")
    conv = []
    for i, block in enumerate(blocks, start=1):
        block = known(block, ConvBlock, f"model.conv[{i}]")
        if "filters" not in block:
            raise EdgeCnnError(f"{source}: conv block {i} has no 'filters'")
        conv.append(ConvBlock(**block))
    model["conv"] = conv
    # TOML has no distinction a user would notice between 1 and 1.0: accept ints for floats.
    for key in (
        "learning_rate",
        "warmup_epochs",
        "weight_decay",
        "label_smoothing",
        "validation_split",
        "random_erasing",
        "mixup",
        "rotation",
        "scale",
        "brightness",
        "contrast",
        "unfreeze_learning_rate",
    ):
        if is_int(training.get(key)):
            training[key] = float(training[key])
    return TrainConfig(
        name=str(top.get("name", "custom")),
        model=ModelConfig(**model),
        training=TrainingConfig(**training),
    )


def read_config(path: str | Path) -> TrainConfig:
    """Read and validate a config TOML file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise EdgeCnnError(f"cannot read config {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise EdgeCnnError(f"config {path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise EdgeCnnError(f"config {path} is not valid TOML: {exc}") from None
    try:
        return from_dict(data, source=str(path)).validated()
    except TypeError as exc:  # a dataclass got something it cannot hold
        raise EdgeCnnError(f"config {path}: {exc}") from None


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def to_toml(config: TrainConfig) -> str:
    """The config as TOML text that `read_config` reads back to an equal config."""
    lines = [f"name = {toml_value(config.name)}", "", "[model]"]
    model = dataclasses.asdict(config.model)
    blocks = model.pop("conv")
    lines += [f"{k} = {toml_value(v)}" for k, v in model.items()]
    for block in blocks:
        lines += ["", "[[model.conv]]"]
        lines += [f"{k} = {toml_value(v)}" for k, v in block.items()]
    lines += ["", "[training]"]
    lines += [f"{k} = {toml_value(v)}" for k, v in dataclasses.asdict(config.training).items()]
    return "\n".join(lines) + "\n"


def write_config(path: str | Path, config: TrainConfig) -> None:
    from edgecnn.atomic import atomic_write_text

    atomic_write_text(path, to_toml(config))
