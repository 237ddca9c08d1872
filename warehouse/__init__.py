"""ClickHouse access for syncsight: client factory, schema, migrations and shared queries."""
