"""hptui's headless core: data, models, training, studies and statistics.

Nothing in here imports Textual or rich (a test checks), so every front end — the CLI,
the TUI, a notebook, a worker process — drives the same code. Heavy libraries (torch,
transformers, datasets, statsmodels) are imported inside the functions that need them.
"""
