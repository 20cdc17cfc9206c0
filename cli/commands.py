"""The ``convzoo`` console command.

Subcommands are plugins like everything else: each room registers its own in the
entry-point group ``convzoo.commands``. An entry point names a function
``register(subparsers)`` that adds one parser and sets ``func`` (``args -> exit code``).
User errors (``ValueError``, ``LookupError``, ``OSError``) end the command with one line
on stderr and exit code 1, and so does a module of the ``export`` extra missing from a serving
install (cli/extras.py); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import entry_points

from convzoo.cli.extras import missing_extra

USER_ERRORS = (ValueError, LookupError, OSError)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every installed subcommand."""
    parser = argparse.ArgumentParser(
        prog="convzoo",
        description="Export, serve and evaluate ImageNet classifiers over ONNX Runtime.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for entry in sorted(entry_points(group="convzoo.commands"), key=lambda e: e.name):
        entry.load()(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one ``convzoo`` subcommand and return its exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"convzoo {args.command}: interrupted", file=sys.stderr)
        return 130
    except ModuleNotFoundError as exc:
        hint = missing_extra(exc)
        if hint is None:
            raise
        print(f"convzoo {args.command}: error: {hint}", file=sys.stderr)
        return 1
    except USER_ERRORS as exc:
        message = exc.args[0] if isinstance(exc, LookupError) and exc.args else exc
        print(f"convzoo {args.command}: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
