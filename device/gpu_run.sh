#!/usr/bin/env bash
# The one prepared GPU run (issue 12), from the repository root, with .whl/ and .devcarry/
# carried beside the code (make them here first: see bench/README.md):
#   bash device/gpu_run.sh                 # writes into $OUT (the device's result folder)
#   GPU_RUN_SMOKE=1 OUT=$(mktemp -d) bash device/gpu_run.sh   # CPU rehearsal, tiny sizes
# Phases, each under its own time limit, later ones running even if one fails:
#   1. bench/gpu.py: hptui vs transformers.Trainer, distilbert-base sizes, 2 rounds, profile
#   2. examples/build_example_db.py: grid + TPE studies on offline-minilm, 2 workers each
#   3. bench/workers_per_gpu.py: N = 1, 2, 4 detached workers
#   4. bench/gpu.py --compile-only: one torch.compile round, with the time that is left
# Results: $OUT/{run.log,bench.json,example.json,runs.db.example,workers.json,compile.json}
# GPU_RUN_PLAN=packing (issue 17) runs bench/gpu_packing.py alone instead, within the budget:
#   GPU_RUN_PLAN=packing bash device/gpu_run.sh                          # -> $OUT/packing.json
#   GPU_RUN_PLAN=packing GPU_RUN_SMOKE=1 OUT=$(mktemp -d) bash device/gpu_run.sh   # rehearsal
set -u
OUT=${OUT:-/tmp/gpu-run-out}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/run.log") 2>&1
BUDGET=${GPU_RUN_BUDGET:-525}  # seconds for the whole script
T0=$(date +%s)
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1
export TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
ROOT=$(pwd)

if [ "${GPU_RUN_SMOKE:-0}" = 1 ]; then
  PY=${PYTHON:-$ROOT/.venv/bin/python}
  DATA=$(cd "$ROOT/../shared/data/mrpc" && pwd)
  CARDS=$(cd "$ROOT/../shared/data/model-cards" && pwd)
  export OMP_NUM_THREADS=1
  BENCH=(--model-size tiny --train-limit 64 --eval-limit 64 --rounds 1 --profile)
  EXAMPLE=(--model tiny-distilbert --cpu-subset --train-limit 32 --eval-limit 32 --trials 2
           --workers 2 --device cpu)
  WORKERS=(--model tiny-distilbert --trials 2 --workers 1 2 --train-limit 32 --eval-limit 32
           --device cpu --timeout 120)
  LIMITS=(240 300 200)
  COMPILE=(--model-size tiny --train-limit 64 --eval-limit 64 --rounds 1)
else
  PY=python3
  DATA=$ROOT/.devcarry/mrpc
  CARDS=$ROOT/.devcarry/model-cards
  export HPTUI_MINILM_DIR=$ROOT/.devcarry/minilm  # fp16 copy, upcast to fp32 at load
  export OMP_NUM_THREADS=4
  BENCH=(--rounds 2 --profile)
  EXAMPLE=(--workers 2 --device cuda --timeout 170)
  WORKERS=(--model offline-minilm --trials 6 --workers 1 2 4 --train-limit 1024
           --eval-limit 408 --device cuda --timeout 35)
  LIMITS=(140 215 125)
  COMPILE=(--rounds 1)
fi

# hptui without installing the repository: the package tree assembled under /tmp/pkg.
PKG=$(mktemp -d /tmp/hptui-pkg.XXXX)
mkdir -p "$PKG/hptui"
cp -r "$ROOT"/src/hptui/. "$PKG/hptui/"
cp -r "$ROOT/core" "$PKG/hptui/core"
cp -r "$ROOT/tui" "$PKG/hptui/tui"
if [ "${GPU_RUN_SMOKE:-0}" = 1 ]; then
  export PYTHONPATH=$PKG
else
  echo "=== installing the carried wheels (no network) ==="
  if ! $PY -m pip install -q --no-index --no-deps --no-compile --target /tmp/site \
      "$ROOT"/.whl/*.whl; then
    echo "!!! pip install failed: unpacking the wheels instead (they are zip files)"
    for wheel in "$ROOT"/.whl/*.whl; do $PY -m zipfile -e "$wheel" /tmp/site; done
  fi
  export PYTHONPATH=$PKG:/tmp/site
fi
export HPTUI_DATA_DIR=$DATA

left() { echo $(( BUDGET - ($(date +%s) - T0) )); }
phase() {  # phase NAME LIMIT COMMAND...: run under min(LIMIT, time left), log the outcome
  local name=$1 limit=$2; shift 2
  local remaining; remaining=$(left)
  [ "$limit" -gt "$remaining" ] && limit=$remaining
  if [ "$limit" -lt 20 ]; then echo "=== $name: skipped, ${remaining}s left ==="; return; fi
  echo "=== $name: start at +$(( $(date +%s) - T0 ))s, limit ${limit}s ==="
  local started; started=$(date +%s)
  timeout --signal=TERM --kill-after=10 "$limit" "$@"
  local status=$?
  echo "=== $name: exit $status after $(( $(date +%s) - started ))s$([ $status = 124 ] && echo ' (TIME LIMIT)') ==="
}

echo "=== machine ==="
nvidia-smi || echo "(no nvidia-smi)"
nproc; free -g | head -2
$PY - <<'EOF'
import importlib, sys
print("python", sys.version.split()[0])
for name in ("torch", "transformers", "accelerate", "optuna", "sqlalchemy", "sqlite_utils", "hptui"):
    try:
        module = importlib.import_module(name)
        print(name, getattr(module, "__version__", "?"), getattr(module, "__file__", ""))
    except Exception as exc:
        print(name, "MISSING:", exc)
import torch
print("cuda", torch.version.cuda, "available", torch.cuda.is_available(),
      torch.cuda.get_device_name() if torch.cuda.is_available() else "")
EOF

if [ "${GPU_RUN_PLAN:-all}" = packing ]; then
  SMOKE=(); [ "${GPU_RUN_SMOKE:-0}" = 1 ] && SMOKE=(--smoke)
  phase "bench/gpu_packing.py" "$(left)" \
    $PY bench/gpu_packing.py --data-dir "$DATA" --out "$OUT/packing.json" \
    --budget $(( $(left) - 25 )) "${SMOKE[@]}"
  rm -rf "$PKG"
  echo "=== done after $(( $(date +%s) - T0 ))s; files in $OUT: ==="
  ls -la "$OUT"
  exit 0
fi

phase "bench/gpu.py (compile off)" "${LIMITS[0]}" \
  $PY bench/gpu.py --data-dir "$DATA" --out "$OUT/bench.json" "${BENCH[@]}"
phase "examples/build_example_db.py" "${LIMITS[1]}" \
  $PY examples/build_example_db.py --out "$OUT/runs.db.example" --force --data-dir "$DATA" \
  --cards-dir "$CARDS" --json "$OUT/example.json" "${EXAMPLE[@]}"
phase "bench/workers_per_gpu.py" "${LIMITS[2]}" \
  $PY bench/workers_per_gpu.py --data-dir "$DATA" --out "$OUT/workers.json" "${WORKERS[@]}"
phase "bench/gpu.py --compile-only" 600 \
  $PY bench/gpu.py --data-dir "$DATA" --compile-only --skip-hf --out "$OUT/compile.json" \
  "${COMPILE[@]}"
rm -rf "$PKG"
echo "=== done after $(( $(date +%s) - T0 ))s; files in $OUT: ==="
ls -la "$OUT"
