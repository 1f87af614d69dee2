"""Notifications out: comms updates delivered to the severity policy's webhooks."""
