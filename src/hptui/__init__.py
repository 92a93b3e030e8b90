"""hptui: a terminal tuning console for fine-tuning transformer classifiers.

`hptui.core` (from the repository's core/ folder) is the headless engine; `hptui.tui`
(from tui/) is the Textual front end; `hptui.cli` and `hptui.commands` are the command line.
"""

__version__ = "0.1.0"
