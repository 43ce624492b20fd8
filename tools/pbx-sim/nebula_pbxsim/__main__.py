"""`python -m nebula_pbxsim serve|call|phone|...`: the `nebula sim` commands without the nebula CLI."""

from __future__ import annotations

import argparse
import sys

from nebula_pbxsim.cli import add_commands


def main(argv: list[str] | None = None) -> None:
    """Parse and run one `sim` command."""
    parser = argparse.ArgumentParser(prog="python -m nebula_pbxsim")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["sim", *(sys.argv[1:] if argv is None else argv)])
    args.func(args)


if __name__ == "__main__":
    main()
