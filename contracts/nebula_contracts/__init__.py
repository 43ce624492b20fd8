"""The language between Nebula's services: envelopes, events, commands, replies and subject names."""
