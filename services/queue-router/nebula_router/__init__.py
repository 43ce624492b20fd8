"""queue-router: agent states and queues; assigns waiting calls to agents."""

SERVICE = "router"
