"""Benchmarks (docs/benchmarks.md): ``scripts/bench-latency`` and ``scripts/bench-read``.

Nothing here is imported by the daemon.  The numbers are reported, never
asserted.
"""
