"""python -m tourniquet: the operator CLI."""

from tourniquet.cli import main

main()
