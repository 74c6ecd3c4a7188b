"""Quote 绿碳融 (the carbon-account loan) for a grade-1 electrolytic-aluminium borrower.

Run a server first (`pricing-service serve`), then:

    python clients/python/examples/lvtanrong_quote.py [host:port]

The borrower is the README's worked example (and the Java example's): it smelted
200,000 t of aluminium for 1,050,000 tCO2 in the period, an intensity of 5.25 tCO2/t
against the 9.1132 tCO2/t benchmark, K = 0.5761 <= 0.6, so the server computes carbon
grade 1, which 绿碳融 prices 200 bp below the ordinary rate: 1.30 % instead of 3.30 %.
"""

from __future__ import annotations

import os
import sys
import uuid
from decimal import Decimal

from ecoloan_client import (
    FailedPrecondition,
    InvalidArgument,
    PricingClient,
    PricingClientError,
    carbon_emissions,
    quote_request,
)


def main(target: str) -> int:
    """Create the quote, print its rate and breakdown, fetch it back by id."""
    request = quote_request(
        # A request_id makes the call idempotent, so the client may retry it safely.
        request_id=f"example-{uuid.uuid4()}",
        product_id="lvtanrong",
        borrower_id="XJ-ALU-0001",
        credit_rating="AA",
        principal_cny="10000000",
        term_months=12,
        repayment="equal-installment",
        pricing_time="2026-11-20T10:00:00+08:00",
        carbon_emissions=carbon_emissions(
            "electrolytic-aluminium",
            "1050000",
            output_quantity="200000",
            period_end="2026-06-30",
            platform_id="changji-carbon-account",
        ),
    )
    with PricingClient(target, default_timeout=5.0, caller_id="example-script") as client:
        try:
            response = client.create_quote(request)
        except InvalidArgument as exc:
            for field, description in exc.field_violations:
                print(f"bad field {field}: {description}", file=sys.stderr)
            return 1
        except FailedPrecondition as exc:
            print(f"refused ({exc.reason}): {exc.message}", file=sys.stderr)
            return 1
        except PricingClientError as exc:
            print("\n".join(exc.describe()), file=sys.stderr)
            return 1
        quote = response.quote
        print(f"quote {quote.quote_id}  grade {quote.carbon.grade} (K {quote.carbon.efficiency_k})")
        print(
            f"rate {quote.annual_rate}%  ordinary {quote.ordinary_rate}%  "
            f"concession {quote.concession_bp} bp = "
            f"{Decimal(quote.first_year_concession_fen).scaleb(-2):,.2f} CNY in the first year"
        )
        for step in quote.steps:
            print(f"  {step.code:<22} {step.value:>8} {step.unit:<8} {step.reason_zh}")
        # The core banking system books the loan later by quote id.
        booked = client.get_quote(quote.quote_id)
        print(f"fetched back by id: {'same quote' if booked.quote == quote else 'DIFFERENT'}")
        print(f"audit: {response.audit_position.log_origin} #{response.audit_position.sequence}")
    return 0


if __name__ == "__main__":
    sys.exit(
        main(
            sys.argv[1]
            if len(sys.argv) > 1
            else os.environ.get("PRICING_TARGET", "127.0.0.1:50051")
        )
    )
