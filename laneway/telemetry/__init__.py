"""Traces and log lines of every service: one trace per instance (its id is the trace id),
W3C trace context in Kafka record headers, JSON log lines carrying the trace and instance.

See docs/telemetry.md. A service gets it from `laneway.service.run_service`.
"""

from laneway.telemetry._logs import LOG_FORMATS, JsonFormatter, log_handler
from laneway.telemetry._setup import (
    QuietSampler,
    Telemetry,
    TracingSettings,
    setup_tracing,
    tracer_provider,
)
from laneway.telemetry._spans import (
    ATTR_ELEMENT_ID,
    ATTR_INSTANCE_ID,
    InstanceIdGenerator,
    KafkaHeaders,
    child_span,
    current_instance,
    ended_span,
    enter_instance,
    fail,
    header_context,
    install,
    instance_span,
    instance_trace_id,
    leave_instance,
    link_to,
    linked_trace,
    put_attributes,
    start_instance_span,
    trace_headers,
    tracing,
    uninstall,
)

__all__ = [
    "ATTR_ELEMENT_ID",
    "ATTR_INSTANCE_ID",
    "LOG_FORMATS",
    "InstanceIdGenerator",
    "JsonFormatter",
    "KafkaHeaders",
    "QuietSampler",
    "Telemetry",
    "TracingSettings",
    "child_span",
    "current_instance",
    "ended_span",
    "enter_instance",
    "fail",
    "header_context",
    "install",
    "instance_span",
    "instance_trace_id",
    "leave_instance",
    "link_to",
    "linked_trace",
    "log_handler",
    "put_attributes",
    "setup_tracing",
    "start_instance_span",
    "trace_headers",
    "tracer_provider",
    "tracing",
    "uninstall",
]
