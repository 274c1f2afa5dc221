"""Storage: Postgres tables, migrations, the ledger core and queries; the Redis hot store."""
