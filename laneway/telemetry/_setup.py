"""The OpenTelemetry SDK of one service process, from the standard `OTEL_*` settings.

- `OTEL_SDK_DISABLED=true`: no tracing at all.
- `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as is) or `OTEL_EXPORTER_OTLP_ENDPOINT` (plus
  `/v1/traces`): where spans go, OTLP over http/protobuf (`OTEL_EXPORTER_OTLP_PROTOCOL` may only
  say `http/protobuf`), through a `BatchSpanProcessor`. Neither set: no provider, no exporter,
  `instance_span` makes no span (the cost is a context variable per span).
- `OTEL_SERVICE_NAME`, default `laneway-<service>`; `OTEL_RESOURCE_ATTRIBUTES` as the SDK reads it.
- `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` as the SDK reads them (default
  `parentbased_always_on`). The trace id is the instance id, so a ratio sampler keeps or drops
  an instance's whole trace in every service alike.

Outbound HTTP through httpx (the Slack, Discord, HTTP and LLM connectors, the anthropic SDK)
becomes child spans through opentelemetry-instrumentation-httpx.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import (
    Decision,
    Sampler,
    SamplingResult,
    _get_from_env_or_default,
)
from opentelemetry.trace import Link, SpanKind, TraceState
from opentelemetry.util.types import Attributes

from laneway.settings import SettingsError
from laneway.telemetry._spans import InstanceIdGenerator, install, uninstall

__all__ = ["QuietSampler", "Telemetry", "TracingSettings", "setup_tracing",
           "tracer_provider"]

_log = logging.getLogger(__name__)
_PROTOCOLS = ("", "http/protobuf")
_global_set = False


@dataclass(frozen=True, slots=True)
class TracingSettings:
    """What `setup_tracing` reads from the environment."""

    service_name: str
    endpoint: str | None
    """Where spans go (the traces URL), None: nowhere (tracing off)."""

    @classmethod
    def from_env(cls, service: str, environ: Mapping[str, str] | None = None) -> TracingSettings:
        """Read them; a protocol other than http/protobuf is a `SettingsError`."""
        env = os.environ if environ is None else environ
        name = env.get("OTEL_SERVICE_NAME", "").strip() or f"laneway-{service}"
        if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
            return cls(name, None)
        protocol = (env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "").strip()
                    or env.get("OTEL_EXPORTER_OTLP_PROTOCOL", "").strip())
        if protocol not in _PROTOCOLS:
            raise SettingsError(f"Expected OTEL_EXPORTER_OTLP_PROTOCOL to be 'http/protobuf' "
                                f"(the only exporter installed), but got {protocol!r}")
        endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip() or None
        if endpoint is None:
            base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
            endpoint = f"{base.rstrip('/')}/v1/traces" if base else None
        if endpoint is not None and not endpoint.startswith(("http://", "https://")):
            raise SettingsError(f"Expected the OTLP endpoint to be an http(s) URL, but got "
                                f"{endpoint!r}")
        return cls(name, endpoint)


class Telemetry:
    """The tracing of one process: `shutdown` flushes what is queued (bounded) and stops."""

    def __init__(self, provider: TracerProvider | None) -> None:
        self.provider = provider

    @property
    def enabled(self) -> bool:
        """Whether spans are made and exported."""
        return self.provider is not None

    def shutdown(self) -> None:
        """Export the queued spans (the batch processor's bounded flush) and stop; once."""
        provider, self.provider = self.provider, None
        if provider is None:
            return
        uninstall()
        HTTPXClientInstrumentor().uninstrument()
        provider.shutdown()


# the probes' and the scrapers' paths: a trace each every few seconds, of nothing
_QUIET_PATHS = ("/health", "/metrics")


class QuietSampler(Sampler):
    """`delegate`, except for traces that are no one's: an outbound call (a client span:
    httpx's) made outside any span (a trigger's feed poll, a key fetch) and FastAPI's own
    server span of a health probe or a metrics scrape (FastAPI makes one per request once a
    tracer provider is set; their children follow the parent's decision)."""

    def __init__(self, delegate: Sampler) -> None:
        self.delegate = delegate

    def should_sample(self, parent_context: Context | None, trace_id: int, name: str,
                      kind: SpanKind | None = None, attributes: Attributes = None,
                      links: Sequence[Link] | None = None,
                      trace_state: TraceState | None = None) -> SamplingResult:
        if kind is SpanKind.SERVER:
            # FastAPI names the span by the method at its start; the path is an attribute
            path = attributes.get("url.path") if attributes else None
            if isinstance(path, str) and path.startswith(_QUIET_PATHS):
                return SamplingResult(Decision.DROP)
        elif kind is SpanKind.CLIENT and not trace.get_current_span(
                parent_context).get_span_context().is_valid:
            return SamplingResult(Decision.DROP)
        return self.delegate.should_sample(parent_context, trace_id, name, kind, attributes,
                                           links, trace_state)

    def get_description(self) -> str:
        return f"QuietSampler{{{self.delegate.get_description()}}}"


def tracer_provider(service_name: str, exporter: SpanExporter | None,
                    sampler: Sampler | None = None) -> TracerProvider:
    """A provider whose root spans about an instance take its id as trace id, exporting to
    `exporter` in batches (None: no exporter); `sampler` (default: the one the
    `OTEL_TRACES_SAMPLER` settings name) drops what `QuietSampler` drops."""
    # the SDK's own reading of OTEL_TRACES_SAMPLER(_ARG) (private, but pinned with the SDK)
    chosen = sampler if sampler is not None else _get_from_env_or_default()
    provider = TracerProvider(
        resource=Resource.create({SERVICE_NAME: service_name}),
        id_generator=InstanceIdGenerator(), sampler=QuietSampler(chosen))
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(
            exporter, max_queue_size=_bsp_default("OTEL_BSP_MAX_QUEUE_SIZE", _QUEUE),
            max_export_batch_size=_bsp_default("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", _BATCH)))
    return provider


# The batch processor's defaults (2,048 queued, 512 a request) hold about a second of an
# engine's spans at full speed: a slow collector drops spans sooner than it need, and every
# request is an HTTP round trip in the process. Larger ones unless OTEL_BSP_* says otherwise.
_QUEUE = 16384
_BATCH = 2048


def _bsp_default(name: str, value: int) -> int | None:
    """None (the SDK reads `name`) when it is set, else `value`."""
    return None if os.environ.get(name, "").strip() else value


def setup_tracing(service: str, environ: Mapping[str, str] | None = None, *,
                  exporter: SpanExporter | None = None) -> Telemetry:
    """Set up the process's tracing from `environ` (default the process environment); with
    no endpoint (and no `exporter` given, as a test or benchmark does) it does nothing."""
    settings = TracingSettings.from_env(service, environ)
    given = False
    if exporter is None:
        if settings.endpoint is None:
            return Telemetry(None)
        # imported only when used: it pulls in protobuf and requests
        from laneway.telemetry._otlp import LeanOTLPSpanExporter
        exporter = LeanOTLPSpanExporter(endpoint=settings.endpoint)
    else:
        given = True
    provider = tracer_provider(settings.service_name, exporter)
    install(provider)
    global _global_set
    if not given and not _global_set:
        # libraries that ask the API for a tracer get this one (it can be set once only)
        trace.set_tracer_provider(provider)
        _global_set = True
    HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    _log.info("traces go to %s as %s", settings.endpoint or "a given exporter",
              settings.service_name)
    return Telemetry(provider)
