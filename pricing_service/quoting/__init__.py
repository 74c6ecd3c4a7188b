"""The use cases of binding quotes, on domain values and canonical documents; no transport.

`service` creates binding quotes (idempotency, the audit record, recent quotes) and reads
them back; `pricing` prices an incoming request the one way every path shares; `replay`
re-prices a log; `documents` and `refusals` are what the log records; `incoming` is the
port a transport adapter (api/) implements; `service_log` opens the durable log for the
service. Nothing here imports api/ (tests/unit/test_layers.py).
"""
