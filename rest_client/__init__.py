"""The one client of syncsight's REST API, used by the CLI and the dashboard, and the text tables
the CLI prints from its answers. It talks HTTP only: no FastAPI app, no ClickHouse driver."""
