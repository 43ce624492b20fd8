"""A thin typed ARI client (httpx + websockets) for Asterisk 22, written against its own API description."""
