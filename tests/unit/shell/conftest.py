"""The shell's unit tests share one fixture: a Scenario over a FakeKube."""

from __future__ import annotations

import pytest
from shell_scenario import Scenario


@pytest.fixture
def scenario(monkeypatch: pytest.MonkeyPatch) -> Scenario:
    return Scenario(monkeypatch)
