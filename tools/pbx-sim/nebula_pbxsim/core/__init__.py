"""The pure simulation core: state, Asterisk behaviour, the far ends (no I/O)."""
