"""What an action leaves the reconcile to do next, named instead of a boolean."""

from __future__ import annotations

from enum import Enum


class After(Enum):
    #: The action decided (a refusal, a finished rollout): the reconcile wraps up and
    #: writes the status once.
    WRAP_UP = "wrap-up"
    #: The action wrote the Incident itself (a claim, the patch's outcome), or found it
    #: changed meanwhile: the next event decides again, nothing more to write now.
    WRITTEN = "written"
