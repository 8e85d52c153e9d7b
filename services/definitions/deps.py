"""What the routes need, as typed FastAPI dependencies (`Annotated` aliases).

`ServiceDeps` is built by `__main__` (or a test) and handed to `create_app`, which puts it on
`app.state.deps`; routes reach it only through `Deps`, never through module globals or the
environment (the settings a route needs are parts of it, read once at start). The principal
comes from `laneway.auth.http` (`Authenticated`, `TOKEN_REQUIRED`, `require_role`), as in
every service.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message as MimeMessage
from email.parser import BytesParser
from email.policy import HTTP
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, status
from prometheus_client import CollectorRegistry
from psycopg_pool import ConnectionPool
from redis import Redis

from laneway.auth.http import Authenticated, require_role
from laneway.bpmn import Limits
from laneway.engine.check import missing_personas
from laneway.publisher import Publisher
from laneway.records import Principal
from laneway.shared_reads import CommandOutcomes, InstanceLookup
from laneway.web.bounds import MAX_INT
from services.definitions.batches import Batches
from services.definitions.console import ConsoleSettings
from services.definitions.deploy import Deployer
from services.definitions.forms_store import FormStore, StartForms
from services.definitions.metrics import DefinitionsMetrics
from services.definitions.publishers import MessagePublishers
from services.definitions.ratelimit import RateLimit
from services.definitions.settings import MessageTtl
from services.definitions.store import DefinitionStore
from services.definitions.transitions import Lifecycle, MissingPersonas

DEFAULT_FILE_NAME = "upload.bpmn"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(slots=True)
class ServiceDeps:
    """The service's long-lived parts; `__main__` opens and closes them, not the app."""

    pool: ConnectionPool
    publisher: Publisher
    metrics: DefinitionsMetrics = field(
        default_factory=lambda: DefinitionsMetrics(CollectorRegistry()))
    audit_schema: str = "audit"
    """Where the audit service's instance projection is (`DefinitionsSettings.audit_schema`)."""
    clock_ms: Callable[[], int] = _now_ms
    redis: Redis | None = None
    """Redis for the public forms' rate limit; without it they answer 503."""
    form_rate_limit: RateLimit = field(default_factory=lambda: RateLimit.parse("30/minute"))
    """Public form submissions allowed per client address and process
    (`DefinitionsSettings.form_rate_limit`)."""
    message_ttl: MessageTtl = field(default_factory=MessageTtl)
    """A published message's default and longest time to live
    (`DefinitionsSettings.message_ttl`)."""
    missing_personas: MissingPersonas = missing_personas
    """The check AUTHORIZED runs: lanes holding user tasks without a persona."""
    diagram_limits: Limits = field(default_factory=Limits)
    """How large a deployed diagram may be (`DefinitionsSettings.diagram_limits`)."""
    deploy_checks: int = 2
    """Deploys checked at once (`DefinitionsSettings.deploy_checks`): each may hold a tree
    as large as the limits allow, so their number bounds the memory deploys take."""
    deploy_wait_s: float = 30.0
    """How long a deploy waits for a free check before it is answered 503."""
    checking: threading.BoundedSemaphore = field(init=False)
    definitions: DefinitionStore = field(init=False)
    instances: InstanceLookup = field(init=False)
    deployer: Deployer = field(init=False)
    forms: FormStore = field(init=False)
    start_forms: StartForms = field(init=False)
    lifecycle: Lifecycle = field(init=False)
    message_publishers: MessagePublishers = field(init=False)
    batches: Batches = field(init=False)

    def __post_init__(self) -> None:
        self.definitions = DefinitionStore(self.pool)
        self.message_publishers = MessagePublishers(self.definitions)
        self.instances = InstanceLookup(self.pool, self.audit_schema)
        self.batches = Batches(self.pool, CommandOutcomes(self.pool, self.audit_schema))
        self.deployer = Deployer(self.definitions, self.publisher, self.diagram_limits)
        self.checking = threading.BoundedSemaphore(self.deploy_checks)
        self.forms = FormStore(self.pool)
        self.start_forms = StartForms(self.pool)
        self.lifecycle = Lifecycle(self.pool, self.definitions, self.publisher,
                                   self.missing_personas)


def get_console(request: Request) -> ConsoleSettings:
    """How the console signs people in (`DefinitionsSettings.console`): set by `create_app`,
    and needed with no other part (the sign-in routes work before the database does)."""
    console: ConsoleSettings = request.app.state.console
    return console


def get_deps(request: Request) -> ServiceDeps:
    """The app's ServiceDeps."""
    deps: ServiceDeps = request.app.state.deps
    return deps


@dataclass(frozen=True, slots=True)
class Upload:
    """An uploaded diagram: its bytes exactly as sent, and its file name."""

    data: bytes
    file_name: str


async def read_capped(request: Request, limit: int,
                      too_large: Callable[[], HTTPException]) -> bytes:
    """The request body, read here (not by FastAPI) so an oversized one is refused from its
    Content-Length, or cut off once `limit` bytes have come, instead of held in memory whole:
    raises `too_large()` then."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large()
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise too_large()
    return bytes(body)


async def read_upload(request: Request) -> Upload:
    """The request body as a diagram: raw XML (`application/xml`, `text/xml`) or the first
    file of a `multipart/form-data` form. 413 over the size limit (`ServiceDeps.diagram_limits`,
    20 MiB unless set), 415 for other content types."""
    max_bytes = get_deps(request).diagram_limits.max_bytes

    def too_large() -> HTTPException:
        return _too_large(max_bytes)

    # room for a multipart envelope around a maximal file
    body = await read_capped(request, max_bytes + 64 * 1024, too_large)
    content_type = request.headers.get("content-type", "application/xml")
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "multipart/form-data":
        upload = _multipart_file(content_type, body)
    elif media in ("application/xml", "text/xml", "application/bpmn+xml",
                   "application/octet-stream"):
        name = request.headers.get("x-file-name") or DEFAULT_FILE_NAME
        upload = Upload(body, name)
    else:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                            f"Expected application/xml, text/xml or multipart/form-data, "
                            f"but got {media!r}")
    if len(upload.data) > max_bytes:
        raise too_large()
    return upload


def _multipart_file(content_type: str, body: bytes) -> Upload:
    # the standard library's MIME parser reads form-data as well, and saves a dependency
    parsed = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
    parts: list[MimeMessage] = [p for p in parsed.walk() if not p.is_multipart()]
    for part in parts:
        if part.get_param("filename", header="content-disposition") is not None \
                or part.get_param("name", header="content-disposition") == "file":
            payload = part.get_payload(decode=True)
            name = part.get_filename() or DEFAULT_FILE_NAME
            if isinstance(payload, bytes):
                return Upload(payload, name)
    raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                        "Expected a multipart form with a file part, but found none")


def _too_large(max_bytes: int) -> HTTPException:
    size = (f"{max_bytes // (1024 * 1024)} MiB" if max_bytes % (1024 * 1024) == 0
            else f"{max_bytes} bytes")
    return HTTPException(status.HTTP_413_CONTENT_TOO_LARGE,
                         f"Expected a diagram of at most {size} (LANEWAY_MAX_DIAGRAM_BYTES), "
                         "but the request is larger")


Deps = Annotated[ServiceDeps, Depends(get_deps)]
Console = Annotated[ConsoleSettings, Depends(get_console)]
CurrentPrincipal = Authenticated
"""Who makes the request: the principal of its verified bearer token (401 without one)."""
UploadedDiagram = Annotated[Upload, Depends(read_upload)]
Modeler = Annotated[Principal, Depends(require_role("modeler"))]
Operator = Annotated[Principal, Depends(require_role("operator"))]


VersionNumber = Annotated[int, Path(ge=1, le=MAX_INT, description="The version number.")]
"""A route's `{version}`: 1, 2, ... (out of range is a 422, not a query that fails)."""
