"""The `nebula` command: run services, start the demo, manage tenants, generate schemas."""
