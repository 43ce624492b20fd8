"""The demo tenant `make up` creates on first start (published logins, documented in README)."""

from __future__ import annotations

import uuid

from nebula_contracts import directory as d

from nebula_directory.handlers import DirectoryHandlers

DEMO_TENANT = "demo"
DEMO_PASSWORD = "demo1234"
DEMO_USERS = [("supervisor", "Süpervizör", "supervisor"), ("agent1", "Temsilci 1", "agent"),
              ("agent2", "Temsilci 2", "agent"), ("agent3", "Temsilci 3", "agent")]
_NS = uuid.UUID("6d3f3c4e-2f7a-4c59-9a55-0e1f4a9b7c10")


def _id(name: str) -> uuid.UUID:
    return uuid.uuid5(_NS, name)


async def ensure_demo(h: DirectoryHandlers) -> bool:
    """Create the demo tenant, users, queues and numbers unless they exist; True if created now."""
    if await h.rm.tenant(DEMO_TENANT) is not None:
        return False
    await h.create_tenant(d.CreateTenant(command_id=_id("tenant"), tenant_id=DEMO_TENANT, name="Demo A.Ş.",
                                         admin_password=DEMO_PASSWORD))
    agents = []
    for username, display, role in DEMO_USERS:
        view = await h.create_user(d.CreateUser(command_id=_id(f"user:{username}"), tenant_id=DEMO_TENANT,
                                                user=d.UserInput(username=username, display_name=display,
                                                                 role=role, password=DEMO_PASSWORD)))
        if role == "agent":
            agents.append(d.QueueMember(user_id=view.user_id))
    queue_ids = {}
    for name, priority in (("sales", 1), ("support", 2)):
        q = await h.create_queue(d.CreateQueue(command_id=_id(f"queue:{name}"), tenant_id=DEMO_TENANT,
                                               queue=d.QueueConfig(name=name, priority=priority,
                                                                   members=tuple(agents))))
        queue_ids[name] = q.queue_id
    for number, queue in (("+908501234567", "support"), ("+908501234568", "sales")):
        await h.create_number(d.CreateNumber(command_id=_id(f"did:{number}"), tenant_id=DEMO_TENANT,
                                             number=d.NumberInput(number=number, kind="did", target="queue",
                                                                  queue_id=queue_ids[queue],
                                                                  label=f"{queue} hattı")))
    for number in ("+908501234567", "+908501234568"):
        await h.create_number(d.CreateNumber(command_id=_id(f"cid:{number}"), tenant_id=DEMO_TENANT,
                                             number=d.NumberInput(number=number, kind="caller_id",
                                                                  label="Giden arama")))
    return True
