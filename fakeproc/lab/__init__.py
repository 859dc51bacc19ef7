"""What tests and benchmarks use to observe the simulation; the daemon never imports it."""
