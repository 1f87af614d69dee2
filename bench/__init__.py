"""`make bench`: run from the repository as modules (python -m bench.run), so that the
harness (devkit) and the benchmarks import alike. Never shipped."""
