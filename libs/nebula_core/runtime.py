"""The service runtime: one NATS app per service, with typed request/reply and a status reply.

Handlers are registered with `@app.command(name, Model)` / `@app.query(name, Model)`; the runtime
parses the payload at the edge, answers a typed error for bad input, caches replies by command id
(so a retried command is not executed twice), and carries trace context in NATS headers. Requests are
served and sent with nats-py directly (decision 0017); FastStream's broker holds the connection.
"""

from __future__ import annotations

import asyncio
import gc
import os
import socket
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import orjson
from faststream.nats import NatsBroker
from faststream.nats.opentelemetry import NatsTelemetryMiddleware
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nebula_contracts.envelope import Command, ErrorBody, Reply
from nebula_contracts.errors import NebulaError, Unavailable, error_from_code
from nebula_contracts.status import ConnectionStatus, ServiceStatus
from nebula_contracts.subjects import command_subject, query_subject, status_subject
from opentelemetry import context as otel_context
from opentelemetry import propagate
from opentelemetry.trace import SpanKind
from pydantic import BaseModel, ValidationError

from nebula_core.telemetry import child_trace_headers, exporting, get_logger, tracer

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


T = TypeVar("T")


def run_event_loop(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run` on uvloop's event loop: how `nebula run` and `nebula up` run the services.

    Every service is network-bound in Python: NATS messages, ARI requests and events, HTTP. libuv does the
    socket work and the loop's bookkeeping in C; the inbound benchmark's platform CPU per call fell with it
    (docs/benchmarks.md, section 5). The tests keep asyncio's own loop, so both loops run the code.
    """
    import uvloop

    return uvloop.run(main)


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
        self._running: dict[uuid.UUID, asyncio.Future[bytes]] = {}  # commands being handled, by command id
        self._started = False
        self.after_start: list[Callable[[], Awaitable[None]]] = []
        self.graceful_timeout = graceful_timeout
        self.endpoints: list[Endpoint] = [Endpoint(status_subject(name), self._status_reply, queue=None,
                                                   description="the service's status")]
        self._subscriptions: list[Subscription] = []
        self._handling: set[asyncio.Task[None]] = set()

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
            async def serve(body: bytes) -> bytes:
                return await self.dispatch(model, handler, body, cache)

            self.endpoints.append(Endpoint(subject, serve, queue=self.name, max_workers=max_workers,
                                           description=handler.__doc__ or ""))
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
        if not cache:
            return (await self._handle(model, handler, command))[0]
        if command.command_id in self._replies:
            return self._replies[command.command_id]
        running = self._running.get(command.command_id)
        if running is not None:  # a retry while the first is still handled (subjects with several workers)
            return await asyncio.shield(running)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._running[command.command_id] = future
        try:
            reply, keep = await self._handle(model, handler, command)
            if keep:
                self._replies[command.command_id] = reply
                while len(self._replies) > _REPLY_CACHE_SIZE:
                    self._replies.popitem(last=False)
            future.set_result(reply)
            return reply
        finally:
            if not future.done():
                future.cancel()
            self._running.pop(command.command_id, None)

    async def _handle(self, model: type[C], handler: Handler[C], command: C) -> tuple[bytes, bool]:
        """The handler's outcome as a Reply, and whether a retry may get it again (not an internal error)."""
        try:
            return Reply.success(to_jsonable(await handler(command))).model_dump_json().encode(), True
        except NebulaError as exc:
            return _failure(exc), True
        except ValidationError as exc:
            return Reply.failure(validation_error(exc)).model_dump_json().encode(), True
        except Exception as exc:
            log.exception("handler.failed", service=self.name, command=model.command_type)
            return Reply.failure(ErrorBody(code="internal", message=f"internal error: {type(exc).__name__}")
                                 ).model_dump_json().encode(), False

    # ------------------------------------------------------------ lifecycle

    async def connect(self) -> Any:
        """Connect to NATS (idempotent); returns the nats-py client for adapters that need it."""
        return await self.broker.connect()

    async def start(self) -> None:
        """Connect, start components, begin serving, then run after-start hooks."""
        nc = await self.broker.connect()
        for component in self.components:
            await component.start()
        await self.broker.start()
        for endpoint in self.endpoints:
            self._subscriptions.append(await nc.subscribe(endpoint.subject, queue=endpoint.queue or "",
                                                          cb=self._receiver(nc, endpoint)))
        # Make sure the server knows our subscriptions before anyone is told we are up.
        await nc.flush()
        self._started = True
        for hook in self.after_start:
            await hook()
        log.info("service.started", service=self.name, instance=self.instance)

    async def stop(self) -> None:
        """Stop taking requests (in-flight handlers finish), stop components, then drain NATS."""
        if self._started:
            self._started = False
            await self._stop_serving()
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

    async def _status_reply(self, body: bytes) -> bytes:
        return Reply.success((await self.status()).model_dump(mode="json")).model_dump_json().encode()

    # ------------------------------------------------------------ serving requests

    def _receiver(self, nc: Any, endpoint: Endpoint) -> Callable[[Msg], Awaitable[None]]:
        """The subscription's callback: nats-py runs it for one message at a time, in order.

        With `max_workers` > 1 each message gets its own task (at most that many at once), started in arrival
        order; otherwise the message is handled before the next is taken.
        """
        limit = asyncio.Semaphore(endpoint.max_workers)

        async def answer(msg: Msg) -> None:
            try:
                reply = await _traced(msg, endpoint.serve)
            except Exception as exc:  # dispatch never raises; the status reply might
                log.exception("request.failed", service=self.name, subject=endpoint.subject)
                reply = Reply.failure(ErrorBody(code="internal", message=f"internal error: {type(exc).__name__}")
                                      ).model_dump_json().encode()
            if msg.reply:
                try:
                    await nc.publish(msg.reply, reply)
                except Exception as exc:  # the connection went away; the caller times out and may retry
                    log.warning("reply.failed", service=self.name, subject=endpoint.subject, error=repr(exc))

        async def concurrently(msg: Msg) -> None:
            await limit.acquire()
            task = asyncio.create_task(answer(msg))
            self._handling.add(task)
            task.add_done_callback(self._handling.discard)
            task.add_done_callback(lambda _: limit.release())

        return answer if endpoint.max_workers <= 1 else concurrently

    async def _stop_serving(self) -> None:
        """Take no new request; let the ones being handled finish (bounded by the graceful timeout)."""
        subscriptions, self._subscriptions = self._subscriptions, []
        for subscription in subscriptions:
            try:
                await asyncio.wait_for(subscription.drain(), self.graceful_timeout)  # type: ignore[no-untyped-call]
            except Exception as exc:  # NATS already gone: nothing more can arrive anyway
                log.warning("service.drain_failed", service=self.name, subject=subscription.subject,
                            error=repr(exc))
        if self._handling:
            _, late = await asyncio.wait(list(self._handling), timeout=self.graceful_timeout)
            for task in late:
                task.cancel()


class Endpoint:
    """A subject this service answers: its reply function, its queue group and how many at once."""

    def __init__(self, subject: str, serve: Callable[[bytes], Awaitable[bytes]], *, queue: str | None,
                 max_workers: int = 1, description: str = ""):
        self.subject = subject
        self.serve = serve
        self.queue = queue
        self.max_workers = max_workers
        self.description = description


_tracer = tracer("nebula.nats")


async def _traced(msg: Msg, serve: Callable[[bytes], Awaitable[bytes]]) -> bytes:
    """Serve a request inside the caller's trace: a CONSUMER span while spans are exported, else its context."""
    headers = msg.headers
    if exporting():
        parent = propagate.extract(headers or {})
        with _tracer.start_as_current_span(f"{msg.subject} process", context=parent, kind=SpanKind.CONSUMER,
                                           attributes={"messaging.system": "nats",
                                                       "messaging.destination.name": msg.subject}):
            return await serve(msg.data)
    if not headers or "traceparent" not in headers:
        return await serve(msg.data)
    token = otel_context.attach(propagate.extract(headers))
    try:
        return await serve(msg.data)
    finally:
        otel_context.detach(token)


def _failure(exc: NebulaError) -> bytes:
    return Reply.failure(ErrorBody(code=exc.code, message=exc.message, field=exc.field, details=exc.details)
                         ).model_dump_json().encode()


class ServiceClient:
    """Calls other services by request/reply and turns error replies back into typed exceptions."""

    def __init__(self, broker: NatsBroker, timeout: float = 5.0):
        self._broker = broker
        self._timeout = timeout

    async def call(self, subject: str, message: Command | dict[str, Any], timeout: float | None = None) -> Any:
        """Send and wait; raises the typed error the service answered, or Unavailable.

        Straight through nats-py's request (one shared reply subscription), with the trace context in the
        headers: FastStream's request path cost about a millisecond of CPU more per call (docs/benchmarks.md,
        section 5).
        """
        body = message.model_dump_json().encode() if isinstance(message, BaseModel) else orjson.dumps(message)
        nc = self._broker._connection
        if nc is None:
            raise Unavailable(f"{subject} is not reachable: not connected to NATS")
        wait = timeout or self._timeout
        try:
            if exporting():
                with _tracer.start_as_current_span(f"{subject} publish", kind=SpanKind.PRODUCER,
                                                   attributes={"messaging.system": "nats",
                                                               "messaging.destination.name": subject}):
                    headers: dict[str, str] = {}
                    propagate.inject(headers)
                    response = await nc.request(subject, body, timeout=wait, headers=headers)
            else:
                response = await nc.request(subject, body, timeout=wait, headers=child_trace_headers())
        except (TimeoutError, NatsTimeoutError) as exc:
            raise Unavailable(f"no answer from {subject}") from exc
        except NoRespondersError as exc:
            raise Unavailable(f"{subject} is not reachable: {type(exc).__name__}") from exc
        except Exception as exc:  # connection closed or draining
            raise Unavailable(f"{subject} is not reachable: {type(exc).__name__}") from exc
        reply = Reply.model_validate_json(response.data)
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
