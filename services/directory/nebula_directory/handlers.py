"""Directory command handlers: load the aggregate, check the rules, append, wait for the read model.

Commands of one tenant are serialized (a lock per tenant) so name and number uniqueness checks
against the read model are never raced inside this replica; each aggregate append is still guarded
by its expected version. A command's events get ids derived from its command id, so a retry after a
lost reply stores nothing twice.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections import defaultdict
from collections.abc import Callable
from typing import Any, Protocol

from nebula_contracts import directory as d
from nebula_contracts.envelope import Event, derived_id
from nebula_contracts.errors import Conflict, InvalidInput, NotFound, Unauthorized
from nebula_contracts.subjects import event_subject
from nebula_core.eventstore.port import EventStore

from nebula_directory import domain
from nebula_directory.adapters import DirectoryReadModel


class Passwords(Protocol):
    """Password hashing port."""

    async def hash(self, password: str) -> str:
        """A new hash."""
        ...

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Check a password."""
        ...


class ReadModelSync(Protocol):
    """Lets a handler wait until the read model has caught up with what it appended."""

    async def wait_for(self, position: int, timeout: float = 5.0) -> bool:
        """Wait until `position` is applied."""
        ...


def sip_credentials(tenant_id: str, user_id: uuid.UUID) -> d.SipCredentials:
    """A PJSIP endpoint per user, unique on the PBX, with a random password."""
    endpoint = f"{tenant_id}-{user_id.hex[:12]}"
    return d.SipCredentials(endpoint=endpoint, username=endpoint, password=secrets.token_urlsafe(18))


def page_of(items: list[Any], total: int, page: d.Page) -> dict[str, Any]:
    """The shape every list query answers with."""
    return {"items": items, "total": total, "page": page.page, "page_size": page.page_size}


class DirectoryHandlers:
    """One method per command or query; the composition root wires the ports in."""

    def __init__(self, store: EventStore, read_model: DirectoryReadModel, passwords: Passwords,
                 sync: ReadModelSync, throttle: domain.LoginThrottle):
        self.store = store
        self.rm = read_model
        self.passwords = passwords
        self.sync = sync
        self.throttle = throttle
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    # ------------------------------------------------------------ plumbing

    async def _load(self, stream: str, evolve: Callable[[Any, Event], Any]) -> tuple[Any, int]:
        read = await self.store.read(stream)
        return domain.fold(evolve, (r.decode() for r in read.events)), read.version

    async def _append(self, stream: str, events: list[Event], version: int) -> None:
        if not events:
            return
        result = await self.store.append(stream, events, expected_version=version)
        await self.sync.wait_for(result.version)

    async def _tenant(self, tenant_id: str) -> d.TenantView:
        tenant = await self.rm.tenant(tenant_id)
        if tenant is None:
            raise NotFound(f"tenant {tenant_id} not found", field="tenant_id")
        return tenant

    # ------------------------------------------------------------ tenants

    async def create_tenant(self, cmd: d.CreateTenant) -> d.TenantView:
        """Create the tenant and its first admin; a retried command completes what was left."""
        async with self._locks[cmd.tenant_id]:
            stream = event_subject(cmd.tenant_id, d.AGGREGATE_TENANT, cmd.tenant_id)
            state, version = await self._load(stream, domain.evolve_tenant)
            if state is None:
                await self._append(stream, domain.decide_create_tenant(state, cmd), version)
            elif version and not await self._caused_by(stream, cmd.command_id):
                raise Conflict(f"tenant {cmd.tenant_id} already exists", field="tenant_id")
            admin = d.CreateUser(command_id=derived_id(cmd.command_id, "admin"), tenant_id=cmd.tenant_id,
                                 actor=cmd.actor, correlation_id=cmd.correlation_id,
                                 user=d.UserInput(username=cmd.admin_username, display_name="Administrator",
                                                  role="admin", password=cmd.admin_password))
            if await self.rm.user_by_name(cmd.tenant_id, cmd.admin_username) is None:
                await self._create_user(admin)
        return await self._tenant(cmd.tenant_id)

    async def _caused_by(self, stream: str, command_id: uuid.UUID) -> bool:
        read = await self.store.read(stream)
        return any(r.decode().causation_id == command_id for r in read.events)

    async def get_tenant(self, cmd: d.GetTenant) -> d.TenantView:
        """The caller's tenant."""
        return await self._tenant(cmd.tenant_id)

    # ------------------------------------------------------------ users

    async def create_user(self, cmd: d.CreateUser) -> d.UserCreatedView:
        """Add a user; the reply is the only place an admin sees the SIP password."""
        await self._tenant(cmd.tenant_id)
        async with self._locks[cmd.tenant_id]:
            return await self._create_user(cmd)

    async def _create_user(self, cmd: d.CreateUser) -> d.UserCreatedView:
        user_id = derived_id(cmd.command_id, "user")
        stream = event_subject(cmd.tenant_id, d.AGGREGATE_USER, str(user_id))
        state, version = await self._load(stream, domain.evolve_user)
        if state is None:
            existing = await self.rm.user_by_name(cmd.tenant_id, cmd.user.username)
            if existing is not None:
                raise Conflict(f"username {cmd.user.username!r} is taken", field="username")
            password_hash = await self.passwords.hash(cmd.user.password)
            events = domain.decide_create_user(state, cmd, user_id, password_hash,
                                               sip_credentials(cmd.tenant_id, user_id))
            await self._append(stream, events, version)
            state, _ = await self._load(stream, domain.evolve_user)
        row = await self.rm.user(cmd.tenant_id, user_id)
        if row is None:
            raise NotFound(f"user {user_id} not found", field="user_id")
        return d.UserCreatedView(**self.rm.user_view(row).model_dump(), sip=state.sip)

    async def update_user(self, cmd: d.UpdateUser) -> d.UserCreatedView:
        """Change a user's profile, role or password; new SIP credentials are in this reply only."""
        stream = event_subject(cmd.tenant_id, d.AGGREGATE_USER, str(cmd.user_id))
        async with self._locks[cmd.tenant_id]:
            if await self.rm.user(cmd.tenant_id, cmd.user_id) is None:
                raise NotFound(f"user {cmd.user_id} not found", field="user_id")
            state, version = await self._load(stream, domain.evolve_user)
            if cmd.patch.role and cmd.patch.role != "admin" and state and state.role == "admin" \
                    and cmd.actor.user_id == str(cmd.user_id):
                raise Conflict("you cannot take the admin role from yourself", field="role")
            password_hash = await self.passwords.hash(cmd.patch.password) if cmd.patch.password else None
            events = domain.decide_update_user(state, cmd, password_hash,
                                               sip_credentials(cmd.tenant_id, cmd.user_id))
            await self._append(stream, events, version)
        view = await self.get_user(d.GetUser(tenant_id=cmd.tenant_id, user_id=cmd.user_id))
        new_sip = next((e.sip for e in events if isinstance(e, d.UserUpdated) and e.sip is not None
                        and (state is None or e.sip != state.sip)), None)
        return d.UserCreatedView(**view.model_dump(), sip=new_sip)

    async def delete_user(self, cmd: d.DeleteUser) -> None:
        """Remove a user that is in no queue."""
        stream = event_subject(cmd.tenant_id, d.AGGREGATE_USER, str(cmd.user_id))
        async with self._locks[cmd.tenant_id]:
            if await self.rm.user(cmd.tenant_id, cmd.user_id) is None:
                raise NotFound(f"user {cmd.user_id} not found", field="user_id")
            state, version = await self._load(stream, domain.evolve_user)
            member_of = await self.rm.queues_with_member(cmd.tenant_id, cmd.user_id)
            await self._append(stream, domain.decide_delete_user(state, cmd, member_of), version)

    async def get_user(self, cmd: d.GetUser) -> d.UserView:
        """One user of the tenant."""
        row = await self.rm.user(cmd.tenant_id, cmd.user_id)
        if row is None:
            raise NotFound(f"user {cmd.user_id} not found", field="user_id")
        return self.rm.user_view(row)

    async def list_users(self, cmd: d.ListUsers) -> dict[str, Any]:
        """A page of users."""
        items, total = await self.rm.users_page(cmd.tenant_id, cmd.page, cmd.role, cmd.search)
        return page_of([i.model_dump(mode="json") for i in items], total, cmd.page)

    async def sip_credentials(self, cmd: d.GetSipCredentials) -> d.SipCredentials:
        """The user's own softphone credentials."""
        row = await self.rm.user(cmd.tenant_id, cmd.user_id)
        if row is None:
            raise NotFound(f"user {cmd.user_id} not found", field="user_id")
        if not row["sip_endpoint"]:
            raise NotFound("this user has no phone endpoint", field="user_id")
        return d.SipCredentials(endpoint=row["sip_endpoint"], username=row["sip_username"],
                                password=row["sip_password"])

    async def agent_settings(self, cmd: d.GetAgentSettings) -> d.AgentSettings:
        """The user's own personal settings."""
        row = await self.rm.user(cmd.tenant_id, cmd.user_id)
        if row is None:
            raise NotFound(f"user {cmd.user_id} not found", field="user_id")
        return self.rm.settings_of(row)

    async def update_agent_settings(self, cmd: d.UpdateAgentSettings) -> d.AgentSettings:
        """Replace the user's personal settings (the default caller ID checked against the tenant's numbers)."""
        tenant = await self._tenant(cmd.tenant_id)
        stream = event_subject(cmd.tenant_id, d.AGGREGATE_USER, str(cmd.user_id))
        async with self._locks[cmd.tenant_id]:
            if await self.rm.user(cmd.tenant_id, cmd.user_id) is None:
                raise NotFound(f"user {cmd.user_id} not found", field="user_id")
            state, version = await self._load(stream, domain.evolve_user)
            caller_ids = await self.rm.caller_ids(cmd.tenant_id)
            events = domain.decide_agent_settings(state, cmd, tenant.default_region, caller_ids)
            await self._append(stream, events, version)
        user: domain.UserState = domain.live(state, "user", cmd.user_id)
        for event in events:
            user = domain.evolve_user(user, event) or user
        return user.settings

    async def authenticate(self, cmd: d.Authenticate) -> d.AuthenticatedUser:
        """Check the password; `Unauthorized` says nothing about which part was wrong."""
        username = cmd.username.strip().lower()
        self.throttle.check(cmd.tenant_id, username)
        row = await self.rm.user_by_name(cmd.tenant_id, username)
        ok = await self.passwords.verify(row["password_hash"] if row else None, cmd.password)
        if not ok or row is None:
            self.throttle.failed(cmd.tenant_id, username)
            raise Unauthorized("wrong tenant, username or password")
        self.throttle.succeeded(cmd.tenant_id, username)
        return d.AuthenticatedUser(tenant_id=cmd.tenant_id, user_id=row["user_id"], username=row["username"],
                                   role=row["role"])

    # ------------------------------------------------------------ queues

    async def _check_queue(self, tenant_id: str, config: d.QueueConfig, queue_id: uuid.UUID | None) -> None:
        owner = await self.rm.queue_id_by_name(tenant_id, config.name)
        if owner is not None and owner != queue_id:
            raise Conflict(f"queue name {config.name!r} is taken", field="name")
        wanted = [m.user_id for m in config.members]
        missing = set(wanted) - await self.rm.existing_users(tenant_id, wanted)
        if missing:
            raise InvalidInput(f"not users of this tenant: {', '.join(sorted(map(str, missing)))}",
                               field="members")

    async def create_queue(self, cmd: d.CreateQueue) -> d.QueueView:
        """Create a queue."""
        await self._tenant(cmd.tenant_id)
        queue_id = derived_id(cmd.command_id, "queue")
        stream = event_subject(cmd.tenant_id, d.AGGREGATE_QUEUE, str(queue_id))
        async with self._locks[cmd.tenant_id]:
            state, version = await self._load(stream, domain.evolve_config)
            if state is None:
                await self._check_queue(cmd.tenant_id, cmd.queue, None)
                await self._append(stream, [d.QueueCreated.caused_by(cmd, 0, queue_id=queue_id, config=cmd.queue)],
                                   version)
        return await self.get_queue(d.GetQueue(tenant_id=cmd.tenant_id, queue_id=queue_id))

    async def update_queue(self, cmd: d.UpdateQueue) -> d.QueueView:
        """Change a queue."""
        stream = event_subject(cmd.tenant_id, d.AGGREGATE_QUEUE, str(cmd.queue_id))
        async with self._locks[cmd.tenant_id]:
            await self.get_queue(d.GetQueue(tenant_id=cmd.tenant_id, queue_id=cmd.queue_id))
            state, version = await self._load(stream, domain.evolve_config)
            current = domain.live(state, "queue", cmd.queue_id)
            config = domain.apply_queue_patch(current.config, cmd.patch)
            await self._check_queue(cmd.tenant_id, config, cmd.queue_id)
            if config != current.config:
                await self._append(stream, [d.QueueUpdated.caused_by(cmd, 0, queue_id=cmd.queue_id, config=config)],
                                   version)
        return await self.get_queue(d.GetQueue(tenant_id=cmd.tenant_id, queue_id=cmd.queue_id))

    async def delete_queue(self, cmd: d.DeleteQueue) -> None:
        """Remove a queue nothing routes to."""
        stream = event_subject(cmd.tenant_id, d.AGGREGATE_QUEUE, str(cmd.queue_id))
        async with self._locks[cmd.tenant_id]:
            await self.get_queue(d.GetQueue(tenant_id=cmd.tenant_id, queue_id=cmd.queue_id))
            state, version = await self._load(stream, domain.evolve_config)
            domain.live(state, "queue", cmd.queue_id)
            routes = await self.rm.routes_to_queue(cmd.tenant_id, cmd.queue_id)
            if routes:
                raise Conflict(f"calls are routed to this queue by {', '.join(routes)}", field="queue_id",
                               details={"routed_by": routes})
            await self._append(stream, [d.QueueDeleted.caused_by(cmd, 0, queue_id=cmd.queue_id)], version)

    async def get_queue(self, cmd: d.GetQueue) -> d.QueueView:
        """One queue."""
        view = await self.rm.queue(cmd.tenant_id, cmd.queue_id)
        if view is None:
            raise NotFound(f"queue {cmd.queue_id} not found", field="queue_id")
        return view

    async def list_queues(self, cmd: d.ListQueues) -> dict[str, Any]:
        """A page of queues."""
        items, total = await self.rm.queues_page(cmd.tenant_id, cmd.page)
        return page_of([i.model_dump(mode="json") for i in items], total, cmd.page)

    # ------------------------------------------------------------ numbers

    async def _check_number_route(self, tenant_id: str, config: d.NumberConfig) -> None:
        if config.queue_id and await self.rm.queue(tenant_id, config.queue_id) is None:
            raise InvalidInput(f"queue {config.queue_id} not found", field="queue_id")
        if config.ivr_id and await self.rm.ivr(tenant_id, config.ivr_id) is None:
            raise InvalidInput(f"IVR menu {config.ivr_id} not found", field="ivr_id")

    async def create_number(self, cmd: d.CreateNumber) -> d.NumberView:
        """Assign a number (unique on the platform) to the tenant."""
        tenant = await self._tenant(cmd.tenant_id)
        n = cmd.number
        e164 = domain.normalize_number(n.number, tenant.default_region)
        try:
            config = d.NumberConfig(e164=e164, kind=n.kind, target=n.target, queue_id=n.queue_id,
                                    ivr_id=n.ivr_id, label=n.label)
        except ValueError as exc:
            text = str(exc)
            field = next((f for f in ("queue_id", "ivr_id", "target") if f + ":" in text), "target")
            raise InvalidInput(text.rsplit("\n", maxsplit=1)[-1].strip(), field=field) from None
        number_id = uuid.uuid5(uuid.NAMESPACE_URL, f"nebula:{cmd.tenant_id}:number:{n.kind}:{e164}")
        stream = event_subject(cmd.tenant_id, d.AGGREGATE_NUMBER, domain.number_aggregate_id(e164, n.kind))
        async with self._locks[cmd.tenant_id]:
            state, version = await self._load(stream, domain.evolve_config)
            if state is not None and not state.deleted:
                if state.config == config and await self._caused_by(stream, cmd.command_id):
                    return await self.get_number(d.GetNumber(tenant_id=cmd.tenant_id, number_id=number_id))
                raise Conflict(f"{e164} is already a {n.kind} of this tenant", field="number")
            if await self.rm.other_owner(e164, cmd.tenant_id) is not None:
                raise Conflict(f"{e164} belongs to another tenant", field="number")
            await self._check_number_route(cmd.tenant_id, config)
            await self._append(stream, [d.NumberCreated.caused_by(cmd, 0, number_id=number_id, config=config)],
                               version)
        return await self.get_number(d.GetNumber(tenant_id=cmd.tenant_id, number_id=number_id))

    async def _number_stream(self, tenant_id: str, number_id: uuid.UUID) -> tuple[d.NumberView, str]:
        view = await self.get_number(d.GetNumber(tenant_id=tenant_id, number_id=number_id))
        return view, event_subject(tenant_id, d.AGGREGATE_NUMBER, domain.number_aggregate_id(view.e164, view.kind))

    async def update_number(self, cmd: d.UpdateNumber) -> d.NumberView:
        """Change a number's routing or label."""
        async with self._locks[cmd.tenant_id]:
            _, stream = await self._number_stream(cmd.tenant_id, cmd.number_id)
            state, version = await self._load(stream, domain.evolve_config)
            current = domain.live(state, "number", cmd.number_id)
            try:
                config = domain.apply_number_patch(current.config, cmd.patch)
            except ValueError as exc:
                text = str(exc)
                field = next((f for f in ("queue_id", "ivr_id", "target") if f + ":" in text), "target")
                raise InvalidInput(text.rsplit("\n", maxsplit=1)[-1].strip(), field=field) from None
            await self._check_number_route(cmd.tenant_id, config)
            if config != current.config:
                await self._append(stream, [d.NumberUpdated.caused_by(cmd, 0, number_id=cmd.number_id,
                                                                      config=config)], version)
        return await self.get_number(d.GetNumber(tenant_id=cmd.tenant_id, number_id=cmd.number_id))

    async def delete_number(self, cmd: d.DeleteNumber) -> None:
        """Release a number."""
        async with self._locks[cmd.tenant_id]:
            view, stream = await self._number_stream(cmd.tenant_id, cmd.number_id)
            state, version = await self._load(stream, domain.evolve_config)
            domain.live(state, "number", cmd.number_id)
            await self._append(stream, [d.NumberDeleted.caused_by(cmd, 0, number_id=cmd.number_id,
                                                                  e164=view.e164)], version)

    async def get_number(self, cmd: d.GetNumber) -> d.NumberView:
        """One number."""
        view = await self.rm.number(cmd.tenant_id, cmd.number_id)
        if view is None:
            raise NotFound(f"number {cmd.number_id} not found", field="number_id")
        return view

    async def list_numbers(self, cmd: d.ListNumbers) -> dict[str, Any]:
        """A page of numbers."""
        items, total = await self.rm.numbers_page(cmd.tenant_id, cmd.page, cmd.kind)
        return page_of([i.model_dump(mode="json") for i in items], total, cmd.page)

    # ------------------------------------------------------------ IVR menus

    async def _check_ivr(self, tenant_id: str, config: d.IvrConfig, ivr_id: uuid.UUID | None) -> None:
        owner = await self.rm.ivr_id_by_name(tenant_id, config.name)
        if owner is not None and owner != ivr_id:
            raise Conflict(f"IVR menu name {config.name!r} is taken", field="name")
        for digit, queue_id in {**config.options, "default": config.default_queue_id}.items():
            if await self.rm.queue(tenant_id, queue_id) is None:
                field = "default_queue_id" if digit == "default" else f"options.{digit}"
                raise InvalidInput(f"queue {queue_id} not found", field=field)

    async def create_ivr(self, cmd: d.CreateIvrMenu) -> d.IvrView:
        """Create an IVR menu."""
        await self._tenant(cmd.tenant_id)
        ivr_id = derived_id(cmd.command_id, "ivr")
        stream = event_subject(cmd.tenant_id, d.AGGREGATE_IVR, str(ivr_id))
        async with self._locks[cmd.tenant_id]:
            state, version = await self._load(stream, domain.evolve_config)
            if state is None:
                await self._check_ivr(cmd.tenant_id, cmd.ivr, None)
                await self._append(stream, [d.IvrMenuCreated.caused_by(cmd, 0, ivr_id=ivr_id, config=cmd.ivr)],
                                   version)
        return await self.get_ivr(d.GetIvrMenu(tenant_id=cmd.tenant_id, ivr_id=ivr_id))

    async def update_ivr(self, cmd: d.UpdateIvrMenu) -> d.IvrView:
        """Change an IVR menu."""
        stream = event_subject(cmd.tenant_id, d.AGGREGATE_IVR, str(cmd.ivr_id))
        async with self._locks[cmd.tenant_id]:
            await self.get_ivr(d.GetIvrMenu(tenant_id=cmd.tenant_id, ivr_id=cmd.ivr_id))
            state, version = await self._load(stream, domain.evolve_config)
            current = domain.live(state, "ivr", cmd.ivr_id)
            config = domain.apply_ivr_patch(current.config, cmd.patch)
            await self._check_ivr(cmd.tenant_id, config, cmd.ivr_id)
            if config != current.config:
                await self._append(stream, [d.IvrMenuUpdated.caused_by(cmd, 0, ivr_id=cmd.ivr_id, config=config)],
                                   version)
        return await self.get_ivr(d.GetIvrMenu(tenant_id=cmd.tenant_id, ivr_id=cmd.ivr_id))

    async def delete_ivr(self, cmd: d.DeleteIvrMenu) -> None:
        """Remove an IVR menu no number routes to."""
        stream = event_subject(cmd.tenant_id, d.AGGREGATE_IVR, str(cmd.ivr_id))
        async with self._locks[cmd.tenant_id]:
            await self.get_ivr(d.GetIvrMenu(tenant_id=cmd.tenant_id, ivr_id=cmd.ivr_id))
            state, version = await self._load(stream, domain.evolve_config)
            domain.live(state, "ivr", cmd.ivr_id)
            routes = await self.rm.numbers_routing_to_ivr(cmd.tenant_id, cmd.ivr_id)
            if routes:
                raise Conflict(f"calls are routed to this IVR menu by {', '.join(routes)}", field="ivr_id",
                               details={"routed_by": routes})
            await self._append(stream, [d.IvrMenuDeleted.caused_by(cmd, 0, ivr_id=cmd.ivr_id)], version)

    async def get_ivr(self, cmd: d.GetIvrMenu) -> d.IvrView:
        """One IVR menu."""
        view = await self.rm.ivr(cmd.tenant_id, cmd.ivr_id)
        if view is None:
            raise NotFound(f"IVR menu {cmd.ivr_id} not found", field="ivr_id")
        return view

    async def list_ivrs(self, cmd: d.ListIvrMenus) -> dict[str, Any]:
        """A page of IVR menus."""
        items, total = await self.rm.ivrs_page(cmd.tenant_id, cmd.page)
        return page_of([i.model_dump(mode="json") for i in items], total, cmd.page)
