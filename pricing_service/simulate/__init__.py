"""Indicative pricing over portfolios: never binding, never written to the audit log."""
