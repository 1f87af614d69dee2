"""Settings of the alert receiver (the CLI builds them from these `tourniquet run` flags):

--alerts-addr HOST:PORT            serve the Alertmanager webhook (POST /alerts); off when empty
--alerts-token-secret NS/NAME      the Secret whose key `token` is the bearer token
--alerts-namespace NS              where alerts no runbook answers declare incidents
--alerts-default-commander USER    commander when the runbook names none (SEV1/SEV2 need one)
--resolve-on-alert-resolved        a resolved alert group gives the all-clear (default: off)
"""

from __future__ import annotations

from dataclasses import dataclass

ALERTS_PATH = "/alerts"
TOKEN_KEY = "token"


@dataclass(frozen=True)
class AlertSettings:
    addr: str = ""
    token_secret: str = ""
    namespace: str = ""
    default_commander: str = ""
    resolve_on_alert_resolved: bool = False
    #: The namespaces the operator watches; empty: all of them.
    watched: tuple[str, ...] = ()

    @property
    def secret_ref(self) -> tuple[str, str]:
        namespace, _, name = self.token_secret.partition("/")
        return namespace, name

    @property
    def incident_namespace(self) -> str:
        """Where incidents of alerts no runbook answers go: --alerts-namespace, else the
        one watched namespace, else default."""
        if self.namespace:
            return self.namespace
        return self.watched[0] if len(self.watched) == 1 else "default"
