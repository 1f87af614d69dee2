"""Where things are: the repository (devkit lives in it, never installed) and the cache
hack/cluster.sh keeps outside it."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLUSTER_SCRIPT = REPO / "hack" / "cluster.sh"


def cache_root() -> Path:
    """hack/cluster.sh's cache (the same variables decide): TOURNIQUET_CACHE, else
    $XDG_CACHE_HOME/tourniquet, else ~/.cache/tourniquet."""
    if os.environ.get("TOURNIQUET_CACHE"):
        return Path(os.environ["TOURNIQUET_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tourniquet"
