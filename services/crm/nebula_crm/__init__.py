"""crm: customers, comments, risk flags, block requests and the blacklist."""

SERVICE = "crm"
