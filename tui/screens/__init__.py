"""The backoffice's screens: one module per top-level screen (digits 1..6) and its detail views."""
