"""Model cards into a study: one trial per usable card, over a space built from the cards.

The parsing lives in `model_cards`; this module decides the searched ranges and writes the
trials through Optuna, so `hptui analyze CARDS-STUDY` runs the paper's analysis on them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hptui.core.studies import attrs
from hptui.core.studies.export import update_flat_table
from hptui.core.studies.settings import OBJECTIVES, SETTINGS_ATTR, StudyError, StudySettings
from hptui.core.studies.space import SearchSpace, SpaceError, parse_space
from hptui.core.studies.storage import optuna_storage

from .info import CARD_INFO_ATTR, card_info
from .parse import TRAIN_FIELDS, CardRecord, describe


@dataclass(frozen=True)
class ImportReport:
    """What `import_cards` did, per card and in total; `lines()` is what a CLI prints."""

    study_name: str
    objective: str
    searched: dict[str, str]  # param -> range, e.g. "1e-05..9e-05 (log)"
    notes: list[str]  # params left out of the space, and why
    cards: list[tuple[str, str, list[str]]]  # (card name, outcome, describe() lines)
    complete: int = 0
    failed: int = 0
    not_imported: int = 0
    filtered_out: list[tuple[str, str]] = field(default_factory=list)  # (card, why)

    def lines(self) -> list[str]:
        out = []
        for name, outcome, details in self.cards:
            out += [f"{name}: {outcome}", *(f"  {line}" for line in details)]
        out += [f"{name}: left out by the filters ({why})" for name, why in self.filtered_out]
        out.append(f"study {self.study_name!r} (objective {self.objective}, sampler random):")
        out += [f"  searched {name}: {desc}" for name, desc in self.searched.items()]
        out += [f"  {note}" for note in self.notes]
        out.append(
            f"{self.complete + self.failed} trials imported ({self.complete} complete, "
            f"{self.failed} failed: no {self.objective}), {self.not_imported} cards not imported"
            + (f", {len(self.filtered_out)} left out by the filters" if self.filtered_out else "")
        )
        return out


def build_space(records: Iterable[CardRecord]) -> tuple[SearchSpace, dict[str, str], list[str]]:
    """Ranges over the numeric training settings the cards state. Params with one value,
    non-numeric ones and ones hptui cannot train with are left out, each with a note."""
    seen: dict[str, list[float | int]] = {}
    other: set[str] = set()
    for record in records:
        for key, value in record.params.items():
            if key in TRAIN_FIELDS and isinstance(value, int | float):
                seen.setdefault(key, []).append(value)
            else:
                other.add(key)
    specs: dict[str, dict[str, Any]] = {}
    searched: dict[str, str] = {}
    notes = [f"kept as trial attributes only: {', '.join(sorted(other))}"] if other else []
    for name, values in sorted(seen.items()):
        low, high, is_int = min(values), max(values), TRAIN_FIELDS[name].startswith("int")
        if low == high:
            notes.append(f"{name}: one value ({low}) across the cards; not searched")
            continue
        if is_int and not all(float(v).is_integer() for v in values):
            notes.append(f"{name}: not all values are whole numbers; not searched")
            continue
        log = name == "learning_rate" and low > 0
        spec = {"type": "int", "low": int(low), "high": int(high)} if is_int else {
            "type": "float", "low": float(low), "high": float(high), "log": log}  # fmt: skip
        try:
            parse_space({"params": {name: spec}})
        except SpaceError as exc:
            notes.append(f"{exc}; not searched")
            continue
        specs[name], searched[name] = spec, f"{low}..{high}" + (" (log)" if log else "")
    return parse_space({"params": specs}), searched, notes


FILTER_KEYS = ("task", "dataset", "base_model", "architecture")


def filter_cards(
    records: Iterable[CardRecord], filters: Mapping[str, str | None]
) -> tuple[list[CardRecord], list[tuple[str, str]]]:
    """The cards whose task, dataset, base model and architecture (see `card_info`) contain
    each given text (case-insensitive); the others with the reason they were left out. A card
    that does not state a filtered attribute is left out."""
    wanted = {k: v.lower() for k, v in filters.items() if v}
    unknown = set(wanted) - set(FILTER_KEYS)
    if unknown:
        raise ValueError(f"unknown card filter(s): {', '.join(sorted(unknown))}")
    kept, dropped = [], []
    for record in records:
        info = card_info(record)
        misses = [
            f"{key} {info[key]!r} does not contain {text!r}" if info[key] else f"no {key} stated"
            for key, text in wanted.items()
            if text not in (info[key] or "").lower()
        ]
        if misses:
            dropped.append((record.name, "; ".join(misses)))
        else:
            kept.append(record)
    return kept, dropped


def import_cards(
    records: list[CardRecord],
    study_name: str,
    storage_url: str,
    objective: str = "accuracy",
    filters: Mapping[str, str | None] | None = None,
) -> ImportReport:
    """Create study `study_name` with one finished trial per usable card that passes the
    `filters` (task, dataset, base_model, architecture: see `filter_cards`).

    A card without the objective becomes a FAIL trial (Optuna needs a finite value for a
    COMPLETE one), so its parameters and other metrics still show, and both `hptui trials`
    and `hptui analyze` see it as FAIL; import with that metric as the objective to fit
    over it. Each trial records the card's task, dataset, base model and architecture
    (user attribute `hptui.card_info`). An existing study of that name is never touched:
    it is an error that suggests another name.
    """
    import optuna

    records, filtered_out = filter_cards(records, filters or {})
    usable = [r for r in records if r.usable]
    if not usable:
        why = " that passes the filters" if filtered_out else ""
        raise StudyError(
            f"no card{why} states both a learning rate and a metric; nothing to import"
        )
    space, searched, notes = build_space(usable)
    direction = OBJECTIVES.get(objective, "maximize")
    settings = StudySettings(space, objective=objective, direction=direction, sampler="random")
    try:
        study = optuna.create_study(
            storage=optuna_storage(storage_url),
            study_name=study_name,
            direction="minimize" if direction == "minimize" else "maximize",
        )
    except optuna.exceptions.DuplicatedStudyError:
        raise StudyError(
            f"study {study_name!r} already exists in {storage_url}; import into a new study, "
            f"e.g. `hptui import-cards DIR --study {study_name}-2`"
        ) from None
    study.set_user_attr(SETTINGS_ATTR, settings.to_json())
    study.set_user_attr(attrs.SOURCE, "model cards")
    distributions = space.distributions()
    cards: list[tuple[str, str, list[str]]] = []
    for record in records:
        if not record.usable:
            missing = "no learning rate" if "learning_rate" not in record.params else "no metric"
            cards.append((record.name, f"not imported: {missing}", describe(record)))
            continue
        value = record.metrics.get(objective)
        reason = "imported" if value is not None else f"card states no {objective}"
        params = {k: v for k, v in record.params.items() if k in distributions}
        state = optuna.trial.TrialState.FAIL if value is None else optuna.trial.TrialState.COMPLETE
        # flat copies of the metrics too, as the worker writes them for optuna-dashboard
        user_attrs = {attrs.METRICS: dict(record.metrics), attrs.SOURCE: "model card",
                 attrs.CARD: record.name, attrs.CARD_PARAMS: dict(record.params),
                 attrs.CARD_SOURCES: dict(record.sources), attrs.REASON: reason,
                 CARD_INFO_ATTR: card_info(record), **record.metrics}  # fmt: skip
        study.add_trial(
            optuna.trial.create_trial(
                params=params,
                distributions={k: distributions[k] for k in params},
                value=value,
                state=state,
                user_attrs=user_attrs,
            )
        )
        outcome = f"imported ({objective} = {value})" if value is not None else f"FAIL: {reason}"
        cards.append((record.name, outcome, describe(record)))
    update_flat_table(storage_url, study_name)  # the typed table for users' own SQL
    done = sum(1 for _, outcome, _ in cards if outcome.startswith("imported"))
    left = len(records) - len(usable)
    return ImportReport(
        study_name, objective, searched, notes, cards, done, len(usable) - done, left,
        filtered_out,
    )  # fmt: skip
