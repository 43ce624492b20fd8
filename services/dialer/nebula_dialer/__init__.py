"""dialer: click-to-call lists and automatic campaigns."""

SERVICE = "dialer"
