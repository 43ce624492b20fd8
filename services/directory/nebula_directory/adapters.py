"""Directory adapters: read-model tables, the projection that fills them, queries, password hashing."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from nebula_contracts import directory as d
from nebula_contracts.envelope import Event
from nebula_contracts.errors import Unavailable
from nebula_contracts.subjects import EVENTS_PREFIX
from nebula_core.db import checkpoint_table, delete_rows, insert_rows, update_rows
from nebula_core.eventstore.port import RecordedEvent
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

metadata = sa.MetaData()
Ts = sa.DateTime(timezone=True)

tenants = sa.Table(
    "directory_tenants", metadata,
    sa.Column("tenant_id", sa.String(63), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("time_zone", sa.String(64), nullable=False),
    sa.Column("default_region", sa.String(2), nullable=False),
    sa.Column("created_at", Ts, nullable=False),
)
users = sa.Table(
    "directory_users", metadata,
    sa.Column("user_id", sa.String(36), primary_key=True),
    sa.Column("tenant_id", sa.String(63), nullable=False, index=True),
    sa.Column("username", sa.String(64), nullable=False),
    sa.Column("display_name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("sip_endpoint", sa.String(128)),
    sa.Column("sip_username", sa.String(128)),
    sa.Column("sip_password", sa.String(128)),
    sa.Column("created_at", Ts, nullable=False),
    sa.Column("updated_at", Ts, nullable=False),
    sa.Column("settings", sa.Text),  # AgentSettings as JSON; NULL = the defaults (migration 0002)
    sa.UniqueConstraint("tenant_id", "username", name="uq_directory_users_username"),
)
queues = sa.Table(
    "directory_queues", metadata,
    sa.Column("queue_id", sa.String(36), primary_key=True),
    sa.Column("tenant_id", sa.String(63), nullable=False, index=True),
    sa.Column("name", sa.String(63), nullable=False),
    sa.Column("config", sa.Text, nullable=False),
    sa.Column("created_at", Ts, nullable=False),
    sa.Column("updated_at", Ts, nullable=False),
    sa.UniqueConstraint("tenant_id", "name", name="uq_directory_queues_name"),
)
queue_members = sa.Table(
    "directory_queue_members", metadata,
    sa.Column("queue_id", sa.String(36), primary_key=True),
    sa.Column("user_id", sa.String(36), primary_key=True),
    sa.Column("tenant_id", sa.String(63), nullable=False, index=True),
    sa.Column("priority", sa.Integer, nullable=False),
)
numbers = sa.Table(
    "directory_numbers", metadata,
    sa.Column("number_id", sa.String(36), primary_key=True),
    sa.Column("tenant_id", sa.String(63), nullable=False, index=True),
    sa.Column("e164", sa.String(20), nullable=False, index=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("queue_id", sa.String(36), index=True),
    sa.Column("ivr_id", sa.String(36), index=True),
    sa.Column("config", sa.Text, nullable=False),
    sa.Column("created_at", Ts, nullable=False),
    sa.Column("updated_at", Ts, nullable=False),
    sa.UniqueConstraint("e164", "kind", name="uq_directory_numbers_e164_kind"),
)
ivr_menus = sa.Table(
    "directory_ivr_menus", metadata,
    sa.Column("ivr_id", sa.String(36), primary_key=True),
    sa.Column("tenant_id", sa.String(63), nullable=False, index=True),
    sa.Column("name", sa.String(120), nullable=False),
    sa.Column("config", sa.Text, nullable=False),
    sa.Column("created_at", Ts, nullable=False),
    sa.Column("updated_at", Ts, nullable=False),
    sa.UniqueConstraint("tenant_id", "name", name="uq_directory_ivr_name"),
)
checkpoints = checkpoint_table(metadata, "directory")


def _utc(value: datetime) -> datetime:
    """SQLite returns naive datetimes; everything we store is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class DirectoryProjection:
    """Keeps the directory tables equal to the fold of the directory events."""

    name = "directory"
    subjects: Sequence[str] = tuple(
        f"{EVENTS_PREFIX}.*.{kind}.*"
        for kind in (d.AGGREGATE_TENANT, d.AGGREGATE_USER, d.AGGREGATE_QUEUE, d.AGGREGATE_NUMBER, d.AGGREGATE_IVR)
    )
    event_types = frozenset({
        "TenantCreated", "UserCreated", "UserUpdated", "UserPasswordChanged", "UserDeleted", "AgentSettingsChanged",
        "QueueCreated", "QueueUpdated", "QueueDeleted", "NumberCreated", "NumberUpdated", "NumberDeleted",
        "IvrMenuCreated", "IvrMenuUpdated", "IvrMenuDeleted",
    })

    async def reset(self, conn: AsyncConnection) -> None:
        """Empty every directory table."""
        for table in (queue_members, numbers, ivr_menus, queues, users, tenants):
            await conn.execute(table.delete())

    async def apply(self, conn: AsyncConnection, event: Event, record: RecordedEvent) -> None:
        """One event, one change."""
        at = event.occurred_at
        match event:
            case d.TenantCreated():
                await conn.execute(tenants.insert().values(
                    tenant_id=event.tenant_id, name=event.name, time_zone=event.time_zone,
                    default_region=event.default_region, created_at=at))
            case d.UserCreated():
                sip = event.sip
                await conn.execute(users.insert().values(
                    user_id=str(event.user_id), tenant_id=event.tenant_id, username=event.username,
                    display_name=event.display_name, role=event.role, password_hash=event.password_hash,
                    sip_endpoint=sip.endpoint if sip else None, sip_username=sip.username if sip else None,
                    sip_password=sip.password if sip else None, created_at=at, updated_at=at))
            case d.UserUpdated():
                sip = event.sip
                await conn.execute(users.update().where(users.c.user_id == str(event.user_id)).values(
                    display_name=event.display_name, role=event.role,
                    sip_endpoint=sip.endpoint if sip else None, sip_username=sip.username if sip else None,
                    sip_password=sip.password if sip else None, updated_at=at))
            case d.UserPasswordChanged():
                await conn.execute(users.update().where(users.c.user_id == str(event.user_id)).values(
                    password_hash=event.password_hash, updated_at=at))
            case d.UserDeleted():
                await conn.execute(users.delete().where(users.c.user_id == str(event.user_id)))
            case d.AgentSettingsChanged():
                await conn.execute(users.update().where(users.c.user_id == str(event.user_id)).values(
                    settings=event.settings.model_dump_json()))
            case d.QueueCreated() | d.QueueUpdated():
                await self._upsert(conn, queues, "queue_id", event.queue_id, event, at,
                                   name=event.config.name, config=event.config.model_dump_json())
                await conn.execute(queue_members.delete().where(queue_members.c.queue_id == str(event.queue_id)))
                if event.config.members:
                    await conn.execute(queue_members.insert(), [
                        {"queue_id": str(event.queue_id), "user_id": str(m.user_id),
                         "tenant_id": event.tenant_id, "priority": m.priority} for m in event.config.members])
            case d.QueueDeleted():
                await conn.execute(queue_members.delete().where(queue_members.c.queue_id == str(event.queue_id)))
                await conn.execute(queues.delete().where(queues.c.queue_id == str(event.queue_id)))
            case d.NumberCreated() | d.NumberUpdated():
                c = event.config
                await self._upsert(conn, numbers, "number_id", event.number_id, event, at, e164=c.e164,
                                   kind=c.kind, queue_id=str(c.queue_id) if c.queue_id else None,
                                   ivr_id=str(c.ivr_id) if c.ivr_id else None, config=c.model_dump_json())
            case d.NumberDeleted():
                await conn.execute(numbers.delete().where(numbers.c.number_id == str(event.number_id)))
            case d.IvrMenuCreated() | d.IvrMenuUpdated():
                await self._upsert(conn, ivr_menus, "ivr_id", event.ivr_id, event, at,
                                   name=event.config.name, config=event.config.model_dump_json())
            case d.IvrMenuDeleted():
                await conn.execute(ivr_menus.delete().where(ivr_menus.c.ivr_id == str(event.ivr_id)))

    @staticmethod
    async def _upsert(conn: AsyncConnection, table: sa.Table, key: str, ident: uuid.UUID, event: Event,
                      at: datetime, **values: Any) -> None:
        updated = await conn.execute(
            table.update().where(table.c[key] == str(ident)).values(updated_at=at, **values))
        if updated.rowcount == 0:
            await conn.execute(table.insert().values(
                {key: str(ident), "tenant_id": event.tenant_id, "created_at": at, "updated_at": at, **values}))

    async def apply_batch(self, conn: AsyncConnection, records: Sequence[RecordedEvent]) -> None:
        """Many events at once (replay): fold them in memory, then a few set-based statements per table.

        Leaves the tables exactly as `apply` would, event by event. It reads the stored JSON bodies directly
        instead of building the pydantic models (20-80 µs per event, the largest cost of a replay after the
        NATS client's): every body was written by the event store from a validated model. A body it does not
        know (another schema version, a missing field) or a batch it cannot express (a second UserCreated for
        one id, a constraint violation) raises; the runner then halves the batch until the culprit goes
        through `apply`, which validates it and dead-letters it if it fails.
        """
        fold = DirectoryProjection._Fold()
        for record in records:
            if record.event_version != 1:
                raise ValueError(f"{record.event_type} v{record.event_version}: only v1 is folded in batches")
            fold.add(record.event_type, orjson.loads(record.data))
        await fold.write(conn)

    class _Fold:
        """The net effect of a run of directory events: rows to delete, insert, patch and upsert per table."""

        def __init__(self) -> None:
            self.tenants: list[dict[str, Any]] = []
            self.new_users: dict[str, dict[str, Any]] = {}
            self.user_patches: dict[str, dict[str, Any]] = {}
            self.deleted: dict[sa.Table, set[str]] = {users: set(), queues: set(), numbers: set(), ivr_menus: set()}
            self.upserts: dict[sa.Table, dict[str, dict[str, Any]]] = {queues: {}, numbers: {}, ivr_menus: {}}
            self.members: dict[str, list[dict[str, Any]]] = {}

        def add(self, event_type: str, body: dict[str, Any]) -> None:
            """Fold one event's stored body in (the same cases as `apply`; KeyError for a body it cannot read)."""
            at = datetime.fromisoformat(body["occurred_at"])
            if at.tzinfo is None:
                raise ValueError("occurred_at must carry a time zone")
            at, t = at.astimezone(UTC), body["tenant_id"]
            match event_type:
                case "TenantCreated":
                    self.tenants.append({"tenant_id": t, "name": body["name"], "time_zone": body["time_zone"],
                                         "default_region": body["default_region"], "created_at": at})
                case "UserCreated":
                    key = body["user_id"]
                    if key in self.new_users:  # apply would hit the primary key: let it find the poison
                        raise ValueError(f"user {key} created twice in one batch")
                    self.user_patches.pop(key, None)  # patches before a create were no-ops for apply too
                    self.new_users[key] = {
                        "user_id": key, "tenant_id": t, "username": body["username"],
                        "display_name": body["display_name"], "role": body["role"],
                        "password_hash": body["password_hash"], **self._sip(body["sip"]), "created_at": at,
                        "updated_at": at, "settings": None}
                case "UserUpdated":
                    self._patch_user(body["user_id"], {"display_name": body["display_name"], "role": body["role"],
                                                       **self._sip(body["sip"]), "updated_at": at})
                case "UserPasswordChanged":
                    self._patch_user(body["user_id"], {"password_hash": body["password_hash"], "updated_at": at})
                case "UserDeleted":
                    key = body["user_id"]
                    self.new_users.pop(key, None)
                    self.user_patches.pop(key, None)
                    self.deleted[users].add(key)
                case "AgentSettingsChanged":
                    self._patch_user(body["user_id"], {"settings": self._json(body["settings"])})
                case "QueueCreated" | "QueueUpdated":
                    qid, c = body["queue_id"], body["config"]
                    self._put(queues, qid, {"queue_id": qid, "tenant_id": t, "name": c["name"],
                                            "config": self._json(c), "created_at": at, "updated_at": at})
                    self.members[qid] = [{"queue_id": qid, "user_id": m["user_id"], "tenant_id": t,
                                          "priority": m["priority"]} for m in c["members"]]
                case "QueueDeleted":
                    qid = body["queue_id"]
                    self._drop(queues, qid)
                    self.members.pop(qid, None)
                case "NumberCreated" | "NumberUpdated":
                    nid, c = body["number_id"], body["config"]
                    self._put(numbers, nid, {"number_id": nid, "tenant_id": t, "e164": c["e164"], "kind": c["kind"],
                                             "queue_id": c["queue_id"], "ivr_id": c["ivr_id"],
                                             "config": self._json(c), "created_at": at, "updated_at": at})
                case "NumberDeleted":
                    self._drop(numbers, body["number_id"])
                case "IvrMenuCreated" | "IvrMenuUpdated":
                    iid, c = body["ivr_id"], body["config"]
                    self._put(ivr_menus, iid, {"ivr_id": iid, "tenant_id": t, "name": c["name"],
                                               "config": self._json(c), "created_at": at, "updated_at": at})
                case "IvrMenuDeleted":
                    self._drop(ivr_menus, body["ivr_id"])
                case _:
                    raise ValueError(f"no batch fold for {event_type}")

        @staticmethod
        def _json(value: Any) -> str:
            """The text `model_dump_json` gives for a stored sub-object (compact, UTF-8 as is).

            orjson, because the standard library's encoder was the largest single cost of a replay (queue
            configurations with their member lists: docs/benchmarks.md, section 2).
            """
            return orjson.dumps(value).decode()

        @staticmethod
        def _sip(sip: dict[str, Any] | None) -> dict[str, Any]:
            return {"sip_endpoint": sip["endpoint"] if sip else None, "sip_username": sip["username"] if sip else None,
                    "sip_password": sip["password"] if sip else None}

        def _patch_user(self, key: str, values: dict[str, Any]) -> None:
            created = self.new_users.get(key)
            if created is not None:
                created.update(values)
            else:  # an UPDATE after the inserts; a no-op for a user that does not exist, as in apply
                self.user_patches.setdefault(key, {}).update(values)

        def _put(self, table: sa.Table, key: str, row: dict[str, Any]) -> None:
            rows = self.upserts[table]
            earlier = rows.pop(key, None)  # re-added last: rows are written in the order of their last change
            if earlier is not None:
                row["created_at"] = earlier["created_at"]
            rows[key] = row

        def _drop(self, table: sa.Table, key: str) -> None:
            self.upserts[table].pop(key, None)
            self.deleted[table].add(key)  # stays deleted first even if put again: a re-create is a new row

        async def write(self, conn: AsyncConnection) -> None:
            """Deletes first, then inserts, patches and upserts: each row ends as apply would leave it."""
            for table, keys in self.deleted.items():
                await delete_rows(conn, table, table.primary_key.columns[0].name, keys)
            await delete_rows(conn, queue_members, "queue_id", set(self.members) | self.deleted[queues])
            await insert_rows(conn, tenants, self.tenants)
            await insert_rows(conn, users, list(self.new_users.values()))
            by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            for key, patch in self.user_patches.items():
                by_columns.setdefault(tuple(sorted(patch)), []).append({"user_id": key, **patch})
            for rows in by_columns.values():
                await update_rows(conn, users, "user_id", rows)
            for table, upserts in self.upserts.items():
                await insert_rows(conn, table, list(upserts.values()), upsert_on=table.primary_key.columns[0].name,
                                  keep=("tenant_id", "created_at"))
            await insert_rows(conn, queue_members, [m for ms in self.members.values() for m in ms])


class DirectoryReadModel:
    """Queries over the directory tables, always scoped to one tenant."""

    def __init__(self, engine: AsyncEngine):
        self._engine = engine

    async def _all(self, stmt: Any) -> list[Any]:
        async with self._engine.connect() as conn:
            return list((await conn.execute(stmt)).mappings())

    async def _one(self, stmt: Any) -> Any:
        async with self._engine.connect() as conn:
            return (await conn.execute(stmt)).mappings().first()

    async def _page(self, stmt: Any, order: Any, page: d.Page) -> tuple[list[Any], int]:
        count = sa.select(sa.func.count()).select_from(stmt.subquery())
        async with self._engine.connect() as conn:
            total = int(await conn.scalar(count) or 0)
            rows = (await conn.execute(
                stmt.order_by(*order).limit(page.page_size).offset((page.page - 1) * page.page_size)
            )).mappings()
            return list(rows), total

    # tenants
    async def tenant(self, tenant_id: str) -> d.TenantView | None:
        """One tenant."""
        row = await self._one(sa.select(tenants).where(tenants.c.tenant_id == tenant_id))
        return d.TenantView(**{**row, "created_at": _utc(row["created_at"])}) if row else None

    # users
    @staticmethod
    def user_view(row: Any) -> d.UserView:
        """A user row as the API shows it."""
        return d.UserView(user_id=row["user_id"], username=row["username"], display_name=row["display_name"],
                          role=row["role"], sip_endpoint=row["sip_endpoint"],
                          created_at=_utc(row["created_at"]), updated_at=_utc(row["updated_at"]))

    async def user(self, tenant_id: str, user_id: uuid.UUID) -> Any:
        """One user row (with secrets; never returned as is)."""
        return await self._one(sa.select(users).where(users.c.tenant_id == tenant_id,
                                                      users.c.user_id == str(user_id)))

    async def user_by_name(self, tenant_id: str, username: str) -> Any:
        """One user row by username."""
        return await self._one(sa.select(users).where(users.c.tenant_id == tenant_id,
                                                      users.c.username == username))

    async def users_page(self, tenant_id: str, page: d.Page, role: str | None,
                         search: str | None) -> tuple[list[d.UserView], int]:
        """A page of users, by username."""
        stmt = sa.select(users).where(users.c.tenant_id == tenant_id)
        if role:
            stmt = stmt.where(users.c.role == role)
        if search:
            like = f"%{search.lower()}%"
            stmt = stmt.where(sa.or_(sa.func.lower(users.c.username).like(like),
                                     sa.func.lower(users.c.display_name).like(like)))
        rows, total = await self._page(stmt, [users.c.username], page)
        return [self.user_view(r) for r in rows], total

    @staticmethod
    def settings_of(row: Any) -> d.AgentSettings:
        """A user row's personal settings (the defaults until the user saves some)."""
        raw = row["settings"]
        return d.AgentSettings.model_validate_json(raw) if raw else d.AgentSettings()

    async def existing_users(self, tenant_id: str, user_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """Which of `user_ids` are users of the tenant."""
        if not user_ids:
            return set()
        rows = await self._all(sa.select(users.c.user_id).where(
            users.c.tenant_id == tenant_id, users.c.user_id.in_([str(u) for u in user_ids])))
        return {uuid.UUID(r["user_id"]) for r in rows}

    async def queues_with_member(self, tenant_id: str, user_id: uuid.UUID) -> list[str]:
        """Names of the queues the user is a member of."""
        rows = await self._all(
            sa.select(queues.c.name).join(queue_members, queue_members.c.queue_id == queues.c.queue_id)
            .where(queue_members.c.tenant_id == tenant_id, queue_members.c.user_id == str(user_id)))
        return [r["name"] for r in rows]

    # queues
    @staticmethod
    def queue_view(row: Any) -> d.QueueView:
        """A queue row as the API shows it."""
        return d.QueueView(queue_id=row["queue_id"], created_at=_utc(row["created_at"]),
                           updated_at=_utc(row["updated_at"]), **orjson.loads(row["config"]))

    async def queue(self, tenant_id: str, queue_id: uuid.UUID) -> d.QueueView | None:
        """One queue."""
        row = await self._one(sa.select(queues).where(queues.c.tenant_id == tenant_id,
                                                      queues.c.queue_id == str(queue_id)))
        return self.queue_view(row) if row else None

    async def queue_id_by_name(self, tenant_id: str, name: str) -> uuid.UUID | None:
        """The id of the tenant's queue called `name`."""
        row = await self._one(sa.select(queues.c.queue_id).where(queues.c.tenant_id == tenant_id,
                                                                 queues.c.name == name))
        return uuid.UUID(row["queue_id"]) if row else None

    async def queues_page(self, tenant_id: str, page: d.Page) -> tuple[list[d.QueueView], int]:
        """A page of queues, by name."""
        rows, total = await self._page(sa.select(queues).where(queues.c.tenant_id == tenant_id),
                                       [queues.c.name], page)
        return [self.queue_view(r) for r in rows], total

    async def routes_to_queue(self, tenant_id: str, queue_id: uuid.UUID) -> list[str]:
        """Numbers and IVR menus that send calls to the queue."""
        rows = await self._all(sa.select(numbers.c.e164).where(numbers.c.tenant_id == tenant_id,
                                                               numbers.c.queue_id == str(queue_id)))
        found = [r["e164"] for r in rows]
        for ivr in await self._all(sa.select(ivr_menus).where(ivr_menus.c.tenant_id == tenant_id)):
            cfg = d.IvrConfig.model_validate_json(ivr["config"])
            if cfg.default_queue_id == queue_id or queue_id in cfg.options.values():
                found.append(f"IVR {cfg.name}")
        return found

    # numbers
    @staticmethod
    def number_view(row: Any) -> d.NumberView:
        """A number row as the API shows it."""
        return d.NumberView(number_id=row["number_id"], created_at=_utc(row["created_at"]),
                            updated_at=_utc(row["updated_at"]), **orjson.loads(row["config"]))

    async def number(self, tenant_id: str, number_id: uuid.UUID) -> d.NumberView | None:
        """One number."""
        row = await self._one(sa.select(numbers).where(numbers.c.tenant_id == tenant_id,
                                                       numbers.c.number_id == str(number_id)))
        return self.number_view(row) if row else None

    async def other_owner(self, e164: str, tenant_id: str) -> str | None:
        """Another tenant that holds the number, if any (a number belongs to one tenant only)."""
        row = await self._one(sa.select(numbers.c.tenant_id).where(numbers.c.e164 == e164,
                                                                   numbers.c.tenant_id != tenant_id))
        return str(row["tenant_id"]) if row else None

    async def numbers_page(self, tenant_id: str, page: d.Page, kind: str | None) -> tuple[list[d.NumberView], int]:
        """A page of numbers."""
        stmt = sa.select(numbers).where(numbers.c.tenant_id == tenant_id)
        if kind:
            stmt = stmt.where(numbers.c.kind == kind)
        rows, total = await self._page(stmt, [numbers.c.e164], page)
        return [self.number_view(r) for r in rows], total

    async def caller_ids(self, tenant_id: str) -> set[str]:
        """The tenant's outbound caller IDs (E.164)."""
        rows = await self._all(sa.select(numbers.c.e164).where(numbers.c.tenant_id == tenant_id,
                                                               numbers.c.kind == "caller_id"))
        return {r["e164"] for r in rows}

    async def numbers_routing_to_ivr(self, tenant_id: str, ivr_id: uuid.UUID) -> list[str]:
        """Numbers that send calls to the IVR menu."""
        rows = await self._all(sa.select(numbers.c.e164).where(numbers.c.tenant_id == tenant_id,
                                                               numbers.c.ivr_id == str(ivr_id)))
        return [r["e164"] for r in rows]

    # ivr
    @staticmethod
    def ivr_view(row: Any) -> d.IvrView:
        """An IVR row as the API shows it."""
        return d.IvrView(ivr_id=row["ivr_id"], created_at=_utc(row["created_at"]),
                         updated_at=_utc(row["updated_at"]), **orjson.loads(row["config"]))

    async def ivr(self, tenant_id: str, ivr_id: uuid.UUID) -> d.IvrView | None:
        """One IVR menu."""
        row = await self._one(sa.select(ivr_menus).where(ivr_menus.c.tenant_id == tenant_id,
                                                         ivr_menus.c.ivr_id == str(ivr_id)))
        return self.ivr_view(row) if row else None

    async def ivr_id_by_name(self, tenant_id: str, name: str) -> uuid.UUID | None:
        """The id of the tenant's IVR menu called `name`."""
        row = await self._one(sa.select(ivr_menus.c.ivr_id).where(ivr_menus.c.tenant_id == tenant_id,
                                                                  ivr_menus.c.name == name))
        return uuid.UUID(row["ivr_id"]) if row else None

    async def ivrs_page(self, tenant_id: str, page: d.Page) -> tuple[list[d.IvrView], int]:
        """A page of IVR menus."""
        rows, total = await self._page(sa.select(ivr_menus).where(ivr_menus.c.tenant_id == tenant_id),
                                       [ivr_menus.c.name], page)
        return [self.ivr_view(r) for r in rows], total


# argon2id at OWASP's recommended minimum (19 MiB, 2 passes, 1 lane): argon2-cffi's default profile (64 MiB,
# 3 passes, 4 lanes) took 284 ms per login on this 2-core machine (docs/benchmarks.md). Hashes keep their own
# parameters, so hashes made with other settings still verify.
OWASP_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


class Argon2Passwords:
    """argon2id hashing in worker threads: bounded parallelism, a bounded wait, and shedding beyond it.

    argon2 is CPU-bound and takes tens of milliseconds; under a login storm an unbounded queue made every
    caller wait past the gateway's timeout while the directory went on verifying passwords nobody waited
    for (docs/benchmarks.md, section 3). Now at most `parallel` verifications run at once (one per core),
    at most `max_waiting` wait, and a login that waited longer than `max_wait_s` is dropped before its
    verification starts: both answer `Unavailable` with a retry hint, which the gateway turns into 503.
    """

    def __init__(self, hasher: PasswordHasher | None = None, *, parallel: int | None = None,
                 max_waiting: int = 64, max_wait_s: float = 3.0):
        self._hasher = hasher or OWASP_HASHER
        self._dummy = self._hasher.hash("nebula-timing-equalizer")
        self._slots = asyncio.Semaphore(parallel or os.cpu_count() or 1)
        self._waiting = 0
        self.max_waiting = max_waiting
        self.max_wait_s = max_wait_s

    async def hash(self, password: str) -> str:
        """A new salted hash."""
        async with self._slot():
            return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """True if the password matches; an unknown user costs the same time as a known one."""
        def _verify() -> bool:
            try:
                return bool(self._hasher.verify(password_hash or self._dummy, password)) and password_hash is not None
            except (VerificationError, InvalidHashError):
                return False
        async with self._slot():
            return await asyncio.to_thread(_verify)

    @contextlib.asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        if self._waiting >= self.max_waiting:
            raise Unavailable("too many logins at once; retry in a moment", details={"retry_after_s": 1})
        self._waiting += 1
        started, queued = time.monotonic(), self._slots.locked()
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
        try:
            if queued and time.monotonic() - started > self.max_wait_s:
                raise Unavailable("the login waited too long; retry in a moment", details={"retry_after_s": 1})
            yield
        finally:
            self._slots.release()
