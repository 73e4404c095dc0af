"""Operator-facing read side: the Kafka-fed fleet view, the Panel dashboard and the HTTP API."""
