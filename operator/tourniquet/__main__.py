"""python -m tourniquet: the operator CLI."""

from tourniquet.cli.main import main

main()
