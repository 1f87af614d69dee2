"""The development harness: the local control plane driven as users drive it (kubectl, the
operator process, polls with deadlines, metrics). Shared by tests/e2e, the demo and the
benchmarks; never shipped in the package or the image."""
