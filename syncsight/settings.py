"""Process settings: one pydantic-settings class, environment prefix ``SYNCSIGHT_``.

Built once by the CLI (the entry point) and passed down; nothing reads the environment elsewhere.
Every setting has a default that is safe for ``syncsight demo`` on a laptop.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    Field,
    PlainSerializer,
    PlainValidator,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from collector.auth import IngestTokenError, IngestTokens
from syncsight.access import ApiTokenError, ApiTokens, TokenGrant
from syncsight.hosts import AllowedHostError, allowed_hosts, parse_allowed_hosts
from warehouse.client import ClickHouseURLError, chdb_data_path, redact, validate_url
from warehouse.retention import MAX_DAYS, Retention
from warehouse.schema import Topology, TopologyError


def _auto_or_count(value: Any, name: str, expected: str) -> Any:
    """A setting that is ``auto`` or a whole number of 0 or more (``name``'s value), else an
    error naming the setting and what it ``expected``."""
    text = str(value).strip()
    if text == "auto":
        return text
    if not text.isdigit():
        raise ValueError(f"{name}={value}: expected {expected}")
    return int(text)


JOURNAL_BATCH_WAIT_MS = 2000
"""``batch_max_wait_ms=auto`` when the journal acknowledges. At 3,000 spans/s with the evaluator
running and lineage asked back to back (10M quarter), lineage p95 was 125-126 ms with 200 ms
waits, 98-112 with 1,000, 73-89 with 2,000 and 62-65 with 5,000; the evaluator's lag 31-41, 21-26,
21-31 and 21-25 s (benchmarks/history/ingest.md, "Fewer, larger inserts"). 2,000 keeps most of
the gain while a span can be queried within about two seconds of its acknowledgement."""

INSERT_BATCH_WAIT_MS = 200
"""``batch_max_wait_ms=auto`` when the insert acknowledges: the sender's answer waits with it."""

DATA_DIR = Path(".syncsight")
CLICKHOUSE_URL_FIELDS = ("clickhouse_url", "clickhouse_insert_url", "clickhouse_read_url")
"""The settings that hold a ClickHouse URL, which may carry a password."""


def default_clickhouse_url() -> str:
    """``chdb://`` + the absolute path of ``./.syncsight/data`` (created when first opened)."""
    return f"chdb://{(DATA_DIR / 'data').resolve()}"


def _api_tokens(value: Any) -> ApiTokens:
    if isinstance(value, ApiTokens):
        return value
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    if not isinstance(text, str):
        raise ValueError("SYNCSIGHT_API_TOKENS=<hidden>: expected a string of TOKEN:ROLE pairs")
    try:
        return ApiTokens.parse(text)
    except ApiTokenError as error:
        raise ValueError(f"SYNCSIGHT_API_TOKENS=<hidden>: {error}") from None


def _ingest_tokens(value: Any) -> IngestTokens:
    if isinstance(value, IngestTokens):
        return value
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    if not isinstance(text, str):
        raise ValueError("SYNCSIGHT_INGEST_TOKENS=<hidden>: expected a string of tokens")
    try:
        return IngestTokens.parse(text)
    except IngestTokenError as error:
        raise ValueError(f"SYNCSIGHT_INGEST_TOKENS=<hidden>: {error}") from None


# Tokens are hashed while the settings are parsed: no plain token outlives the validation.
ApiTokensSetting = Annotated[
    ApiTokens, PlainValidator(_api_tokens), PlainSerializer(repr, return_type=str)
]
IngestTokensSetting = Annotated[
    IngestTokens, PlainValidator(_ingest_tokens), PlainSerializer(repr, return_type=str)
]


_AT_MOST_DAYS = f"(at most {MAX_DAYS}: a longer TTL wraps around to the past and drops every row)"
"""What the three retention settings say of their bound (``warehouse.retention.MAX_DAYS``)."""


class Settings(BaseSettings):
    """Everything a syncsight process can be told through ``SYNCSIGHT_*`` variables or flags."""

    # hide_input_in_errors: a ValidationError's text must never carry a token or a password
    model_config = SettingsConfigDict(
        env_prefix="SYNCSIGHT_", extra="forbid", hide_input_in_errors=True
    )

    clickhouse_url: str = Field(
        default_factory=default_clickhouse_url,
        description="ClickHouse to use: chdb:///absolute/path (embedded, the default), "
        "chdb://memory, or http(s)://user:password@host:port/database for a server.",
    )
    clickhouse_insert_url: str | None = Field(
        default=None,
        description="ClickHouse URL the ingest writer inserts raw spans with, e.g. an insert-only "
        "user of the same server and database (needs INSERT on otel_traces and CREATE TEMPORARY "
        "TABLE for input()). Default: clickhouse_url. A chdb URL must be clickhouse_url itself.",
    )
    clickhouse_read_url: str | None = Field(
        default=None,
        description="ClickHouse URL the REST API reads with, e.g. a read-only user (readonly=2: "
        "the API sets its read limits per query). Default: clickhouse_url. A chdb URL must be "
        "clickhouse_url itself. Migrations, rebuilds and the SLA evaluator use clickhouse_url.",
    )
    clickhouse_cluster: str | None = Field(
        default=None,
        description="ClickHouse cluster name when the schema was created with `syncsight migrate "
        "--cluster NAME`: start-up migrations and rebuilds then use the same ON CLUSTER layout.",
    )
    host: str = Field(default="127.0.0.1", description="Address the HTTP API and OTLP/HTTP bind.")
    port: int = Field(default=4318, ge=0, le=65535, description="OTLP/HTTP and REST API port.")
    grpc_port: int = Field(default=4317, ge=0, le=65535, description="OTLP/gRPC port.")
    config: Path | None = Field(
        default=None,
        description="Optional TOML file: correlation rules, SLAs, calendars, notifications.",
    )

    ingest_tokens: IngestTokensSetting = Field(
        default_factory=IngestTokens,
        description="Comma-separated bearer tokens for OTLP ingest; when set, OTLP requests "
        "without `Authorization: Bearer <token>` get 401 / UNAUTHENTICATED. Required (like "
        "api_tokens) when host is not a loopback address. Kept only as SHA-256 digests.",
    )
    max_body_bytes: int = Field(
        default=64 * 1024 * 1024,
        gt=0,
        description="Largest OTLP request body, before and after decompression (413 above it).",
    )
    max_attributes_per_span: int = Field(
        default=128, ge=1, description="Attributes kept per span (biz.* keys are never dropped)."
    )
    max_attribute_value_length: int = Field(
        default=4096,
        ge=1,
        description="Longest text kept, in characters: attribute values, span and event names, "
        "trace states, status messages, scope names and versions; longer ones are cut.",
    )
    max_business_attributes_per_span: int = Field(
        default=64,
        ge=1,
        description="Most distinct biz.* attributes one span may carry; a span with more is "
        "rejected and reported in the OTLP partial success.",
    )
    max_business_attributes_per_resource: int = Field(
        default=64,
        ge=0,
        description="Most biz.* attributes kept on one resource; the first ones are kept.",
    )
    max_request_row_bytes: int = Field(
        default=64 * 1024 * 1024,
        gt=0,
        description="Bytes the rows of one OTLP request may repeat of their resource and scope "
        "columns (their JSON once per span): above it the request gets 413 / RESOURCE_EXHAUSTED.",
    )
    max_concurrent_exports: int = Field(
        default=32,
        ge=1,
        description="OTLP export requests handled at once, HTTP and gRPC together; above it "
        "ingest answers 503 / UNAVAILABLE with Retry-After before reading the body.",
    )
    max_decoding_bytes: int = Field(
        default=256 * 1024 * 1024,
        gt=0,
        description="Bytes of OTLP request bodies (compressed and inflated) held at once by "
        "requests being read and decoded; above it 503 / UNAVAILABLE with Retry-After (a request "
        "alone is always admitted).",
    )
    spool_dir: Path | None = Field(
        default=None,
        description="Directory of the on-disk spool that holds batches ClickHouse did not take "
        "(and its quarantine). Default: `syncsight-spool` inside the data directory of a "
        "chdb:///path URL, else .syncsight/spool. A spool records its database and is refused "
        "at start-up by a service writing to another one.",
    )
    spool_max_bytes: int = Field(
        default=1024 * 1024 * 1024,
        gt=0,
        description="Spool size above which ingest answers 503 / UNAVAILABLE while ClickHouse is down.",
    )
    batch_min_rows: int = Field(
        default=20_000,
        gt=0,
        description="Queued spans that are written at once, without waiting for batch_max_wait_ms.",
    )
    batch_max_rows: int = Field(
        default=100_000,
        gt=0,
        description="Most spans in one insert. Fewer, larger inserts leave the engine fewer parts "
        "to merge; each span of this cap adds about 2-3 KiB to the peak memory.",
    )
    batch_max_wait_ms: int | Literal["auto"] = Field(
        default="auto",
        description="Longest a span waits for batch_min_rows to accumulate before its insert. "
        "auto: 2000 when ingest_acknowledge is journal (the sender is answered from the journal, "
        "so the wait only delays when the span can be queried, by at most this), 200 when it is "
        "insert (the sender waits with its span). Every insert costs the engine a fixed "
        "50-85 ms of CPU whatever its size, so fewer, larger inserts leave more CPU to readers "
        "and the evaluator.",
    )
    max_pending_spans: int = Field(
        default=200_000,
        gt=0,
        description="Spans held in memory awaiting their insert; above it ingest answers 503.",
    )
    ingest_ack_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="Longest an export request waits for its spans to become durable before it "
        "is answered 503 with Retry-After; a write or journal loop that has not come round for "
        "this long is reported stuck by /readyz.",
    )
    ingest_acknowledge: Literal["journal", "insert"] = Field(
        default="journal",
        description="When an OTLP export is answered. journal: once its spans are fsynced in "
        "the spool's journal, export requests arriving together sharing one fsync; the insert "
        "follows and the journal file is kept until the insert is durable (embedded parts are "
        "fsynced; see clickhouse_insert_quorum for a cluster). insert: only once inserted into "
        "ClickHouse, slower, but a sender learns when ClickHouse refused its spans.",
    )
    clickhouse_insert_quorum: int | Literal["auto"] = Field(
        default=0,
        description="For a ClickHouse server with replicated tables: replicas that must have "
        "written a span insert before it counts as durable and its journal file is deleted "
        "(ClickHouse insert_quorum; inserts through Distributed tables then wait for their "
        "shards). 0 or 1: off; auto: a majority of the replicas. Ignored by the embedded engine, "
        "whose parts are fsynced instead.",
    )

    api_tokens: ApiTokensSetting = Field(
        default_factory=ApiTokens,
        description="REST API bearer tokens and their roles: `TOKEN:ROLE` pairs separated by "
        "commas, ROLE one of viewer, auditor, operator, admin (admin ⊃ auditor ⊃ viewer, admin ⊃ "
        "operator ⊃ viewer: operators change work items), tokens of at least 16 characters, kept "
        "only as SHA-256 digests. An entry may start with `NAME=` (letters, digits, `.`, `_`, "
        "`-`): the name work item history records for that token (else its role and a digest "
        "prefix). Empty means local-only mode: reads "
        "need no token, requests that change state (the admin rebuild) are refused, and serve "
        "and demo refuse a non-loopback host. OTLP ingest is not affected (see ingest_tokens).",
    )
    api_read_max_seconds: float = Field(
        default=30.0,
        gt=0,
        description="Longest one ClickHouse read of the REST API (objects, lineage) may run; "
        "the answer is then 503 naming the limit. Ingest is never limited by it.",
    )
    api_read_max_memory_bytes: int = Field(
        default=1024 * 1024 * 1024,
        gt=0,
        description="Most memory one ClickHouse read of the REST API may use (max_memory_usage).",
    )
    api_read_max_result_rows: int = Field(
        default=1_000_000,
        gt=0,
        description="Most rows one ClickHouse read of the REST API may return (max_result_rows).",
    )
    lineage_max_nodes: int = Field(
        default=10_000,
        ge=1,
        description="Most events in one lineage answer (lineage, evidence pack, OCEL export); "
        "a request's max_nodes may ask for fewer. A lineage cut there says `truncated: true`.",
    )
    max_concurrent_heavy_answers: int = Field(
        default=4,
        ge=1,
        description="REST answers computed at once by the expensive reads (lineage, evidence, "
        "OCEL, completeness, SLAs and objectives, close risk, blocked invoices, the audit report, "
        "the work queue); above it they get 503 with Retry-After at once instead of queueing.",
    )
    api_url: str = Field(
        default="http://127.0.0.1:4318",
        description="Base URL of the syncsight REST API, for its clients (the dashboard).",
    )
    api_token: SecretStr = Field(
        default=SecretStr(""),
        description="Bearer token the CLI's API commands send to the REST API. Leave it unset for "
        "the dashboard: each user then signs in with their own token and the API applies their "
        "role (a viewer is told the Audit page needs an auditor); set, every visitor of the "
        "dashboard acts with this one token's role.",
    )
    dashboard_port: int = Field(
        default=8501,
        ge=1,
        le=65535,
        description="Port of the Streamlit dashboard (`syncsight dashboard`, `syncsight demo`).",
    )

    sla_interval: float = Field(
        default=15.0,
        gt=0,
        description="Seconds between two evaluations of every SLA timer by the service.",
    )
    python_heap_freeze_interval: float = Field(
        default=600.0,
        ge=0,
        description="Seconds between two full collections that refreeze the process's "
        "long-lived Python objects out of the garbage collector's full collections; between "
        "them, what becomes long-lived is frozen without a collection once 100,000 more objects "
        "are (at most once a minute). Without, every full collection walks the evaluator's open "
        "alerts: some 0.5 s with every request held, about one in a hundred large answers at 10M "
        "spans. 0: never (the collector's defaults).",
    )
    evaluator: Literal["auto", "off"] = Field(
        default="auto",
        description="auto: this process may evaluate SLAs and notify; among several `serve` "
        "processes on one database exactly one does at a time (a lease in ClickHouse, taken over "
        "within two SLA intervals when its holder stops). off: an ingest and API replica that "
        "never evaluates.",
    )
    state_settle_seconds: float = Field(
        default=5.0,
        ge=0,
        le=600,
        description="How far the SLA timer state trails the clock: rows stored in the last "
        "seconds are left to the next tick, so inserts in flight are never skipped. Answers "
        "for a known_at up to the state's watermark never change.",
    )
    alertmanager_url: str = Field(
        default="",
        description="Prometheus Alertmanager base URL (e.g. http://alertmanager:9093) to push SLA "
        "alerts to; overrides [notifications.alertmanager] of the config file. Empty: none.",
    )
    webhook_url: SecretStr = Field(
        default=SecretStr(""),
        description="URL that receives SLA alerts as Alertmanager webhook payloads (version 4); "
        "overrides [notifications.webhook]. Empty: none.",
    )
    slack_webhook_url: SecretStr = Field(
        default=SecretStr(""),
        description="Slack incoming-webhook URL for SLA alerts; overrides [notifications.slack].",
    )
    public_url: str = Field(
        default="",
        description="Base URL users reach this service at, for links in alerts (default: "
        "http://<host>:<port>); overrides [notifications] public_url.",
    )

    retention_raw_days: int = Field(
        default=400,
        ge=0,
        le=MAX_DAYS,
        description="Days raw spans (otel_traces, otel_traces_trace_id_ts, and the evidence "
        "packs' copies in evidence_spans) are kept, by span "
        "time; `syncsight migrate` (and start-up) set it as the tables' TTL. 0 keeps them "
        f"forever {_AT_MOST_DAYS}. 400 covers a fiscal year and the audit after it; evidence "
        "exports and rebuilds "
        "reach back only this far.",
    )
    retention_facts_days: int = Field(
        default=2557,
        ge=0,
        le=MAX_DAYS,
        description="Days business facts are kept: biz_events and biz_event_objects by event "
        "time, the sla_timers, close_items and event_dimensions state by knowledge time; a TTL "
        f"set by `syncsight migrate`. 0 keeps them forever {_AT_MOST_DAYS}. 2557 (7 years) matches common statutory retention of "
        "accounting records; raise it where the law asks for more (10 years in Germany).",
    )
    retention_alerts_days: int = Field(
        default=400,
        ge=0,
        le=MAX_DAYS,
        description="Days alert history (sla_alert_state) is kept after its last change; a TTL "
        f"set by `syncsight migrate`. 0 keeps it forever {_AT_MOST_DAYS}. An alert still firing after this long "
        "loses its record and is announced again.",
    )
    signing_key_file: Path | None = Field(
        default=None,
        description="PEM file of the Ed25519 private key that signs evidence roots and ledger "
        "tree heads (`syncsight ledger keygen --output signing-key.pem`, or `openssl genpkey "
        "-algorithm ed25519 -out signing-key.pem`); every replica "
        "of one database uses the same. Default: `signing-key.pem` in the data directory of a "
        "chdb:///path URL, else .syncsight/signing-key.pem, generated (owner-only) on first "
        "start: fine for development, not for production.",
    )

    allowed_hosts: str = Field(
        default="",
        description="Comma-separated names the HTTP service answers to in the `Host` header "
        "(`*.example.com` for subdomains, `*` for any); other requests get 400, which stops DNS "
        "rebinding from a web page. Empty: localhost, 127.0.0.1, ::1, the bind address (unless "
        "0.0.0.0 or ::) and the host of public_url.",
    )

    @property
    def batch_max_wait_seconds(self) -> float:
        """``batch_max_wait_ms`` in seconds, ``auto`` resolved by ``ingest_acknowledge``."""
        if self.batch_max_wait_ms != "auto":
            return self.batch_max_wait_ms / 1000
        if self.ingest_acknowledge == "journal":
            return JOURNAL_BATCH_WAIT_MS / 1000
        return INSERT_BATCH_WAIT_MS / 1000

    @property
    def insert_url(self) -> str:
        """``clickhouse_insert_url``, or ``clickhouse_url``."""
        return self.clickhouse_insert_url or self.clickhouse_url

    @property
    def read_url(self) -> str:
        """``clickhouse_read_url``, or ``clickhouse_url``."""
        return self.clickhouse_read_url or self.clickhouse_url

    @property
    def spool_directory(self) -> Path:
        """``spool_dir``, or its default for ``clickhouse_url``."""
        if self.spool_dir is not None:
            return self.spool_dir
        data_path = chdb_data_path(self.clickhouse_url)
        return data_path / "syncsight-spool" if data_path is not None else DATA_DIR / "spool"

    @property
    def retention(self) -> Retention:
        """The three retention settings, as ``migrate`` applies them."""
        return Retention(
            self.retention_raw_days, self.retention_facts_days, self.retention_alerts_days
        )

    @property
    def signing_key_path(self) -> Path:
        """``signing_key_file``, or its development default for ``clickhouse_url``."""
        if self.signing_key_file is not None:
            return self.signing_key_file
        data_path = chdb_data_path(self.clickhouse_url)
        return (data_path if data_path is not None else DATA_DIR) / "signing-key.pem"

    @property
    def api_token_grants(self) -> tuple[TokenGrant, ...]:
        """The digests and roles of ``api_tokens``."""
        return self.api_tokens.grants

    @property
    def allowed_host_names(self) -> frozenset[str]:
        """``allowed_hosts``, or its default for this bind address and public URL."""
        return allowed_hosts(
            parse_allowed_hosts(self.allowed_hosts), bind_host=self.host, public_url=self.public_url
        )

    @field_validator("allowed_hosts")
    @classmethod
    def _valid_hosts(cls, value: str) -> str:
        try:
            parse_allowed_hosts(value)
        except AllowedHostError as error:
            raise ValueError(f"SYNCSIGHT_ALLOWED_HOSTS={value!r}: {error}") from None
        return value

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # the ClickHouse URL may carry a password
        for name, value in super().__repr_args__():
            yield name, redact(value) if name in CLICKHOUSE_URL_FIELDS and value else value

    @field_validator("clickhouse_cluster")
    @classmethod
    def _cluster_identifier(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                Topology(value)
            except TopologyError:
                raise ValueError(
                    f"SYNCSIGHT_CLICKHOUSE_CLUSTER={value!r}: expected a cluster name of letters, "
                    "digits and _"
                ) from None
        return value

    @field_validator("clickhouse_insert_quorum", mode="before")
    @classmethod
    def _quorum(cls, value: Any) -> Any:
        return _auto_or_count(
            value, "SYNCSIGHT_CLICKHOUSE_INSERT_QUORUM", "0 (off), a number of replicas, or auto"
        )

    @field_validator("batch_max_wait_ms", mode="before")
    @classmethod
    def _batch_wait(cls, value: Any) -> Any:
        return _auto_or_count(
            value, "SYNCSIGHT_BATCH_MAX_WAIT_MS", "milliseconds (0 or more) or auto"
        )

    @field_validator("clickhouse_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        return validate_url(value)

    @model_validator(mode="after")
    def _same_embedded_engine(self) -> Settings:
        # chdb runs one engine per process: an embedded insert or read URL can only be the main one
        for name in ("clickhouse_insert_url", "clickhouse_read_url"):
            url: str | None = getattr(self, name)
            if url is None:
                continue
            try:
                validate_url(url)
            except ClickHouseURLError as error:
                raise ValueError(str(error).replace("CLICKHOUSE_URL", name.upper())) from None
            schemes = (urlsplit(url).scheme, urlsplit(self.clickhouse_url).scheme)
            if url != self.clickhouse_url and "chdb" in schemes:
                raise ValueError(
                    f"SYNCSIGHT_{name.upper()}={redact(url)!r}: expected the same URL as "
                    f"SYNCSIGHT_CLICKHOUSE_URL={redact(self.clickhouse_url)!r} or none, since "
                    "an embedded (chdb) engine has one data path per process; separate insert "
                    "and read users are for a ClickHouse server"
                )
        return self
