"""A thin typed ARI client (kept-alive HTTP/1.1, websockets) for Asterisk 22, after its own API description."""
