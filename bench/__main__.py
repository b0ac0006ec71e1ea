"""`python -m bench run | sweep | plot | replay`: the same commands as `ponder bench`."""

from bench.cli import bench_cli

bench_cli(prog_name="python -m bench")
