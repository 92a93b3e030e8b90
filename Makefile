# Two commands for a fresh machine: `make demo` (the main job) and `make test` (everything CI runs).
# Both create .venv and install what they need. Without a CUDA driver, torch is pinned to the
# CPU wheel (torch==2.13.0); plain `torch` would pull a multi-GB CUDA build.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA_DIR ?= ../shared/data/mrpc

.PHONY: console demo test lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	@if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then \
		echo "CUDA driver found: installing the CUDA build of torch"; \
		$(BIN)/pip install --quiet torch; \
	else \
		echo "no CUDA driver: installing the CPU build torch==2.13.0"; \
		$(BIN)/pip install --quiet torch==2.13.0; \
	fi
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# The console on the example database (real studies trained on a GPU, and model cards).
console: $(VENV)/.installed
	$(BIN)/hptui --db runs.db.example

# Measured to learn (validation accuracy 0.6912 -> 0.7525, F1 0.8325 vs the majority
# baseline's 0.6838 / 0.8122): see README, "Two commands".
demo: $(VENV)/.installed
	$(BIN)/hptui train --data-dir $(DATA_DIR) --set model=offline-minilm --set num_epochs=2 \
		--set train_limit=2000 --set learning_rate=1e-4 --set train_batch_size=16 \
		--set max_seq_length=64

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

bench: $(VENV)/.installed
	$(BIN)/python bench/trainer_vs_hf.py --data-dir $(DATA_DIR)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
