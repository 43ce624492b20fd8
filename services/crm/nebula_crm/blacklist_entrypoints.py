"""The blacklist part of the crm service: its projection and its `cmd.crm.*`/`qry.crm.*` subjects."""

from __future__ import annotations

from nebula_contracts import blacklist as b
from nebula_core.deadletter import DeadLetterSink
from nebula_core.eventstore.port import EventStore
from nebula_core.projections import ProjectionRunner
from nebula_core.runtime import ServiceApp
from sqlalchemy.ext.asyncio import AsyncEngine

from nebula_crm import SERVICE
from nebula_crm.blacklist_adapters import BlacklistProjection, BlacklistReadModel, checkpoints
from nebula_crm.blacklist_handlers import BlacklistFeed, BlacklistHandlers

BLACKLIST_POLL_S = 0.25


def register(app: ServiceApp, store: EventStore, engine: AsyncEngine, dead_letters: DeadLetterSink,
             region: str = "TR", feed: BlacklistFeed | None = None) -> BlacklistHandlers:
    """Run the blacklist projection in `app` and bind every blacklist handler to its subject."""
    # Only the blacklist commands change its tables, and each waits for them to be written (which makes the
    # runner look at once); in between it looks this often instead of being woken by every event of the log
    # (its two subjects share a covering filter).
    runner = ProjectionRunner(service=SERVICE, projection=BlacklistProjection(), store=store, engine=engine,
                              checkpoints=checkpoints, dead_letters=dead_letters, poll_s=BLACKLIST_POLL_S)
    app.components.append(runner)
    h = BlacklistHandlers(store=store, read_model=BlacklistReadModel(engine), sync=runner, region=region, feed=feed)
    app.command("add_blacklist_entry", b.AddBlacklistEntry)(h.add_entry)
    app.command("update_blacklist_entry", b.UpdateBlacklistEntry)(h.update_entry)
    app.command("remove_blacklist_entry", b.RemoveBlacklistEntry)(h.remove_entry)
    app.query("get_blacklist_entry", b.GetBlacklistEntry)(h.get_entry)
    app.query("list_blacklist", b.ListBlacklist)(h.list_entries)
    app.query("blacklist_entry_history", b.GetBlacklistEntryHistory)(h.entry_history)
    app.command("request_block", b.RequestBlock)(h.request_block)
    app.command("approve_block_request", b.ApproveBlockRequest)(h.approve)
    app.command("reject_block_request", b.RejectBlockRequest)(h.reject)
    app.query("get_block_request", b.GetBlockRequest)(h.get_request)
    app.query("list_block_requests", b.ListBlockRequests)(h.list_requests)
    return h
