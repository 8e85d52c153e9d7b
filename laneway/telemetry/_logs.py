"""Log lines: one JSON object per line (`LANEWAY_LOG_FORMAT=json`, the default), or the old
text format (`text`).

Each JSON line has `time` (UTC, ISO 8601 with milliseconds), `level`, `service`, `logger`,
`message`, and when there is one `trace_id`, `span_id` (of the current span) and `instance_id`
(of the instance the code handles, `laneway.telemetry.instance_span`); an exception is the
string `exception` (its traceback), so a log pipeline never has to join lines.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from opentelemetry import trace

from laneway.telemetry._spans import current_instance

__all__ = ["LOG_FORMATS", "JsonFormatter", "log_handler"]

LOG_FORMATS = ("json", "text")


class JsonFormatter(logging.Formatter):
    """A record as one line of JSON, with the trace and instance it belongs to."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            line["trace_id"] = f"{context.trace_id:032x}"
            line["span_id"] = f"{context.span_id:016x}"
        instance = current_instance()
        if instance is not None:
            line["instance_id"] = instance
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def log_handler(service: str, log_format: str) -> logging.Handler:
    """A standard-error handler writing `log_format` (`json` or `text`) lines."""
    handler = logging.StreamHandler()
    if log_format == "text":
        handler.setFormatter(logging.Formatter(
            f"%(asctime)s %(levelname)s {service} %(name)s: %(message)s"))
    else:
        handler.setFormatter(JsonFormatter(service))
    return handler
