"""structlog, configured once at the entrypoint: JSON off a terminal, console on one."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import orjson
import structlog


def configure_logging(fmt: str = "auto", level: str = "info") -> None:
    """Configure structlog for the process; `fmt` is "json", "console" or "auto"."""
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer(serializer=_dumps)
        if use_json
        else structlog.dev.ConsoleRenderer()
    )
    # WriteLogger and BytesLogger write a line and its newline in one write(): stderr
    # writes through, so print() would make two, and the lines of `serve --workers N`,
    # which share one stderr, could run into each other.
    factory: structlog.typing.WrappedLogger = (
        structlog.BytesLoggerFactory(sys.stderr.buffer)
        if use_json
        else structlog.WriteLoggerFactory(sys.stderr)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=factory,
        cache_logger_on_first_use=True,
    )


def _dumps(value: Any, **kw: Any) -> bytes:
    """A log line's JSON, UTF-8 as it is (every RPC writes one: orjson, ~5x the stdlib's
    speed); what orjson cannot write (ints past 64 bits) goes to the stdlib."""
    default = kw.get("default")
    try:
        return orjson.dumps(value, default=default, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:
        return json.dumps(value, ensure_ascii=False, default=default).encode("utf-8", "replace")
