"""Seed replicates: trials that re-run a configuration with another training seed.

A configuration is a trial's searched parameters (every one but `seed`, as sorted JSON); its
group is every trial of the study with the same configuration, named by its lowest trial
number (`#3`). A replicate is an ordinary Optuna trial queued with the original's parameters
and two user attributes: `hptui.replicate_of` (the original's number) and
`hptui.replicate_seed` (the training seed the worker runs it with, recorded in `hptui.seed`
as every trial's is). Seeds never repeat within a group: the next unused integers after the
base seed are taken.

Per group and metric the COMPLETE trials give n, the mean, the standard deviation (n - 1)
and the 95% t interval of the mean; "best by mean" is the group whose mean of the objective
is best among those with at least two seeds, with its interval, and whether it overlaps the
runner-up's (then the difference may be seed noise, not the configuration).

Rows here are flat dicts (`hptui trials`' rows, the console's): `number`, `state`, one key
per parameter, one per metric, and `seed`. Plain Python; scipy is imported only for the t
quantile.
"""

from __future__ import annotations

import functools
import json
import math
import statistics
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hptui.core.errors import ConfigError

from . import attrs
from .settings import StudyError

if TYPE_CHECKING:
    from .settings import StudySettings

MAX_SEEDS = 100  # replicates queued at once per trial (`--seeds`, the console's K)
GROUP_METRICS = ("f1", "accuracy", "loss")
CONFIDENCE = 0.95
MIN_SEEDS_FOR_BEST = 2  # a single run has no interval: it is not "best by mean"
DEFAULT_TRAIN_SEED = 42  # TrainConfig's default, when a space fixes none


def check_seed_count(value: Any, option: str = "--seeds") -> int:
    """How many seeds to queue, as typed or passed: a whole number from 1 to 100."""
    text = str(value).strip()
    try:
        count = int(text)
    except ValueError:
        raise ConfigError(option, f"a whole number from 1 to {MAX_SEEDS} (got {text!r})") from None
    if not 1 <= count <= MAX_SEEDS:
        raise ConfigError(option, f"must be from 1 to {MAX_SEEDS} (got {count})")
    return count


def parse_trial_numbers(text: str, option: str = "--trials") -> list[int]:
    """`3,7` or `3 7` as trial numbers, each once, in the order given."""
    parts = [p for p in text.replace(",", " ").split() if p]
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        raise ConfigError(option, f"expected trial numbers like 3,7 (got {text!r})") from None
    if not numbers or any(n < 0 for n in numbers):
        raise ConfigError(option, f"expected trial numbers like 3,7 (got {text!r})")
    return list(dict.fromkeys(numbers))


def recorded_seed(user_attrs: Mapping[str, Any]) -> int | None:
    """The training seed a trial ran with (`hptui.seed`), else the one it is queued to run
    with (`hptui.replicate_seed`), else None."""
    for key in (attrs.SEED, attrs.REPLICATE_SEED):
        value = user_attrs.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def key_params(names: Iterable[str]) -> list[str]:
    """The parameters that make a configuration: every one but the seed."""
    return [name for name in names if name != "seed"]


def searched_params(settings: StudySettings) -> list[str]:
    """A study's configuration parameters: its searched (not fixed) ones, seed left out."""
    return key_params(p.name for p in settings.space.params if p.type != "fixed")


ConfigKey = tuple[tuple[str, Any], ...]


def config_key(row: Mapping[str, Any], params: Sequence[str]) -> ConfigKey:
    """The configuration of a flat row: equal for replicates, whatever the seed, and
    whatever order the parameters are named in. Numbers compare as floats (a queued 16 and
    a stored 16.0 are one configuration). A tuple, not text: 10,000 rows are keyed in
    milliseconds."""
    return tuple((name, _plain(row.get(name))) for name in sorted(params))


def _plain(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, list | dict):  # unhashable: compared as its JSON
        return json.dumps(value, sort_keys=True, default=str)
    return value


def next_seeds(used: Collection[int], base: int, count: int) -> list[int]:
    """`count` seeds from `base` up that are not in `used` (nor repeated among themselves)."""
    seeds: list[int] = []
    candidate = base
    while len(seeds) < count:
        if candidate not in used:
            seeds.append(candidate)
        candidate += 1
    return seeds


def base_seed(settings: StudySettings | None) -> int:
    """The training seed a trial of the study runs with unless told another."""
    if settings is None:
        return DEFAULT_TRAIN_SEED
    value = settings.space.fixed_values().get("seed", DEFAULT_TRAIN_SEED)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return DEFAULT_TRAIN_SEED


# -- statistics --------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """One metric over a group's COMPLETE trials: n, mean, sd (n - 1) and the 95% t interval
    of the mean (sd and interval need two values)."""

    n: int
    mean: float | None = None
    sd: float | None = None
    low: float | None = None
    high: float | None = None

    def mean_sd(self) -> str:
        """`0.884 ± 0.006`; one value alone is `0.884`; none is `-`."""
        if self.mean is None:
            return "-"
        if self.sd is None:
            return _g(self.mean)
        return f"{_g(self.mean)} ± {_g(self.sd, 2)}"

    def describe(self) -> str:
        """`0.884 ± 0.006 (n=3)`; one value alone is `0.884 (n=1)`; none is `-`."""
        return "-" if self.mean is None else f"{self.mean_sd()} (n={self.n})"

    def interval(self) -> str:
        if self.low is None or self.high is None:
            return "no interval (one seed)"
        return f"95% CI [{_g(self.low)}, {_g(self.high)}]"


def _g(value: float, digits: int = 4) -> str:
    return f"{value:.{digits}g}"


def summarize(values: Sequence[float], confidence: float = CONFIDENCE) -> Summary:
    """n, mean, sample sd and the t interval of the mean of `values`."""
    n = len(values)
    if n == 0:
        return Summary(0)
    mean = statistics.fmean(values)
    if n == 1:
        return Summary(1, mean)
    sd = statistics.stdev(values)
    half = t_quantile(0.5 + confidence / 2, n - 1) * sd / math.sqrt(n)
    return Summary(n, mean, sd, mean - half, mean + half)


@functools.lru_cache(maxsize=512)
def t_quantile(p: float, df: int) -> float:
    """Student's t quantile, once per (p, df): scipy is imported on first use only (it
    takes a second to load; a front end warms it in a thread with `t_quantile(0.975, 2)`)."""
    from scipy import stats

    return float(stats.t.ppf(p, df))


@dataclass(frozen=True)
class ConfigGroup:
    """The trials of one configuration. `config` is its id, the lowest trial number;
    `complete` the COMPLETE trials the statistics count (excluded ones left out)."""

    config: int
    params: dict[str, Any]
    numbers: tuple[int, ...]
    complete: tuple[int, ...]
    seeds: tuple[int, ...]
    stats: dict[str, Summary] = field(default_factory=dict)
    excluded: int = 0

    @property
    def label(self) -> str:
        return f"#{self.config}"

    @property
    def n(self) -> int:
        return len(self.complete)

    def summary(self, metric: str) -> Summary:
        return self.stats.get(metric) or Summary(0)


def config_ids(rows: Iterable[Mapping[str, Any]], params: Sequence[str]) -> dict[int, int]:
    """Each trial's group id (the lowest trial number of its configuration)."""
    lowest: dict[ConfigKey, int] = {}
    keys: dict[int, ConfigKey] = {}
    for row in rows:
        number = int(row["number"])
        key = keys[number] = config_key(row, params)
        lowest[key] = min(lowest.get(key, number), number)
    return {number: lowest[key] for number, key in keys.items()}


def group_rows(
    rows: Iterable[Mapping[str, Any]],
    params: Sequence[str],
    metrics: Sequence[str] = GROUP_METRICS,
    exclude: Collection[int] = (),
) -> list[ConfigGroup]:
    """Every configuration of the rows, by id; statistics over COMPLETE trials not in
    `exclude` (trials left out of analysis), each metric over its finite values."""
    params = key_params(params)
    members: dict[ConfigKey, list[Mapping[str, Any]]] = {}
    for row in rows:
        members.setdefault(config_key(row, params), []).append(row)
    groups = []
    for trials in members.values():
        trials = sorted(trials, key=lambda r: int(r["number"]))
        counted = [
            r for r in trials if r.get("state") == "COMPLETE" and int(r["number"]) not in exclude
        ]
        excluded = sum(
            1 for r in trials if r.get("state") == "COMPLETE" and int(r["number"]) in exclude
        )
        stats = {m: summarize(_values(counted, m)) for m in metrics}
        first = trials[0]
        groups.append(
            ConfigGroup(
                config=int(first["number"]),
                params={name: first.get(name) for name in params},
                numbers=tuple(int(r["number"]) for r in trials),
                complete=tuple(int(r["number"]) for r in counted),
                seeds=tuple(s for r in counted if isinstance(s := r.get("seed"), int)),
                stats=stats,
                excluded=excluded,
            )
        )
    return sorted(groups, key=lambda g: g.config)


def _values(rows: Iterable[Mapping[str, Any]], metric: str) -> list[float]:
    return [float(row[metric]) for row in rows if _finite(row.get(metric))]


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def sort_groups(groups: Iterable[ConfigGroup], metric: str, direction: str) -> list[ConfigGroup]:
    """Best mean first (in the direction), more seeds first among equals; groups with no
    value for the metric last, by id."""
    sign = -1.0 if direction == "maximize" else 1.0

    def key(group: ConfigGroup) -> tuple[int, float, int, int]:
        mean = group.summary(metric).mean
        if mean is None:
            return (1, 0.0, 0, group.config)
        return (0, sign * mean, -group.n, group.config)

    return sorted(groups, key=key)


@dataclass(frozen=True)
class BestByMean:
    """The configuration with the best mean of `metric`, among those with `min_n` or more
    seeds, and the runner-up it was compared with."""

    metric: str
    direction: str
    group: ConfigGroup
    runner_up: ConfigGroup | None
    min_n: int = MIN_SEEDS_FOR_BEST

    @property
    def overlap(self) -> bool | None:
        """Whether the 95% intervals of the best two overlap (None without a runner-up)."""
        if self.runner_up is None:
            return None
        best, other = self.group.summary(self.metric), self.runner_up.summary(self.metric)
        if None in (best.low, best.high, other.low, other.high):
            return None
        assert best.low is not None and best.high is not None
        assert other.low is not None and other.high is not None
        return best.low <= other.high and other.low <= best.high

    def sentence(self) -> str:
        """`best by mean f1: #3, 0.884 ± 0.006 (n=3), 95% CI [...]; ...`."""
        best = self.group.summary(self.metric)
        text = (
            f"best by mean {self.metric}: {self.group.label}, {best.describe()}, {best.interval()}"
        )
        if self.runner_up is None:
            return text + f"; no other configuration has {self.min_n}+ seeds to compare"
        other = self.runner_up.summary(self.metric)
        against = f"{self.runner_up.label} ({other.describe()}, {other.interval()})"
        if self.overlap:
            return text + f"; overlaps the runner-up {against}: the difference may be seed noise"
        return text + f"; clear of the runner-up {against}"


def best_by_mean(
    groups: Iterable[ConfigGroup],
    metric: str,
    direction: str,
    min_n: int = MIN_SEEDS_FOR_BEST,
) -> BestByMean | None:
    """The best mean of `metric` among groups with `min_n` or more seeds (None if none)."""
    ranked = [g for g in sort_groups(groups, metric, direction) if g.summary(metric).n >= min_n]
    if not ranked:
        return None
    return BestByMean(metric, direction, ranked[0], ranked[1] if len(ranked) > 1 else None, min_n)


def no_best_sentence(metric: str, min_n: int = MIN_SEEDS_FOR_BEST) -> str:
    return (
        f"best by mean {metric}: no configuration has {min_n} or more complete seeds yet; "
        "queue some with `hptui study replicate` (or R on the trials tab)"
    )


def group_table(
    groups: Sequence[ConfigGroup], params: Sequence[str], metrics: Sequence[str] = GROUP_METRICS
) -> list[dict[str, Any]]:
    """One flat row per configuration for CSV, JSON and tables: config, n, trials, seeds,
    the parameters, then mean, sd and interval per metric (full precision)."""
    table = []
    for group in groups:
        row: dict[str, Any] = {
            "config": group.label,
            "n": group.n,
            "trials": " ".join(str(n) for n in group.numbers),
            "seeds": " ".join(str(s) for s in group.seeds),
        }
        row.update({name: group.params.get(name) for name in key_params(params)})
        for metric in metrics:
            summary = group.summary(metric)
            row[f"{metric}_mean"] = summary.mean
            row[f"{metric}_sd"] = summary.sd
            row[f"{metric}_low"] = summary.low
            row[f"{metric}_high"] = summary.high
        table.append(row)
    return table


# -- queueing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplicatePlan:
    """Replicates to queue of one trial: its parameters and the seeds, one trial each."""

    number: int
    params: dict[str, Any]
    seeds: tuple[int, ...]


def row_params(row: Mapping[str, Any], params: Sequence[str]) -> dict[str, Any]:
    return {name: row[name] for name in params}


def top_numbers(
    rows: Sequence[Mapping[str, Any]], count: int, objective: str, direction: str,
    params: Sequence[str],
) -> list[int]:  # fmt: skip
    """The `count` best COMPLETE trials by the objective, one per configuration."""
    if count < 1:
        raise ConfigError("--top", f"must be at least 1 (got {count})")
    done = [r for r in rows if r.get("state") == "COMPLETE" and _finite(r.get(objective))]
    done.sort(key=lambda r: (-r[objective] if direction == "maximize" else r[objective],
                             r["number"]))  # fmt: skip
    chosen: list[int] = []
    seen: set[ConfigKey] = set()
    for row in done:
        key = config_key(row, key_params(params))
        if key not in seen:
            seen.add(key)
            chosen.append(int(row["number"]))
        if len(chosen) == count:
            break
    if not chosen:
        raise StudyError("no COMPLETE trial to replicate yet")
    return chosen


def plan_replicates(
    study: str,
    settings: StudySettings,
    rows: Sequence[Mapping[str, Any]],
    numbers: Iterable[int],
    count: int,
) -> list[ReplicatePlan]:
    """What `count` seed replicates of each trial in `numbers` are: refused, naming the
    trial, when one does not exist or did not finish COMPLETE; seeds the next unused
    integers after the trial's own seed within its configuration's group."""
    count = check_seed_count(count)
    wanted = list(dict.fromkeys(int(n) for n in numbers))
    if not wanted:
        raise ConfigError("--trials", "name at least one trial, e.g. --trials 3,7 (or --top N)")
    names = [p.name for p in settings.space.params if p.type != "fixed"]
    if "seed" in names:
        raise StudyError(
            f"study {study!r} searches the seed itself: its trials already differ in their "
            "seed, so replicates would not be the same configuration"
        )
    params = key_params(names)
    by_number = {int(r["number"]): r for r in rows}
    for number in wanted:
        row = by_number.get(number)
        if row is None:
            span = f"numbered 0 to {max(by_number)}" if by_number else "none yet"
            raise StudyError(f"no trial {number} in study {study!r} (its trials: {span})")
        if row.get("state") != "COMPLETE":
            raise StudyError(
                f"trial {number} is {row.get('state')}: only a trial that finished COMPLETE "
                "can be replicated (its result is what the other seeds are compared with)"
            )
        missing = [name for name in params if row.get(name) is None]
        if missing:
            raise StudyError(
                f"trial {number} has no value for {missing[0]}: its configuration is not "
                "one of this study's space, so it cannot be queued again"
            )
    default = base_seed(settings)
    used: dict[ConfigKey, set[int]] = {}
    for row in rows:
        seed = row.get("seed")
        used.setdefault(config_key(row, params), set()).add(
            seed if isinstance(seed, int) and not isinstance(seed, bool) else default
        )
    plans = []
    for number in wanted:
        row = by_number[number]
        key = config_key(row, params)
        own = row.get("seed")
        start = own if isinstance(own, int) and not isinstance(own, bool) else default
        seeds = next_seeds(used.setdefault(key, set()), start, count)
        used[key].update(seeds)
        settings.space.config_for({**row_params(row, params), "seed": seeds[-1]})  # in range
        plans.append(ReplicatePlan(number, row_params(row, params), tuple(seeds)))
    return plans


def queue_replicates(study: str, storage_url: str, plans: Sequence[ReplicatePlan]) -> int:
    """Queue one trial per planned seed (Optuna's `enqueue_trial`, so any worker takes it);
    returns how many were queued."""
    from .settings import load_study

    optuna_study = load_study(study, storage_url)
    queued = 0
    for plan in plans:
        for seed in plan.seeds:
            optuna_study.enqueue_trial(
                plan.params,
                user_attrs={
                    attrs.SOURCE: "replicate",
                    attrs.REPLICATE_OF: plan.number,
                    attrs.REPLICATE_SEED: seed,
                },
            )
            queued += 1
    return queued


# -- a study's groups ----------------------------------------------------------------------


@dataclass(frozen=True)
class GroupedTrials:
    """A study's configurations sorted by the mean of its objective (best first), and the
    best by mean: what `hptui trials --group` and the console's grouped view show."""

    study: str
    objective: str
    direction: str
    params: tuple[str, ...]
    groups: tuple[ConfigGroup, ...]
    best: BestByMean | None
    trials: int

    def best_sentence(self) -> str:
        return self.best.sentence() if self.best else no_best_sentence(self.objective)

    def table(self) -> list[dict[str, Any]]:
        return group_table(self.groups, self.params)


def grouped_trials(
    study: str,
    rows: Sequence[Mapping[str, Any]],
    *,
    objective: str,
    direction: str,
    params: Sequence[str],
    exclude: Collection[int] = (),
) -> GroupedTrials:
    """Group flat rows by configuration, sort by the objective's mean, find the best."""
    names = key_params(params)
    groups = sort_groups(group_rows(rows, names, exclude=exclude), objective, direction)
    best = best_by_mean(groups, objective, direction)
    return GroupedTrials(study, objective, direction, tuple(names), tuple(groups), best, len(rows))
