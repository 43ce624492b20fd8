"""The service runtime: a FastStream NATS app per service, with typed request/reply and a status reply.

Handlers are registered with `@app.command(name, Model)` / `@app.query(name, Model)`; the runtime
parses the payload at the edge, answers a typed error for bad input, caches replies by command id
(so a retried command is not executed twice), and carries trace context in NATS headers.
"""

from __future__ import annotations

import asyncio
import gc
import os
import socket
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from faststream.nats import NatsBroker, NatsMessage
from faststream.nats.opentelemetry import NatsTelemetryMiddleware
from nebula_contracts.envelope import Command, ErrorBody, Reply
from nebula_contracts.errors import NebulaError, Unavailable, error_from_code
from nebula_contracts.status import ConnectionStatus, ServiceStatus
from nebula_contracts.subjects import command_subject, query_subject, status_subject
from pydantic import BaseModel, ValidationError

from nebula_core.telemetry import get_logger

log = get_logger(__name__)

GC_THRESHOLDS = (50_000, 20, 100)
"""Allocations before a young collection, then young / middle collections before an older one."""


def tune_garbage_collector() -> None:
    """Collect reference cycles less often, and never again walk what start-up built.

    With CPython's default (a young collection every 700 allocations) the cycle collector was a third of a
    projection replay's CPU: thousands of records are in flight, and every older-generation pass walks them
    all (docs/benchmarks.md, section 2). Our objects rarely form cycles; reference counting frees them as they
    go, so collecting less often costs little memory. `nebula run` and `nebula up` call this once the
    services have started; the benchmarks call it too, to measure what runs.
    """
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


C = TypeVar("C", bound=Command)
Handler = Callable[[C], Awaitable[Any]]
_REPLY_CACHE_SIZE = 10_000


class Component(Protocol):
    """Something a service runs besides its subscribers (projection runners, ARI listeners, ...)."""

    @property
    def name(self) -> str:
        """What the component is called in status replies."""
        ...

    async def start(self) -> None:
        """Start."""
        ...

    async def stop(self) -> None:
        """Stop, finishing in-flight work."""
        ...


def field_of(error: ValidationError) -> str:
    """The dotted path of the first invalid field (the envelope's own nesting removed)."""
    first = error.errors()[0]
    return ".".join(str(p) for p in first.get("loc", ())) or "body"


def validation_error(error: ValidationError) -> ErrorBody:
    """A typed error naming the first invalid field."""
    first = error.errors()[0]
    return ErrorBody(code="invalid", message=str(first.get("msg", "invalid input")), field=field_of(error),
                     details={"errors": [{"field": ".".join(str(p) for p in e.get("loc", ())),
                                          "message": e.get("msg")} for e in error.errors()[:20]]})


def to_jsonable(result: Any) -> Any:
    """Models become JSON-ready dicts; everything else passes through."""
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json")
    if isinstance(result, list):
        return [to_jsonable(r) for r in result]
    if isinstance(result, dict):
        return {k: to_jsonable(v) for k, v in result.items()}
    return result


def new_broker(nats_url: str, name: str, graceful_timeout: float = 10.0) -> NatsBroker:
    """A FastStream NATS broker with trace propagation in headers."""
    return NatsBroker(
        nats_url,
        name=f"nebula-{name}",
        middlewares=[NatsTelemetryMiddleware()],
        graceful_timeout=graceful_timeout,
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        logger=None,
    )


class ServiceApp:
    """One service: its broker, its request/reply handlers, its components and its status."""

    def __init__(self, name: str, nats_url: str, *, graceful_timeout: float = 10.0):
        self.name = name
        self.instance = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.broker = new_broker(nats_url, name, graceful_timeout)
        self.components: list[Component] = []
        self.checks: list[Callable[[], Awaitable[ConnectionStatus]]] = []
        self.started_at = datetime.now(UTC)
        self._replies: OrderedDict[uuid.UUID, bytes] = OrderedDict()
        self._started = False
        self.after_start: list[Callable[[], Awaitable[None]]] = []
        self.broker.subscriber(status_subject(name))(self._status_handler)

    # ------------------------------------------------------------ registration

    def command(self, name: str, model: type[C], *, max_workers: int = 1) -> Callable[[Handler[C]], Handler[C]]:
        """Register a command handler on `cmd.<service>.<name>` (replies cached by command id).

        `max_workers` > 1 lets that many requests of this subject run at once (handlers that wait on
        threads or I/O, like password verification); the default keeps a subject's requests in order.
        """
        return self._register(command_subject(self.name, name), model, cache=True, max_workers=max_workers)

    def query(self, name: str, model: type[C]) -> Callable[[Handler[C]], Handler[C]]:
        """Register a query handler on `qry.<service>.<name>`."""
        return self._register(query_subject(self.name, name), model, cache=False)

    def _register(self, subject: str, model: type[C], cache: bool,
                  max_workers: int = 1) -> Callable[[Handler[C]], Handler[C]]:
        def decorator(handler: Handler[C]) -> Handler[C]:
            async def endpoint(msg: NatsMessage) -> bytes:
                return await self.dispatch(model, handler, msg.body, cache)

            endpoint.__name__ = f"{self.name}_{handler.__name__}"
            if max_workers > 1:
                self.broker.subscriber(subject, queue=self.name, title=subject, description=handler.__doc__,
                                       max_workers=max_workers)(endpoint)
            else:
                self.broker.subscriber(subject, queue=self.name, title=subject,
                                       description=handler.__doc__)(endpoint)
            return handler

        return decorator

    async def dispatch(self, model: type[C], handler: Handler[C], body: bytes, cache: bool) -> bytes:
        """Parse, run, and turn the outcome into a Reply; never raises."""
        try:
            command = model.model_validate_json(body)
        except ValidationError as exc:
            return Reply.failure(validation_error(exc)).model_dump_json().encode()
        except NebulaError as exc:
            return _failure(exc)
        if cache and command.command_id in self._replies:
            return self._replies[command.command_id]
        try:
            reply = Reply.success(to_jsonable(await handler(command))).model_dump_json().encode()
        except NebulaError as exc:
            reply = _failure(exc)
        except ValidationError as exc:
            reply = Reply.failure(validation_error(exc)).model_dump_json().encode()
        except Exception as exc:
            log.exception("handler.failed", service=self.name, command=model.command_type)
            return Reply.failure(ErrorBody(code="internal", message=f"internal error: {type(exc).__name__}")
                                 ).model_dump_json().encode()
        if cache:
            self._replies[command.command_id] = reply
            while len(self._replies) > _REPLY_CACHE_SIZE:
                self._replies.popitem(last=False)
        return reply

    # ------------------------------------------------------------ lifecycle

    async def connect(self) -> Any:
        """Connect to NATS (idempotent); returns the nats-py client for adapters that need it."""
        return await self.broker.connect()

    async def start(self) -> None:
        """Connect, start components, begin serving, then run after-start hooks."""
        await self.broker.connect()
        for component in self.components:
            await component.start()
        await self.broker.start()
        # Make sure the server knows our subscriptions before anyone is told we are up.
        if self.broker._connection is not None:
            await self.broker._connection.flush()
        self._started = True
        for hook in self.after_start:
            await hook()
        log.info("service.started", service=self.name, instance=self.instance)

    async def stop(self) -> None:
        """Stop taking requests (in-flight handlers finish), stop components, then drain NATS."""
        if self._started:
            self._started = False
            for subscriber in self.broker.subscribers:
                await subscriber.stop()
            for component in reversed(self.components):
                await component.stop()
        await self.broker.stop()
        log.info("service.stopped", service=self.name)

    # ------------------------------------------------------------ status

    async def status(self) -> ServiceStatus:
        """Each connection and its state."""
        conn = self.broker._connection if hasattr(self.broker, "_connection") else None
        nats_up = bool(conn and conn.is_connected)
        connections = [ConnectionStatus(name="nats", state="up" if nats_up else "down",
                                        detail=str(conn.connected_url.netloc) if conn and conn.connected_url else "")]
        for check in self.checks:
            try:
                connections.append(await asyncio.wait_for(check(), 2.0))
            except Exception as exc:
                connections.append(ConnectionStatus(name=getattr(check, "__name__", "check"), state="down",
                                                    detail=repr(exc)))
        consumers = {c.name: int(getattr(c, "position", 0)) for c in self.components if hasattr(c, "position")}
        states = {c.state for c in connections}
        state = "down" if "down" in states else "degraded" if "degraded" in states else "up"
        return ServiceStatus(service=self.name, state=state, instance=self.instance,
                             started_at=self.started_at.isoformat(), connections=connections,
                             consumers=consumers)

    async def _status_handler(self, msg: NatsMessage) -> bytes:
        return Reply.success((await self.status()).model_dump(mode="json")).model_dump_json().encode()


def _failure(exc: NebulaError) -> bytes:
    return Reply.failure(ErrorBody(code=exc.code, message=exc.message, field=exc.field, details=exc.details)
                         ).model_dump_json().encode()


class ServiceClient:
    """Calls other services by request/reply and turns error replies back into typed exceptions."""

    def __init__(self, broker: NatsBroker, timeout: float = 5.0):
        self._broker = broker
        self._timeout = timeout

    async def call(self, subject: str, message: Command | dict[str, Any], timeout: float | None = None) -> Any:
        """Send and wait; raises the typed error the service answered, or Unavailable."""
        body = message.model_dump_json() if isinstance(message, BaseModel) else message
        try:
            response = await self._broker.request(body, subject, timeout=timeout or self._timeout)
        except TimeoutError as exc:
            raise Unavailable(f"no answer from {subject}") from exc
        except Exception as exc:  # no responders, connection closed
            raise Unavailable(f"{subject} is not reachable: {type(exc).__name__}") from exc
        reply = Reply.model_validate_json(response.body)
        if not reply.ok:
            error = reply.error or ErrorBody(code="internal", message="error without body")
            raise error_from_code(error.code, error.message, error.field, error.details)
        return reply.result


def database_check(engine: Any) -> Callable[[], Awaitable[ConnectionStatus]]:
    """A status check that pings the read-model database."""
    from nebula_core.db import ping

    async def database() -> ConnectionStatus:
        await ping(engine)
        return ConnectionStatus(name="database", state="up", detail=engine.url.get_backend_name())

    return database
