"""Changing the space of a study that already has trials: a new study, never a rewrite.

A study's trials are only comparable under one space, so an edited space becomes a new study
(`NAME-2` suggested). Its history is seeded with the old finished trials that Optuna can take
as they are: every searched value inside the new distributions, every other setting the same
as the new space gives, and the new objective recorded. Those go in with `study.add_trial`,
so the sampler learns from them and a grid does not run their points again; the others are
counted and left out. The old study is only read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hptui.core.training.config import TrainConfig

from . import attrs
from .settings import SETTINGS_ATTR, StudyError, StudySettings, load_settings, queue_grid
from .storage import optuna_storage

MACHINE_SETTINGS = ("data_dir", "device")  # per host, not part of what a trial measured
HISTORY_SOURCE = "history"


def suggest_name(name: str, existing: Iterable[str]) -> str:
    """`NAME-2`, or the next free `NAME-N` (`lr-2` becomes `lr-3`, not `lr-2-2`)."""
    taken = set(existing)
    stem, _, tail = name.rpartition("-")
    base, number = (stem, int(tail) + 1) if stem and tail.isdigit() else (name, 2)
    while f"{base}-{number}" in taken:
        number += 1
    return f"{base}-{number}"


@dataclass(frozen=True)
class SpaceChange:
    """What creating the changed study did, said in one line by `summary`."""

    old: str
    new: str
    copied: int
    left_out: int
    queued: int
    reasons: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        text = (
            f"created {self.new!r} from {self.old!r}: {self.copied} old trial(s) copied "
            f"as history, {self.left_out} left out"
        )
        if self.reasons:
            text += " (" + "; ".join(f"{n} {r}" for r, n in self.reasons.items()) + ")"
        if self.queued:
            text += f"; {self.queued} grid point(s) queued"
        return text + f"; {self.old!r} is unchanged"


def history_point(
    trial: Any, old: StudySettings, new: StudySettings
) -> tuple[dict[str, Any], float | None] | str:
    """The old trial as a point of the new space and its new objective value, or why not."""
    defaults = TrainConfig().to_dict()
    recorded = trial.user_attrs.get(attrs.CONFIG)
    config: Mapping[str, Any] = {
        **defaults,
        **old.space.fixed_values(),
        **trial.params,
        **(recorded if isinstance(recorded, Mapping) else {}),
    }
    distributions = new.space.distributions()
    params: dict[str, Any] = {}
    for name, distribution in distributions.items():
        value = config.get(name)
        try:
            inside = distribution._contains(distribution.to_internal_repr(value))
        except (ValueError, TypeError):
            inside = False
        if not inside:
            return f"outside the new {name} range"
        params[name] = value
    wanted = {**defaults, **new.space.fixed_values()}
    for name, value in wanted.items():
        if name in distributions or name in MACHINE_SETTINGS:
            continue
        if config.get(name) != value:
            return f"ran with another {name}"
    if trial.state.name != "COMPLETE":
        return params, None
    if new.objective == old.objective:
        return params, trial.value
    metrics = trial.user_attrs.get(attrs.METRICS) or {}
    value = metrics.get(new.objective)
    if not isinstance(value, int | float) or isinstance(value, bool):
        return f"no recorded {new.objective}"
    return params, float(value)


def create_changed_study(
    old_name: str, new_name: str, settings: StudySettings, storage_url: str
) -> SpaceChange:
    """Create `new_name` with `settings`, seeded with the old study's comparable finished
    trials (COMPLETE and PRUNED) as history; a grid then queues only the points not in it.
    Refuses a name that exists: nothing existing is rewritten."""
    import optuna
    from optuna.trial import TrialState

    settings.check_needs()
    old_settings = load_settings(old_name, storage_url)
    storage = optuna_storage(storage_url)
    if any(s.study_name == new_name for s in storage.get_all_studies()):
        raise StudyError(f"study {new_name!r} exists; choose another name for the new space")
    old = optuna.load_study(study_name=old_name, storage=storage)
    study = optuna.create_study(
        storage=storage,
        study_name=new_name,
        direction="maximize" if settings.direction == "maximize" else "minimize",
        sampler=settings.make_sampler(),
        pruner=settings.make_pruner(),
    )
    study.set_user_attr(SETTINGS_ATTR, settings.to_json())
    study.set_user_attr(attrs.DERIVED_FROM, old_name)
    copied, left_out = 0, 0
    reasons: dict[str, int] = {}
    distributions = settings.space.distributions()
    finished = old.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
    for trial in finished:
        point = history_point(trial, old_settings, settings)
        if isinstance(point, str):
            left_out += 1
            reasons[point] = reasons.get(point, 0) + 1
            continue
        params, value = point
        study.add_trial(
            optuna.trial.create_trial(
                state=trial.state,
                value=value,
                params=params,
                distributions={k: distributions[k] for k in params},
                user_attrs={
                    **trial.user_attrs,
                    attrs.SOURCE: HISTORY_SOURCE,
                    attrs.COPIED_FROM: f"{old_name}#{trial.number}",
                },
                intermediate_values=dict(trial.intermediate_values),
            )
        )
        copied += 1
    queued = queue_grid(study, settings) if settings.sampler == "grid" else 0
    return SpaceChange(old_name, new_name, copied, left_out, queued, reasons)
