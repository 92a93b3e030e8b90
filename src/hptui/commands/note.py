"""`hptui note NAME --trial N "text"`: a one-line note on a trial, kept in the study."""

from __future__ import annotations

import argparse


def run_note(args: argparse.Namespace) -> int:
    from hptui.core.studies.store import Store

    note = Store(args.storage).set_note(args.name, args.trial, args.text)
    if note is None:
        print(f"trial {args.trial} of {args.name!r}: note cleared")
    else:
        print(f"trial {args.trial} of {args.name!r}: note {note!r}")
    return 0
