"""How the CLI prints: data on stdout (one JSON document with --json), prose and progress on
stderr when stdout carries JSON, and tables that never cut values short when piped."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

out = Console(soft_wrap=True)  # data and results; long lines are never broken
err = Console(stderr=True, soft_wrap=True)  # progress, and prose whenever stdout is JSON


def say(text: str, *, as_json: bool = False) -> None:
    """A sentence for a person: stdout normally, stderr when stdout is a JSON document."""
    (err if as_json else out).print(text)


def emit_json(doc: Any) -> None:
    """The one JSON document of a --json command."""
    sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A rich table on a terminal; piped, tab-separated lines with every value in full (a
    rich table is as wide as the terminal it guesses, and shortens what does not fit)."""
    if out.is_terminal:
        t = Table(*headers)
        for row in rows:
            t.add_row(*row)
        out.print(t)
        return
    for row in (headers, *rows):
        sys.stdout.write("\t".join(row) + "\n")
