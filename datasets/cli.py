"""What every goldloop command shares: argument parsing conventions, output, and exit codes.

Exit codes: 0 success, 1 error (``error: <message>`` on stderr), 2 partial success (for
example some records rejected), 130 interrupted.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn, TypeVar

from datasets import jsonout
from datasets.errors import GoldloopError
from datasets.results import StepResult

EXIT_OK, EXIT_ERROR, EXIT_PARTIAL, EXIT_INTERRUPTED = 0, 1, 2, 130

R = TypeVar("R", bound=StepResult)


class _Parser(argparse.ArgumentParser):
    """Usage errors exit with status 1, since status 2 means "partial success" here."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"error: {message}\n")


def parser(prog: str, description: str, progress: bool = False) -> argparse.ArgumentParser:
    """An ``ArgumentParser`` with the ``--json`` flag every reporting command offers and, for the
    commands that show progress (``progress``), ``--quiet``.

    The one progress convention: bars go to stderr, also with ``--json`` (stdout stays one JSON
    object), and ``--quiet`` turns them off.
    """
    p = _Parser(prog=prog, description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true", help="print the result as one JSON object on stdout")
    if progress:
        p.add_argument("--quiet", action="store_true", help="no progress bars on stderr (shown by default, also with --json)")
    return p


def emit(result: R, as_json: bool, human: Callable[[R], str]) -> None:
    """Print ``result`` as one JSON object, its ``to_json()`` (strict JSON: NaN and infinities as
    null), or as ``human(result)``: the one way a command prints its result."""
    if as_json:
        print(jsonout.dumps(result.to_json(), sort_keys=True))
    else:
        print(human(result))


def run(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None) -> None:
    """Run a command's ``main`` and exit with its status, turning known failures into messages."""
    try:
        code = main(argv)
    except GoldloopError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        code = EXIT_INTERRUPTED
    sys.exit(code)
