"""Tourniquet: a Kubernetes operator that runs the incident-response playbook in the cluster."""

__version__ = "0.1.0"
