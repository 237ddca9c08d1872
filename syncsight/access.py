"""Who may call what: REST API bearer tokens mapped to roles (``SYNCSIGHT_API_TOKENS``), the one
table that maps every path to the least access it needs, and the ASGI middleware that enforces it.
Roles: admin ⊃ auditor ⊃ viewer and admin ⊃ operator ⊃ viewer (an auditor reads evidence, an operator
changes work items; neither may do the other's); a path no rule covers is denied to everyone."""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from starlette.authentication import AuthCredentials, BaseUser
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from collector.auth import bearer_credential, matching_digest, token_digest
from lineage.ledger import REQUESTER_STATE, Requester

logger = logging.getLogger(__name__)

MIN_TOKEN_LENGTH = 16


class Role(Enum):
    """A token's role. Not a line but a small lattice: viewer < auditor < admin and viewer <
    operator < admin, so ``covers`` (never an ordering) says whether a role may act as another."""

    VIEWER = "viewer"
    AUDITOR = "auditor"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        return self.value

    def covers(self, required: Role) -> bool:
        """Whether this role may do what ``required`` may."""
        return self is required or self is Role.ADMIN or required is Role.VIEWER


class Open(Enum):
    """Paths that need no API token."""

    PUBLIC = "public"  # probes: anyone who can reach the port
    INGEST = "ingest"  # OTLP: guarded by SYNCSIGHT_INGEST_TOKENS in collector/auth.py instead


Requirement = Role | Open

READ = frozenset({"GET", "HEAD"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
"""Methods that never change state; every other one needs a token, in local-only mode too."""
ANY_METHOD: frozenset[str] = frozenset()


@dataclass(frozen=True)
class AccessRule:
    """Requests whose method and path match ``pattern`` need ``requirement``.

    Pattern segments: a literal, ``{name}`` for exactly one segment, and a final ``**`` for zero or
    more segments. An empty ``methods`` set matches every method.
    """

    pattern: str
    requirement: Requirement
    methods: frozenset[str]
    reason: str

    def matches(self, method: str, path: str) -> bool:
        if self.methods and method.upper() not in self.methods:
            return False
        wanted = _segments(self.pattern)
        given = _segments(path)
        if any(segment in _UNSAFE_SEGMENTS for segment in given):
            return False  # never guess what a proxy or router makes of "..", "." or "//"
        if wanted and wanted[-1] == "**":
            wanted = wanted[:-1]
            if len(given) < len(wanted):
                return False
            given = given[: len(wanted)]
        elif len(given) != len(wanted):
            return False
        return all(_segment_matches(w, g) for w, g in zip(wanted, given, strict=True))

    @property
    def requirement_label(self) -> str:
        return (
            self.requirement.label if isinstance(self.requirement, Role) else self.requirement.value
        )


def _segments(path: str) -> tuple[str, ...]:
    return tuple(path.strip("/").split("/")) if path.strip("/") else ()


_UNSAFE_SEGMENTS = frozenset({"", ".", ".."})


def _segment_matches(wanted: str, given: str) -> bool:
    """A literal matches itself; ``{name}`` matches any one segment."""
    return (wanted.startswith("{") and wanted.endswith("}")) or wanted == given


ACCESS_RULES: tuple[AccessRule, ...] = (
    # operational endpoints
    AccessRule("/healthz", Open.PUBLIC, READ, "liveness probe; says only that the process is up"),
    AccessRule("/readyz", Open.PUBLIC, READ, "readiness probe for load balancers and compose"),
    AccessRule(
        "/v1/traces",
        Open.INGEST,
        ANY_METHOD,
        "OTLP/HTTP ingest: SYNCSIGHT_INGEST_TOKENS (collector/auth.py), not API tokens",
    ),
    AccessRule("/metrics", Role.VIEWER, READ, "ingest volumes and error counts"),
    AccessRule("/openapi.json", Role.VIEWER, READ, "the API description"),
    AccessRule("/docs/**", Role.VIEWER, READ, "Swagger UI"),
    AccessRule("/redoc", Role.VIEWER, READ, "ReDoc"),
    # REST API families: more specific patterns first (the first match wins)
    AccessRule("/api/v1/me", Role.VIEWER, READ, "who the caller's token is, and its role"),
    AccessRule("/api/v1/objects/**", Role.VIEWER, READ, "business events of an object"),
    AccessRule(
        "/api/v1/lineage/{type}/{id}/evidence/**",
        Role.AUDITOR,
        READ,
        "evidence bundles: raw span attributes, status messages, hashes",
    ),
    AccessRule(
        "/api/v1/lineage/{type}/{id}/ocel/**",
        Role.AUDITOR,
        READ,
        "OCEL 2.0 export: the object's whole event log in bulk",
    ),
    AccessRule(
        "/api/v1/lineage/**",
        Role.VIEWER,
        READ,
        "lineage graphs and completeness: the object ids and outcomes viewers already see",
    ),
    AccessRule(
        "/api/v1/audit/**",
        Role.AUDITOR,
        READ,
        "completeness-and-accuracy reports: every interface's items, amounts and differences",
    ),
    AccessRule(
        "/api/v1/ocel/**",
        Role.AUDITOR,
        READ,
        "OCEL 2.0 export of a period or legal entity: every event and object in bulk",
    ),
    AccessRule("/api/v1/impact/**", Role.VIEWER, READ, "downstream impact, blocked invoices"),
    AccessRule("/api/v1/slas/**", Role.VIEWER, READ, "SLA definitions and timers"),
    AccessRule("/api/v1/close-risk/**", Role.VIEWER, READ, "close risk per legal entity"),
    AccessRule("/api/v1/alerts/**", Role.VIEWER, READ, "active and recent alerts"),
    AccessRule("/api/v1/telemetry/**", Role.VIEWER, READ, "silence of telemetry streams"),
    AccessRule("/api/v1/work-items/**", Role.VIEWER, READ, "the work queue and item history"),
    AccessRule(
        "/api/v1/work-items/{id}/{action}",
        Role.OPERATOR,
        frozenset({"POST"}),
        "acknowledge, assign, snooze, comment on, resolve and reopen work items",
    ),
    AccessRule(
        "/api/v1/ledger/downloads/**",
        Role.ADMIN,
        READ,
        "the access trail: which token downloaded which evidence, OCEL export or report",
    ),
    AccessRule(
        "/api/v1/ledger/**",
        Role.VIEWER,
        READ,
        "the signing key and signed tree heads: hashes an auditor checks packs against",
    ),
    AccessRule(
        "/api/v1/admin/**",
        Role.ADMIN,
        ANY_METHOD,
        "rebuild, sealing a ledger day, other operations",
    ),
)
"""The access table. Anything it does not cover, under /api/ or elsewhere, is denied."""


def rule_for(
    method: str, path: str, rules: Sequence[AccessRule] = ACCESS_RULES
) -> AccessRule | None:
    """The first rule matching ``method`` and ``path``, or None (denied)."""
    return next((rule for rule in rules if rule.matches(method, path)), None)


@dataclass(frozen=True)
class Decision:
    """The outcome for one request: 200 (let it through), 401 or 403 with a reason."""

    status: int
    message: str = ""

    @property
    def allowed(self) -> bool:
        return self.status == 200


def authorize(
    method: str, path: str, role: Role | None, rules: Sequence[AccessRule] = ACCESS_RULES
) -> Decision:
    """Decide a request from the caller's role (None: no valid token) and the access table."""
    rule = rule_for(method, path, rules)
    if rule is not None and isinstance(rule.requirement, Open):
        return Decision(200)
    if role is None:
        return Decision(401, "missing or invalid bearer token (Authorization: Bearer <token>)")
    if rule is None:
        return Decision(403, f"no access rule covers {method.upper()} {path}; denied to every role")
    if isinstance(rule.requirement, Role) and not role.covers(rule.requirement):
        return Decision(
            403,
            f"{method.upper()} {path} needs role {rule.requirement.label}; this token is "
            f"{role.label}",
        )
    return Decision(200)


class ApiTokenError(ValueError):
    """An ``SYNCSIGHT_API_TOKENS`` entry that cannot be used; the message never shows a token."""


@dataclass(frozen=True)
class TokenGrant:
    """One configured token, kept only as its SHA-256 digest, its role and the name that work
    item history records for it."""

    digest: bytes
    role: Role
    name: str = ""

    @property
    def actor(self) -> str:
        """Who the token is, in work item history and the access trail: its configured name, else
        the first 12 hex digits of its SHA-256 (``printf %s TOKEN | sha256sum``), which identify
        it without revealing it."""
        return self.name or f"sha256:{self.digest.hex()[:12]}"


TOKEN_NAME = re.compile(r"^([A-Za-z][A-Za-z0-9._-]{0,63})=")
"""An optional ``NAME=`` before a token: who the token is, in work item history."""


def parse_api_tokens(text: str) -> tuple[TokenGrant, ...]:
    """``"TOKEN:ROLE,NAME=TOKEN:ROLE"`` → grants; blanks between commas are ignored.

    The role is after the last colon, so a token may contain colons. An entry may start with
    ``NAME=`` (a letter, then letters, digits, ``.``, ``_``, ``-``; at most 64): the name work item
    history shows for actions taken with that token. Errors name the entry by its position and
    never repeat the token.
    """
    entries = [entry.strip() for entry in text.split(",")]
    grants: list[TokenGrant] = []
    seen: dict[bytes, int] = {}
    roles = ", ".join(role.label for role in Role)
    for number, entry in enumerate(entries, start=1):
        if not entry:
            continue
        named = TOKEN_NAME.match(entry)
        name = named.group(1) if named else ""
        token, colon, role_name = entry[named.end() if named else 0 :].rpartition(":")
        token, role_name = token.strip(), role_name.strip().lower()
        where = f"entry {number}"
        if not colon:
            raise ApiTokenError(f"{where}: expected TOKEN:ROLE with ROLE one of {roles}")
        if role_name not in {role.label for role in Role}:
            raise ApiTokenError(f"{where}: unknown role {role_name!r}; expected one of {roles}")
        if not token:
            raise ApiTokenError(f"{where} ({role_name}): the token before the colon is empty")
        if any(character.isspace() for character in token):
            raise ApiTokenError(f"{where} ({role_name}): the token contains whitespace")
        if len(token) < MIN_TOKEN_LENGTH:
            raise ApiTokenError(
                f"{where} ({role_name}): the token has {len(token)} characters; expected at "
                f"least {MIN_TOKEN_LENGTH} (for example `openssl rand -hex 32`)"
            )
        digest = token_digest(token)
        if digest in seen:
            raise ApiTokenError(f"entries {seen[digest]} and {number} use the same token")
        seen[digest] = number
        grants.append(TokenGrant(digest, Role(role_name), name))
    return tuple(grants)


class ApiTokens:
    """The configured API tokens, as digests; looks up the role of an ``Authorization`` header.

    ``repr`` shows how many tokens there are, never a token or a digest.
    """

    def __init__(self, grants: Sequence[TokenGrant] = ()) -> None:
        self._grants = tuple(grants)

    @classmethod
    def parse(cls, text: str) -> ApiTokens:
        """``"TOKEN:ROLE,…"`` (see ``parse_api_tokens``) → tokens kept as digests only."""
        return cls(parse_api_tokens(text))

    @property
    def grants(self) -> tuple[TokenGrant, ...]:
        return self._grants

    @property
    def enabled(self) -> bool:
        return bool(self._grants)

    def __len__(self) -> int:
        return len(self._grants)

    def __repr__(self) -> str:
        return f"ApiTokens(<{len(self._grants)} hashed>)"

    def role_of(self, authorization: str | None) -> Role | None:
        """The role of a valid ``Bearer <token>`` header, else None (constant-time comparison)."""
        grant = self.grant_of(authorization)
        return None if grant is None else grant.role

    def grant_of(self, authorization: str | None) -> TokenGrant | None:
        """The grant of a valid ``Bearer <token>`` header, else None (constant-time comparison)."""
        credential = bearer_credential(authorization)
        if credential is None:
            return None
        index = matching_digest(token_digest(credential), (g.digest for g in self._grants))
        return None if index is None else self._grants[index]


class ApiCaller(BaseUser):
    """The token a request came with, as Starlette's ``request.user``: routes that record who
    acted (work items) read ``request.user.display_name``."""

    def __init__(self, grant: TokenGrant) -> None:
        self.grant = grant

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.grant.actor


STATE_CHANGING_WITHOUT_TOKENS = Decision(
    401,
    "this request changes state and needs a bearer token, but SYNCSIGHT_API_TOKENS is empty "
    "(local-only mode): set SYNCSIGHT_API_TOKENS='TOKEN:admin' and send Authorization: Bearer "
    "TOKEN",
)


def authorize_local(method: str, path: str, rules: Sequence[AccessRule] = ACCESS_RULES) -> Decision:
    """Local-only mode (no API tokens): reads and OTLP ingest pass, nothing else does.

    Any web page a local browser opens can send a POST to 127.0.0.1, so a request that changes
    state (the admin rebuild) needs a token even here.
    """
    rule = rule_for(method, path, rules)
    if rule is not None and isinstance(rule.requirement, Open):
        return Decision(200)
    if method.upper() in SAFE_METHODS:
        return Decision(200)
    return STATE_CHANGING_WITHOUT_TOKENS


class AccessControl:
    """ASGI middleware: every HTTP request passes the access table before it reaches a route.

    Without tokens (local-only mode, which the CLI allows only on a loopback address, see
    ``require_tokens_for_bind``) reads pass and state-changing requests are refused.
    """

    def __init__(
        self, app: ASGIApp, tokens: ApiTokens, rules: Sequence[AccessRule] = ACCESS_RULES
    ) -> None:
        self.app = app
        self.tokens = tokens
        self.rules = tuple(rules)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        path: str = scope["path"]
        grant = None
        if self.tokens.enabled:
            authorization = next(
                (v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"), None
            )
            grant = self.tokens.grant_of(authorization)
            decision = authorize(method, path, grant.role if grant else None, self.rules)
            if grant is not None:
                # request.user names who acts; request.auth.scopes lists every role this one
                # covers, so that a route can say what its caller may do
                scope["user"] = ApiCaller(grant)
                scope["auth"] = AuthCredentials([r.label for r in Role if grant.role.covers(r)])
        else:
            decision = authorize_local(method, path, self.rules)
        if decision.allowed:
            if grant is not None:  # the access trail records who downloaded what
                scope.setdefault("state", {})[REQUESTER_STATE] = Requester(
                    grant.actor, grant.role.label
                )
            await self.app(scope, receive, send)
            return
        logger.info("denied %s %s: %d %s", method, path, decision.status, decision.message)
        headers = (
            {"WWW-Authenticate": 'Bearer realm="syncsight-api"'} if decision.status == 401 else {}
        )
        response = JSONResponse(
            {"detail": decision.message}, status_code=decision.status, headers=headers
        )
        await response(scope, receive, send)


class UnprotectedBind(ValueError):
    """A non-loopback bind address without API or ingest tokens."""


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (``127.0.0.0/8``, ``::1``)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def require_tokens_for_bind(host: str, *, api_tokens: bool, ingest_tokens: bool) -> None:
    """Refuse to expose the API or OTLP ingest beyond this machine without tokens."""
    if is_loopback(host):
        return
    missing = []
    if not api_tokens:
        missing.append(
            "SYNCSIGHT_API_TOKENS is empty (set it to 'TOKEN:ROLE,…', roles viewer, auditor, "
            "operator, admin)"
        )
    if not ingest_tokens:
        missing.append("SYNCSIGHT_INGEST_TOKENS is empty (set it to 'TOKEN,…' for OTLP senders)")
    if missing:
        raise UnprotectedBind(
            f"SYNCSIGHT_HOST / --host={host!r} is not a loopback address and "
            f"{' and '.join(missing)}; or bind 127.0.0.1"
        )
