"""``python -m symtoe``: the command line (see :mod:`symtoe.cli`)."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
