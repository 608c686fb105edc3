"""eventkit's benchmarks: each operation next to its baseline, measured in one run."""
