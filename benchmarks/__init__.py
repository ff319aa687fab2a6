"""Side-by-side speed measurements, run by hand (`python -m benchmarks.<name> --help`).

Speed is measured here and never asserted in tests: see benchmarks/README.md.
"""
