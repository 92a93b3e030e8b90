"""Search spaces as TOML files users keep in git, validated before anything is written.

    [fixed]                       # settings every trial shares
    model = "distilbert-base-uncased"
    num_epochs = 3

    [params.learning_rate]        # one table per searched hyperparameter
    type = "float"                # float | int | categorical | fixed
    low = 1e-5
    high = 1e-4
    log = true                    # optional; float/int also take `step`

    [params.train_batch_size]
    type = "categorical"
    choices = [16, 32]

Every name must be a training setting (see `hptui train --list-settings`), and every bound
or choice must be a valid value of that setting, so a space that validates never produces
a trial that fails on its config. Optuna accepts NaN bounds and truncates float bounds of
int parameters silently; this module refuses both with a message naming the parameter.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hptui.core.errors import ConfigError, HptuiError, shown
from hptui.core.training.config import TrainConfig, check_device, field_names, read_toml

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution


class SpaceError(ConfigError):
    """A search space is malformed; `key` is the parameter (or section) at fault."""


PARAM_TYPES = ("float", "int", "categorical", "fixed")
# Choices of one categorical parameter: far more than any search visits, and each one is
# validated as a setting at creation (a million took minutes).
MAX_CHOICES = 10_000
# The example spaces, shipped in the package (the repository's examples/ links to them).
PRESETS_DIR = Path(__file__).resolve().parent / "presets"
_INT_SETTINGS = {f.name for f in dataclasses.fields(TrainConfig) if str(f.type).startswith("int")}
_FLOAT_SETTINGS = {
    f.name for f in dataclasses.fields(TrainConfig) if str(f.type).startswith("float")
}


@dataclass(frozen=True)
class ParamSpec:
    """One searched hyperparameter."""

    name: str
    type: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()
    value: Any = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": self.type}
        if self.type in ("float", "int"):
            data.update(low=self.low, high=self.high, log=self.log)
            if self.step is not None:
                data["step"] = self.step
        elif self.type == "categorical":
            data["choices"] = list(self.choices)
        else:
            data["value"] = self.value
        return data

    def suggest(self, trial: optuna.Trial) -> Any:
        """This parameter's value for `trial`, asked of Optuna's sampler."""
        assert self.type != "fixed", "a fixed setting is not sampled"
        if self.type == "float":
            assert self.low is not None and self.high is not None
            return trial.suggest_float(self.name, self.low, self.high, log=self.log, step=self.step)
        if self.type == "int":
            assert self.low is not None and self.high is not None
            step = int(self.step) if self.step is not None else 1
            return trial.suggest_int(
                self.name, int(self.low), int(self.high), log=self.log, step=step
            )
        return trial.suggest_categorical(self.name, list(self.choices))

    def first_value(self) -> Any:
        """A value inside the space (its first choice or lower bound): what a preflight
        check builds a config from."""
        if self.type == "categorical":
            return self.choices[0]
        if self.type == "fixed":
            return self.value
        return self.low if self.type == "float" else int(self.low or 0)

    def distribution(self) -> BaseDistribution:
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        if self.type == "float":
            assert self.low is not None and self.high is not None
            return FloatDistribution(self.low, self.high, log=self.log, step=self.step)
        if self.type == "int":
            assert self.low is not None and self.high is not None
            step = int(self.step) if self.step is not None else 1
            return IntDistribution(int(self.low), int(self.high), log=self.log, step=step)
        if self.type == "categorical":
            return CategoricalDistribution(list(self.choices))
        return CategoricalDistribution([self.value])

    def grid_values(self) -> list[Any]:
        """The values a grid search visits: choices, or every step of a stepped range."""
        if self.type == "categorical":
            return list(self.choices)
        if self.type == "fixed":
            return [self.value]
        if self.step is None or self.log:
            raise SpaceError(
                self.name,
                'a grid needs a finite set of values: use type = "categorical" with '
                "choices, or give the range a step",
            )
        assert self.low is not None and self.high is not None
        count = math.floor((self.high - self.low) / self.step + 1e-9) + 1
        values = [self.low + i * self.step for i in range(count)]
        return [int(v) for v in values] if self.type == "int" else values


@dataclass(frozen=True)
class SearchSpace:
    """Fixed settings plus searched parameters; stored with the study as JSON."""

    params: tuple[ParamSpec, ...]
    fixed: Mapping[str, Any]

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def distributions(self) -> dict[str, BaseDistribution]:
        return {p.name: p.distribution() for p in self.params if p.type != "fixed"}

    def fixed_values(self) -> dict[str, Any]:
        """The fixed section plus parameters of type 'fixed'."""
        values = dict(self.fixed)
        values.update({p.name: p.value for p in self.params if p.type == "fixed"})
        return values

    def grid(self) -> list[dict[str, Any]]:
        """Every point of the grid, in a stable order (first parameter varies slowest)."""
        searched = [p for p in self.params if p.type != "fixed"]
        if not searched:
            return [{}]
        names = [p.name for p in searched]
        product = itertools.product(*(p.grid_values() for p in searched))
        return [dict(zip(names, combo, strict=True)) for combo in product]

    def to_dict(self) -> dict[str, Any]:
        return {"fixed": dict(self.fixed), "params": {p.name: p.to_dict() for p in self.params}}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def to_toml(self) -> str:
        """The space as a TOML file that `load_space` reads back to an equal space."""
        lines = ["[fixed]"]
        lines += [f"{k} = {_toml_value(v)}" for k, v in self.fixed.items()]
        for p in self.params:
            lines += ["", f"[params.{p.name}]"]
            lines += [f"{k} = {_toml_value(v)}" for k, v in p.to_dict().items()]
        return "\n".join(lines) + "\n"

    def differences(self, other: SearchSpace) -> list[str]:
        """Human-readable differences, for 'this study was created with another space'."""
        mine, theirs = self.to_dict(), other.to_dict()
        changes = []
        for section in ("fixed", "params"):
            for key in sorted(set(mine[section]) | set(theirs[section])):
                before, after = mine[section].get(key), theirs[section].get(key)
                if before != after:
                    changes.append(f"{section}.{key}: {before!r} -> {after!r}")
        return changes

    def config_for(self, params: Mapping[str, Any], **machine: Any) -> TrainConfig:
        """The training config of one trial: fixed values, sampled params, then
        machine-local settings (data_dir, device) that are not part of the study."""
        values = {**self.fixed_values(), **params}
        if not machine.get("data_dir") and os.environ.get("HPTUI_DATA_DIR"):
            machine = {**machine, "data_dir": os.environ["HPTUI_DATA_DIR"]}
        values.update({k: v for k, v in machine.items() if v is not None})
        config = TrainConfig.from_mapping(values)
        if machine:  # a worker's host must have the device: fail its preflight, not trials
            check_device(config.device)
        return config


def load_space(path: str | Path, *, relative_data_dir: bool = True) -> SearchSpace:
    """Read and validate a TOML space; every problem names the parameter and the fix.

    A relative `data_dir` is resolved against the folder the file was named in (a link's
    own folder, not its target's) and stored absolute, so workers started from any folder
    find the data (a worker's --data-dir or $HPTUI_DATA_DIR still overrides it on that
    host). With `relative_data_dir=False` a relative one is dropped instead: a space shipped
    inside the package has no folder the data could be relative to."""
    path = Path(path)
    raw = read_toml(path, "--space", SpaceError)
    folder = path.absolute().parent if relative_data_dir else None
    return parse_space(_absolute_data_dir(raw, folder))


def _absolute_data_dir(raw: dict[str, Any], folder: Path | None) -> dict[str, Any]:
    fixed = raw.get("fixed")
    if isinstance(fixed, dict) and isinstance(fixed.get("data_dir"), str):
        data_dir = Path(fixed["data_dir"]).expanduser()
        if fixed["data_dir"] and not data_dir.is_absolute():
            if folder is None:
                kept = {k: v for k, v in fixed.items() if k != "data_dir"}
                return {**raw, "fixed": kept}
            raw = {**raw, "fixed": {**fixed, "data_dir": str((folder / data_dir).resolve())}}
    return raw


def parse_space(raw: Mapping[str, Any]) -> SearchSpace:
    unknown_sections = set(raw) - {"fixed", "params"}
    if unknown_sections:
        raise SpaceError(
            sorted(unknown_sections)[0],
            "unknown section; a space has [fixed] and [params.NAME] tables",
        )
    fixed_raw = raw.get("fixed", {})
    if not isinstance(fixed_raw, Mapping):
        raise SpaceError(
            "fixed", f"must be a table: [fixed] then key = value lines (got {shown(fixed_raw)})"
        )
    fixed = dict(fixed_raw)
    params_raw = raw.get("params", {})
    if not isinstance(params_raw, Mapping):
        raise SpaceError("params", "must be tables: [params.learning_rate] ...")
    known = field_names()
    for name in [*fixed, *params_raw]:
        if name not in known:
            try:
                TrainConfig.from_mapping({name: None})  # for its did-you-mean message
            except ConfigError as exc:
                raise SpaceError(name, str(exc).split(": ", 1)[1]) from None
    both = set(fixed) & set(params_raw)
    if both:
        name = sorted(both)[0]
        raise SpaceError(name, "is both fixed and searched; keep one of the two")
    try:
        TrainConfig.from_mapping(fixed)
    except ConfigError as exc:
        raise SpaceError(exc.key, f"fixed value invalid: {str(exc).split(': ', 1)[1]}") from None
    params = tuple(_parse_param(name, spec) for name, spec in params_raw.items())
    return SearchSpace(params=params, fixed=fixed)


def space_from_json(text: str) -> SearchSpace:
    return parse_space(json.loads(text))


def _parse_param(name: str, spec: Any) -> ParamSpec:
    if not isinstance(spec, Mapping):
        raise SpaceError(name, 'must be a table, e.g. [params.NAME] with type = "float"')
    kind = spec.get("type")
    if kind not in PARAM_TYPES:
        raise SpaceError(name, f"type must be one of {', '.join(PARAM_TYPES)} (got {kind!r})")
    allowed = {
        "float": {"type", "low", "high", "log", "step"},
        "int": {"type", "low", "high", "log", "step"},
        "categorical": {"type", "choices"},
        "fixed": {"type", "value"},
    }[kind]
    extra = set(spec) - allowed
    if extra:
        raise SpaceError(name, f"unknown key(s) {sorted(extra)} for type {kind!r}")
    if kind == "fixed":
        if "value" not in spec:
            raise SpaceError(name, "a fixed parameter needs value = ...")
        _check_setting(name, spec["value"], "value")
        return ParamSpec(name, kind, value=spec["value"])
    if kind == "categorical":
        return _parse_choices(name, spec.get("choices"))
    return _parse_range(name, kind, spec)


def _parse_choices(name: str, choices: Any) -> ParamSpec:
    if not isinstance(choices, list) or not choices:
        raise SpaceError(name, "choices must be a non-empty list, e.g. choices = [16, 32]")
    if len(choices) > MAX_CHOICES:
        raise SpaceError(
            name, f"has {len(choices):,} choices; keep it to {MAX_CHOICES:,} (or use a range)"
        )
    seen: set[Any] = set()  # a set: the list this was made the check quadratic
    for choice in choices:
        key = _choice_key(choice)
        if key in seen:
            raise SpaceError(name, f"choice {shown(choice)} is listed twice; list each value once")
        _check_setting(name, choice, "choice")
        seen.add(key)
    return ParamSpec(name, "categorical", choices=tuple(choices))


def _choice_key(choice: Any) -> Any:
    """A hashable stand-in equal where the choices are (`1 == 1.0`, as Optuna sees them);
    a list or table (refused by `_check_setting` anyway) by its JSON text."""
    try:
        hash(choice)
    except TypeError:
        return ("unhashable", json.dumps(choice, sort_keys=True, default=str))
    return choice


def _parse_range(name: str, kind: str, spec: Mapping[str, Any]) -> ParamSpec:
    if name not in (_INT_SETTINGS | _FLOAT_SETTINGS):
        raise SpaceError(name, 'is not numeric; use type = "categorical" for it')
    if kind == "float" and name in _INT_SETTINGS:
        raise SpaceError(name, 'takes whole numbers: use type = "int" or "categorical"')
    for key in ("low", "high"):
        if key not in spec:
            raise SpaceError(name, f"a {kind} range needs {key} = ...")
    low, high, step = spec["low"], spec["high"], spec.get("step")
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise SpaceError(name, f"log must be true or false (got {log!r})")
    for key, value in (("low", low), ("high", high), ("step", step)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SpaceError(name, f"{key} must be a number (got {value!r})")
        if not math.isfinite(value):
            raise SpaceError(name, f"{key} must be finite (got {value!r})")
        if kind == "int" and not float(value).is_integer():
            raise SpaceError(
                name,
                f"{key} of an int range must be a whole number (got {value!r}); "
                "Optuna would truncate it silently",
            )
    if low > high:
        raise SpaceError(name, f"low ({low}) > high ({high}); swap them")
    if log and low <= 0:
        raise SpaceError(name, f"a log range needs low > 0 (got {low}); raise low or drop log")
    if step is not None and step <= 0:
        raise SpaceError(name, f"step must be > 0 (got {step})")
    if step is not None and log:
        raise SpaceError(name, "step and log cannot be combined; drop one")
    _check_setting(name, low, "low")
    _check_setting(name, high, "high")
    cast = int if kind == "int" else float
    return ParamSpec(
        name, kind, low=cast(low), high=cast(high), log=log,
        step=cast(step) if step is not None else None,
    )  # fmt: skip


def _check_setting(name: str, value: Any, what: str) -> None:
    """A bound or choice must itself be a valid value of the setting."""
    try:
        TrainConfig.from_mapping({name: value})
    except ConfigError as exc:
        problem = str(exc).split(": ", 1)[1]
        raise SpaceError(name, f"{what} {value!r} is not a valid value: {problem}") from None


def _toml_value(value: Any) -> str:
    """One value as TOML text on one line. Scalars go through tomli-w, which escapes what
    TOML needs (json.dumps wrote an emoji as a surrogate pair, which no TOML reader takes);
    lists stay inline (`choices = [16, 32]`) where tomli-w would put one item a line."""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if value is None:
        raise HptuiError("TOML has no null; leave the key out")
    import tomli_w

    return tomli_w.dumps({"v": value}).removeprefix("v = ").removesuffix("\n")
