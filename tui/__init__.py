"""hptui's Textual front end (the TUI). It reads studies through hptui.core's read API and
holds no training or statistics logic of its own."""
