"""schemathesis against the running service's own OpenAPI document, as each kind of caller: no
generated request (valid or not) gets a 5xx, and every operation answers 401 without a token and 403
below its role, whatever the parameters. The role each operation needs is written down here, apart
from the access table it checks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from syncsight.access import Role
from tests.service import Service, running_service

VIEWER_TOKEN = "attack-viewer-0123456789abcdef"
ADMIN_TOKEN = "attack-admin-0123456789abcdef"
OPERATOR_TOKEN = "attack-operator-0123456789abcdef"
INGEST_TOKEN = "attack-ingest-0123456789abcdef"

CALLERS: dict[str, tuple[str | None, Role | None]] = {
    "unauthenticated": (None, None),
    "viewer": (VIEWER_TOKEN, Role.VIEWER),
    "operator": (OPERATOR_TOKEN, Role.OPERATOR),
    "admin": (ADMIN_TOKEN, Role.ADMIN),
}
INGEST = "ingest"  # OTLP: its own tokens, which none of the callers above holds
OPEN = "open"

LEAST: dict[str, Role | str] = {
    "GET /healthz": OPEN,
    "GET /readyz": OPEN,
    "GET /metrics": Role.VIEWER,
    "POST /v1/traces": INGEST,
    "GET /api/v1/me": Role.VIEWER,
    "GET /api/v1/objects/{object_type}/{object_id}/events": Role.VIEWER,
    "GET /api/v1/lineage/completeness": Role.VIEWER,
    "GET /api/v1/lineage/{object_type}/{object_id}": Role.VIEWER,
    "GET /api/v1/lineage/{object_type}/{object_id}/evidence": Role.AUDITOR,
    "GET /api/v1/lineage/{object_type}/{object_id}/ocel": Role.AUDITOR,
    "GET /api/v1/audit/report": Role.AUDITOR,
    "GET /api/v1/ocel": Role.AUDITOR,
    "GET /api/v1/impact/blocked-invoices": Role.VIEWER,
    "POST /api/v1/admin/rebuild": Role.ADMIN,
    "POST /api/v1/admin/ledger/seal": Role.ADMIN,
    "GET /api/v1/ledger/key": Role.VIEWER,
    "GET /api/v1/ledger/heads": Role.VIEWER,
    "GET /api/v1/ledger/heads/{day}/{tree_size}": Role.VIEWER,
    "GET /api/v1/ledger/downloads": Role.ADMIN,
    "GET /api/v1/slas": Role.VIEWER,
    "GET /api/v1/slas/trend": Role.VIEWER,
    "GET /api/v1/slas/objectives": Role.VIEWER,
    "GET /api/v1/slas/{name}/timers": Role.VIEWER,
    "GET /api/v1/close-risk": Role.VIEWER,
    "GET /api/v1/alerts": Role.VIEWER,
    "GET /api/v1/alerts/summary": Role.VIEWER,
    "GET /api/v1/telemetry/silence": Role.VIEWER,
    "GET /api/v1/work-items": Role.VIEWER,
    "GET /api/v1/work-items/{item_id}": Role.VIEWER,
    "POST /api/v1/work-items/{item_id}/acknowledge": Role.OPERATOR,
    "POST /api/v1/work-items/{item_id}/assign": Role.OPERATOR,
    "POST /api/v1/work-items/{item_id}/snooze": Role.OPERATOR,
    "POST /api/v1/work-items/{item_id}/comment": Role.OPERATOR,
    "POST /api/v1/work-items/{item_id}/resolve": Role.OPERATOR,
    "POST /api/v1/work-items/{item_id}/reopen": Role.OPERATOR,
}
EXAMPLES = 15
"""Examples per operation and generation mode; each is sent once per caller."""


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    env = {
        "SYNCSIGHT_API_TOKENS": f"{VIEWER_TOKEN}:viewer,{OPERATOR_TOKEN}:operator,"
        f"{ADMIN_TOKEN}:admin",
        "SYNCSIGHT_INGEST_TOKENS": INGEST_TOKEN,
    }
    with running_service(tmp_path_factory.mktemp("attack"), env=env) as running:
        yield running


@pytest.fixture(scope="module")
def spec(service: Service) -> dict[str, Any]:
    answer = httpx.get(
        f"{service.base_url}/openapi.json", headers={"Authorization": f"Bearer {VIEWER_TOKEN}"}
    )
    assert answer.status_code == 200
    document: dict[str, Any] = answer.json()
    return document


def plain_path(path_parameters: dict[str, Any] | None) -> bool:
    """True when no path parameter adds, removes or hides a segment once the server decodes it."""
    values = [unquote(str(value)) for value in (path_parameters or {}).values()]
    return all(value not in ("", ".", "..") and "/" not in value for value in values)


def expected_statuses(least: Role | str, role: Role | None, plain: bool) -> set[int] | None:
    """The statuses access control must answer with, or None when it must let the request in."""
    if least == OPEN:
        return None
    if least == INGEST or role is None:
        return {401}
    if not plain:  # a different path: some other family's rule, no rule (403) or no route (404)
        return {403, 404}
    assert isinstance(least, Role)
    return None if role.covers(least) else {403}


def test_every_operation_of_the_document_has_a_role_here(spec: dict[str, Any]) -> None:
    """A new endpoint must be added to LEAST, so it is attacked too."""
    operations = {
        f"{method.upper()} {path}" for path, methods in spec["paths"].items() for method in methods
    }
    assert operations == set(LEAST)


@pytest.mark.parametrize("label", sorted(LEAST))
def test_generated_requests_get_no_5xx_and_the_right_401_403(
    service: Service, spec: dict[str, Any], label: str
) -> None:
    """Valid and invalid parameters from the schema, sent as each caller."""
    method, path = label.split(" ", 1)
    operation = schemathesis.openapi.from_dict(spec)[path][method]
    strategies = [operation.as_strategy(GenerationMode.POSITIVE)]
    if operation.path_parameters or operation.query or operation.body:
        strategies.append(operation.as_strategy(GenerationMode.NEGATIVE))
    least = LEAST[label]
    seen: list[str] = []

    @settings(
        max_examples=EXAMPLES * len(strategies),
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(strategies))
    def attack(case: Any) -> None:
        plain = plain_path(case.path_parameters)
        for caller, (token, role) in CALLERS.items():
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            response = case.call(base_url=service.base_url, headers=headers, timeout=60)
            request = f"{caller}: {response.request.method} {response.request.url}"
            seen.append(request)
            assert response.status_code < 500, f"{request} → {response.status_code} {response.text}"
            wanted = expected_statuses(least, role, plain)
            if wanted is None:
                assert response.status_code not in (401, 403), f"{request} → {response.text}"
            else:
                assert response.status_code in wanted, f"{request} → {response.status_code}"

    attack()
    assert seen, "hypothesis generated no request"


@pytest.mark.parametrize("path", ["/api/v1/slas", "/api/v1/slas/trend", "/api/v1/close-risk"])
@pytest.mark.parametrize("as_of", ["2263-01-01T00:00:00Z", "1969-12-31T23:59:59Z"])
def test_an_as_of_outside_the_engines_range_is_a_422(
    service: Service, path: str, as_of: str
) -> None:
    """Found by the attack above (it was a 500): the answer names the value and the range."""
    answer = httpx.get(
        f"{service.base_url}{path}",
        params={"as_of": as_of},
        headers={"Authorization": f"Bearer {VIEWER_TOKEN}"},
    )
    assert answer.status_code == 422
    assert "expected an instant from 1970-01-01 to before 2262-01-01" in answer.json()["detail"]
