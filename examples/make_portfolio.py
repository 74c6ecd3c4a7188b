"""Write a synthetic Changji-pilot portfolio (see pricing_service.simulate.generator).

    python examples/make_portfolio.py --loans 10000 --seed 2026 --as-of 2026-11-20 \\
        --out examples/portfolio_10k.csv

The file is .csv or .parquet by its extension; the same arguments give the same bytes
(for a CSV; Parquet metadata names the writing library's version).
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from pricing_service.simulate.generator import generate_portfolio
from pricing_service.simulate.portfolio_io import PortfolioError, write_portfolio


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, generate, write; 0 on success, 2 on a bad argument or path."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, required=True, help="number of loans")
    parser.add_argument("--seed", type=int, required=True, help="random seed (PCG64)")
    parser.add_argument(
        "--as-of",
        type=date.fromisoformat,
        required=True,
        help="date YYYY-MM-DD the evidence ages are counted back from",
    )
    parser.add_argument("--out", type=Path, required=True, help="output .csv or .parquet")
    args = parser.parse_args(argv)
    if args.loans < 0:
        parser.error("--loans must be >= 0")
    if args.seed < 0:
        parser.error("--seed must be >= 0")  # numpy's SeedSequence takes no negative seed
    portfolio = generate_portfolio(args.loans, args.seed, args.as_of)
    try:
        write_portfolio(portfolio, args.out)
    except (PortfolioError, OSError) as exc:
        print(f"make_portfolio: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(portfolio)} loans to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
