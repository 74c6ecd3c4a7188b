"""Command-line entry points: `pricing-service serve` and `pricing ...`."""
