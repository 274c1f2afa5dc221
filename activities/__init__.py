"""Temporal activities: every Postgres, Redis or outside call, each idempotent by its key."""
