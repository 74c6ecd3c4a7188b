"""Emissions-linked loan pricing service."""
