"""gateway: the only door from outside (HTTP + WebSocket API, and later the web client)."""

SERVICE = "gateway"
