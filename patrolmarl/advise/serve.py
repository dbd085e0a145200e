"""``patrolmarl serve``: advice over HTTP, for advisory tools (FastAPI on uvicorn).

``POST /advise`` takes a snapshot (``schemas/snapshot.schema.json``) and
returns the recommendations, as ``patrolmarl advise --json`` prints them;
``GET /policy`` the policy card; ``GET /health`` that the service is up. The
OpenAPI document is at ``/openapi.json`` (committed as ``schemas/openapi.json``).

Every refused request gets a JSON body ``{"error": "..."}``: 415 if the body is
not declared ``application/json``, 413 if it is larger than
:data:`MAX_BODY_BYTES` (by its Content-Length or as it streams in), 400 if it is
not UTF-8 JSON nested at most 64 deep, 422 with ``"problems"`` (every one, as
the CLI lists them) if the snapshot does not fit the schema or the policy's
district. This is the only module that imports the web stack (the ``serve``
extra).
"""

from __future__ import annotations

import errno
import socket
from typing import Any

from patrolmarl.advise.recommend import Advisor, Recommendation, advise
from patrolmarl.advise.validation import SnapshotError, snapshot_schema
from patrolmarl.errors import PatrolMarlError, echo
from patrolmarl.input_files import json_value
from patrolmarl.json_text import json_text

try:
    import uvicorn
    from fastapi import FastAPI, Request
    from fastapi.openapi.utils import get_openapi
    from fastapi.responses import JSONResponse, Response
    from pydantic import BaseModel
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException
except ImportError:
    raise PatrolMarlError(
        "patrolmarl serve needs FastAPI and uvicorn: pip install 'patrolmarl[serve]'"
    ) from None

#: Largest request body (bytes); a snapshot of the largest district fits in a fraction of it.
MAX_BODY_BYTES = 1024 * 1024
JSON_MEDIA_TYPE = "application/json"
TITLE = "patrolmarl advice service"
DESCRIPTION = (
    "An exported patrol policy's advice on a real situation: POST a snapshot "
    "(schemas/snapshot.schema.json) to /advise for each unit's recommended action. "
    'Refused requests get {"error": ...}: 400 not UTF-8 JSON, 413 body over '
    f"{MAX_BODY_BYTES} bytes, 415 not application/json, 422 every problem of the snapshot."
)
SNAPSHOT_REFUSED = "the snapshot does not fit the schema or the policy's district"
#: Pending connections the listening socket queues.
BACKLOG = 128


class ErrorBody(BaseModel):
    """A refused request: one line, and for a bad snapshot every problem."""

    error: str
    problems: list[str] | None = None


class Health(BaseModel):
    """The service is up, advising with this policy on this district."""

    status: str
    policy: str
    district: str


class _Refused(Exception):
    """A request refused with ``status`` and a one-line ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _error(status: int, message: str, problems: list[str] | None = None) -> JSONResponse:
    body = ErrorBody(error=message, problems=problems).model_dump(exclude_none=True)
    return JSONResponse(body, status_code=status)


_ERRORS = {
    code: {"model": ErrorBody, "description": text}
    for code, text in [
        (400, "the body is not UTF-8 JSON (or nested too deep)"),
        (413, f"the body is larger than {MAX_BODY_BYTES} bytes"),
        (415, f"the body is not declared {JSON_MEDIA_TYPE}"),
        (422, "the snapshot does not fit the schema or the policy's district (every problem)"),
    ]
}


def create_app(advisor: Advisor) -> FastAPI:
    """The service's ASGI application over the loaded ``advisor``."""
    import patrolmarl

    app = FastAPI(title=TITLE, version=patrolmarl.__version__, description=DESCRIPTION)
    exported = advisor.exported
    card = Response(json_text(advisor.card, indent=None), media_type=JSON_MEDIA_TYPE)
    health = Health(status="ok", policy=exported.name, district=exported.district.name)

    @app.exception_handler(_Refused)
    async def refused(request: Request, exc: _Refused) -> JSONResponse:
        return _error(exc.status, exc.message)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail))

    @app.get("/health", response_model=Health, summary="The service is up")
    async def get_health() -> Health:
        return health

    @app.get(
        "/policy",
        summary="The policy card (policy.json)",
        responses={200: {"content": {JSON_MEDIA_TYPE: {"schema": {"type": "object"}}}}},
    )
    async def get_policy() -> Response:
        return card

    @app.post(
        "/advise",
        summary="Each unit's recommended action in the snapshot's situation",
        responses={200: {"model": list[Recommendation]}, **_ERRORS},
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {JSON_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Snapshot"}}},
            }
        },
    )
    async def post_advise(request: Request) -> JSONResponse:
        snapshot = _json_body(await _body(request))
        try:
            recommendations = await run_in_threadpool(advise, advisor, snapshot)
        except SnapshotError as exc:
            return _error(422, SNAPSHOT_REFUSED, exc.problems)
        return JSONResponse(recommendations)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            doc["components"]["schemas"]["Snapshot"] = _snapshot_component()
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _snapshot_component() -> dict[str, Any]:
    """The snapshot schema as an OpenAPI component, its ``$defs`` referred to in place."""
    schema = {k: v for k, v in snapshot_schema().items() if k not in ("$schema", "$id")}
    return _rebased(schema, "#/$defs/", "#/components/schemas/Snapshot/$defs/")


def _rebased(value: Any, old: str, new: str) -> Any:
    """``value`` with each ``$ref`` starting ``old`` starting ``new`` instead."""
    if isinstance(value, dict):
        return {
            key: new + item[len(old) :]
            if key == "$ref" and isinstance(item, str) and item.startswith(old)
            else _rebased(item, old, new)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_rebased(item, old, new) for item in value]
    return value


async def _body(request: Request) -> bytes:
    """The request's body, refused if it is not declared JSON or is too large."""
    declared = request.headers.get("content-type")
    if declared is None or declared.split(";")[0].strip().lower() != JSON_MEDIA_TYPE:
        shown = "none" if declared is None else echo(declared)
        raise _Refused(415, f"Content-Type must be {JSON_MEDIA_TYPE}, got {shown}")
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise _Refused(413, f"body of {int(length)} bytes, more than the limit of {MAX_BODY_BYTES}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _Refused(413, f"body of more than the limit of {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _json_body(body: bytes) -> Any:
    """The body's JSON value; 400 if it is not UTF-8 JSON nested at most 64 deep."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Refused(400, f"body: not UTF-8 text (byte {exc.start})") from None
    try:
        return json_value(text, "body", what="body")
    except PatrolMarlError as exc:
        raise _Refused(400, str(exc)) from None


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host``:``port`` (0: any free port) and listening.

    Raises
    ------
    PatrolMarlError
        If ``host`` is not an address of this machine or the port is taken or reserved.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise PatrolMarlError(f"--host: {echo(host)}: not a known address ({exc})") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PatrolMarlError(
                f"--port: {port} on {host} is in use (another server listens there)"
            ) from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise PatrolMarlError(
                f"--host: {echo(host)} is not an address of this machine"
            ) from None
        raise PatrolMarlError(
            f"--port: cannot listen on {host} port {port} ({exc.strerror})"
        ) from None
    return sock


def url_of(sock: socket.socket) -> str:
    """``http://HOST:PORT`` of a listening socket."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def serve(advisor: Advisor, sock: socket.socket) -> None:
    """Serve ``advisor`` on the listening ``sock`` until interrupted (Ctrl+C).

    Prints one line first, ``patrolmarl: serving POLICY on http://HOST:PORT``.
    """
    app = create_app(advisor)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    print(f"patrolmarl: serving {advisor.exported.name} on {url_of(sock)}", flush=True)
    uvicorn.Server(config).run(sockets=[sock])
