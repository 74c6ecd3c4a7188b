"""Indicative pricing over portfolios: never binding, never written to the audit log.

The notebook API, the same code the `pricing simulate` commands run::

    from pricing_service.simulate import read_portfolio, price_portfolio, summarise

Rates in results are integers in RATE_UNIT (0.0001 bp), money integer fen: no binary
float reaches a rate or an amount.
"""

from pricing_service.simulate.calibrate import Calibration, CalibrationError, calibrate
from pricing_service.simulate.generator import generate_portfolio
from pricing_service.simulate.montecarlo import (
    GradeTransitions,
    MonteCarloResult,
    ScoreDrift,
    default_migration,
    load_migration,
    run_montecarlo,
)
from pricing_service.simulate.portfolio import Portfolio
from pricing_service.simulate.portfolio_io import (
    PortfolioError,
    PortfolioLoad,
    RowProblem,
    read_portfolio,
    write_portfolio,
    write_results,
)
from pricing_service.simulate.reference import price_portfolio_scalar
from pricing_service.simulate.report import (
    Report,
    RunFacts,
    diff_report,
    montecarlo_report,
    simulation_report,
)
from pricing_service.simulate.results import (
    PRICED,
    RATE_UNIT,
    LoanResults,
    units_to_bp,
    units_to_percent,
)
from pricing_service.simulate.summary import DiffSummary, Summary, diff_summary, summarise
from pricing_service.simulate.vector import price_portfolio
from pricing_service.simulate.whatif import WhatIf, whatif

__all__ = [
    "PRICED",
    "RATE_UNIT",
    "Calibration",
    "CalibrationError",
    "DiffSummary",
    "GradeTransitions",
    "LoanResults",
    "MonteCarloResult",
    "Portfolio",
    "PortfolioError",
    "PortfolioLoad",
    "Report",
    "RowProblem",
    "RunFacts",
    "ScoreDrift",
    "Summary",
    "WhatIf",
    "calibrate",
    "default_migration",
    "diff_report",
    "diff_summary",
    "generate_portfolio",
    "load_migration",
    "montecarlo_report",
    "price_portfolio",
    "price_portfolio_scalar",
    "read_portfolio",
    "run_montecarlo",
    "simulation_report",
    "summarise",
    "units_to_bp",
    "units_to_percent",
    "whatif",
    "write_portfolio",
    "write_results",
]
