"""convzoo benchmarks: ratio figures measured in one run (see ``python -m benchmarks --help``)."""
