"""Model-card import: hyperparameters and evaluation metrics from Hugging Face model cards.

A card is a folder with README.md (and sometimes config.json). Trainer-generated cards state
hyperparameters and results as bullet lists and may repeat the metrics at full precision in
the YAML `model-index`; hand-written cards use prose, `key = value` lines, CLI flags, code
blocks, tables or dict literals. Each value keeps the place it was read from, and anything
present but unusable (ambiguous, malformed, not a number) is skipped with a reason rather
than guessed. `card_import.import_cards` records the usable cards as trials of a study.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from hptui.core.errors import first_line
from hptui.core.training.config import TrainConfig

Value = float | int | str
Candidates = dict[str, list[tuple[str, str]]]  # normalised key -> [(raw value, source)]
METRICS = ("accuracy", "f1", "loss", "precision", "recall")
EXPECTED = ("learning_rate", "train_batch_size", "num_epochs", "accuracy", "f1", "loss")
PERCENT = " (percent, divided by 100)"
INT_PARAMS = {"train_batch_size", "eval_batch_size", "num_epochs", "seed", "warmup_steps",
              "gradient_accumulation_steps", "total_train_batch_size", "max_seq_length",
              "training_steps"}  # fmt: skip
FLOAT_PARAMS = {"learning_rate", "weight_decay", "warmup_ratio", "beta1", "beta2", "adam_epsilon"}
PARAM_ALIASES = {
    **{k: k for k in INT_PARAMS | FLOAT_PARAMS | {"lr_scheduler_type", "optimizer", "warmup"}},
    "lr": "learning_rate", "per_device_train_batch_size": "train_batch_size",
    "per_gpu_train_batch_size": "train_batch_size", "training_batch_size": "train_batch_size",
    "batch_size": "train_batch_size", "per_device_eval_batch_size": "eval_batch_size",
    "per_gpu_eval_batch_size": "eval_batch_size", "num_train_epochs": "num_epochs",
    "epochs": "num_epochs", "max_steps": "training_steps", "weight_decay_rate": "weight_decay",
    "lr_scheduler_warmup_ratio": "warmup_ratio", "lr_scheduler_warmup_steps": "warmup_steps",
    "model_name_or_path": "base_model",
}  # fmt: skip
METRIC_ALIASES = {
    "accuracy": "accuracy", "acc": "accuracy", "f1": "f1", "f1_score": "f1", "loss": "loss",
    "validation_loss": "loss", "val_loss": "loss", "precision": "precision", "recall": "recall",
}  # fmt: skip
TRAIN_FIELDS = {f.name: str(f.type) for f in dataclasses.fields(TrainConfig)}
_NUM = r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?"
_Q = r"['\"`*]*"  # quotes and emphasis around keys and values
_KV = re.compile(  # `- key = 1e-5`, `key: 8`, `'f1': 68.2,`, `>>> lr = 3`
    rf"^\s*(?:>>>\s*)?(?:[-*+]\s+)?{_Q}([A-Za-z][\w \-]*?){_Q}\s*[:=]\s*{_Q}({_NUM}){_Q}\s*,?\s*$"
)
_KV_SPACED = re.compile(rf"^\s*([A-Za-z][\w ]*?)\s+({_NUM})\s*,?\s*$")  # code: `batch size 32,`
_FLAG = re.compile(r"--([A-Za-z][\w-]*)[ =]([^\s\\]+)")
_PROSE = re.compile(
    rf"\bthis model (?:reaches|achieves|achieved|has) an? (accuracy|f1(?: score)?) of ({_NUM})",
    re.IGNORECASE,
)
_SEPARATOR = re.compile(r"^\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?$")


@dataclass(frozen=True)
class CardRecord:
    """What one card states: canonical params and metrics, where each was read, what not."""

    name: str
    path: Path
    params: dict[str, Value] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        """A trial needs at least a learning rate and one metric to say anything."""
        return "learning_rate" in self.params and bool(self.metrics)


class _Collector:
    """Values offered in order of trust: the first offer of a field wins; a later, different
    value is noted in `skipped`, so the report shows the disagreement."""

    def __init__(self) -> None:
        self.params: dict[str, Value] = {}
        self.metrics: dict[str, float] = {}
        self.sources: dict[str, str] = {}
        self.skipped: list[str] = []

    def offer(self, key: str, value: Value, source: str) -> None:
        if key == "warmup":  # `warmup = 600` is steps; a fraction would be a ratio
            key = "warmup_steps" if isinstance(value, int) else "warmup_ratio"
        target: dict[str, Any] = self.metrics if key in METRICS else self.params
        if key not in target:
            target[key], self.sources[key] = value, source
        elif not _agrees(target[key], value):
            kept = self.sources[key]
            self.skip(f"{key}: {source} says {value!r}, {kept} says {target[key]!r}; kept {kept}")

    def skip(self, text: str) -> None:
        self.skipped.append(text)

    def mentions(self, key: str) -> bool:
        return any(s.startswith(f"{key}:") for s in self.skipped)


def parse_cards(root: Path) -> list[CardRecord]:
    """Every card folder under `root`, sorted by name."""
    return [parse_card(p) for p in sorted(Path(root).iterdir(), key=lambda p: p.name) if p.is_dir()]


def parse_card(folder: Path) -> CardRecord:
    """Read one card folder; a malformed card is reported in `skipped`, never raised."""
    folder = Path(folder)
    readme = folder / "README.md"
    if not readme.is_file():
        return CardRecord(folder.name, folder, skipped=["README.md: missing; nothing read"])
    text = readme.read_text(encoding="utf-8", errors="replace")
    out = _Collector()
    meta, body = _front_matter(text.replace("\u200b", "").replace("\ufeff", "").splitlines(), out)
    hyper, used_h = _bullet_block(body, "hyperparameters were used during training")
    results, used_r = _bullet_block(body, "results on the evaluation set")
    for key, raw in hyper:
        _read_hyperparameter(out, key, raw)
    candidates: Candidates = {}  # hand-written forms, and `epoch` beside the results
    listed = _read_metric_items(out, results, "results list", candidates)
    _merge_model_index(out, meta, listed)
    for header, rows in _tables(body):
        _read_table(out, header, rows, candidates, summary=bool(results or out.metrics))
    _scan_lines(body, used_h | used_r, candidates)
    for match in _PROSE.finditer("\n".join(body)):
        _add(candidates, match.group(1), match.group(2), "hand-written (prose)")
    _read_context(out, meta, "\n".join(body))
    _resolve(out, candidates)
    _read_config(out, folder / "config.json")
    for key in EXPECTED:
        if key not in {**out.params, **out.metrics} and not out.mentions(key):
            steps = out.params.get("training_steps") if key == "num_epochs" else None
            out.skip(f"{key}: not stated" + (f" (training_steps {steps} instead)" if steps else ""))
    return CardRecord(folder.name, folder, out.params, out.metrics, out.sources, out.skipped)


def _front_matter(lines: list[str], out: _Collector) -> tuple[dict[str, Any], list[str]]:
    """YAML between `---` lines at the top (blank lines before it allowed), and the body."""
    start = next((i for i, line in enumerate(lines) if line.strip()), len(lines))
    if start == len(lines) or lines[start].strip() != "---":
        out.skip("YAML front matter: none")
        return {}, lines
    end = next((i for i in range(start + 1, len(lines)) if lines[i].strip() == "---"), None)
    note = "" if end is not None else "not closed by '---'; "
    if end is None:  # take the block up to the first blank line as the YAML
        end = next((i for i in range(start + 1, len(lines)) if not lines[i].strip()), len(lines))
    try:
        import yaml  # a dependency of transformers and huggingface_hub
    except ImportError:
        out.skip("YAML front matter: PyYAML not installed; not read")
        return {}, lines[end + 1 :]
    try:
        meta = yaml.safe_load("\n".join(lines[start + 1 : end]))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + start + 2}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or first_line(exc)
        out.skip(f"YAML front matter: malformed ({note}{where}{problem}); not read")
        return {}, lines[end + 1 :]
    if note or (meta is not None and not isinstance(meta, dict)):
        out.skip(f"YAML front matter: {note.rstrip('; ') or 'not a mapping; not read'}")
    return _dict(meta), lines[end + 1 :]


def _bullet_block(lines: list[str], marker: str) -> tuple[list[tuple[str, str]], set[int]]:
    """The `- key: value` bullets after the Trainer's sentence, and the line numbers used."""
    start = next((i for i, line in enumerate(lines) if marker in line.lower()), None)
    if start is None:
        return [], set()
    items, used = [], {start}
    for j in range(start + 1, len(lines)):
        match = re.match(r"[-*]\s+([^:]+?):\s*(.*)$", lines[j].strip())
        if match:
            items.append((match.group(1), match.group(2)))
            used.add(j)
        elif lines[j].strip() or items:
            break
    return items, used


def _read_hyperparameter(out: _Collector, key: str, raw: str) -> None:
    canonical = PARAM_ALIASES.get(_norm(key), _norm(key))  # unknown keys are kept as stated
    if canonical == "optimizer":
        for name, stated in _optimizer(raw.strip()).items():
            out.offer(name, stated, "hyperparameters list")
        return
    value, problem = _convert(canonical, raw)
    if problem:
        out.skip(f"{canonical}: {problem}")
    elif value is not None:
        out.offer(canonical, value, "hyperparameters list")


def _optimizer(raw: str) -> dict[str, Value]:
    """'Adam with betas=(0.9,0.999) and epsilon=1e-08', 'Use OptimizerNames.ADAMW_TORCH_FUSED
    with ...' -> name, betas and epsilon; a Keras optimizer dict -> name, learning rate
    (the schedule's initial one) and weight decay."""
    if raw.startswith("{"):
        try:
            config = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            return {"optimizer": raw}
        lr = config.get("learning_rate")
        lr = lr.get("config", {}).get("initial_learning_rate") if isinstance(lr, dict) else lr
        found: dict[str, Value] = {"optimizer": str(config.get("name", raw)).lower()}
        decay = config.get("weight_decay_rate")
        found.update({k: float(v) for k, v in (("learning_rate", lr), ("weight_decay", decay))
                      if isinstance(v, int | float)})  # fmt: skip
        return found
    name = raw.split(" with ")[0].strip().lower().removeprefix("use ")
    found = {"optimizer": name.removeprefix("optimizernames.")}
    betas = re.search(rf"betas=\(\s*({_NUM})\s*,\s*({_NUM})\s*\)", raw)
    epsilon = re.search(rf"epsilon=({_NUM})", raw)
    if betas:
        found.update(beta1=float(betas.group(1)), beta2=float(betas.group(2)))
    if epsilon:
        found["adam_epsilon"] = float(epsilon.group(1))
    return found


def _read_metric_items(
    out: _Collector, items: Iterable[tuple[str, str]], source: str, candidates: Candidates
) -> dict[str, tuple[float, str]]:
    """`Loss: 0.34` / `eval_accuracy: 0.9` items -> {metric: (value, source)}; metrics hptui
    does not import are named in one skipped line; an `epoch` goes to the candidates."""
    found: dict[str, tuple[float, str]] = {}
    ignored = []
    for key, raw in items:
        name, number = _norm(key).removeprefix("eval_"), _number(raw)
        if name == "epoch":
            _add(candidates, name, raw, source)
        elif name in METRIC_ALIASES and number is None:
            out.skip(f"{METRIC_ALIASES[name]}: {raw!r} ({source}) is not a number; not read")
        elif name in METRIC_ALIASES and number is not None:
            metric = METRIC_ALIASES[name]
            value, problem = _metric(metric, number)
            if problem:
                out.skip(problem)
            elif value is not None:
                found[metric] = (value, source + (PERCENT if value != number else ""))
        elif name != "step":
            ignored.append(name)
    if ignored:
        out.skip(f"{source}: {', '.join(ignored)} not imported (only {', '.join(METRICS)})")
    return found


def _merge_model_index(out: _Collector, meta: dict[str, Any], listed: dict) -> None:
    """The model-index value wins where it is the full-precision form of the listed one."""
    indexed = _model_index(out, meta)
    for metric in METRICS:
        text, full = listed.get(metric), indexed.get(metric)
        if full is not None and (text is None or _agrees(full[0], text[0])):
            out.offer(metric, *full)
        elif text is not None:
            out.offer(metric, *text)
            if full is not None:
                out.skip(f"{metric}: model-index {full[0]} disagrees with the results list")


def _model_index(out: _Collector, meta: dict[str, Any]) -> dict[str, tuple[float, str]]:
    """Metrics of the first evaluation result not on the train split (`model_index` with a
    single `metric` is the pre-2021 form); a metric type given twice is ambiguous."""
    index = meta.get("model-index") or meta.get("model_index")
    results = [r for e in _as_list(index) for r in _as_list(e.get("results"))]
    if not results:
        return {}
    splits = [str(_dict(r.get("dataset")).get("split", "?")) for r in results]
    chosen = next((i for i, split in enumerate(splits) if split != "train"), 0)
    for i, other in enumerate(results):
        if i != chosen:
            name = _dict(other.get("dataset")).get("name", "?")
            out.skip(f"model-index result {i + 1} ({name}, split {splits[i]}): not read")
    result = results[chosen]
    if _dict(result.get("task")).get("type"):
        out.offer("task", str(result["task"]["type"]), "model-index")
    entries = result.get("metrics") or result.get("metric") or []
    items = [(str(e.get("type")), e.get("value")) for e in _as_list(entries)]
    grouped: dict[str, list[tuple[str, Any]]] = {}
    for kind, value in items:
        grouped.setdefault(METRIC_ALIASES.get(_norm(kind), "?"), []).append((kind, value))
    ignored = [kind for kind, _ in grouped.pop("?", [])]
    if ignored:
        out.skip(f"model-index: {', '.join(ignored)} not imported")
    for metric, values in grouped.items():
        if len(values) > 1:
            out.skip(f"{metric}: model-index gives {len(values)} values; not read")
            del values[:]
    return _read_metric_items(out, [v for vs in grouped.values() for v in vs], "model-index", {})


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _as_list(entries: Any) -> list[dict[str, Any]]:
    entries = [entries] if isinstance(entries, dict) else entries
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def _tables(lines: list[str]) -> list[tuple[list[str], list[list[str]]]]:
    """Markdown tables (outer pipes optional) as header cells and rows of cells."""
    tables = []
    for i in range(1, len(lines)):
        if "|" in lines[i - 1] and _SEPARATOR.match(lines[i].strip()):
            rows = []
            for line in lines[i + 1 :]:
                if "|" not in line:
                    break
                rows.append(_cells(line))
            tables.append((_cells(lines[i - 1]), rows))
    return tables


def _cells(line: str) -> list[str]:
    return [c.strip().strip("*_` ").strip() for c in line.strip().strip("|").split("|")]


def _read_table(
    out: _Collector, header: list[str], rows: list[list[str]], candidates: Candidates, summary: bool
) -> None:
    """A training-results table gives its last row when the card has no summary; key/value
    tables and one-row tables of named columns are hand-written candidates."""
    names = [_norm(h) for h in header]
    if not rows:
        return
    if "epoch" in names and any(n in METRIC_ALIASES for n in names):
        if not summary:
            pairs = zip(header, rows[-1], strict=False)
            last = [(h, c) for h, c in pairs if _norm(h) in METRIC_ALIASES]
            source = "training results table (last row)"
            for metric, found in _read_metric_items(out, last, source, {}).items():
                out.offer(metric, *found)
    elif len(header) == 2 and all(len(row) == 2 for row in rows):
        for key, raw in rows:
            _add(candidates, key, raw, "hand-written (table)")
    elif len(rows) == 1 and any(n in METRIC_ALIASES or n in PARAM_ALIASES for n in names):
        for head, raw in zip(header, rows[0], strict=False):
            _add(candidates, head, raw, f"hand-written (table column '{head}')")
    elif any(_number(cell) is not None for row in rows for cell in row):
        shown = " | ".join(h for h in header if h)[:60]
        why = "no column names a metric" if len(rows) == 1 else "not a results table"
        out.skip(f"table ({shown}): {why}; not read")


def _scan_lines(lines: list[str], used: set[int], candidates: Candidates) -> None:
    """`key = value` / `key: value` lines, CLI flags, dict entries outside the Trainer lists."""
    in_code = False
    for i, line in enumerate(lines):
        if line.strip().startswith("```"):
            in_code = not in_code
        if i in used or "|" in line or line.strip().startswith("```"):
            continue
        line = re.sub(r"\s+#.*$", "", line) if in_code else line
        for flag, raw in _FLAG.findall(line):
            _add(candidates, flag, raw, "hand-written (command-line flag)")
        match = _KV.match(line) or (_KV_SPACED.match(line) if in_code else None)
        if match and "--" not in line:
            _add(candidates, match.group(1), match.group(2), "hand-written")


def _add(candidates: Candidates, key: str, raw: str, source: str) -> None:
    candidates.setdefault(_norm(key), []).append((raw, source))


def _resolve(out: _Collector, candidates: Candidates) -> None:
    """Hand-written values fill what the Trainer lists left open; a field stated twice with
    different values is ambiguous and skipped. An `epoch` beside the results is where the
    evaluation happened: a fallback for num_epochs when whole, never an override."""
    for name, offered in candidates.items():
        if name.removeprefix("eval_") == "epoch":
            _read_epoch(out, *offered[0])
            continue
        key = METRIC_ALIASES.get(name.removeprefix("eval_")) or PARAM_ALIASES.get(name)
        values: list[tuple[Value, str]] = []
        for raw, source in offered if key else []:
            if key in METRICS:
                number = _number(raw)
                value, problem = _metric(key, number) if number is not None else (None, "")
                if value is not None:
                    values.append((value, source + (PERCENT if value != number else "")))
            else:
                converted, problem = _convert(str(key), raw)
                if converted is not None and problem is None:
                    values.append((converted, source))
        if len({v for v, _ in values}) > 1:
            listed = ", ".join(f"{v!r} ({s})" for v, s in values)
            out.skip(f"{key}: stated with different values: {listed}; not read")
        elif values and key:
            out.offer(key, *values[0])


def _read_epoch(out: _Collector, raw: str, source: str) -> None:
    number, stated = _number(raw), out.params.get("num_epochs")
    if number is None:
        return
    if stated is not None and not _agrees(stated, number):
        out.skip(
            f"epoch: {number} at evaluation ({source}) differs from num_epochs {stated}; kept it"
        )
    elif stated is None and float(number).is_integer() and number >= 1:
        out.offer("num_epochs", int(number), f"{source} (epoch at evaluation)")
    elif stated is None:
        out.skip(f"epoch: {number} at evaluation ({source}) is not a number of epochs")


def _read_context(out: _Collector, meta: dict[str, Any], body: str) -> None:
    """Base model and dataset: YAML keys, then the Trainer's 'fine-tuned version of' line."""
    if isinstance(meta.get("base_model"), str):
        out.offer("base_model", meta["base_model"], "YAML front matter")
    sentence = re.search(
        r"fine-tuned version of \[([^\]]+)\].*? on (?:the (.+?)|an unknown) dataset", body
    )
    if sentence:
        out.offer("base_model", sentence.group(1), "card text")
        if sentence.group(2) and sentence.group(2) != "None":
            out.offer("dataset", sentence.group(2), "card text")
    # Hand-written cards (the official DistilBERT SST-2 card and its copies) link the base
    # model in prose: "a fine-tune checkpoint of [DistilBERT-base-uncased](https://hf.co/...)".
    linked = re.search(
        r"fine-?tuned? (?:checkpoint|version) of \[[^\]]+\]\(https?://huggingface\.co/"
        r"([\w.\-]+(?:/[\w.\-]+)?)\)",
        body,
    )
    if linked and "base_model" not in out.params:
        out.offer("base_model", linked.group(1), "card text (linked)")
    datasets = meta.get("datasets")
    if isinstance(datasets, list) and len(datasets) == 1 and "dataset" not in out.params:
        out.offer("dataset", str(datasets[0]), "YAML front matter")


def _read_config(out: _Collector, path: Path) -> None:
    """config.json: the base model (older Transformers wrote `_name_or_path`), the head."""
    if not path.is_file():
        return
    try:
        config = _dict(json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        out.skip(f"config.json: not valid JSON ({exc}); not read")
        return
    if isinstance(config.get("_name_or_path"), str) and config["_name_or_path"]:
        out.offer("base_model", config["_name_or_path"], "config.json")
    heads = config.get("architectures")
    for key, value in (("architecture", heads[0] if isinstance(heads, list) and heads else None),
                       ("model_type", config.get("model_type"))):  # fmt: skip
        if isinstance(value, str):
            out.offer(key, value, "config.json")


def _norm(key: str) -> str:
    """'Validation Loss' -> validation_loss, 'F1 (weighted)' -> f1, 'learning-rate' -> ..."""
    return re.sub(r"[^a-z0-9]+", "_", re.sub(r"\(.*?\)", "", key).lower()).strip("_")


def _number(text: Any) -> float | int | None:
    if isinstance(text, int | float) and not isinstance(text, bool):
        return text
    text = str(text).strip().strip("*`'\"").rstrip(",")
    if not re.fullmatch(_NUM, text):
        return None
    return int(text) if re.fullmatch(r"[-+]?\d+", text) else float(text)


def _convert(key: str, raw: str) -> tuple[Value | None, str | None]:
    """A stated value as its parameter's type ('16' -> 16, '2e-05' -> 2e-05, '3.0' epochs
    -> 3), or the reason it cannot be one."""
    number = _number(raw)
    if key not in INT_PARAMS | FLOAT_PARAMS | {"warmup"}:
        return (number if number is not None else raw.strip()), None
    if number is None:
        return None, f"{raw.strip()!r} is not a number"
    if key in FLOAT_PARAMS:
        return float(number), None
    if float(number).is_integer():
        return int(number), None
    if key in ("num_epochs", "warmup"):
        return float(number), None
    return None, f"{raw.strip()!r} is not a whole number"


def _metric(name: str, number: float) -> tuple[float | None, str | None]:
    """Fractions stay; percentages (1 < v <= 100) become fractions; losses are taken as is."""
    value = float(number)
    if not math.isfinite(value):
        return None, f"{name}: {number} is not finite; not read"
    if name == "loss" or 0 <= value <= 1:
        return (value, None) if value >= 0 else (None, f"{name}: {number} is negative; not read")
    if 1 < value <= 100:  # shift the decimal digits: 85.1341 -> 0.851341 exactly
        return float(Decimal(repr(value)) / 100), None
    return None, f"{name}: {number} is neither a fraction nor a percentage; not read"


def _agrees(a: Any, b: Any) -> bool:
    """Equal, or equal once the longer number is rounded to the shorter one's decimals."""
    if a == b or not (isinstance(a, int | float) and isinstance(b, int | float)):
        return bool(a == b)
    texts = [repr(float(x)) for x in (a, b)]
    decimals = min(len(t.split(".")[1]) if "." in t and "e" not in t else 12 for t in texts)
    return abs(a - b) <= 0.5 * 10**-decimals + 1e-12


def describe(record: CardRecord) -> list[str]:
    """One line per value read (with its source) and per thing skipped (with the reason)."""
    values = {**record.params, **record.metrics}
    return [f"read {k} = {v!r} ({record.sources[k]})" for k, v in values.items()] + [
        f"skipped {s}" for s in record.skipped
    ]
