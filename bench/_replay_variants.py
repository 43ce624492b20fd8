"""What-if variants for bench.projection_replay, to measure suggested changes before anyone makes them.

Nothing here is used by the platform. (The earlier `single-filter` variant was adopted by
`JetStreamEventStore.subscribe` itself.) `--variant batched` swaps in a runner that hands a whole fetched
batch to the projection and a DirectoryProjection that folds the batch in memory and writes it with a few
set-based statements (executemany / INSERT .. ON CONFLICT) instead of 1-4 statements per event.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from nebula_contracts import directory as d
from nebula_contracts.envelope import Event
from nebula_core.eventstore.port import RecordedEvent
from nebula_core.projections import ProjectionRunner
from nebula_directory import adapters as a
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


class BatchingRunner(ProjectionRunner):
    """ProjectionRunner that gives a projection with `apply_batch` the whole batch in one call."""

    fallbacks = 0  # batches that went the event-at-a-time way (shown by the benchmark)

    async def _handle_batch(self, batch: list[RecordedEvent]) -> None:
        apply_batch = getattr(self.projection, "apply_batch", None)
        if apply_batch is None:
            await super()._handle_batch(batch)
            return
        wanted = [r for r in batch if r.event_type in self.projection.event_types]
        try:
            async with self._engine.begin() as conn:
                await apply_batch(conn, [(r.decode(), r) for r in wanted])
                await self._save(conn, batch[-1].position)
        except Exception:  # the event-at-a-time path retries, dead-letters and advances
            BatchingRunner.fallbacks += 1
            await super()._handle_batch(batch)
            return
        await self._advance(batch[-1].position)


class _Upserts:
    """Final row per key for one table, plus the keys deleted, in one batch."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.deleted: set[str] = set()

    def put(self, key: str, row: dict[str, Any]) -> None:
        """Latest full values win; the first created_at in the batch is kept for a new row."""
        if key in self.rows:
            row = {**row, "created_at": self.rows[key]["created_at"]}
        self.rows[key] = row
        self.deleted.discard(key)

    def delete(self, key: str) -> None:
        """Forget any pending row and delete the stored one."""
        self.rows.pop(key, None)
        self.deleted.add(key)


class BatchedDirectoryProjection(a.DirectoryProjection):
    """DirectoryProjection with apply_batch: fold the batch in memory, then a few set-based statements."""

    async def apply_batch(self, conn: AsyncConnection, items: list[tuple[Event, RecordedEvent]]) -> None:
        """Same end state as apply() event by event (the runner falls back to that on any error)."""
        tenants: dict[str, dict[str, Any]] = {}
        new_users: dict[str, dict[str, Any]] = {}
        user_patches: dict[str, dict[str, Any]] = {}
        deleted_users: set[str] = set()
        queues, numbers, ivrs = _Upserts(), _Upserts(), _Upserts()
        members: dict[str, list[dict[str, Any]]] = {}
        for event, _ in items:
            self._fold(event, tenants, new_users, user_patches, deleted_users, queues, numbers, ivrs, members)

        for table, key, keys in ((a.users, "user_id", deleted_users), (a.queues, "queue_id", queues.deleted),
                                 (a.numbers, "number_id", numbers.deleted), (a.ivr_menus, "ivr_id", ivrs.deleted)):
            if keys:
                await conn.execute(table.delete().where(table.c[key].in_(sorted(keys))))
        touched = sorted(set(members) | queues.deleted)
        if touched:
            await conn.execute(a.queue_members.delete().where(a.queue_members.c.queue_id.in_(touched)))
        if tenants:
            await conn.execute(a.tenants.insert(), list(tenants.values()))
        if new_users:
            await conn.execute(a.users.insert(), list(new_users.values()))
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for uid, patch in user_patches.items():
            by_columns.setdefault(tuple(sorted(patch)), []).append({"_uid": uid, **patch})
        for columns, rows in by_columns.items():
            stmt = a.users.update().where(a.users.c.user_id == sa.bindparam("_uid")).values(
                {c: sa.bindparam(c) for c in columns})
            await conn.execute(stmt, rows)
        for table, key, ups in ((a.queues, "queue_id", queues), (a.numbers, "number_id", numbers),
                                (a.ivr_menus, "ivr_id", ivrs)):
            if ups.rows:
                await conn.execute(self._upsert_stmt(conn, table, key), list(ups.rows.values()))
        rows = [m for ms in members.values() for m in ms]
        if rows:
            await conn.execute(a.queue_members.insert(), rows)

    @staticmethod
    def _upsert_stmt(conn: AsyncConnection, table: sa.Table, key: str) -> Any:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(table)
        keep = {key, "tenant_id", "created_at"}
        return stmt.on_conflict_do_update(index_elements=[key],
                                          set_={c.name: stmt.excluded[c.name] for c in table.c if c.name not in keep})

    @staticmethod
    def _fold(event: Event, tenants: dict[str, dict[str, Any]], new_users: dict[str, dict[str, Any]],
              user_patches: dict[str, dict[str, Any]], deleted_users: set[str], queues: _Upserts,
              numbers: _Upserts, ivrs: _Upserts, members: dict[str, list[dict[str, Any]]]) -> None:
        at: datetime = event.occurred_at
        t = event.tenant_id

        def patch_user(uid: uuid.UUID, values: dict[str, Any]) -> None:
            key = str(uid)
            target = new_users.get(key)
            if target is not None:
                target.update(values)
            else:
                user_patches.setdefault(key, {}).update(values)

        def sip(s: d.SipCredentials | None) -> dict[str, Any]:
            return {"sip_endpoint": s.endpoint if s else None, "sip_username": s.username if s else None,
                    "sip_password": s.password if s else None}

        match event:
            case d.TenantCreated():
                tenants[t] = {"tenant_id": t, "name": event.name, "time_zone": event.time_zone,
                              "default_region": event.default_region, "created_at": at}
            case d.UserCreated():
                new_users[str(event.user_id)] = {
                    "user_id": str(event.user_id), "tenant_id": t, "username": event.username,
                    "display_name": event.display_name, "role": event.role, "password_hash": event.password_hash,
                    **sip(event.sip), "created_at": at, "updated_at": at}
            case d.UserUpdated():
                patch_user(event.user_id, {"display_name": event.display_name, "role": event.role,
                                           **sip(event.sip), "updated_at": at})
            case d.UserPasswordChanged():
                patch_user(event.user_id, {"password_hash": event.password_hash, "updated_at": at})
            case d.UserDeleted():
                key = str(event.user_id)
                new_users.pop(key, None)
                user_patches.pop(key, None)
                deleted_users.add(key)
            case d.QueueCreated() | d.QueueUpdated():
                qid = str(event.queue_id)
                queues.put(qid, {"queue_id": qid, "tenant_id": t, "name": event.config.name,
                                 "config": event.config.model_dump_json(), "created_at": at, "updated_at": at})
                members[qid] = [{"queue_id": qid, "user_id": str(m.user_id), "tenant_id": t, "priority": m.priority}
                                for m in event.config.members]
            case d.QueueDeleted():
                qid = str(event.queue_id)
                queues.delete(qid)
                members.pop(qid, None)
            case d.NumberCreated() | d.NumberUpdated():
                c = event.config
                nid = str(event.number_id)
                numbers.put(nid, {"number_id": nid, "tenant_id": t, "e164": c.e164, "kind": c.kind,
                                  "queue_id": str(c.queue_id) if c.queue_id else None,
                                  "ivr_id": str(c.ivr_id) if c.ivr_id else None, "config": c.model_dump_json(),
                                  "created_at": at, "updated_at": at})
            case d.NumberDeleted():
                numbers.delete(str(event.number_id))
            case d.IvrMenuCreated() | d.IvrMenuUpdated():
                iid = str(event.ivr_id)
                ivrs.put(iid, {"ivr_id": iid, "tenant_id": t, "name": event.config.name,
                               "config": event.config.model_dump_json(), "created_at": at, "updated_at": at})
            case d.IvrMenuDeleted():
                ivrs.delete(str(event.ivr_id))
