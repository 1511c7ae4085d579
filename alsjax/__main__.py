"""`python -m alsjax`: the same command line as the `alsjax` script."""

from .cli import main

main()
