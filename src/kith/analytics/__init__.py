"""Analytics (seed 004 §8): pipeline, forecast, rep performance, conversion rates, currency rates and
the nightly snapshot that feeds trend series. Read-only over the other slices' tables."""
