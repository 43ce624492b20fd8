"""The adapter's handlers: ARI events and NATS commands, one call at a time, in order.

Each call has its own worker queue, so the events and commands of one call are handled strictly in
order while different calls proceed concurrently. A decision's events are appended (with the call's
expected version) before its ARI actions run; hold and mute, which Asterisk does not report (surprise
9), are recorded when the ARI request succeeds. After a change is recorded, each agent whose phone shows
the call gets a live CallNotice (sent in the background: nothing waits for it).

Outbound calls come two ways: an agent's phone dials (StasisStart `outbound,<number>[,<caller id>]`), or
POST /api/v1/calls (`start_outbound_call`: the agent's phone is rung first, `agent-out,<call>`). Either way
the number, the caller ID and the blacklist are checked here, the queue-router authorises the agent (and
holds them as dialling), then the customer is dialled through the trunk (`customer,<call>`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from nebula_contracts import agents as a
from nebula_contracts import calls as c
from nebula_contracts.envelope import SYSTEM, Actor, Frozen, derived_id
from nebula_contracts.errors import Conflict, Forbidden, InvalidInput, NebulaError, NotFound, Unavailable
from nebula_contracts.subjects import event_subject, live_subject
from nebula_core.deadletter import DeadLetter, DeadLetterSink
from nebula_core.eventstore.port import ConcurrencyConflict, EventStore, RecordedEvent
from nebula_core.telemetry import get_logger
from pydantic import ValidationError

from nebula_telephony import domain
from nebula_telephony.adapters import CallDirection, DirectoryCache, InMemoryBlacklist, to_e164
from nebula_telephony.ari import models as ari
from nebula_telephony.ari.client import AriClient, AriError
from nebula_telephony.domain import CallState, Decision, OutboundPlan, Refusal
from nebula_telephony.settings import TelephonySettings

log = get_logger(__name__)
UNROUTED_TENANT = "_unrouted"
LEG_ARGS = (["agent"], ["agent-out"], ["customer"])  # StasisStart args of the legs we originate: <kind>,<call>
ROUTER_REFUSALS: dict[str, c.RejectCode] = {"agent_busy": "agent_busy", "agent_not_outbound": "agent_not_outbound"}


class Blacklist(Protocol):
    """Numbers a tenant never connects (the CRM keeps it; a local copy, no lookup per call)."""

    def blocked(self, tenant_id: str, e164: str, direction: CallDirection = "outbound") -> bool:
        """Whether the number is on the tenant's blacklist for calls going `direction`."""
        ...


class DialAuthority(Protocol):
    """The queue-router's say on whether an agent may dial now (request/reply)."""

    async def authorize_dial(self, command: a.AuthorizeDial) -> None:
        """Returns when allowed; raises the router's typed error (Conflict on `state`) when not."""
        ...


class LiveFeed(Protocol):
    """Where live notices go (core NATS `live.<tenant>.…`, relayed by the gateway)."""

    async def publish(self, subject: str, message: Frozen) -> None:
        """Send one notice; never raises."""
        ...


AFTER_ANSWER = "after_answer"  # the kind of the job that records a customer's answer and starts the music


@dataclass
class _Job:
    run: Callable[[], Awaitable[Any]]
    done: asyncio.Future[Any] | None = None
    kind: str = ""


class CallWorkers:
    """One queue and task per live call; a call's jobs run one after another."""

    def __init__(self) -> None:
        self._queues: dict[uuid.UUID, asyncio.Queue[_Job]] = {}
        self._tasks: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._running: dict[uuid.UUID, _Job] = {}

    def submit(self, call_id: uuid.UUID, run: Callable[[], Awaitable[Any]], wait: bool = False,
               kind: str = "") -> Any:
        """Queue a job for the call; with `wait` the caller gets a future of its result."""
        queue = self._queues.get(call_id)
        if queue is None:
            queue = self._queues[call_id] = asyncio.Queue()
            self._tasks[call_id] = asyncio.create_task(self._work(call_id, queue), name=f"call:{call_id}")
        future: asyncio.Future[Any] | None = asyncio.get_running_loop().create_future() if wait else None
        queue.put_nowait(_Job(run, future, kind))
        return future

    def clear_but_for(self, call_id: uuid.UUID, kind: str) -> bool:
        """Whether nothing is queued for the call and what runs, if anything, is a job of `kind`."""
        queue = self._queues.get(call_id)
        if queue is not None and not queue.empty():
            return False
        job = self._running.get(call_id)
        return job is None or job.kind == kind

    async def _work(self, call_id: uuid.UUID, queue: asyncio.Queue[_Job]) -> None:
        while True:
            job = await queue.get()
            self._running[call_id] = job
            try:
                result = await job.run()
            except Exception as exc:
                if job.done is not None and not job.done.done():
                    job.done.set_exception(exc)
                else:
                    log.exception("call.job_failed", call_id=str(call_id))
            else:
                if job.done is not None and not job.done.done():
                    job.done.set_result(result)
            finally:
                self._running.pop(call_id, None)
                queue.task_done()

    def forget(self, call_id: uuid.UUID) -> None:
        """Stop the worker of an ended call once its queue is empty."""
        queue = self._queues.get(call_id)
        task = self._tasks.get(call_id)
        if queue is not None and task is not None and queue.empty():
            self._queues.pop(call_id, None)
            self._tasks.pop(call_id, None)
            task.cancel()

    async def join(self) -> None:
        """Wait until every queued job has run."""
        for queue in list(self._queues.values()):
            await queue.join()

    async def drain(self) -> None:
        """Wait until every queued job has run (shutdown), then stop the workers."""
        await self.join()
        for task in self._tasks.values():
            task.cancel()
        for task in list(self._tasks.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._queues.clear()
        self._tasks.clear()


class TelephonyHandlers:
    """Turns ARI facts into call events and carries out telephony commands."""

    def __init__(self, store: EventStore, ari_client: AriClient, directory: DirectoryCache,
                 dead_letters: DeadLetterSink, region: str = "TR", *, router: DialAuthority | None = None,
                 blacklist: Blacklist | None = None, live: LiveFeed | None = None,
                 settings: TelephonySettings | None = None):
        self.store = store
        self.ari = ari_client
        self.directory = directory
        self.dead_letters = dead_letters
        self.region = region
        self.router = router
        self.blacklist: Blacklist = blacklist if blacklist is not None else InMemoryBlacklist()
        self.live = live
        self.settings = settings or TelephonySettings()
        self.calls: dict[uuid.UUID, CallState] = {}
        self.by_channel: dict[str, uuid.UUID] = {}
        self._channels: dict[uuid.UUID, set[str]] = {}  # call -> its channels in by_channel (forgotten at its end)
        self.workers = CallWorkers()
        self._ivr_timers: dict[uuid.UUID, asyncio.TimerHandle] = {}
        # call -> ((prompt id, keys so far), timer): a prompt's timeout runs from its sound's end and each key
        self._prompt_timers: dict[uuid.UUID, tuple[tuple[str, int], asyncio.TimerHandle]] = {}
        self._shown: dict[uuid.UUID, dict[uuid.UUID, dict[str, Any]]] = {}  # call -> agent -> last notice sent
        self._sending: set[asyncio.Task[None]] = set()
        self._answering: dict[uuid.UUID, asyncio.Task[None]] = {}  # call -> its answer in flight (`_answer_aside`)
        self._after_pending: set[uuid.UUID] = set()  # calls answered aside whose next step is not taken yet
        self.ari_connected = asyncio.Event()

    # ------------------------------------------------------------ recording and acting

    async def _execute(self, call: CallState, decision: Decision) -> None:
        if decision.events:
            stream = event_subject(call.tenant_id, c.AGGREGATE_CALL, str(call.call_id))
            # In order rather than atomically (decision 0016): every prefix of a call decision is a call that
            # recovery settles (rebuild + reconcile), and the ring path waits for these appends.
            try:
                result = await self.store.append(stream, decision.events, expected_version=call.version,
                                                 atomic=False)
            except ConcurrencyConflict:
                # Only this adapter writes call streams; a conflict means a retried append landed.
                read = await self.store.read(stream)
                result = await self.store.append(stream, decision.events, expected_version=read.version,
                                                 atomic=False)
            call.version = result.version
            for event in decision.events:
                call.apply(event)
        followups = []
        for action in decision.actions:
            followup = await self._act(call, action)
            if followup is not None:
                followups.append(followup)
        if decision.events:
            self._announce(call)
        for followup in followups:
            await self._execute(call, followup)
        if call.ended and not call.live_legs():
            self._finish(call)

    async def _act(self, call: CallState, action: domain.Action) -> Decision | None:
        """Carry out one action; a refused dial answers the decision that records it."""
        if isinstance(action, domain.Originate):
            try:
                await self.ari.originate(endpoint=action.endpoint, app_args=action.app_args,
                                         caller_id=action.caller_id, timeout_s=action.timeout_s,
                                         channel_id=action.channel_id, originator=action.originator)
            except AriError as exc:
                log.warning("call.dial_refused", call_id=str(call.call_id), endpoint=action.endpoint,
                            status=exc.status, error=exc.message)
                # 500 "Allocation failed": Asterisk could not even create the leg (trunk down or unknown).
                return call.customer_dial_failed(exc.message, unreachable=exc.status == 500)
            return None
        try:
            match action:
                case domain.Answer():
                    await self.ari.answer(action.channel_id)
                case domain.StartMoh():
                    await self.ari.start_moh(action.channel_id, action.moh_class)
                case domain.StopMoh():
                    await self.ari.stop_moh(action.channel_id)
                case domain.Hangup():
                    await self.ari.hangup(action.channel_id, action.reason)
                case domain.Ring():
                    await self.ari.ring(action.channel_id)
                case domain.StopRing():
                    await self.ari.ring_stop(action.channel_id)
                case domain.Play():
                    await self.ari.play(action.channel_id, action.media, action.playback_id)
                case domain.StopPlayback():
                    await self.ari.stop_playback(action.playback_id)
                case domain.DestroyBridge():
                    await self.ari.destroy_bridge(action.bridge_id)
                case domain.Bridge():
                    await self.ari.create_bridge(action.bridge_id, "mixing", "nebula-call")
                    await self.ari.add_to_bridge(action.bridge_id, list(action.channel_ids))
                    await self.ari.record_bridge(action.bridge_id, action.recording)
        except AriError as exc:
            # A channel that is already gone (404) or not in a state for it (409/412) is not an error of ours:
            # its own ChannelDestroyed settles the call.
            level = "info" if exc.status in (404, 409, 412) else "warning"
            if isinstance(action, domain.Bridge):
                call.recording_refused(action.recording)
            getattr(log, level)("ari.action_failed", call_id=str(call.call_id), action=type(action).__name__,
                                status=exc.status, error=exc.message)
        return None

    def _announce(self, call: CallState) -> None:
        """Send each agent whose phone shows the call its new picture, if it changed (in the background)."""
        if self.live is None or (call.direction == "inbound" and not call.legs):
            return  # nobody's phone shows an inbound call before it is offered
        queue = self.directory.queue_name(call.queue_id) or None if call.direction == "inbound" else None
        shown = self._shown.setdefault(call.call_id, {})
        for agent_id, notice in domain.call_notices(call, queue).items():
            picture = notice.model_dump(exclude={"at"})
            if shown.get(agent_id) == picture:
                continue
            shown[agent_id] = picture
            task = asyncio.create_task(self.live.publish(live_subject(call.tenant_id, "agent", str(agent_id)),
                                                         notice))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def flush_notices(self) -> None:
        """Wait for the notices still being sent (shutdown, tests)."""
        while self._sending:
            await asyncio.gather(*list(self._sending), return_exceptions=True)

    async def settle(self) -> None:
        """Wait until no answer is in flight, every call's queued work has run and the notices are sent."""
        while True:  # a job may start an answer, and an answer queues a job
            while self._answering:
                await asyncio.gather(*list(self._answering.values()), return_exceptions=True)
            await self.workers.join()
            if not self._answering:
                break
        await self.flush_notices()

    async def drain(self) -> None:
        """Shutdown: let what is under way finish (`settle`), then stop the calls' workers."""
        await self.settle()
        await self.workers.drain()
        await self.flush_notices()

    def _track(self, call: CallState) -> None:
        """Know the call and every channel of it, so the events of each find it."""
        self.calls[call.call_id] = call
        self._bind(call.customer_channel, call.call_id)
        for channel in call.legs:
            self._bind(channel, call.call_id)

    def _bind(self, channel: str, call_id: uuid.UUID) -> None:
        """Events of `channel` are the call's (until the call is finished)."""
        self.by_channel[channel] = call_id
        self._channels.setdefault(call_id, set()).add(channel)

    def _finish(self, call: CallState) -> None:
        self.calls.pop(call.call_id, None)
        self._after_pending.discard(call.call_id)
        self._shown.pop(call.call_id, None)
        for channel in self._channels.pop(call.call_id, ()):
            if self.by_channel.get(channel) == call.call_id:
                del self.by_channel[channel]
        timer = self._ivr_timers.pop(call.call_id, None)
        if timer:
            timer.cancel()
        self._cancel_prompt_timer(call.call_id)
        asyncio.get_running_loop().call_soon(self.workers.forget, call.call_id)

    # ------------------------------------------------------------ ARI events

    async def on_ari_message(self, message: dict[str, Any]) -> None:
        """Parse one raw ARI message and hand it to its call's worker; malformed ones are dead-lettered."""
        try:
            event = ari.parse_event(message)
        except ValidationError as exc:
            await self._dead_letter(message, f"malformed {message.get('type')}: {exc.errors()[:3]}")
            return
        if event is None:
            if message.get("type") == "_malformed":
                await self._dead_letter(message, "not JSON")
            return
        if isinstance(event, ari.StasisStart) and event.args[:1] == ["inbound"]:
            await self._inbound(event)
            return
        if isinstance(event, ari.StasisStart) and event.args[:1] == ["outbound"]:
            self._outbound(event)
            return
        call_id = self._call_of(event)
        if call_id is None:
            return
        self.workers.submit(call_id, lambda: self._on_call_event(call_id, event))

    def _call_of(self, event: Any) -> uuid.UUID | None:
        # The models' fields straight from their __dict__: a pydantic model answers getattr() of a field it does
        # not have by raising inside its __getattr__, which cost more than the rest of this lookup.
        fields = vars(event)
        channel = fields.get("channel") or fields.get("peer")
        if isinstance(event, ari.StasisStart) and event.args[:1] in LEG_ARGS and len(event.args) > 1:
            with contextlib.suppress(ValueError):
                return uuid.UUID(event.args[1])
        if channel is not None and channel.id in self.by_channel:
            return self.by_channel[channel.id]
        for holder in ("playback", "recording"):
            obj = fields.get(holder)
            if obj is not None:
                ident = str(vars(obj).get("id") or vars(obj).get("name") or "")
                call_id = domain.call_id_from_ids(ident)
                if call_id in self.calls:
                    return call_id
        return None

    async def _on_call_event(self, call_id: uuid.UUID, event: Any) -> None:
        call = self.calls.get(call_id)
        if call is None:
            if isinstance(event, ari.StasisStart):  # an agent answered a call that is gone
                await self._act_unknown(domain.Hangup(event.channel.id))
            return
        decision = Decision()
        match event:
            case ari.StasisStart() if event.args[:1] == ["agent"]:
                await self._answered_first(call_id)
                decision = call.on_agent_answered(event.channel.id)
            case ari.StasisStart() if event.args[:1] == ["customer"]:
                decision = call.on_customer_answered(event.channel.id)
            case ari.StasisStart() if event.args[:1] == ["agent-out"]:
                decision = call.on_own_phone_answered(event.channel.id)
            case ari.Dial() if event.dialstatus in ("RINGING", "PROGRESS"):
                decision = call.on_customer_ringing(event.peer.id)
            case ari.ChannelDestroyed():
                decision = call.on_channel_destroyed(event.channel.id, event.cause, event.cause_txt)
            case ari.ChannelDtmfReceived() if event.channel.id == call.customer_channel:
                self._cancel_ivr_timer(call_id)
                decision = call.on_dtmf(event.digit)
            case ari.PlaybackFinished() if call.ivr is not None and event.playback.id == call.ivr.playback_id:
                if not call.ivr.finished:
                    self._arm_ivr_timer(call)
            case ari.PlaybackFinished() if call.prompt is not None and event.playback.id == call.prompt.prompt_id:
                decision = call.on_prompt_finished(event.playback.id, event.playback.state)
            case ari.RecordingFailed():
                log.warning("call.recording_failed", call_id=str(call_id), recording=event.recording.name)
                call.on_recording_failed(event.recording.name)
            case ari.RecordingStarted() | ari.RecordingFinished():
                decision = call.on_recording(event.recording.name, isinstance(event, ari.RecordingFinished),
                                             event.recording.duration)
            case ari.ChannelHold() | ari.ChannelUnhold():
                decision = call.on_phone_hold(event.channel.id, isinstance(event, ari.ChannelHold))
        await self._execute(call, decision)
        self._follow_prompt(call)

    async def _act_unknown(self, action: domain.Hangup) -> None:
        with contextlib.suppress(AriError):
            await self.ari.hangup(action.channel_id, action.reason)

    async def _inbound(self, event: ari.StasisStart) -> None:
        """A customer dialled a DID: route by the directory's copy, answer, queue (or IVR)."""
        channel = event.channel
        did = to_e164(event.args[1] if len(event.args) > 1 else channel.dialplan.exten, self.region)
        caller = to_e164(channel.caller.number, self.region)
        route = self.directory.dids.get(did)
        call_id = uuid.uuid4()
        tenant = route.tenant_id if route else UNROUTED_TENANT
        call = CallState(call_id=call_id, tenant_id=tenant, direction="inbound", customer_channel=channel.id,
                         caller=caller, did=did)
        self.calls[call_id] = call
        self._bind(channel.id, call_id)

        async def start() -> None:
            if route is None or route.config.target is None:
                await self._execute(call, call.decide_reject("no route for this number", channel.caller.name))
                return
            if self.blacklist.blocked(tenant, caller, "inbound"):
                # Refused before it is answered: no queue, no agent, no charge to the caller (domain.BLOCKED_HANGUP).
                await self._execute(call, call.decide_reject("the caller is on the blacklist", channel.caller.name,
                                                             code="blacklisted", hangup=domain.BLOCKED_HANGUP))
                return
            ivr_session, prompt = None, None
            if route.config.target == "ivr" and route.config.ivr_id in self.directory.ivrs:
                _, ivr = self.directory.ivrs[route.config.ivr_id]
                ivr_session = domain.IvrSession(route.config.ivr_id, dict(ivr.options),
                                                ivr.default_queue_id, ivr.timeout_s, f"ivr-{call_id.hex}")
                prompt = ivr.prompt
            else:
                call.queue_id = route.config.queue_id
            await self._execute(call, call.decide_inbound_start(call.queue_id, ivr_session, prompt,
                                                                channel.caller.name))
            if not call.ended:
                self._answer_aside(call)

        self.workers.submit(call_id, start)

    def _answer_aside(self, call: CallState) -> None:
        """Answer the customer without holding the call's worker, then queue the step after the answer on it.

        The call is queued already: the router's ring for it runs on the worker while Asterisk answers, instead
        of waiting for the answer, its record and the music (the ring path, decision 0016).
        """
        async def answer() -> None:
            await self._act(call, domain.Answer(call.customer_channel))
            self.workers.submit(call.call_id, lambda: self._after_answer(call), kind=AFTER_ANSWER)

        self._after_pending.add(call.call_id)
        task = asyncio.create_task(answer(), name=f"answer:{call.call_id}")
        self._answering[call.call_id] = task
        task.add_done_callback(lambda _: self._answering.pop(call.call_id, None))

    async def _after_answer(self, call: CallState) -> None:
        """`CallAnswered` and the music (or the menu), once: from its queued job, or first thing on a connection."""
        if call.call_id not in self._after_pending:
            return
        self._after_pending.discard(call.call_id)
        if not call.ended:
            await self._execute(call, call.decide_after_answer())

    async def _answered_first(self, call_id: uuid.UUID) -> None:
        """Before a call is connected to an agent: the customer's answer finished, and the step after it taken.

        The ring does not wait for the answer, so an agent who picks up within milliseconds could otherwise be
        bridged with a customer Asterisk has not answered yet, or hear the music start after the connection.
        """
        task = self._answering.get(call_id)
        if task is not None and not task.done():
            await asyncio.wait({task})
        call = self.calls.get(call_id)
        if call is not None:
            await self._after_answer(call)

    # ------------------------------------------------------------ outbound

    def _outbound(self, event: ari.StasisStart) -> None:
        """An agent's phone dialled out: whose phone, may they, is the number fine; then ring back and dial."""
        channel = event.channel
        to = event.args[1] if len(event.args) > 1 else channel.dialplan.exten
        chosen = event.args[2] if len(event.args) > 2 and event.args[2] else None
        endpoint = channel.technology_resource
        agent = self.directory.endpoints.get(endpoint)
        call_id = uuid.uuid4()
        call = CallState(call_id=call_id, tenant_id=agent.tenant_id if agent else UNROUTED_TENANT,
                         direction="outbound", customer_channel=domain.customer_channel_id(call_id),
                         caller=channel.caller.number, agent_id=agent.user_id if agent else None)
        if agent is not None:
            call.add_agent_leg(channel.id, endpoint)
        self._track(call)
        self._bind(channel.id, call_id)

        async def start() -> None:
            if agent is None:
                unknown = Refusal("unknown_endpoint", f"endpoint {endpoint!r} is no agent's phone", "endpoint",
                                  to_e164(to, self.region), chosen or "")
                await self._execute(call, call.decide_outbound_refusal(unknown, channel.id, hang_up=True))
                return
            plan = self._plan(call, to, chosen)
            if isinstance(plan, OutboundPlan):
                try:
                    await self._authorize(call, SYSTEM)
                except NebulaError as exc:
                    code = ROUTER_REFUSALS.get(str((exc.details or {}).get("code")), "agent_not_outbound") \
                        if not isinstance(exc, Unavailable) else "unavailable"
                    plan = Refusal(code, exc.message, "state", plan.callee, plan.caller_id)
            if isinstance(plan, Refusal):
                log.info("call.dial_refused", call_id=str(call_id), endpoint=endpoint, code=plan.code)
                await self._execute(call, call.decide_outbound_refusal(plan, channel.id, hang_up=True))
                return
            dial = self._customer_dial(call, plan, originator=channel.id)
            await self._execute(call, call.decide_outbound_start(plan, channel.id, dial, agent_first=False))

        self.workers.submit(call_id, start)

    def _plan(self, call: CallState, to: str, caller_id: str | None) -> OutboundPlan | Refusal:
        """The number, the caller ID (the agent's choice, their default, or the tenant's first) and the blacklist."""
        assert call.agent_id is not None
        default = self.directory.default_caller_ids.get(call.agent_id)
        return domain.plan_outbound(to, caller_id, default_caller_id=default,
                                    allowed=self.directory.outbound_numbers(call.tenant_id),
                                    blocked=lambda number: self.blacklist.blocked(call.tenant_id, number,
                                                                                  "outbound"),
                                    region=self.region)

    async def _authorize(self, call: CallState, actor: Actor) -> None:
        """The router's yes (it holds the agent as dialling from now), or its typed refusal."""
        assert call.agent_id is not None
        if self.router is None:
            raise Unavailable("no queue-router to authorise the dial", field="state")
        await self.router.authorize_dial(a.AuthorizeDial(
            command_id=derived_id(call.call_id, "authorize-dial"), tenant_id=call.tenant_id, actor=actor,
            correlation_id=call.call_id, agent_id=call.agent_id, call_id=call.call_id))

    def _customer_dial(self, call: CallState, plan: OutboundPlan, originator: str) -> domain.Originate:
        return domain.customer_originate(
            call.call_id, plan, label=self.directory.caller_id_label(call.tenant_id, plan.caller_id),
            trunk=self.settings.trunk, region=self.region, timeout_s=self.settings.customer_ring_timeout_s,
            originator=originator, dial=self.settings.customer_dial)

    async def start_outbound_call(self, cmd: c.StartOutboundCall) -> dict[str, Any]:
        """POST /api/v1/calls: ring the agent's own phone, then the customer; a retry finds the same call."""
        known = self.calls.get(cmd.call_id)
        if known is not None:
            if known.tenant_id != cmd.tenant_id or known.agent_id != cmd.agent_id:
                raise NotFound(f"call {cmd.call_id} not found", field="call_id")
            return {"call_id": str(cmd.call_id)}
        if (await self.store.read(event_subject(cmd.tenant_id, c.AGGREGATE_CALL, str(cmd.call_id)))).events:
            return {"call_id": str(cmd.call_id)}  # placed before (its command retried after a restart)
        phone = self.directory.endpoint_of(cmd.agent_id)
        if phone is None or phone.tenant_id != cmd.tenant_id or phone.sip is None:
            raise Conflict("you have no phone to ring; an admin can check your user", field="state")
        call = CallState(call_id=cmd.call_id, tenant_id=cmd.tenant_id, direction="outbound",
                         customer_channel=domain.customer_channel_id(cmd.call_id), agent_id=cmd.agent_id)
        channel = domain.dial_channel_id(cmd.call_id)
        call.add_agent_leg(channel, phone.sip.endpoint)
        plan = self._plan(call, cmd.to, cmd.caller_id)
        if isinstance(plan, Refusal) and plan.code != "blacklisted":
            raise InvalidInput(plan.reason, field=plan.field, details={"code": plan.code})
        if isinstance(plan, OutboundPlan):
            await self._authorize(call, cmd.actor)  # the router's Conflict on `state` goes back as it is
        self._track(call)
        endpoint = phone.sip.endpoint

        async def run() -> dict[str, Any]:
            if isinstance(plan, Refusal):  # blacklisted: recorded (the report counts blocked calls), never dialled
                await self._execute(call, call.decide_outbound_refusal(plan, channel, hang_up=False))
                raise Forbidden(plan.reason, field="to", details={"code": plan.code, "call_id": str(call.call_id)})
            dial = self._customer_dial(call, plan, originator=channel)
            await self._execute(call, call.decide_outbound_start(plan, channel, dial, agent_first=True))
            digits = domain.trunk_digits(plan.callee, self.region)
            try:
                await self.ari.originate(endpoint=f"PJSIP/{endpoint}", app_args=f"agent-out,{call.call_id}",
                                         caller_id=f'"{digits}" <{digits}>',
                                         timeout_s=self.settings.agent_ring_timeout_s, channel_id=channel)
            except AriError as exc:
                await self._execute(call, call.own_phone_failed(exc.message))
                raise Conflict(f"your phone could not be rung ({exc.message}); is it registered?",
                               field="phone") from None
            return {"call_id": str(call.call_id)}

        return dict(await self.workers.submit(call.call_id, run, wait=True))

    # ------------------------------------------------------------ IVR timers

    def _arm_ivr_timer(self, call: CallState) -> None:
        assert call.ivr is not None
        loop = asyncio.get_running_loop()
        self._cancel_ivr_timer(call.call_id)
        self._ivr_timers[call.call_id] = loop.call_later(
            call.ivr.timeout_s, lambda: self.workers.submit(call.call_id, lambda: self._ivr_timeout(call.call_id)))

    def _cancel_ivr_timer(self, call_id: uuid.UUID) -> None:
        timer = self._ivr_timers.pop(call_id, None)
        if timer:
            timer.cancel()

    async def _ivr_timeout(self, call_id: uuid.UUID) -> None:
        call = self.calls.get(call_id)
        if call is not None:
            await self._execute(call, call.on_ivr_timeout())

    # ------------------------------------------------------------ prompt timers

    def _follow_prompt(self, call: CallState) -> None:
        """Run a prompt's timeout while it waits for keys: from its sound's end, again after each key."""
        prompt = call.prompt
        if prompt is None or not prompt.waiting() or call.ended:
            self._cancel_prompt_timer(call.call_id)
            return
        key = (prompt.prompt_id, len(prompt.digits))
        armed = self._prompt_timers.get(call.call_id)
        if armed is not None and armed[0] == key:
            return
        self._cancel_prompt_timer(call.call_id)
        call_id, prompt_id = call.call_id, prompt.prompt_id
        handle = asyncio.get_running_loop().call_later(
            prompt.timeout_s, lambda: self.workers.submit(call_id, lambda: self._prompt_timeout(call_id, prompt_id)))
        self._prompt_timers[call_id] = (key, handle)

    def _cancel_prompt_timer(self, call_id: uuid.UUID) -> None:
        armed = self._prompt_timers.pop(call_id, None)
        if armed is not None:
            armed[1].cancel()

    async def _prompt_timeout(self, call_id: uuid.UUID, prompt_id: str) -> None:
        call = self.calls.get(call_id)
        if call is not None:
            self._prompt_timers.pop(call_id, None)
            await self._execute(call, call.on_prompt_timeout(prompt_id))
            self._follow_prompt(call)

    # ------------------------------------------------------------ commands

    def _call_for(self, cmd: c.CallCommand) -> CallState:
        call = self.calls.get(cmd.call_id)
        if call is None or call.tenant_id != cmd.tenant_id:
            raise NotFound(f"call {cmd.call_id} not found or already ended", field="call_id")
        return call

    async def _in_call(self, cmd: c.CallCommand, run: Callable[[CallState], Awaitable[Any]]) -> Any:
        self._call_for(cmd)

        async def job() -> Any:
            return await run(self._call_for(cmd))

        future = self.workers.submit(cmd.call_id, job, wait=True)
        return await future

    async def ring_agent(self, cmd: c.RingAgent) -> dict[str, Any]:
        """Originate to the agent's endpoint; the leg is known before Asterisk answers (surprise 10).

        In the call's order, except behind the step after the customer's answer (`CallAnswered` and the music):
        when that is all the call's worker has on hand, the originate goes out at once and only its record
        (`AgentLegRinging`, or the failure) takes its place in the call's order. Under load that step's append
        had held the ring for about as long as the rest of the ring path (docs/benchmarks.md §5).
        """
        call = self._call_for(cmd)
        if not self.workers.clear_but_for(call.call_id, AFTER_ANSWER):
            async def in_order(call: CallState) -> dict[str, Any]:
                leg = self._ring_leg(call, cmd)
                return await self._record_ring(call, cmd, leg, await self._originate_leg(call, cmd, leg))
            return dict(await self._in_call(cmd, in_order))
        leg = self._ring_leg(call, cmd)
        originated: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()

        async def record() -> dict[str, Any]:
            return await self._record_ring(call, cmd, leg, await originated)

        recorded = self.workers.submit(call.call_id, record, wait=True)  # holds the record's place in the order
        try:
            failure = await self._originate_leg(call, cmd, leg)
        except BaseException:  # cancelled (shutdown): the worker must not wait for the originate forever
            originated.set_result("the originate was cut short")
            recorded.add_done_callback(lambda done: done.cancelled() or done.exception())  # reported by this raise
            raise
        originated.set_result(failure)
        return dict(await recorded)

    def _ring_leg(self, call: CallState, cmd: c.RingAgent) -> domain.AgentLeg:
        if call.ended:
            raise Conflict("the call has ended", field="call_id")
        if call.connected_agent is not None:
            raise Conflict("the call is already connected to an agent", field="call_id")
        leg = call.decide_ring(cmd)
        self._bind(leg.channel_id, call.call_id)
        return leg

    async def _originate_leg(self, call: CallState, cmd: c.RingAgent, leg: domain.AgentLeg) -> str | None:
        """Ask Asterisk to dial the agent; None when it accepted, else what it said."""
        queue = self.directory.queue_name(call.queue_id) or "Nebula"
        number = call.caller.lstrip("+") if call.caller.startswith("+") else call.caller
        try:
            await self.ari.originate(endpoint=f"PJSIP/{cmd.endpoint}", app_args=f"agent,{call.call_id}",
                                     caller_id=f'"{queue}" <{number}>', timeout_s=cmd.timeout_s,
                                     channel_id=leg.channel_id)
        except AriError as exc:
            return exc.message
        return None

    async def _record_ring(self, call: CallState, cmd: c.RingAgent, leg: domain.AgentLeg,
                           failure: str | None) -> dict[str, Any]:
        if failure is not None:
            await self._execute(call, call.originate_failed(leg, failure))
            raise Unavailable(f"cannot ring {cmd.endpoint}: {failure}", field="endpoint")
        await self._execute(call, call.ringing(leg))
        return {"channel_id": leg.channel_id}

    async def cancel_ringing(self, cmd: c.CancelRinging) -> None:
        """Withdraw an offer."""
        async def run(call: CallState) -> None:
            await self._execute(call, call.decide_cancel(cmd.offer_id))
        await self._in_call(cmd, run)

    def _check_agent(self, call: CallState, cmd: c.CallCommand) -> str:
        """The connected agent's channel; an agent may act only on their own call."""
        if call.connected_agent is None:
            raise Conflict("the call is not connected to an agent", field="call_id")
        actor = cmd.actor
        if actor.kind == "user" and actor.role == "agent" and actor.user_id != str(call.connected_agent):
            raise Forbidden("this is not your call")
        leg = next((x for x in call.legs.values() if x.answered and x.agent_id == call.connected_agent
                    and not x.ended), None)
        if leg is None:
            raise Conflict("the agent's leg has ended", field="call_id")
        return leg.channel_id

    async def hold(self, cmd: c.HoldCall) -> dict[str, Any]:
        """Customer hears music until resumed; recorded when Asterisk accepted it (no ARI event exists)."""
        async def run(call: CallState) -> dict[str, Any]:
            self._check_agent(call, cmd)
            if not call.held:
                await self._ari_or_conflict(self.ari.hold(call.customer_channel))
                await self._execute(call, Decision([c.CallHeld(tenant_id=call.tenant_id, call_id=call.call_id,
                                                               correlation_id=call.call_id, actor=cmd.actor)]))
            return {"held": True}
        return dict(await self._in_call(cmd, run))

    async def resume(self, cmd: c.ResumeCall) -> dict[str, Any]:
        """Take the customer off hold."""
        async def run(call: CallState) -> dict[str, Any]:
            self._check_agent(call, cmd)
            if call.held:
                await self._ari_or_conflict(self.ari.unhold(call.customer_channel))
                await self._execute(call, Decision([c.CallResumed(tenant_id=call.tenant_id, call_id=call.call_id,
                                                                  correlation_id=call.call_id, actor=cmd.actor)]))
            return {"held": False}
        return dict(await self._in_call(cmd, run))

    async def mute(self, cmd: c.MuteCall) -> dict[str, Any]:
        """The customer stops hearing the agent (mute the agent leg's incoming audio)."""
        async def run(call: CallState) -> dict[str, Any]:
            channel = self._check_agent(call, cmd)
            if not call.muted:
                await self._ari_or_conflict(self.ari.mute(channel, "in"))
                await self._execute(call, Decision([c.CallMuted(tenant_id=call.tenant_id, call_id=call.call_id,
                                                                correlation_id=call.call_id, actor=cmd.actor)]))
            return {"muted": True}
        return dict(await self._in_call(cmd, run))

    async def unmute(self, cmd: c.UnmuteCall) -> dict[str, Any]:
        """The customer hears the agent again."""
        async def run(call: CallState) -> dict[str, Any]:
            channel = self._check_agent(call, cmd)
            if call.muted:
                await self._ari_or_conflict(self.ari.unmute(channel, "in"))
                await self._execute(call, Decision([c.CallUnmuted(tenant_id=call.tenant_id, call_id=call.call_id,
                                                                  correlation_id=call.call_id, actor=cmd.actor)]))
            return {"muted": False}
        return dict(await self._in_call(cmd, run))

    async def hangup(self, cmd: c.HangupCall) -> dict[str, Any]:
        """End the call (an agent: only their own; an outbound call also while it is still dialling)."""
        async def run(call: CallState) -> dict[str, Any]:
            by: c.Party = "system"
            if cmd.actor.kind == "user":
                if call.direction == "outbound" and call.connected_agent is None:
                    actor = cmd.actor
                    if actor.role == "agent" and actor.user_id != str(call.agent_id):
                        raise Forbidden("this is not your call")
                else:
                    self._check_agent(call, cmd)
                by = "agent"
            await self._execute(call, call.decide_hangup(by))
            return {"hangup": True}
        return dict(await self._in_call(cmd, run))

    # ------------------------------------------------------------ commands: answer, music, connect, record, prompt

    def _check_party(self, call: CallState, cmd: c.CallCommand) -> None:
        """An agent may act only on a call they are on (connected, or dialling it); others of the tenant may."""
        actor = cmd.actor
        mine = {str(agent) for agent in (call.connected_agent, call.agent_id) if agent is not None}
        if actor.kind == "user" and actor.role == "agent" and actor.user_id not in mine:
            raise Forbidden("this is not your call")

    async def _in_open_call(self, cmd: c.CallCommand, run: Callable[[CallState], Awaitable[Any]]) -> Any:
        """Run in the call's worker: a call of another tenant, unknown or ended, is not found."""
        async def checked(call: CallState) -> Any:
            if call.ended:
                raise NotFound(f"call {cmd.call_id} has ended", field="call_id")
            self._check_party(call, cmd)
            return await run(call)
        return await self._in_call(cmd, checked)

    async def answer(self, cmd: c.AnswerCall) -> dict[str, Any]:
        """Answer the customer's channel if it is not yet; CallAnswered is recorded once Asterisk did."""
        async def run(call: CallState) -> dict[str, Any]:
            if call.decide_answer():
                await self._ari_or_conflict(self.ari.answer(call.customer_channel))
                await self._execute(call, call.answered_by_command(cmd.actor))
            return {"answered": True}
        return dict(await self._in_open_call(cmd, run))

    async def start_moh(self, cmd: c.StartMusicOnHold) -> dict[str, Any]:
        """Music of the command's class to a waiting customer (Asterisk sends no event: its 204 is the fact)."""
        async def run(call: CallState) -> dict[str, Any]:
            call.check_music()
            await self._ari_or_conflict(self.ari.start_moh(call.customer_channel, cmd.moh_class))
            call.moh = cmd.moh_class
            return {"moh": call.moh}
        return dict(await self._in_open_call(cmd, run))

    async def stop_moh(self, cmd: c.StopMusicOnHold) -> dict[str, Any]:
        """Stop the waiting customer's music."""
        async def run(call: CallState) -> dict[str, Any]:
            call.check_music()
            await self._ari_or_conflict(self.ari.stop_moh(call.customer_channel))
            call.moh = None
            return {"moh": None}
        return dict(await self._in_open_call(cmd, run))

    async def connect(self, cmd: c.ConnectCall) -> dict[str, Any]:
        """Bridge the customer with an answered agent leg: the decision an agent's answer takes by itself."""
        async def run(call: CallState) -> dict[str, Any]:
            await self._answered_first(call.call_id)
            await self._execute(call, call.decide_connect(cmd.offer_id))
            return {"connected": True, "agent_id": str(call.connected_agent),
                    "bridge_id": domain.bridge_id_for(call.call_id)}
        return dict(await self._in_open_call(cmd, run))

    async def start_recording(self, cmd: c.StartRecording) -> c.RecordingStatus:
        """Record the call's bridge under a new name; one already running is the answer (no second file)."""
        async def run(call: CallState) -> c.RecordingStatus:
            self._check_agent(call, cmd)
            name = call.decide_start_recording()
            if name is None:
                running = call.active_recording()
                assert running is not None
                return call.recording_status(running)
            try:
                await self.ari.record_bridge(domain.bridge_id_for(call.call_id), name)
            except AriError as exc:
                call.recording_refused(name)
                raise Conflict(f"Asterisk refused: {exc.message}", field="call_id") from None
            return call.recording_status(name)
        status: c.RecordingStatus = await self._in_open_call(cmd, run)
        return status

    async def stop_recording(self, cmd: c.StopRecording) -> c.RecordingStatus:
        """Stop the running recording (stored by Asterisk; RecordingFinished is recorded when it says so)."""
        async def run(call: CallState) -> c.RecordingStatus:
            self._check_agent(call, cmd)
            name = call.decide_stop_recording()
            try:
                await self.ari.stop_recording(name)
            except AriError as exc:
                if exc.status != 404:
                    raise Conflict(f"Asterisk refused: {exc.message}", field="call_id") from None
                call.recording_stopped(name)  # it had ended already (its RecordingFinished is on the way)
                raise Conflict("no recording of this call is running", field="recording") from None
            call.recording_stopped(name)
            return call.recording_status(name)
        status: c.RecordingStatus = await self._in_open_call(cmd, run)
        return status

    async def play_prompt(self, cmd: c.PlayPrompt) -> c.PromptStatus:
        """Play a sound to the customer, collect keys; reply once Asterisk queued it (DigitsCollected follows)."""
        async def run(call: CallState) -> c.PromptStatus:
            prompt = call.decide_prompt(cmd.media, cmd.max_digits, cmd.terminator, cmd.timeout_s)
            try:
                playback = await self.ari.play(call.customer_channel, cmd.media, prompt.prompt_id)
            except AriError as exc:
                call.prompt_refused()
                raise Conflict(f"Asterisk refused: {exc.message}", field="call_id") from None
            self._follow_prompt(call)
            return c.PromptStatus(call_id=call.call_id, prompt_id=prompt.prompt_id,
                                  state=str((playback or {}).get("state") or "queued"))
        status: c.PromptStatus = await self._in_open_call(cmd, run)
        return status

    @staticmethod
    async def _ari_or_conflict(request: Awaitable[None]) -> None:
        try:
            await request
        except AriError as exc:
            raise Conflict(f"Asterisk refused: {exc.message}", field="call_id") from None

    # ------------------------------------------------------------ recovery

    async def rebuild(self) -> int:
        """Load every call that has not ended from the log (after a restart of the adapter)."""
        open_streams: dict[str, list[RecordedEvent]] = {}
        last = await self.store.last_position()
        if last == 0:
            return 0
        async for batch in self.store.subscribe(1, ("evt.*.call.*",)):
            for record in batch:
                open_streams.setdefault(record.stream, []).append(record)
                if record.event_type == "CallEnded":
                    open_streams.pop(record.stream, None)
            if not batch or batch[-1].position >= last:
                break
        for records in open_streams.values():
            events = [r.decode() for r in records]
            call = CallState.from_events(events, records[-1].position)
            if call is None:
                continue
            self._track(call)
            self._resume_ivr(call)
        return len(self.calls)

    def _resume_ivr(self, call: CallState) -> None:
        """A caller left in an IVR by a restart gets the menu's timeout again, then its default queue."""
        if call.ivr_waiting is None or call.ended:
            return
        menu = self.directory.ivrs.get(call.ivr_waiting)
        if menu is None:
            log.warning("ivr.menu_gone", call_id=str(call.call_id), ivr_id=str(call.ivr_waiting))
            return
        ivr = menu[1]
        call.ivr = domain.IvrSession(call.ivr_waiting, dict(ivr.options), ivr.default_queue_id, ivr.timeout_s,
                                     f"ivr-{call.call_id.hex}")
        self._arm_ivr_timer(call)

    async def reconcile(self) -> None:
        """After (re)connecting: end what vanished while we were away (a reconnect replays nothing)."""
        try:
            alive = {ch.id for ch in await self.ari.channels()}
        except AriError as exc:
            log.warning("ari.reconcile_failed", error=exc.message)
            return
        for call in list(self.calls.values()):
            async def settle(call: CallState = call) -> None:
                decision = Decision()
                for leg in list(call.live_legs()):
                    if leg.channel_id not in alive:
                        decision += call.on_leg_lost(leg.channel_id)
                # An outbound call's customer leg exists only once dialled (API calls dial after the agent answers).
                expected = call.direction == "inbound" or (call.customer_dialled and not call.customer_gone)
                if expected and call.customer_channel not in alive:
                    decision += call.on_lost()
                await self._execute(call, decision)
            self.workers.submit(call.call_id, settle)

    async def _dead_letter(self, message: dict[str, Any], error: str) -> None:
        data = json.dumps(message).encode()
        record = RecordedEvent(0, "ari.events", str(message.get("type", "?")), 1, data, {})
        log.error("ari.dead_lettered", error=error, ari_type=message.get("type"))
        await self.dead_letters.put(DeadLetter("telephony", "ari", record, error, 1))
