"""pumpmock benchmarks: each perf_*.py prints its numbers and writes bench/results/<name>.json."""
