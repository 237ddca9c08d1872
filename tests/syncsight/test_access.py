"""API access control: token parsing, the rule table by path (also for endpoint families that other
packages add), the app's routes all covered, and a real service answering 401/403/200 by role."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.routing import Route

from collector.auth import IngestTokens
from domain import semconv as sc
from syncsight.access import (
    ACCESS_RULES,
    ApiTokenError,
    ApiTokens,
    Open,
    Role,
    UnprotectedBind,
    authorize,
    authorize_local,
    is_loopback,
    parse_api_tokens,
    require_tokens_for_bind,
    rule_for,
)
from syncsight.app import create_app
from syncsight.config_file import FileConfig
from syncsight.settings import Settings
from tests.service import Service, running_service, wait_until_inserted

VIEWER_TOKEN = "viewer-token-0123456789abcdef"
AUDITOR_TOKEN = "auditor-token-0123456789abcdef"
ADMIN_TOKEN = "admin:token:with:colons-0123456789"
OPERATOR_TOKEN = "operator-token-0123456789abcdef"
WRONG_TOKEN = "not-a-configured-token-0123456789"
INGEST_TOKEN = "ingest-token-0123456789abcdef"
API_TOKENS = (
    f"{VIEWER_TOKEN}:viewer, {AUDITOR_TOKEN}:auditor,{ADMIN_TOKEN}:admin,"
    f"dana.ops={OPERATOR_TOKEN}:operator"
)

CALLERS: dict[str, str | None] = {
    "no token": None,
    "wrong token": WRONG_TOKEN,
    "viewer": VIEWER_TOKEN,
    "auditor": AUDITOR_TOKEN,
    "operator": OPERATOR_TOKEN,
    "admin": ADMIN_TOKEN,
}
CALLER_ROLE: dict[str, Role | None] = {
    "no token": None,
    "wrong token": None,
    "viewer": Role.VIEWER,
    "auditor": Role.AUDITOR,
    "operator": Role.OPERATOR,
    "admin": Role.ADMIN,
}

# (method, path, least role) for every endpoint family, including those other packages add later.
FAMILIES: list[tuple[str, str, Role]] = [
    ("GET", "/metrics", Role.VIEWER),
    ("GET", "/openapi.json", Role.VIEWER),
    ("GET", "/docs", Role.VIEWER),
    ("GET", "/docs/oauth2-redirect", Role.VIEWER),
    ("GET", "/redoc", Role.VIEWER),
    ("GET", "/api/v1/objects/invoice/INV-1/events", Role.VIEWER),
    ("HEAD", "/api/v1/objects/invoice/INV-1/events", Role.VIEWER),
    ("GET", "/api/v1/lineage/invoice/INV-1", Role.VIEWER),
    ("GET", "/api/v1/lineage/invoice/INV-1/completeness", Role.VIEWER),
    ("GET", "/api/v1/lineage/invoice/INV-1/evidence", Role.AUDITOR),
    ("GET", "/api/v1/lineage/invoice/INV-1/evidence/bundle.zip", Role.AUDITOR),
    ("GET", "/api/v1/lineage/invoice/INV-1/ocel", Role.AUDITOR),
    ("GET", "/api/v1/impact/invoice/INV-1", Role.VIEWER),
    ("GET", "/api/v1/impact/blocked-invoices", Role.VIEWER),
    ("GET", "/api/v1/slas", Role.VIEWER),
    ("GET", "/api/v1/slas/time-to-invoice-posting/timers", Role.VIEWER),
    ("GET", "/api/v1/close-risk", Role.VIEWER),
    ("GET", "/api/v1/close-risk/LE-US01/2026-10", Role.VIEWER),
    ("GET", "/api/v1/alerts", Role.VIEWER),
    ("GET", "/api/v1/work-items", Role.VIEWER),
    ("GET", "/api/v1/work-items/wi-0123", Role.VIEWER),
    ("POST", "/api/v1/work-items/wi-0123/acknowledge", Role.OPERATOR),
    ("POST", "/api/v1/work-items/wi-0123/resolve", Role.OPERATOR),
    ("POST", "/api/v1/admin/rebuild", Role.ADMIN),
    ("POST", "/api/v1/admin/anything-new", Role.ADMIN),
]


HTTP_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def expected_status(least: Role, role: Role | None) -> int:
    if role is None:
        return 401
    return 200 if role.covers(least) else 403


def bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


class TestTokenFormat:
    def test_entries_map_tokens_to_roles_and_blanks_are_ignored(self) -> None:
        """Comma-separated TOKEN:ROLE pairs; spaces and empty entries do not matter."""
        tokens = ApiTokens(parse_api_tokens(API_TOKENS))
        assert [tokens.role_of(f"Bearer {t}") for t in (VIEWER_TOKEN, AUDITOR_TOKEN)] == [
            Role.VIEWER,
            Role.AUDITOR,
        ]

    def test_the_role_is_after_the_last_colon(self) -> None:
        """A token may contain colons: only the text after the last one is the role."""
        tokens = ApiTokens(parse_api_tokens(f"{ADMIN_TOKEN}:ADMIN"))
        assert tokens.role_of(f"Bearer {ADMIN_TOKEN}") is Role.ADMIN

    def test_a_named_entry_gives_its_token_a_name_and_others_a_digest_label(self) -> None:
        """``NAME=TOKEN:ROLE`` names the actor work item history records; an unnamed token is
        its role and a digest prefix, never the token."""
        tokens = ApiTokens(parse_api_tokens(API_TOKENS))
        named = tokens.grant_of(f"Bearer {OPERATOR_TOKEN}")
        unnamed = tokens.grant_of(f"Bearer {ADMIN_TOKEN}")
        assert named is not None
        assert unnamed is not None
        assert (named.role, named.actor) == (Role.OPERATOR, "dana.ops")
        assert unnamed.actor == "sha256:" + hashlib.sha256(ADMIN_TOKEN.encode()).hexdigest()[:12]
        assert ADMIN_TOKEN not in unnamed.actor

    @pytest.mark.parametrize(
        ("role", "covered"),
        [
            (Role.VIEWER, {Role.VIEWER}),
            (Role.AUDITOR, {Role.VIEWER, Role.AUDITOR}),
            (Role.OPERATOR, {Role.VIEWER, Role.OPERATOR}),
            (Role.ADMIN, set(Role)),
        ],
    )
    def test_operator_and_auditor_are_both_above_viewer_and_below_admin(
        self, role: Role, covered: set[Role]
    ) -> None:
        """The roles are a lattice: an operator may not read evidence, an auditor may not act."""
        assert {other for other in Role if role.covers(other)} == covered

    def test_empty_text_configures_no_token(self) -> None:
        """An empty variable is local-only mode."""
        assert not ApiTokens(parse_api_tokens(" , ")).enabled

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("abcdefghijklmnopqrstuv", "entry 1: expected TOKEN:ROLE"),
            (
                f"{VIEWER_TOKEN}:viewer,abcdefghijklmnopqrst:editor",
                "entry 2: unknown role 'editor'",
            ),
            (":viewer", "entry 1 (viewer): the token before the colon is empty"),
            ("short-secret:auditor", "entry 1 (auditor): the token has 12 characters"),
            ("abcdefgh ijklmnopqrst:admin", "entry 1 (admin): the token contains whitespace"),
            (f"{VIEWER_TOKEN}:viewer,{VIEWER_TOKEN}:admin", "entries 1 and 2 use the same token"),
        ],
    )
    def test_bad_entries_are_named_without_echoing_the_token(self, text: str, message: str) -> None:
        """The error names the entry and the rule, and never contains the secret."""
        with pytest.raises(ApiTokenError) as error:
            parse_api_tokens(text)
        assert message in str(error.value)
        secrets = [part.rpartition(":")[0] for part in text.split(",") if ":" in part]
        for secret in filter(None, secrets):
            assert secret not in str(error.value)

    def test_settings_reject_a_bad_entry_without_showing_it(self) -> None:
        """Settings validation names the variable and hides the value, also in the error text."""
        with pytest.raises(ValueError, match="SYNCSIGHT_API_TOKENS=<hidden>: entry 1") as error:
            Settings(api_tokens="short-secret:viewer")
        assert "short-secret" not in str(error.value)


class TestTokenLookup:
    tokens = ApiTokens(parse_api_tokens(API_TOKENS))

    @pytest.mark.parametrize(
        ("authorization", "role"),
        [
            (f"Bearer {AUDITOR_TOKEN}", Role.AUDITOR),
            (f"bearer {VIEWER_TOKEN}", Role.VIEWER),
            (f"Bearer  {VIEWER_TOKEN} ", Role.VIEWER),
            (f"Bearer {WRONG_TOKEN}", None),
            (f"Bearer {VIEWER_TOKEN[:-1]}", None),
            (f"Basic {VIEWER_TOKEN}", None),
            (VIEWER_TOKEN, None),
            ("Bearer ", None),
            (None, None),
        ],
    )
    def test_only_a_configured_bearer_token_has_a_role(
        self, authorization: str | None, role: Role | None
    ) -> None:
        """The scheme is Bearer (any case); prefixes and other schemes have no role."""
        assert self.tokens.role_of(authorization) is role


class TestRuleTable:
    @pytest.mark.parametrize("caller", CALLERS)
    @pytest.mark.parametrize(("method", "path", "least"), FAMILIES)
    def test_every_family_answers_by_role(
        self, method: str, path: str, least: Role, caller: str
    ) -> None:
        """401 without a valid token, 403 below the family's role, allowed at or above it."""
        decision = authorize(method, path, CALLER_ROLE[caller])
        assert decision.status == expected_status(least, CALLER_ROLE[caller]), decision.message

    @pytest.mark.parametrize("caller", CALLERS)
    @pytest.mark.parametrize(
        ("method", "path"),
        [("GET", "/healthz"), ("GET", "/readyz"), ("POST", "/v1/traces")],
    )
    def test_probes_and_ingest_need_no_api_token(self, method: str, path: str, caller: str) -> None:
        """Health probes are open and OTLP ingest is left to SYNCSIGHT_INGEST_TOKENS."""
        assert authorize(method, path, CALLER_ROLE[caller]).allowed

    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("GET", "/api/v1/unknown-family"),
            ("GET", "/api/v2/objects/invoice/INV-1/events"),
            ("POST", "/api/v1/slas"),
            ("POST", "/api/v1/work-items"),
            ("DELETE", "/api/v1/work-items/wi-0123"),
            ("DELETE", "/api/v1/alerts/a1"),
            ("POST", "/api/v1/lineage/invoice/INV-1/evidence"),
            ("GET", "/api/v1/lineage/invoice/../evidence"),
            ("GET", "/favicon.ico"),
            ("POST", "/healthz"),
        ],
    )
    def test_anything_without_a_rule_is_denied_even_to_admin(self, method: str, path: str) -> None:
        """Deny by default: unknown paths and unlisted methods are 403 for every role."""
        assert rule_for(method, path) is None
        decision = authorize(method, path, Role.ADMIN)
        assert decision.status == 403
        assert "no access rule covers" in decision.message
        assert authorize(method, path, None).status == 401

    def test_evidence_is_not_shadowed_by_the_lineage_graph_rule(self) -> None:
        """Order matters: the auditor rules come before the general lineage rule."""
        rule = rule_for("GET", "/api/v1/lineage/invoice/INV-1/evidence")
        assert rule is not None
        assert rule.requirement is Role.AUDITOR

    def test_the_forbidden_message_names_the_needed_and_the_given_role(self) -> None:
        """A 403 says which role the path needs and which role the token has."""
        decision = authorize("GET", "/api/v1/lineage/invoice/INV-1/ocel", Role.VIEWER)
        assert decision.status == 403
        assert "needs role auditor" in decision.message
        assert "this token is viewer" in decision.message

    def test_every_route_of_the_app_is_covered_by_a_rule(
        self, chdb_url: str, tmp_path: Path
    ) -> None:
        """No endpoint of create_app is left to deny-by-default: each has a rule of its own."""
        app = create_app(
            Settings(clickhouse_url=chdb_url, spool_dir=tmp_path / "spool"), FileConfig()
        )
        # the OpenAPI document lists every API route, also those of included routers
        endpoints = [
            (method.upper(), path)
            for path, operations in app.openapi()["paths"].items()
            for method in operations
            if method.upper() in HTTP_METHODS
        ]
        endpoints += [
            (method, route.path)
            for route in app.routes
            if isinstance(route, Route)
            for method in sorted(route.methods or ())
        ]
        assert ("POST", "/api/v1/admin/rebuild") in endpoints
        assert ("GET", "/api/v1/objects/{object_type}/{object_id}/events") in endpoints
        uncovered = [f"{m} {p}" for m, p in endpoints if rule_for(m, p) is None]
        assert uncovered == [], "add rules for these routes to ACCESS_RULES in syncsight/access.py"

    def test_open_rules_are_only_the_probes_and_ingest(self) -> None:
        """Exactly /healthz, /readyz and /v1/traces skip the API token check."""
        assert {rule.pattern for rule in ACCESS_RULES if isinstance(rule.requirement, Open)} == {
            "/healthz",
            "/readyz",
            "/v1/traces",
        }


class TestLocalOnlyMode:
    @pytest.mark.parametrize(
        ("host", "loopback"),
        [
            ("127.0.0.1", True),
            ("127.1.2.3", True),
            ("::1", True),
            ("[::1]", True),
            ("localhost", True),
            ("0.0.0.0", False),
            ("::", False),
            ("10.0.0.5", False),
            ("syncsight.internal", False),
        ],
    )
    def test_loopback_addresses_are_recognised(self, host: str, loopback: bool) -> None:
        """Only loopback addresses count as local."""
        assert is_loopback(host) is loopback

    @pytest.mark.parametrize(
        ("api_tokens", "ingest_tokens", "named"),
        [
            (False, False, ["SYNCSIGHT_API_TOKENS", "SYNCSIGHT_INGEST_TOKENS"]),
            (True, False, ["SYNCSIGHT_INGEST_TOKENS"]),
            (False, True, ["SYNCSIGHT_API_TOKENS"]),
        ],
    )
    def test_a_public_bind_needs_api_and_ingest_tokens(
        self, api_tokens: bool, ingest_tokens: bool, named: list[str]
    ) -> None:
        """0.0.0.0 needs both kinds of token; the error names exactly the missing settings."""
        with pytest.raises(UnprotectedBind) as error:
            require_tokens_for_bind("0.0.0.0", api_tokens=api_tokens, ingest_tokens=ingest_tokens)
        for setting in ("SYNCSIGHT_API_TOKENS", "SYNCSIGHT_INGEST_TOKENS"):
            assert (f"{setting} is empty" in str(error.value)) is (setting in named)

    def test_loopback_or_both_tokens_may_bind(self) -> None:
        """Loopback needs no token; any address with both kinds of token is allowed."""
        require_tokens_for_bind("127.0.0.1", api_tokens=False, ingest_tokens=False)
        require_tokens_for_bind("0.0.0.0", api_tokens=True, ingest_tokens=True)

    @pytest.mark.parametrize(
        ("method", "path", "status"),
        [
            ("GET", "/api/v1/slas", 200),
            ("HEAD", "/api/v1/objects/invoice/INV-1/events", 200),
            ("OPTIONS", "/api/v1/admin/rebuild", 200),
            ("GET", "/healthz", 200),
            ("POST", "/v1/traces", 200),
            ("POST", "/api/v1/admin/rebuild", 401),
            ("PUT", "/api/v1/slas", 401),
            ("DELETE", "/api/v1/alerts/a1", 401),
            ("PATCH", "/anything", 401),
        ],
    )
    def test_without_tokens_only_reads_and_ingest_pass(
        self, method: str, path: str, status: int
    ) -> None:
        """Local-only mode: a request that changes state needs a token, which this mode lacks."""
        decision = authorize_local(method, path)
        assert decision.status == status
        if status == 401:
            assert "SYNCSIGHT_API_TOKENS is empty" in decision.message


class TestTokensAreHashed:
    def test_settings_keep_no_plain_token(self) -> None:
        """After parsing, neither the settings object nor its pickle holds an API or ingest token."""
        settings = Settings(api_tokens=API_TOKENS, ingest_tokens=f"{INGEST_TOKEN}, other-token")
        kept = pickle.dumps(settings) + repr(settings).encode()
        for token in (VIEWER_TOKEN, AUDITOR_TOKEN, ADMIN_TOKEN, INGEST_TOKEN, "other-token"):
            assert token.encode() not in kept
        assert settings.ingest_tokens.allows(f"Bearer {INGEST_TOKEN}")
        assert not settings.ingest_tokens.allows(f"Bearer {INGEST_TOKEN}x")
        assert ApiTokens(settings.api_token_grants).role_of(f"Bearer {ADMIN_TOKEN}") is Role.ADMIN

    def test_the_reprs_count_tokens_and_show_none(self) -> None:
        """repr says how many tokens there are, never a token or a digest."""
        settings = Settings(api_tokens=API_TOKENS, ingest_tokens=INGEST_TOKEN)
        assert repr(settings.api_tokens) == "ApiTokens(<4 hashed>)"
        assert repr(settings.ingest_tokens) == "IngestTokens(<1 hashed>)"

    @pytest.mark.parametrize(
        ("authorization", "allowed"),
        [
            (f"Bearer {INGEST_TOKEN}", True),
            (f"bearer  {INGEST_TOKEN} ", True),
            (f"Bearer {INGEST_TOKEN[:-1]}", False),
            (f"Basic {INGEST_TOKEN}", False),
            (INGEST_TOKEN, False),
            ("Bearer ", False),
            (None, False),
        ],
    )
    def test_only_a_configured_ingest_token_is_allowed(
        self, authorization: str | None, allowed: bool
    ) -> None:
        """Ingest tokens follow the same bearer rules as API tokens."""
        assert IngestTokens.parse(f" ,{INGEST_TOKEN},").allows(authorization) is allowed

    def test_no_ingest_token_configured_allows_everyone(self) -> None:
        """Loopback-only ingest without tokens stays open, as before."""
        assert IngestTokens.parse(" , ").allows(None)

    def test_a_bad_ingest_token_entry_is_named_without_echoing_it(self) -> None:
        """Whitespace inside a token is refused by position; the value is hidden."""
        with pytest.raises(ValueError, match="SYNCSIGHT_INGEST_TOKENS=<hidden>: entry 2") as error:
            Settings(ingest_tokens=f"{INGEST_TOKEN},two halves")
        assert "two halves" not in str(error.value)


SYNCSIGHT = shutil.which("syncsight", path=str(Path(sys.executable).parent))


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    assert SYNCSIGHT, "the syncsight console script is not installed in this environment"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SYNCSIGHT_")}
    return subprocess.run(
        [SYNCSIGHT, *args],
        capture_output=True,
        text=True,
        env={**clean, "SYNCSIGHT_CLICKHOUSE_URL": "chdb://memory", **env},
        timeout=120,
        check=False,
    )


class TestCommandLine:
    @pytest.mark.parametrize("command", ["serve", "demo"])
    @pytest.mark.parametrize(
        ("args", "env"), [(["--host", "0.0.0.0"], {}), ([], {"SYNCSIGHT_HOST": "10.1.2.3"})]
    )
    def test_a_public_bind_without_tokens_stops_with_one_line(
        self, command: str, args: list[str], env: dict[str, str]
    ) -> None:
        """serve and demo refuse a non-loopback address without tokens: one line, exit 2."""
        result = run_cli(command, *args, env=env)
        assert result.returncode == 2
        message = " ".join(result.stderr.split())
        assert "is not a loopback address and SYNCSIGHT_API_TOKENS is empty" in message
        assert "SYNCSIGHT_INGEST_TOKENS is empty" in message
        assert len(result.stderr.strip().splitlines()) <= 2  # one line, wrapped at most once

    def test_a_public_bind_with_api_tokens_only_names_the_ingest_tokens(self) -> None:
        """API tokens alone do not open a public bind: OTLP ingest needs its own tokens."""
        result = run_cli("serve", "--host", "0.0.0.0", env={"SYNCSIGHT_API_TOKENS": API_TOKENS})
        assert result.returncode == 2
        message = " ".join(result.stderr.split())
        assert "is not a loopback address and SYNCSIGHT_INGEST_TOKENS is empty" in message
        assert "SYNCSIGHT_API_TOKENS" not in message
        assert VIEWER_TOKEN not in result.stderr + result.stdout

    def test_a_bad_token_entry_stops_serve_without_printing_the_token(self) -> None:
        """The CLI names the entry and hides the secret."""
        result = run_cli("serve", env={"SYNCSIGHT_API_TOKENS": "leaked-secret:editor"})
        assert result.returncode == 2
        assert "SYNCSIGHT_API_TOKENS=<hidden>: entry 1: unknown role 'editor'" in " ".join(
            result.stderr.split()
        )
        assert "leaked-secret" not in result.stderr + result.stdout


def otlp_invoice_body(invoice_id: str) -> bytes:
    """One invoice.posted business span as OTLP JSON."""
    span = {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": "eee19b7ec3c1b174",
        "name": "erp.invoice.post",
        "kind": 3,
        "startTimeUnixNano": "1767225600000000000",
        "endTimeUnixNano": "1767225600500000000",
        "attributes": [
            {"key": sc.EVENT_TYPE, "value": {"stringValue": sc.INVOICE_POSTED}},
            {"key": sc.EVENT_ID, "value": {"stringValue": f"{invoice_id}-post"}},
            {"key": sc.object_id_key(sc.INVOICE), "value": {"stringValue": invoice_id}},
        ],
        "status": {"code": 1},
    }
    body = {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}
    return json.dumps(body).encode()


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A service with API tokens and an ingest token, holding one invoice event."""
    env = {
        "SYNCSIGHT_API_TOKENS": API_TOKENS,
        "SYNCSIGHT_INGEST_TOKENS": INGEST_TOKEN,
        "SYNCSIGHT_BATCH_MAX_WAIT_MS": "20",
        "SYNCSIGHT_ALLOWED_HOSTS": "127.0.0.1, *.example.test",
    }
    with running_service(tmp_path_factory.mktemp("access"), env=env) as service:
        answer = httpx.post(
            f"{service.base_url}/v1/traces",
            content=otlp_invoice_body("INV-A1"),
            headers={"Content-Type": "application/json", **bearer(INGEST_TOKEN)},
        )
        assert answer.status_code == 200, answer.text
        wait_until_inserted(service, headers=bearer(VIEWER_TOKEN))
        yield service


SERVICE_ENDPOINTS: list[tuple[str, str, Role | None, int | None]] = [
    # (method, path, least role or None when open, status once allowed; None: the owning
    # package's answer, whatever it is, as long as access control let the request through)
    ("GET", "/healthz", None, 200),
    ("GET", "/readyz", None, 200),
    ("GET", "/metrics", Role.VIEWER, 200),
    ("GET", "/openapi.json", Role.VIEWER, 200),
    ("GET", "/docs", Role.VIEWER, 200),
    ("GET", "/api/v1/me", Role.VIEWER, 200),
    ("GET", "/api/v1/objects/invoice/INV-A1/events", Role.VIEWER, 200),
    ("GET", "/api/v1/objects/invoice/INV-NONE/events", Role.VIEWER, 404),
    ("GET", "/api/v1/lineage/invoice/INV-A1/evidence", Role.AUDITOR, None),
    ("GET", "/api/v1/work-items", Role.VIEWER, 200),
    ("POST", "/api/v1/work-items/wi-000000000000000000000000/acknowledge", Role.OPERATOR, 404),
    ("POST", "/api/v1/admin/rebuild", Role.ADMIN, 200),
]


class TestRunningService:
    @pytest.mark.parametrize("caller", CALLERS)
    @pytest.mark.parametrize(("method", "path", "least", "allowed_status"), SERVICE_ENDPOINTS)
    def test_each_endpoint_answers_by_role(
        self,
        secured: Service,
        method: str,
        path: str,
        least: Role | None,
        allowed_status: int | None,
        caller: str,
    ) -> None:
        """Real HTTP: 401 without a valid token, 403 below the role, the endpoint's answer above."""
        response = httpx.request(
            method, f"{secured.base_url}{path}", headers=bearer(CALLERS[caller]), timeout=60
        )
        gate = 200 if least is None else expected_status(least, CALLER_ROLE[caller])
        if gate == 200 and allowed_status is None:
            assert response.status_code not in (401, 403), response.text
            return
        expected = allowed_status if gate == 200 else gate
        assert response.status_code == expected, response.text
        if expected == 401:
            assert response.headers["www-authenticate"].startswith("Bearer")

    def test_admin_rebuild_re_derives_the_stored_events(self, secured: Service) -> None:
        """The rebuild reads the stored span and derives its event and object references again,
        the event known from when it was first stored (no new knowledge)."""
        response = httpx.post(
            f"{secured.base_url}/api/v1/admin/rebuild", headers=bearer(ADMIN_TOKEN), timeout=60
        )
        assert response.status_code == 200
        counts = ("spans", "events", "new_knowledge")
        assert {k: response.json()[k] for k in counts} == {
            "spans": 1,
            "events": 1,
            "new_knowledge": 0,
        }
        events = httpx.get(
            f"{secured.base_url}/api/v1/objects/invoice/INV-A1/events",
            headers=bearer(VIEWER_TOKEN),
        )
        assert [e["event_id"] for e in events.json()] == ["INV-A1-post"]

    @pytest.mark.parametrize(
        ("token", "status"), [(ADMIN_TOKEN, 401), (INGEST_TOKEN, 200), (None, 401)]
    )
    def test_ingest_uses_its_own_tokens_not_api_tokens(
        self, secured: Service, token: str | None, status: int
    ) -> None:
        """/v1/traces accepts the ingest token only; an API admin token does not open it."""
        response = httpx.post(
            f"{secured.base_url}/v1/traces",
            content=b"{}",
            headers={"Content-Type": "application/json", **bearer(token)},
        )
        assert response.status_code == status

    def test_tokens_never_reach_the_log(self, secured: Service) -> None:
        """Neither configured nor presented tokens appear in the service's log."""
        httpx.get(f"{secured.base_url}/api/v1/slas", headers=bearer(WRONG_TOKEN))
        log = secured.log()
        assert "denied GET /api/v1/slas: 401" in log
        for token in (
            VIEWER_TOKEN,
            AUDITOR_TOKEN,
            OPERATOR_TOKEN,
            ADMIN_TOKEN,
            WRONG_TOKEN,
            INGEST_TOKEN,
        ):
            assert token not in log

    @pytest.mark.parametrize(
        ("host", "status"),
        [
            ("api.example.test", 200),
            ("api.example.test:8080", 200),
            ("example.test", 400),
            ("localhost", 400),  # an explicit list replaces the default
            ("attacker.example", 400),
        ],
    )
    def test_a_configured_host_list_replaces_the_default(
        self, secured: Service, host: str, status: int
    ) -> None:
        """SYNCSIGHT_ALLOWED_HOSTS: listed names and *.domain subdomains only."""
        response = httpx.get(
            f"{secured.base_url}/api/v1/slas", headers={"Host": host, **bearer(VIEWER_TOKEN)}
        )
        assert response.status_code == status, response.text


@pytest.fixture(scope="module")
def local_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A service with no token of either kind (local-only mode, loopback bind)."""
    with running_service(tmp_path_factory.mktemp("local")) as service:
        yield service


class TestLocalOnlyService:
    def test_the_admin_rebuild_needs_a_token_even_on_loopback(self, local_only: Service) -> None:
        """A web page's cross-site POST to 127.0.0.1 cannot rebuild: 401 naming the setting."""
        response = httpx.post(f"{local_only.base_url}/api/v1/admin/rebuild", timeout=60)
        assert response.status_code == 401
        assert "SYNCSIGHT_API_TOKENS is empty" in response.json()["detail"]
        assert "admin: re-deriving" not in local_only.log()

    @pytest.mark.parametrize("path", ["/api/v1/slas", "/healthz", "/openapi.json"])
    def test_reads_need_no_token(self, local_only: Service, path: str) -> None:
        """Local-only mode still answers reads without a token."""
        assert httpx.get(f"{local_only.base_url}{path}", timeout=60).status_code == 200

    def test_ingest_needs_no_token_on_loopback(self, local_only: Service) -> None:
        """OTLP ingest keeps its own rule: without ingest tokens, loopback senders may export."""
        response = httpx.post(
            f"{local_only.base_url}/v1/traces",
            content=otlp_invoice_body("INV-L1"),
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 200, response.text

    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("GET", "/healthz"),
            ("GET", "/api/v1/slas"),
            ("POST", "/v1/traces"),
            ("POST", "/api/v1/admin/rebuild"),
        ],
    )
    def test_a_foreign_host_name_reaches_nothing(
        self, local_only: Service, method: str, path: str
    ) -> None:
        """DNS rebinding: a page's own name in Host gets 400 before any route or token check."""
        response = httpx.request(
            method,
            f"{local_only.base_url}{path}",
            headers={"Host": "rebound.attacker.example", "Content-Type": "application/json"},
            content=b"{}" if method == "POST" else None,
        )
        assert response.status_code == 400
        assert "SYNCSIGHT_ALLOWED_HOSTS" in response.json()["detail"]

    @pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]"])
    def test_loopback_names_are_allowed_by_default(self, local_only: Service, host: str) -> None:
        """The default list holds the loopback names, with or without the port."""
        port = local_only.base_url.rsplit(":", 1)[1]
        for header in (host, f"{host}:{port}"):
            response = httpx.get(f"{local_only.base_url}/healthz", headers={"Host": header})
            assert response.status_code == 200, header
