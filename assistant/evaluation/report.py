"""How every evaluation subcommand prints: progress on stderr (none with --json), then one JSON object or a table
on stdout; a data problem is one line on stderr and exit code 2."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Callable


def report(args: argparse.Namespace, evaluate: Callable[[Callable[[str], None]], dict], table: Callable[[dict], str],
           data_errors: tuple[type[Exception], ...]) -> int:
    """Run one evaluation for the CLI: progress on stderr (none with --json), then one JSON object or the table on
    stdout. A data problem is one line on stderr and exit code 2."""
    log = (lambda s: None) if args.json else (lambda s: print(s, file=sys.stderr, flush=True))
    try:
        result = evaluate(log)
    except data_errors as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(result) if args.json else table(result))
    return 0


