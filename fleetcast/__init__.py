"""fleetcast: glue shared by every service (settings, Kafka clients, embedded broker, CLI)."""

__version__ = "0.1.0"
