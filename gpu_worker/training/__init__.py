"""Training of the project's own default weights (no Django, no downloads)."""
