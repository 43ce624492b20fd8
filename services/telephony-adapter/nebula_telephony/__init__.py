"""telephony-adapter: the only component that talks to Asterisk (ARI events in, telephony commands out)."""

SERVICE = "telephony"
