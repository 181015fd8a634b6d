"""Business logic of the restoration app: plain functions that views, consumers and
tasks call."""
