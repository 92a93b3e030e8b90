"""Studies: an Optuna study plus the settings hptui needs to run it anywhere.

The search space, objective, sampler, pruner and seed are stored as study user attributes,
so a worker on any host rebuilds the same study from the storage alone, and a space that
changed is caught when the study is created, not when every later trial fails.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hptui.core.errors import ConfigError, HptuiError

from . import attrs
from .space import SearchSpace, space_from_json
from .storage import StorageError, optuna_storage

if TYPE_CHECKING:
    import optuna

SAMPLERS = ("tpe", "random", "grid", "qmc", "cmaes", "gp")
PRUNERS = ("none", "median", "successive-halving", "hyperband")
OBJECTIVES = {"f1": "maximize", "accuracy": "maximize", "loss": "minimize"}
SETTINGS_ATTR = attrs.SETTINGS
GRID_QUEUED_ATTR = attrs.GRID_QUEUED
# A grid study queues every point as a trial when it is created: past this many points that
# takes long and fills the database with waiting trials; sample such a space instead.
MAX_GRID_POINTS = 10_000
MAX_SEEDS_PER_CONFIG = 100
# What each sampler needs beyond Optuna: (module, pip package).
SAMPLER_NEEDS = {
    "cmaes": (("cmaes", "cmaes"),),
    "gp": (("scipy", "scipy"), ("torch", "torch")),
    "qmc": (("scipy", "scipy"),),
}


class StudyError(HptuiError):
    """A study is missing, exists with other settings, or cannot take a request."""


@dataclass(frozen=True)
class StudySettings:
    """How a study samples, prunes and scores; stored with the study as JSON."""

    space: SearchSpace
    objective: str = "f1"
    direction: str = "maximize"
    sampler: str = "tpe"
    pruner: str = "none"
    seed: int | None = None
    # Training seeds per configuration: a worker queues K - 1 seed replicates of each
    # configuration it starts (core/studies/replicates.py); each counts in the trial total.
    seeds_per_config: int = 1

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ConfigError("--objective", f"must be one of {', '.join(OBJECTIVES)}")
        if self.direction not in ("maximize", "minimize"):
            raise ConfigError("--direction", "must be maximize or minimize")
        if self.sampler not in SAMPLERS:
            raise ConfigError("--sampler", f"must be one of {', '.join(SAMPLERS)}")
        if self.pruner not in PRUNERS:
            raise ConfigError("--pruner", f"must be one of {', '.join(PRUNERS)}")
        if (
            isinstance(self.seeds_per_config, bool)
            or not isinstance(self.seeds_per_config, int)
            or not 1 <= self.seeds_per_config <= MAX_SEEDS_PER_CONFIG
        ):
            raise ConfigError(
                "--seeds-per-config",
                f"must be a whole number from 1 to {MAX_SEEDS_PER_CONFIG} "
                f"(got {self.seeds_per_config!r})",
            )
        if self.sampler == "grid":
            points = grid_size(self.space)  # raises, naming the parameter, if not finite
            if points > MAX_GRID_POINTS:
                raise ConfigError(
                    "--sampler grid",
                    f"the space has {points:,} grid points, more than the {MAX_GRID_POINTS:,} "
                    "a grid study queues; use fewer values or --sampler tpe/random/qmc",
                )

    def check_needs(self) -> None:
        """Refuse, at creation, a sampler whose package is missing or a pruner that could
        never prune, instead of letting every worker fail on them later."""
        import importlib.util

        for module, package in SAMPLER_NEEDS.get(self.sampler, ()):
            if importlib.util.find_spec(module) is None:
                raise ConfigError(
                    "--sampler",
                    f"{self.sampler} needs the {package!r} package: pip install {package}",
                )
        if self.pruner != "none" and max_epochs(self.space) < 2:
            raise ConfigError(
                "--pruner",
                f"{self.pruner} prunes between epochs, but every trial runs 1 epoch: "
                "use --pruner none, or num_epochs of 2 or more",
            )

    def to_json(self) -> str:
        data: dict[str, Any] = {
            "space": self.space.to_dict(),
            "objective": self.objective,
            "direction": self.direction,
            "sampler": self.sampler,
            "pruner": self.pruner,
            "seed": self.seed,
        }
        if self.seeds_per_config != 1:  # left out at 1: older studies' JSON stays the same
            data["seeds_per_config"] = self.seeds_per_config
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> StudySettings:
        data = json.loads(text)
        data["space"] = space_from_json(json.dumps(data["space"]))
        return cls(**data)

    def make_sampler(self, seed_offset: int = 0) -> optuna.samplers.BaseSampler:
        """A fresh sampler (Optuna does not store them); workers offset the seed so two
        workers of one seeded study do not propose the same points."""
        import optuna

        seed = None if self.seed is None else self.seed + seed_offset
        if self.sampler == "tpe":
            return optuna.samplers.TPESampler(seed=seed)
        if self.sampler == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        if self.sampler == "qmc":
            return optuna.samplers.QMCSampler(seed=seed)
        if self.sampler == "cmaes":
            return optuna.samplers.CmaEsSampler(seed=seed)
        if self.sampler == "gp":
            return optuna.samplers.GPSampler(seed=seed)
        # grid: every point is enqueued at creation, so the sampler only covers extras
        return optuna.samplers.RandomSampler(seed=seed)

    def make_pruner(self) -> optuna.pruners.BasePruner:
        import optuna

        epochs = int(self.space.fixed_values().get("num_epochs", 3))
        if self.pruner == "median":
            return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
        if self.pruner == "successive-halving":
            return optuna.pruners.SuccessiveHalvingPruner(min_resource=1)
        if self.pruner == "hyperband":
            return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(epochs, 2))
        return optuna.pruners.NopPruner()


def create_study(
    name: str,
    settings: StudySettings,
    storage_url: str,
    *,
    on_queued: Callable[[int], None] | None = None,
) -> tuple[Any, bool]:
    """Create a study, or return the existing one if its settings are the same.

    Returns (study, created). A study of that name with other settings is an error that
    lists the differences and suggests a new name, so no later trial fails on them.
    """
    import optuna

    settings.check_needs()
    storage = optuna_storage(storage_url)
    existing = _find(storage, name)
    if existing is not None:
        if SETTINGS_ATTR not in existing.user_attrs:  # plain Optuna's, or being created
            raise StudyError(_exists_message(name))
        stored = StudySettings.from_json(existing.user_attrs[SETTINGS_ATTR])
        if stored.to_json() != settings.to_json():
            changes = stored.space.differences(settings.space)
            for key in ("objective", "direction", "sampler", "pruner", "seed", "seeds_per_config"):
                if getattr(stored, key) != getattr(settings, key):
                    changes.append(f"{key}: {getattr(stored, key)!r} -> {getattr(settings, key)!r}")
            raise StudyError(
                f"study {name!r} already exists with other settings:\n  "
                + "\n  ".join(changes)
                + f"\nCreate a new study instead, e.g. `hptui study create {name}-2 ...`, "
                "so the trials of each space stay comparable."
            )
        study = load_study(name, storage_url)
        if settings.sampler == "grid":
            queued = queue_grid(study, settings)  # a create killed part way: resume it
            if on_queued is not None and queued:
                on_queued(queued)
        return study, False
    try:
        study = optuna.create_study(
            storage=storage,
            study_name=name,
            direction="maximize" if settings.direction == "maximize" else "minimize",
            sampler=settings.make_sampler(),
            pruner=settings.make_pruner(),
        )
    except optuna.exceptions.DuplicatedStudyError:  # another process created it meanwhile
        raise StudyError(_exists_message(name)) from None
    from .identity import claim_study  # rows a deleted study left on this id: not ours

    claim_study(storage_url, study, created=True)
    study.set_user_attr(SETTINGS_ATTR, settings.to_json())
    if settings.sampler == "grid":
        queued = queue_grid(study, settings)
        if on_queued is not None:
            on_queued(queued)
    return study, True


def _exists_message(name: str) -> str:
    """A study of that name that this create did not make: another process (creating it at
    the same moment, its settings not yet stored) or another program did."""
    return (
        f"study {name!r} already exists (another process or program created it); "
        "choose another name, or run the same command again to compare its settings"
    )


def queue_grid(study: optuna.Study, settings: StudySettings) -> int:
    """Queue the grid points not yet in the study (all of them for a new study); returns
    how many were queued. Resumable: a create killed part way queues the rest when run
    again, never a point twice; the study is marked complete only at the end, and workers
    refuse a grid study that is not."""
    have = {_point_key(t.system_attrs.get("fixed_params") or t.params)
            for t in study.get_trials(deepcopy=False)}  # fmt: skip
    queued = 0
    for point in settings.space.grid():
        if _point_key(point) not in have:
            study.enqueue_trial(point, user_attrs={attrs.SOURCE: "grid"})
            queued += 1
    if study.user_attrs.get(GRID_QUEUED_ATTR) is None:
        study.set_user_attr(GRID_QUEUED_ATTR, grid_size(settings.space))
    return queued


def grid_complete(study: optuna.Study) -> bool:
    return study.user_attrs.get(GRID_QUEUED_ATTR) is not None


def _point_key(point: dict[str, Any]) -> str:
    return json.dumps(point, sort_keys=True, default=str)


def grid_size(space: SearchSpace) -> int:
    """How many points the grid has, counted without building it (a huge int range would
    fill the memory); raises, naming the parameter, if a range has no step."""
    size = 1
    for p in space.params:
        if p.type in ("float", "int") and p.step is not None and not p.log:
            assert p.low is not None and p.high is not None
            size *= math.floor((p.high - p.low) / p.step + 1e-9) + 1
        else:
            size *= len(p.grid_values())
    return size


def max_epochs(space: SearchSpace) -> int:
    """The most epochs a trial of the space runs (a pruner needs two to act between)."""
    for p in space.params:
        if p.name == "num_epochs" and p.type in ("int", "float") and p.high is not None:
            return int(p.high)
        if p.name == "num_epochs" and p.type == "categorical":
            return int(max(p.choices))
    return int(space.fixed_values().get("num_epochs", 3))


def _find(storage: Any, name: str) -> Any:
    for summary in storage.get_all_studies():
        if summary.study_name == name:
            return summary
    return None


def load_settings(name: str, storage_url: str) -> StudySettings:
    # Read only: a missing study in an empty or another program's database is refused
    # before any writer adds Optuna's and hptui's tables to it.
    try:
        summary = _find(optuna_storage(storage_url, read_only=True), name)
    except StorageError as exc:
        if not any(s in str(exc) for s in ("no such database", "no hptui or Optuna tables")):
            raise
        summary = None  # no study database there: so no such study either
    if summary is None:
        raise StudyError(_no_study_message(name, storage_url))
    if SETTINGS_ATTR not in summary.user_attrs:
        raise StudyError(
            f"study {name!r} was not created by hptui (no search space stored); "
            "create one with `hptui study create`"
        )
    return StudySettings.from_json(summary.user_attrs[SETTINGS_ATTR])


def load_study(
    name: str,
    storage_url: str,
    *,
    heartbeat: tuple[int, int] | None = None,
    seed_offset: int = 0,
) -> optuna.Study:
    import optuna

    from .identity import claim_study
    from .retry import retrying_storage

    settings = load_settings(name, storage_url)
    study = optuna.load_study(
        study_name=name,
        # every read and write of the study rides out a storage outage (core/studies/retry.py)
        storage=retrying_storage(optuna_storage(storage_url, heartbeat=heartbeat)),
        sampler=settings.make_sampler(seed_offset),
        pruner=settings.make_pruner(),
    )
    claim_study(storage_url, study)  # a writer: orphans of a deleted study go first
    return study


def enqueue(name: str, storage_url: str, params: dict[str, Any]) -> None:
    """Queue a manual trial; its values must lie in the study's space."""
    settings = load_settings(name, storage_url)
    check_point(settings, name, params)
    study = load_study(name, storage_url)
    study.enqueue_trial(params, user_attrs={attrs.SOURCE: "manual"})


def check_point(settings: StudySettings, name: str, params: dict[str, Any]) -> None:
    """Refuse a manual trial whose values lie outside the study's space, or whose whole
    config would not validate (what `enqueue` and the console's form both check)."""
    distributions = settings.space.distributions()
    for key, value in params.items():
        if key not in distributions:
            raise ConfigError(
                key, f"not a searched parameter of {name!r}; searched: {', '.join(distributions)}"
            )
        distribution = distributions[key]
        try:
            internal = distribution.to_internal_repr(value)
        except ValueError:
            internal = None
        if internal is None or not distribution._contains(internal):
            raise ConfigError(key, f"{value!r} is outside the study's space {distribution}")
    settings.space.config_for(params)  # the whole config must validate


def _no_study_message(name: str, storage_url: str) -> str:
    return (
        f"no study {name!r} in {storage_url}; create it with "
        f"`hptui study create {name} --space FILE.toml` (or pass --storage)"
    )
