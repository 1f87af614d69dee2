"""The operator's production identity for local runs: a kubeconfig holding a token of its
ServiceAccount (tourniquet-system/tourniquet, installed by `make install`), so `make run`,
the demo, the benchmarks and the e2e tests run the operator exactly as the chart does,
never as cluster admin.

    python -m devkit.identity KUBECONFIG_OUT   # mint a token, write the kubeconfig

KUBECONFIG (the admin's) is used to mint the token with `kubectl create token`.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from devkit.kubectl import Cluster
from tourniquet.api.names import OPERATOR_NAMESPACE, OPERATOR_SERVICE_ACCOUNT

#: Long enough for a demo, a bench or a whole e2e session; the API server caps it anyway.
TOKEN_DURATION = "24h"


def operator_cluster(
    admin: Cluster,
    out: Path,
    namespace: str = OPERATOR_NAMESPACE,
    service_account: str = OPERATOR_SERVICE_ACCOUNT,
) -> Cluster:
    """The cluster as `system:serviceaccount:NAMESPACE:SERVICE_ACCOUNT`: a fresh bound
    token (minted by `admin`) in a kubeconfig written to `out`."""
    token = admin.kubectl(
        "create", "token", service_account, "-n", namespace, f"--duration={TOKEN_DURATION}"
    ).stdout.strip()
    return admin.with_token(token, out)


def operator_kubeconfig(
    kubectl: str,
    admin_env: Mapping[str, str],
    out: Path,
    namespace: str = OPERATOR_NAMESPACE,
    service_account: str = OPERATOR_SERVICE_ACCOUNT,
) -> Path:
    """operator_cluster for the admin kubeconfig named by admin_env's KUBECONFIG."""
    admin = Cluster(admin_env.get("KUBECONFIG") or str(Path.home() / ".kube/config"), kubectl)
    return Path(operator_cluster(admin, out, namespace, service_account).kubeconfig)


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
