"""directory: owner of tenant configuration (tenants, users, queues, numbers, IVR menus)."""

SERVICE = "directory"
