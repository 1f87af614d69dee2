"""The operator's production identity for local runs: a kubeconfig holding a token of its
ServiceAccount (tourniquet-system/tourniquet, installed by `make install`), so `make run`,
the demo, the benchmarks and the e2e tests run the operator exactly as the chart does,
never as cluster admin.

    python -m devkit.identity KUBECONFIG_OUT   # mint a token, write the kubeconfig

KUBECONFIG (the admin's) is used to mint the token with `kubectl create token`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from tourniquet.api.names import OPERATOR_NAMESPACE, OPERATOR_SERVICE_ACCOUNT

#: Long enough for a demo, a bench or a whole e2e session; the API server caps it anyway.
TOKEN_DURATION = "24h"


def _kubectl(kubectl: str, env: Mapping[str, str], *args: str) -> str:
    result = subprocess.run(
        [kubectl, *args], capture_output=True, text=True, env=dict(env), timeout=60
    )
    if result.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def operator_kubeconfig(
    kubectl: str,
    admin_env: Mapping[str, str],
    out: Path,
    namespace: str = OPERATOR_NAMESPACE,
    service_account: str = OPERATOR_SERVICE_ACCOUNT,
) -> Path:
    """Write a kubeconfig for `system:serviceaccount:NAMESPACE:SERVICE_ACCOUNT` to `out`:
    the admin kubeconfig's current cluster (server and CA), and a fresh bound token."""
    token = _kubectl(
        kubectl,
        admin_env,
        "create",
        "token",
        service_account,
        "-n",
        namespace,
        f"--duration={TOKEN_DURATION}",
    ).strip()
    view: dict[str, Any] = json.loads(
        _kubectl(kubectl, admin_env, "config", "view", "--raw", "--minify", "-o", "json")
    )
    cluster = view["clusters"][0]["cluster"]
    user = f"{namespace}:{service_account}"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "cluster", "cluster": cluster}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "operator", "context": {"cluster": "cluster", "user": user}}],
        "current-context": "operator",
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(config))
    out.chmod(0o600)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    kubectl = os.environ.get("KUBECTL") or shutil.which("kubectl") or "kubectl"
    path = operator_kubeconfig(kubectl, os.environ, Path(args[0]))
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
