"""Alerts: the pure alert state machine and the delivery of the outbox."""
