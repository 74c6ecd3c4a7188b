"""Fixtures of the pricing-core unit tests; the builders live in pricing_builders.py."""

from __future__ import annotations

import pytest
from pricing_builders import default_text, policy_from_text

from pricing_service.domain.policy import Policy


@pytest.fixture(scope="session")
def policy() -> Policy:
    """The shipped default policy (one load for the whole session)."""
    return policy_from_text(default_text())
