"""Sales-process workflow tables (seed 004 §7)."""
