"""reporting: read models for call reports, recordings, agent performance and live monitoring."""

SERVICE = "reporting"
