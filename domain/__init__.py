"""Pure inventory logic: no I/O, no clocks, no randomness."""
