"""The reports of `pricing simulate whatif`, `montecarlo` and `calibrate`, built from results.

Each builder takes the command's result and the facts of the run as plain values and
returns a `Report` (simulate/report.py) that the caller writes; nothing here reads
flags or prints. The portfolio and diff reports are in simulate/report.py.
"""

from pricing_service.simulate.reports.calibration import calibration_report, calibration_rows
from pricing_service.simulate.reports.montecarlo import montecarlo_summary_report
from pricing_service.simulate.reports.text import cny_text, interval_text, pct_text
from pricing_service.simulate.reports.whatif import WHATIF_HEADERS, whatif_report, whatif_row

__all__ = [
    "WHATIF_HEADERS",
    "calibration_report",
    "calibration_rows",
    "cny_text",
    "interval_text",
    "montecarlo_summary_report",
    "pct_text",
    "whatif_report",
    "whatif_row",
]
