"""stocksaga: inventory and order engine (Temporal sagas, Postgres ledger, Redis hot store)."""
