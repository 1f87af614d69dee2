"""Whether the approval policy is installed and bound with Deny, kept current in the
background, so an approval costs no policy GET or binding LIST on the undo's path.

Re-checked every few seconds; until the first answer, or after a failed check, the
answer is "unknown" and the claim asks the API server itself (the safe, slower path).
"""

from __future__ import annotations

import asyncio
import logging

from tourniquet.shell.kube import Kube

log = logging.getLogger("tourniquet.policy")

INTERVAL_S = 5.0


class PolicyPresence:
    def __init__(self, policy: str, interval: float = INTERVAL_S) -> None:
        self.policy = policy
        self.interval = interval
        self.enforced: bool | None = None

    async def check(self, kube: Kube) -> bool:
        try:
            self.enforced = await kube.approval_policy_enforced(self.policy)
        except Exception:
            self.enforced = None
            raise
        return self.enforced

    async def is_enforced(self, kube: Kube) -> bool:
        """The last answer, or a fresh one when there is none."""
        return self.enforced if self.enforced is not None else await self.check(kube)

    async def run(self, kube: Kube) -> None:
        while True:
            try:
                await self.check(kube)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the API may be briefly away: unknown until next time
                log.warning("checking the approval policy %s failed: %s", self.policy, exc)
            await asyncio.sleep(self.interval)
