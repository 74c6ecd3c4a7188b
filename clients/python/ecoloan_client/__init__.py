"""Typed Python client for ecoloan.pricing.v1."""
