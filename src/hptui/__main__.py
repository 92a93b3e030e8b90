"""`python -m hptui` is the same as the `hptui` command."""

from hptui.cli import main

raise SystemExit(main())
