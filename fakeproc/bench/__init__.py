"""Benchmarks (DESIGN section 8): ``scripts/bench-latency`` and ``scripts/bench-read``.

Nothing here is imported by the daemon.  The numbers are reported, never
asserted.
"""
