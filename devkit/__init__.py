"""The development harness: the local control plane driven as users drive it (kubectl, the
operator process, polls with deadlines, metrics). Shared by tests/e2e, the demo and the
benchmarks; never shipped in the package or the image.

    paths       the repository and hack/cluster.sh's cache
    kubectl     Cluster: kubectl with --as/--as-group impersonation; KubectlError
    cluster     which cluster (local control plane, kind, existing), `make install`,
                the CI-or-skip rule (unavailable)
    identity    the operator's ServiceAccount token as a kubeconfig (`make run`)
    operator    OperatorProcess: the operator as a real process, run as a given kubeconfig
    process     a background process with its log (the operator, Prometheus, Alertmanager)
    polling     wait_for: polls with a deadline, never bare sleeps
    watch       kubectl watches, each event stamped on arrival (the latency benchmark)
    net         free ports, HTTP GETs
    metrics     Prometheus text: metric_sum, metric_by, histogram_mean
    manifests   Deployments, Incidents, RBAC, and the approval patch (built once)
    workloads   Deployments and ReplicaSets read as kubectl's rollout commands read them
    incidents   what an on-call engineer types: roll out, declare, approve, resolve
    demo/       `make demo`: a list of steps and a narrator
"""
