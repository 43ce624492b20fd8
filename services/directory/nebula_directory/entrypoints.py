"""NATS entrypoints of the directory: one request/reply subject per command and query."""

from __future__ import annotations

from nebula_contracts import announcements as an
from nebula_contracts import directory as d
from nebula_core.runtime import ServiceApp

from nebula_directory.announcements_handlers import AnnouncementHandlers
from nebula_directory.handlers import DirectoryHandlers


def register(app: ServiceApp, h: DirectoryHandlers) -> None:
    """Bind every handler to its subject."""
    app.command("create_tenant", d.CreateTenant)(h.create_tenant)
    app.query("get_tenant", d.GetTenant)(h.get_tenant)
    app.command("create_user", d.CreateUser)(h.create_user)
    app.command("update_user", d.UpdateUser)(h.update_user)
    app.command("delete_user", d.DeleteUser)(h.delete_user)
    app.query("get_user", d.GetUser)(h.get_user)
    app.query("list_users", d.ListUsers)(h.list_users)
    app.query("sip_credentials", d.GetSipCredentials)(h.sip_credentials)
    app.query("agent_settings", d.GetAgentSettings)(h.agent_settings)
    app.command("update_agent_settings", d.UpdateAgentSettings)(h.update_agent_settings)
    # Logins wait on argon2 in threads; the hasher bounds and sheds them (adapters.Argon2Passwords).
    app.command("authenticate", d.Authenticate, max_workers=128)(h.authenticate)
    app.command("create_queue", d.CreateQueue)(h.create_queue)
    app.command("update_queue", d.UpdateQueue)(h.update_queue)
    app.command("delete_queue", d.DeleteQueue)(h.delete_queue)
    app.query("get_queue", d.GetQueue)(h.get_queue)
    app.query("list_queues", d.ListQueues)(h.list_queues)
    app.command("create_number", d.CreateNumber)(h.create_number)
    app.command("update_number", d.UpdateNumber)(h.update_number)
    app.command("delete_number", d.DeleteNumber)(h.delete_number)
    app.query("get_number", d.GetNumber)(h.get_number)
    app.query("list_numbers", d.ListNumbers)(h.list_numbers)
    app.command("create_ivr", d.CreateIvrMenu)(h.create_ivr)
    app.command("update_ivr", d.UpdateIvrMenu)(h.update_ivr)
    app.command("delete_ivr", d.DeleteIvrMenu)(h.delete_ivr)
    app.query("get_ivr", d.GetIvrMenu)(h.get_ivr)
    app.query("list_ivrs", d.ListIvrMenus)(h.list_ivrs)


def register_announcements(app: ServiceApp, h: AnnouncementHandlers) -> None:
    """Bind the announcement handlers (Duyurular, Pano) to their subjects."""
    app.command("publish_announcement", an.PublishAnnouncement)(h.publish)
    app.command("update_announcement", an.UpdateAnnouncement)(h.update)
    app.command("withdraw_announcement", an.WithdrawAnnouncement)(h.withdraw)
    app.query("get_announcement", an.GetAnnouncement)(h.get)
    app.query("list_announcements", an.ListAnnouncements)(h.list_all)
    app.query("active_announcements", an.ActiveAnnouncementsFor)(h.active)
    app.command("mark_announcement_read", an.MarkAnnouncementRead)(h.mark_read)
