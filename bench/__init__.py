"""Benchmarks: each module starts its own nats-server (and PostgreSQL) and prints its figures."""
