"""A thin typed ARI client (aiohttp + websockets) for Asterisk 22, written against its own API description."""
