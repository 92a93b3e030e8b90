"""The training configuration: one frozen, validated object shared by every front end.

A config comes from defaults, then a TOML file, then `key=value` overrides (later wins).
Unknown keys and out-of-range values raise `ConfigError` naming the key and the fix, before
any model or data is touched.
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hptui.core.errors import BIDI_CHARACTERS, ConfigError, shown

DEFAULT_MODEL = "distilbert-base-uncased"
# length-grouped: shuffled batches of similar-length pairs, as the HF Trainer's old
# group_by_length; random: plain shuffled batches.
BATCHING = ("length-grouped", "random")
# off: eager PyTorch; reduce-overhead: torch.compile capturing CUDA graphs (a step becomes
# a few graph launches instead of hundreds of kernel launches; CUDA only, refused elsewhere).
COMPILE_MODES = ("off", "reduce-overhead")
DEVICE_PATTERN = re.compile(r"(auto|cpu|mps|cuda(:[0-9]{1,3})?)")
# torch seeds are unsigned 64-bit; Optuna's samplers take numpy seeds below 2**32.
MAX_TRAIN_SEED = 2**64 - 1
MAX_SAMPLER_SEED = 2**32 - 1
MAX_NAME_LENGTH = 128
# Bounds on every setting, so a typo (or a hostile file) is refused at once instead of a
# 50 MB model string or 10**20 epochs reaching a worker: a text setting is a hub id or a
# path (PATH_MAX is 4096), a count is at most what any real run uses, with room to spare.
MAX_TEXT_LENGTH = 4096
MAX_BATCH_SIZE = 65_536
MAX_EPOCHS = 10_000
MAX_COUNT = 10**9  # train_limit, eval_limit, eval_every_steps
MAX_TOML_BYTES = 2 * 2**20  # a settings or space file (tomllib reads ~1 MB/s)


def _positive_int(value: Any) -> str | None:
    return None if value > 0 else "must be a positive integer"


def _int_upto(high: int) -> Any:
    """A check for a whole number from 1 to `high` (the message says the bound)."""

    def check(value: int) -> str | None:
        return None if 1 <= value <= high else f"must be a positive integer, at most {high:,}"

    return check


def hidden_characters(text: str) -> str | None:
    """What is wrong with `text` as one line a terminal shows truthfully: control or bidi
    characters (None when nothing)."""
    if any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in text):
        return "must not contain control characters (newline, tab, NUL...)"
    if BIDI_CHARACTERS.intersection(text):
        return "must not contain bidi control characters (U+202E...), which reorder what is shown"
    return None


def _text(value: str) -> str | None:
    if len(value) > MAX_TEXT_LENGTH:
        return f"is {len(value):,} characters; keep it to {MAX_TEXT_LENGTH:,}"
    return hidden_characters(value)


def _model_name(value: str) -> str | None:
    """A model name that is a near miss of a built-in one (`tiny-distiler`) is a typo, not
    a hub id: refused at once with the name meant, rather than a download that fails later.
    Hub ids (`org/name`, or a legacy bare one like `distilbert-base-uncased`) and existing
    folders pass; the loader says what is wrong with those."""
    problem = _text(value)
    if problem:
        return problem
    import difflib

    from .models import BUILTIN_MODELS

    if value in BUILTIN_MODELS or "/" in value or Path(value).expanduser().is_dir():
        return None
    near = difflib.get_close_matches(value, list(BUILTIN_MODELS), n=1, cutoff=0.75)
    if near:
        return (
            f"is not a built-in model; did you mean {near[0]!r}? (or give a local folder, "
            "or a hub id such as org/name)"
        )
    return None


def _positive_finite(value: float) -> str | None:
    return None if math.isfinite(value) and value > 0 else "must be a finite number > 0"


def _non_negative_finite(value: float) -> str | None:
    return None if math.isfinite(value) and value >= 0 else "must be a finite number >= 0"


def _unit_interval_open(value: float) -> str | None:
    return None if 0 <= value < 1 else "must be in [0, 1)"


def _seq_length(value: int) -> str | None:
    return None if 8 <= value <= 8192 else "must be an integer between 8 and 8192"


def _device_format(value: str) -> str | None:
    if DEVICE_PATTERN.fullmatch(value):
        return None
    return "must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"


def _seed(value: int) -> str | None:
    if 0 <= value <= MAX_TRAIN_SEED:
        return None
    return "must be an integer from 0 to 2**64 - 1 (torch's seed range)"


def _checked(check: Any = None, help: str = "", **kwargs: Any) -> Any:
    return field(metadata={"check": check, "help": help}, **kwargs)


@dataclass(frozen=True)
class TrainConfig:
    """Everything one fine-tuning run depends on. Hashable, so it can key caches."""

    model: str = _checked(
        _model_name,
        default=DEFAULT_MODEL,
        help="hub id, local folder, or built-in 'offline-minilm' / 'tiny-distilbert'",
    )
    task: str = _checked(_text, "task name (see hptui.core.training.tasks)", default="mrpc")
    data_dir: str | None = _checked(
        _text, default=None, help="GLUE-format folder; default $HPTUI_DATA_DIR, else the hub"
    )
    learning_rate: float = _checked(_positive_finite, "peak AdamW learning rate", default=2e-5)
    weight_decay: float = _checked(
        _non_negative_finite, "AdamW weight decay (not on biases/LayerNorm)", default=0.0
    )
    beta1: float = _checked(_unit_interval_open, "AdamW beta1", default=0.9)
    beta2: float = _checked(_unit_interval_open, "AdamW beta2", default=0.999)
    adam_epsilon: float = _checked(_positive_finite, "AdamW epsilon", default=1e-8)
    warmup_ratio: float = _checked(
        _unit_interval_open, "share of steps with linear warmup", default=0.0
    )
    gradient_clip_val: float = _checked(
        _non_negative_finite, "max gradient norm; 0 disables clipping", default=1.0
    )
    train_batch_size: int = _checked(
        _int_upto(MAX_BATCH_SIZE), "examples per training step", default=32
    )
    eval_batch_size: int = _checked(
        _int_upto(MAX_BATCH_SIZE), "examples per evaluation batch", default=64
    )
    max_seq_length: int = _checked(_seq_length, "tokens per pair after truncation", default=128)
    num_epochs: int = _checked(_int_upto(MAX_EPOCHS), "passes over the training data", default=3)
    seed: int = _checked(_seed, "seed for init and order", default=42)
    train_limit: int | None = _checked(
        _int_upto(MAX_COUNT), "use only the first N training pairs", default=None
    )
    eval_limit: int | None = _checked(
        _int_upto(MAX_COUNT), "use only the first N validation pairs", default=None
    )
    batching: str = _checked(
        lambda v: None if v in BATCHING else f"must be one of {', '.join(BATCHING)}",
        "'length-grouped' (pads less) or 'random' training batches",
        default="length-grouped",
    )
    eval_every_steps: int | None = _checked(
        _int_upto(MAX_COUNT), "also evaluate every N steps (epoch ends always)", default=None
    )
    device: str = _checked(_device_format, "where to train", default="auto")
    compile: str = _checked(
        lambda v: None if v in COMPILE_MODES else f"must be one of {', '.join(COMPILE_MODES)}",
        "'reduce-overhead': CUDA graphs via torch.compile on fixed padded widths (CUDA only)",
        default="off",
    )

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            object.__setattr__(self, f.name, _coerce(f.name, value, f.type))
            value = getattr(self, f.name)
            check = f.metadata.get("check")
            if value is not None and check is not None:
                problem = check(value)
                if problem:
                    raise ConfigError(f.name, f"{problem} (got {shown(value)})")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> TrainConfig:
        """Build from a plain mapping, rejecting unknown keys with the list of known ones."""
        known = field_names()
        for key in values:
            if key not in known:
                hint = _closest(key, known)
                raise ConfigError(
                    key,
                    "unknown setting"
                    + (f"; did you mean {hint!r}?" if hint else "")
                    + f" Known settings: {', '.join(sorted(known))}",
                )
        return cls(**dict(values))

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some values changed, validated like a new config."""
        return TrainConfig.from_mapping({**self.to_dict(), **changes})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def field_names() -> set[str]:
    return {f.name for f in dataclasses.fields(TrainConfig)}


def field_help() -> dict[str, str]:
    """One line of help per setting, for `--help` screens and error messages."""
    return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(TrainConfig)}


def load_config(
    path: str | Path | None = None,
    overrides: Iterable[str] = (),
    base: Mapping[str, Any] | None = None,
) -> TrainConfig:
    """Defaults, then `base`, then the TOML file, then `key=value` overrides (CLI wins)."""
    values: dict[str, Any] = dict(base or {})
    if path is not None:
        values.update(read_toml(path))
    values.update(parse_overrides(overrides))
    config = TrainConfig.from_mapping(values)
    check_device(config.device)
    return config


def check_device(device: str) -> None:
    """Refuse a device this host does not have, before any model or data is loaded (so a
    worker fails its preflight instead of failing trials). 'auto' and 'cpu' need nothing;
    torch is imported only when a GPU is asked for."""
    if device in ("auto", "cpu"):
        return
    problem = _device_format(device)
    if problem:
        raise ConfigError("device", f"{problem} (got {shown(device)})")
    import torch

    if device == "mps":
        if not torch.backends.mps.is_available():
            raise ConfigError("device", "mps is not available on this host; use cpu or auto")
        return
    if not torch.cuda.is_available():
        raise ConfigError(
            "device", f"{device}: this host has no CUDA GPU torch can use; use cpu or auto"
        )
    count = torch.cuda.device_count()
    index = int(device.partition(":")[2] or 0)
    if index >= count:
        raise ConfigError(
            "device", f"{device}: this host has {count} CUDA GPU(s), cuda:0 to cuda:{count - 1}"
        )


def check_sampler_seed(seed: int | None) -> None:
    """A study's sampler seed must be one Optuna's samplers (numpy) accept."""
    if seed is not None and not 0 <= seed <= MAX_SAMPLER_SEED:
        raise ConfigError("--seed", f"must be from 0 to 2**32 - 1 (got {shown(seed)})")


def check_study_name(name: str, what: str = "study name") -> None:
    """Study names also name log files and appear in shells: refuse the ones that are
    paths, empty, invisible or huge (one place, for every front end)."""
    problem = None
    if not name.strip():
        problem = "must not be empty or blank"
    elif hidden_characters(name):
        problem = hidden_characters(name)
    elif "/" in name or "\\" in name or name in (".", ".."):
        problem = "must not be a path (no / or \\, not . or ..)"
    elif name != name.strip():
        problem = "must not start or end with spaces"
    elif len(name) > MAX_NAME_LENGTH:
        problem = f"is {len(name)} characters; keep it to {MAX_NAME_LENGTH}"
    if problem:
        raise ConfigError(f"{what} {shown(name)}", f"{problem}; e.g. lr-sweep-2")


def read_toml(
    path: str | Path, option: str = "--config", error: type[ConfigError] = ConfigError
) -> dict[str, Any]:
    """Read a TOML file; any problem is one `error` naming `option`, the file and the fix
    (a syntax error also names the line)."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_TOML_BYTES + 1)
        if len(data) > MAX_TOML_BYTES:
            raise error(
                option,
                f"{path} is over {MAX_TOML_BYTES // 2**20} MiB; a settings or space file "
                "is a few lines (a long list of choices is better a range)",
            )
        return tomllib.loads(data.decode("utf-8"))
    except FileNotFoundError:
        raise error(option, f"no such file: {path}") from None
    except IsADirectoryError:
        raise error(option, f"{path} is a folder; give a TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        raise error(option, f"{path} is not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise error(option, f"{path} is not a UTF-8 text file") from None
    except OSError as exc:
        raise error(option, f"cannot read {path}: {exc.strerror}") from None


def parse_overrides(pairs: Iterable[str]) -> dict[str, Any]:
    """Turn `key=value` strings into typed values using the config's field types."""
    types = {f.name: f.type for f in dataclasses.fields(TrainConfig)}
    parsed: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(pair, "expected key=value, e.g. --set learning_rate=3e-5")
        if key not in types:
            # Let from_mapping produce the unknown-key message with suggestions.
            parsed[key] = raw
            continue
        parsed[key] = _parse_text(key, raw.strip(), str(types[key]))
    return parsed


def _parse_text(key: str, raw: str, type_name: str) -> Any:
    if "None" in type_name and raw.lower() in ("", "none", "null"):
        return None
    try:
        if type_name.startswith("int"):
            return int(raw)
        if type_name.startswith("float"):
            return float(raw)
    except ValueError:
        kind = "an integer" if type_name.startswith("int") else "a number"
        raise ConfigError(key, f"must be {kind} (got {shown(raw)})") from None
    return raw


def _coerce(key: str, value: Any, type_name: Any) -> Any:
    """Accept ints for floats; reject bools, strings for numbers and non-integral ints."""
    type_name = str(type_name)
    if value is None:
        if "None" in type_name:
            return None
        raise ConfigError(key, "must be set (got none)")
    if isinstance(value, bool):
        raise ConfigError(key, f"must not be a boolean (got {shown(value)})")
    if type_name.startswith("int"):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if not isinstance(value, int):
            raise ConfigError(key, f"must be an integer (got {shown(value)})")
        return value
    if type_name.startswith("float"):
        if not isinstance(value, (int, float)):
            raise ConfigError(key, f"must be a number (got {shown(value)})")
        return float(value)
    if not isinstance(value, str):
        raise ConfigError(key, f"must be a string (got {shown(value)})")
    return value


def _closest(key: str, known: set[str]) -> str | None:
    import difflib

    matches = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
    return matches[0] if matches else None
