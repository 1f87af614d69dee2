"""python -m tourniquet.cli.kubectl_incident: the same as kubectl-incident."""

from tourniquet.cli.kubectl_incident.main import main

main()
