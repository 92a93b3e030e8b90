"""A search space as a form holds it: one row of typed text per training setting.

The console's space editor keeps what the user typed as text; this module turns a row into a
`ParamSpec` through `parse_space` itself, so each message is the one the CLI gives for the
same TOML (`learning_rate: a log range needs low > 0 (got 0.0); raise low or drop log`), and
a space the form accepts is exactly a space `hptui study create` accepts.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hptui.core.errors import ConfigError, HptuiError
from hptui.core.studies import attrs
from hptui.core.studies.space import ParamSpec, SearchSpace, SpaceError, _toml_value, parse_space
from hptui.core.training.config import (
    TrainConfig,
    check_sampler_seed,
    check_study_name,
    field_names,
)

# The report's seven hyperparameters first, then epochs, then every other setting.
FORM_ORDER = (
    "learning_rate", "weight_decay", "train_batch_size", "max_seq_length", "warmup_ratio",
    "beta1", "gradient_clip_val", "num_epochs", "model", "task", "data_dir", "train_limit",
    "eval_limit", "seed", "beta2", "adam_epsilon", "eval_batch_size", "batching",
    "eval_every_steps", "device",
)  # fmt: skip
# "default": left out of the space (the config's default applies); "fixed": one value for
# every trial; the others: searched, as in a [params.NAME] table.
ROW_KINDS = ("default", "fixed", "float", "int", "categorical")
MRPC_TRAIN_PAIRS = 3668

if TYPE_CHECKING:
    from hptui.core.studies.store import Store


@dataclass(frozen=True)
class RowFields:
    """One row of the form, as typed (text, so a half-typed value is never lost)."""

    kind: str = "default"
    low: str = ""
    high: str = ""
    step: str = ""
    log: bool = False
    choices: str = ""
    value: str = ""


@dataclass(frozen=True)
class FormCheck:
    """The form's verdict: the space when every row is right, else a message per row."""

    space: SearchSpace | None
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.space is not None and not self.errors


def parse_value(text: str) -> Any:
    """A value typed in a field, read as TOML reads it (`1e-5`, `16`, `true`, `"x"`);
    `NaN` and `Infinity` as floats; anything else as a bare string."""
    text = text.strip()
    if "\n" not in text:
        try:
            return tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            pass
    try:
        return float(text)
    except ValueError:
        return text


def parse_choices(text: str) -> list[Any]:
    """`16, 32` or `[16, 32]` as a list; an empty field is an empty list."""
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1].strip()
    if not text:
        return []
    if "\n" not in text:
        try:
            value = tomllib.loads(f"v = [{text}]")["v"]
            if isinstance(value, list):
                return value
        except tomllib.TOMLDecodeError:
            pass
    return [parse_value(part) for part in text.split(",")]


def row_table(name: str, row: RowFields) -> tuple[str, Any] | None:
    """The row as TOML would hold it: ("fixed", value) or ("params", table), or None."""
    if row.kind == "default":
        return None
    if row.kind == "fixed":
        if not row.value.strip():
            raise SpaceError(name, "type a value, or choose 'default' to leave it out")
        return "fixed", parse_value(row.value)
    if row.kind == "categorical":
        return "params", {"type": "categorical", "choices": parse_choices(row.choices)}
    if row.kind not in ROW_KINDS:
        raise SpaceError(name, f"type must be one of {', '.join(ROW_KINDS)} (got {row.kind!r})")
    table: dict[str, Any] = {"type": row.kind}
    for key in ("low", "high", "step"):
        text = getattr(row, key).strip()
        if text:
            table[key] = parse_value(text)
    if row.log:
        table["log"] = True
    return "params", table


def validate_row(name: str, row: RowFields) -> tuple[ParamSpec | None, str | None]:
    """Check one row with the CLI's validator. Returns (spec, None) when right (a fixed row
    gives a spec of type 'fixed'; a default row gives (None, None)), else (None, message)."""
    try:
        found = row_table(name, row)
        if found is None:
            return None, None
        section, content = found
        space = parse_space({section: {name: content}})
    except HptuiError as exc:
        return None, str(exc)
    if section == "fixed":
        return ParamSpec(name, "fixed", value=space.fixed[name]), None
    return space.params[0], None


def check_rows(rows: Mapping[str, RowFields], order: Sequence[str] = ()) -> FormCheck:
    """Every row, then the space as a whole, through `parse_space`. Rows keep `order`
    (a loaded file's order, so saving gives the file back), then the form's order."""
    errors: dict[str, str] = {}
    raw: dict[str, dict[str, Any]] = {"fixed": {}, "params": {}}
    names = [n for n in order if n in rows] + [n for n in rows if n not in order]
    for name in names:
        _spec, problem = validate_row(name, rows[name])
        if problem:
            errors[name] = problem
            continue
        found = row_table(name, rows[name])
        if found is not None:
            raw[found[0]][name] = found[1]
    if errors:
        return FormCheck(None, errors)
    try:
        return FormCheck(parse_space(raw))
    except ConfigError as exc:  # a check across rows
        return FormCheck(None, {exc.key: str(exc)})


def format_value(value: Any) -> str:
    """A value as the form shows it: TOML text, strings bare when that reads back the same."""
    if isinstance(value, str) and parse_value(value) == value and value.strip() == value:
        return value
    return _toml_value(value)


def rows_from_space(space: SearchSpace) -> tuple[dict[str, RowFields], list[str]]:
    """The form's rows for a space (every setting; those not in it as 'default') and the
    space's own order of names, for `check_rows`."""
    rows = {name: RowFields() for name in FORM_ORDER}
    for name, value in space.fixed.items():
        rows[name] = RowFields(kind="fixed", value=format_value(value))
    for p in space.params:
        if p.type == "fixed":
            rows[p.name] = RowFields(kind="fixed", value=format_value(p.value))
        elif p.type == "categorical":
            choices = ", ".join(_toml_value(c) for c in p.choices)
            rows[p.name] = RowFields(kind="categorical", choices=choices)
        else:
            rows[p.name] = RowFields(
                kind=p.type,
                low=_toml_value(p.low),
                high=_toml_value(p.high),
                step="" if p.step is None else _toml_value(p.step),
                log=p.log,
            )
    order = [*space.fixed, *(p.name for p in space.params)]
    return rows, order


def check_study_fields(name: str, seed_text: str, seeds_text: str = "") -> dict[str, str]:
    """The study name, sampler seed and seeds per configuration as typed: a message per
    wrong field (empty seeds per configuration: 1)."""
    errors: dict[str, str] = {}
    if seeds_text.strip():
        from hptui.core.studies.replicates import check_seed_count

        try:
            check_seed_count(seeds_text, "seeds per configuration")
        except ConfigError as exc:
            errors["seeds_per_config"] = str(exc)
    try:
        check_study_name(name)
    except ConfigError as exc:
        errors["name"] = str(exc)
    text = seed_text.strip()
    if text:
        try:
            check_sampler_seed(int(text))
        except ConfigError as exc:  # a ValueError too: first
            errors["seed"] = str(exc)
        except ValueError:
            errors["seed"] = f"--seed: a whole number, or empty for none (got {text!r})"
    return errors


def save_space(space: SearchSpace, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write the space in the CLI's TOML format (`SearchSpace.to_toml`); an existing file
    is replaced only when asked."""
    target = Path(path).expanduser()
    if target.is_dir():
        raise SpaceError("file", f"{target} is a folder; give a file name ending in .toml")
    if target.exists() and not overwrite:
        raise SpaceError("file", f"{target} exists; confirm to replace it")
    try:
        target.write_text(space.to_toml(), encoding="utf-8")
    except OSError as exc:
        raise SpaceError("file", f"cannot write {target}: {exc.strerror}") from None
    return target


def _typical(space: SearchSpace, name: str) -> float:
    """A setting's value in a typical trial: fixed, else the middle of what is searched."""
    values = space.fixed_values()
    if name in values and values[name] is not None:
        return float(values[name])
    for p in space.params:
        if p.name == name and p.type == "categorical":
            return float(statistics.mean(float(c) for c in p.choices))
        if p.name == name and p.low is not None and p.high is not None:
            return (p.low + p.high) / 2
    default = getattr(TrainConfig(), name)
    return float(default) if default is not None else float(MRPC_TRAIN_PAIRS)


def trial_work(space: SearchSpace) -> float:
    """Token-epochs a typical trial trains on: epochs x training pairs x sequence length."""
    pairs = min(_typical(space, "train_limit"), MRPC_TRAIN_PAIRS)
    return _typical(space, "num_epochs") * pairs * _typical(space, "max_seq_length")


def finished_configs(store: Store) -> list[tuple[dict[str, Any], float]]:
    """(config, seconds) of every COMPLETE trial in the storage: what a trial's time is
    estimated from."""
    finished = []
    for info in store.studies():
        for row in store.trials(info.name):
            config = row.user_attrs.get(attrs.CONFIG)
            seconds = row.duration_s
            if row.state == "COMPLETE" and isinstance(config, dict) and seconds:
                finished.append((config, seconds))
    return finished


def estimate_trial_seconds(
    space: SearchSpace, finished: Iterable[tuple[Mapping[str, Any], float]]
) -> tuple[float, int] | None:
    """A rough time per trial: the median seconds per token-epoch of finished trials of the
    same model (their configs and durations), times this space's work. Returns (seconds,
    trials it is based on), or None when no finished trial of that model is there."""
    model = space.fixed_values().get("model", TrainConfig().model)
    rates = []
    for config, seconds in finished:
        if config.get("model") != model or not seconds or not math.isfinite(seconds):
            continue
        try:
            known = {k: v for k, v in config.items() if k in field_names()}
            fixed = {k: v for k, v in known.items() if k != "device"}
            work = trial_work(parse_space({"fixed": fixed}))
        except HptuiError:
            continue
        rates.append(seconds / work)
    if not rates:
        return None
    return statistics.median(rates) * trial_work(space), len(rates)


def row_names() -> tuple[str, ...]:
    """Every setting the form has a row for (all of `TrainConfig`)."""
    extra = tuple(f.name for f in dataclasses.fields(TrainConfig) if f.name not in FORM_ORDER)
    return FORM_ORDER + extra


def describe_distribution(dist: Any) -> str:
    """What a searched parameter takes, as a person reads it (not Optuna's repr):
    `one of 5e-05, 3e-05`, `float in [1e-05, 0.0001] (log)`, `int in [8, 32], step 8`."""
    choices = getattr(dist, "choices", None)
    if choices is not None:
        return "one of " + ", ".join(format_value(c) for c in choices)
    low, high = getattr(dist, "low", None), getattr(dist, "high", None)
    if low is None or high is None:
        return str(dist)
    kind = "int" if isinstance(low, int) and isinstance(high, int) else "float"
    text = f"{kind} in [{format_value(low)}, {format_value(high)}]"
    step = getattr(dist, "step", None)
    if step is not None and not (kind == "int" and step == 1):
        text += f", step {format_value(step)}"
    if getattr(dist, "log", False):
        text += " (log)"
    return text


def check_point_fields(
    settings: Any, study: str, texts: Mapping[str, str]
) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """A manual trial as typed (one text per searched parameter; empty: Optuna samples it),
    checked by `check_point`, the check of `enqueue`. Returns (params, {}) or (None, errors)."""
    from hptui.core.studies.settings import check_point

    params: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, text in texts.items():
        if not text.strip():
            continue
        value = parse_value(text)
        try:
            check_point(settings, study, {name: value})
        except HptuiError as exc:
            errors[name] = str(exc)
            continue
        params[name] = value
    if not errors:
        try:
            check_point(settings, study, params)
        except ConfigError as exc:
            errors[exc.key] = str(exc)
    return (None, errors) if errors else (params, {})


# Starting points of the form: (label, file in hptui.core.studies' presets/, sampler, seed).
# The repository's examples/ holds links to the same files.
PRESETS = {
    "report-grid": ("the report's 3x2x3 grid", "report-grid.toml", "grid", None),
    "report-explore": ("the report's 7-parameter exploration", "report-explore.toml", "tpe", None),
    "report-tpe": ("the report's TPE space", "report-tpe.toml", "tpe", 0),
    "cpu-grid": ("the 3x2x3 grid on a CPU (examples/grid.toml)", "grid.toml", "grid", None),
}


def preset_space(key: str) -> tuple[SearchSpace, str, int | None]:
    """A preset's space, sampler and seed (read from the package, validated like any file)."""
    from hptui.core.studies.space import PRESETS_DIR, load_space

    _label, filename, sampler, seed = PRESETS[key]
    # The CPU grid names the data relative to the repository's examples/: from the package
    # that means nothing, so the console's --data-dir (or $HPTUI_DATA_DIR) applies instead.
    return load_space(PRESETS_DIR / filename, relative_data_dir=False), sampler, seed
