"""Hostile and extreme input gets INVALID_ARGUMENT naming the field, never INTERNAL/UNKNOWN;
and a different request under a request_id still in flight is refused, not answered."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from ecoloan.pricing.v1 import pricing_service_pb2 as pb
from ecoloan_client import InvalidArgument, PricingClient
from live_support import GatedSink

from pricing_service.api.incoming import PbIncoming
from pricing_service.domain.errors import RequestIdReusedError
from pricing_service.policy.store import default_policies
from pricing_service.quoting.service import QuoteService, StoredQuote


def _base() -> pb.CreateQuoteRequest:
    req = pb.CreateQuoteRequest(
        borrower_id="B-HOSTILE",
        product_id="lvtanrong",
        credit_rating="AA",
        principal_fen=100_000_000,
        term_months=12,
        repayment_method=pb.REPAYMENT_METHOD_EQUAL_INSTALLMENT,
    )
    req.pricing_time.FromJsonString("2026-11-20T02:00:00Z")
    req.carbon_emissions.CopyFrom(
        pb.CarbonEmissions(
            industry=pb.INDUSTRY_POWER,
            emissions_tco2="500000",
            output_quantity="1000000",
            period_end="2026-06-30",
            platform_id="p",
        )
    )
    return req


def _set(path: str, value: object) -> Callable[[pb.CreateQuoteRequest], None]:
    def apply(req: pb.CreateQuoteRequest) -> None:
        *parents, leaf = path.split(".")
        target = req
        for name in parents:
            target = getattr(target, name)
        setattr(target, leaf, value)

    return apply


CASES = [
    ("pricing_time.seconds", 10**15, "pricing_time"),
    ("pricing_time.seconds", -(10**15), "pricing_time"),
    ("pricing_time.seconds", 253402300790, "pricing_time"),  # 9999-12-31
    ("pricing_time.nanos", -1, "pricing_time"),
    ("pricing_time.nanos", 2_000_000_000, "pricing_time"),
    ("carbon_emissions.emissions_tco2", "1e999999", "carbon_emissions.emissions_tco2"),
    ("carbon_emissions.emissions_tco2", "1" + "0" * 31, "carbon_emissions.emissions_tco2"),
    ("carbon_emissions.output_quantity", "1e-999999", "carbon_emissions.output_quantity"),
    ("carbon_emissions.output_quantity", "0.0000001", "carbon_emissions.output_quantity"),
    ("carbon_emissions.emissions_tco2", " 1 ", "carbon_emissions.emissions_tco2"),
    ("carbon_emissions.emissions_tco2", "1_000", "carbon_emissions.emissions_tco2"),
    ("carbon_emissions.emissions_tco2", "١٠٠", "carbon_emissions.emissions_tco2"),
    ("carbon_emissions.emissions_tco2", "NaN", "carbon_emissions.emissions_tco2"),
    ("carbon_emissions.emissions_tco2", "-5", "carbon_emissions.emissions_tco2"),
    ("carbon_emissions.period_end", "2026-W26-2", "carbon_emissions.period_end"),
    ("carbon_emissions.period_end", "2026-02-30", "carbon_emissions.period_end"),
    ("borrower_id", "B\u202eevil", "borrower_id"),
    ("borrower_id", "B\u2028x", "borrower_id"),
    ("borrower_id", "x" * 65, "borrower_id"),
    ("repayment_method", 99, "repayment_method"),
]


@pytest.mark.parametrize(("path", "value", "field"), CASES)
def test_hostile_field_is_invalid_argument_naming_it(
    client: PricingClient, path: str, value: object, field: str
) -> None:
    req = _base()
    _set(path, value)(req)
    with pytest.raises(InvalidArgument) as info:
        client.create_quote(req)
    assert field in [f for f, _ in info.value.field_violations]


def test_transition_kpi_extremes_are_invalid_argument(client: PricingClient) -> None:
    req = _base()
    req.product_id = "transition"
    req.ClearField("carbon_emissions")
    req.transition_kpis.CopyFrom(
        pb.TransitionKpis(
            annual_tco2_reduced="20000",
            coal_g_per_kwh_before="1e999999",
            coal_g_per_kwh_after="1e-999999",
            verified_on="2026-01-10",
        )
    )
    with pytest.raises(InvalidArgument) as info:
        client.create_quote(req)
    assert [f for f, _ in info.value.field_violations] == [
        "transition_kpis.coal_g_per_kwh_before",
        "transition_kpis.coal_g_per_kwh_after",
    ]


def test_different_body_under_an_in_flight_request_id_is_refused() -> None:
    sink = GatedSink()
    service = QuoteService(default_policies(), sink)
    first = _base()
    first.request_id = "same-id"
    other = _base()
    other.request_id = "same-id"
    other.principal_fen = 900_000_000
    results: dict[str, object] = {}

    def call(name: str, req: pb.CreateQuoteRequest) -> None:
        try:
            results[name] = service.create_quote(PbIncoming(req), "t")
        except Exception as exc:
            results[name] = exc

    t1 = threading.Thread(target=call, args=("first", first))
    t1.start()
    while not sink.events:  # the first is priced and waiting on its audit record
        threading.Event().wait(0.01)
    call("other", other)  # in flight: must be refused at once, not wait for the first
    same = threading.Thread(target=call, args=("retry", first))
    same.start()
    sink.gate.set()
    t1.join(10)
    same.join(10)
    assert isinstance(results["other"], RequestIdReusedError)
    first_quote = results["first"]
    assert isinstance(first_quote, StoredQuote)
    assert first_quote.document["principal_fen"] == "100000000"
    retry = results["retry"]
    assert isinstance(retry, StoredQuote)
    assert retry.quote_id == first_quote.quote_id
    assert len(sink.events) == 1
