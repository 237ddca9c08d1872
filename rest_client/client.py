"""Typed GET requests to the syncsight REST API: each answer validated into the response model the
API itself uses, the instants it describes read from its headers, and every failure one
``ApiError`` carrying the server's status and message."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, BinaryIO, Generic, TypeVar
from urllib.parse import quote

import httpx
from pydantic import TypeAdapter, ValidationError

from domain.answer_headers import AS_OF_HEADER, KNOWN_AT_HEADER
from lineage.audit_models import AuditReportOut
from lineage.ledger_models import CallerOut, DownloadsOut, TreeHeadsOut
from lineage.models import BlockedInvoicesOut, LineageOut, TelemetrySilenceOut
from slas.models import (
    AlertOut,
    AlertSummaryOut,
    CloseRiskOut,
    ObjectiveOut,
    SlaOut,
    TimerOut,
    TrendPointOut,
)
from slas.work_item_models import WorkItemDetailOut, WorkItemPageOut

T = TypeVar("T")

DEFAULT_API_URL = "http://127.0.0.1:4318"
TIMEOUT_SECONDS = 30.0
OCEL_READ_TIMEOUT_SECONDS = 900.0
"""The longest wait for the next chunk of an OCEL export (a SQLite file is sent once built)."""

Params = tuple[tuple[str, str], ...]


class ApiError(RuntimeError):
    """The API could not be reached or did not answer with what was asked for.

    ``status`` is the HTTP status (None when no answer came back), ``detail`` the server's own
    message; ``str()`` is one sentence naming the API or path, the status and the reason.
    """

    def __init__(self, message: str, *, path: str, status: int | None, detail: str) -> None:
        super().__init__(message)
        self.path = path
        self.status = status
        self.detail = detail

    @property
    def route_missing(self) -> bool:
        """The server has no such route (an older syncsight), as opposed to an unknown object."""
        return self.status in (404, 405) and self.detail in ("Not Found", "Method Not Allowed")


@dataclass(frozen=True)
class Answer(Generic[T]):
    """An answer and the instants it describes: event time (``as_of``) and knowledge time
    (``known_at``), from the ``X-Syncsight-As-Of`` / ``X-Syncsight-Known-At`` headers when sent."""

    body: T
    as_of: datetime | None = None
    known_at: datetime | None = None


Fetch = Callable[[str, str, float, str, Params], Answer[Any]]
"""(base URL, token, timeout, path, query) → the decoded answer; the dashboard caches it."""


def iso(moment: datetime) -> str:
    """RFC 3339 UTC with a ``Z``, as the API takes ``as_of`` and ``known_at``."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _instant(header: str | None) -> datetime | None:
    if not header:
        return None
    moment = datetime.fromisoformat(header.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _detail(response: httpx.Response) -> str:
    """The server's message: FastAPI's ``detail`` (validation errors as ``loc: msg``), else text."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, list):
        return "; ".join(
            f"{'.'.join(str(p) for p in d.get('loc', []))}: {d.get('msg')}"
            for d in detail
            if isinstance(d, dict)
        )
    return str(detail)


def _first_problem(error: ValidationError) -> str:
    problem = error.errors()[0]
    return f"{'.'.join(str(p) for p in problem['loc']) or 'body'}: {problem['msg']}"


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def unreachable(base_url: str, path: str, error: httpx.TransportError) -> ApiError:
    return ApiError(
        f"cannot reach the syncsight API at {base_url} ({error or type(error).__name__}); start "
        "it with `syncsight serve`, or point SYNCSIGHT_API_URL (--api-url) at it",
        path=path,
        status=None,
        detail=str(error),
    )


@contextmanager
def _reaching(base_url: str, method: str, path: str, timeout: float) -> Iterator[None]:
    """A timeout or transport failure of a request inside as an ``ApiError`` naming it."""
    try:
        yield
    except httpx.TimeoutException as error:
        raise ApiError(
            f"the syncsight API at {base_url} did not answer {method} {path} within {timeout:g} s",
            path=path,
            status=None,
            detail=str(error),
        ) from error
    except httpx.TransportError as error:
        raise unreachable(base_url, path, error) from error


def _send(
    method: str,
    base_url: str,
    token: str,
    timeout: float,
    path: str,
    *,
    params: Params = (),
    body: Mapping[str, str] | None = None,
) -> httpx.Response:
    """One request with the token; no answer in time or no connection is an ``ApiError``."""
    with _reaching(base_url, method, path, timeout):
        return httpx.request(
            method,
            base_url.rstrip("/") + path,
            params=dict(params),
            json=dict(body) if body is not None else None,
            headers=_headers(token),
            timeout=timeout,
        )


def fetch_json(base_url: str, token: str, timeout: float, path: str, params: Params) -> Answer[Any]:
    """One GET, decoded, with the instants of its headers; any failure is an ``ApiError``."""
    return decoded(_send("GET", base_url, token, timeout, path, params=params), path)


def _succeeded(response: httpx.Response, path: str) -> httpx.Response:
    """``response`` when it is a success, else an ``ApiError`` naming the request, the status
    and the server's message."""
    if not response.is_success:
        detail = _detail(response)
        raise ApiError(
            f"{response.request.method} {path} answered HTTP {response.status_code}: {detail}",
            path=path,
            status=response.status_code,
            detail=detail,
        )
    return response


def decoded(response: httpx.Response, path: str) -> Answer[Any]:
    """A response's JSON and the instants of its headers, or an ``ApiError`` naming the
    request, the status and the server's message."""
    _succeeded(response, path)
    try:
        body = response.json()
    except ValueError as error:
        raise ApiError(
            f"{response.request.method} {path} answered something that is not JSON: {response.text[:100]!r}",
            path=path,
            status=response.status_code,
            detail=response.text[:300],
        ) from error
    return Answer(
        body,
        as_of=_instant(response.headers.get(AS_OF_HEADER)),
        known_at=_instant(response.headers.get(KNOWN_AT_HEADER)),
    )


def _params(values: Mapping[str, str | int | datetime | None]) -> Params:
    """Query parameters without the unset ones, datetimes as RFC 3339, in a stable order."""
    return tuple(
        (name, iso(value) if isinstance(value, datetime) else str(value))
        for name, value in sorted(values.items())
        if value not in (None, "")
    )


def _segment(value: str) -> str:
    return quote(value, safe="")


AUDIT_REPORT = "/api/v1/audit/report"
AUDIT_REPORT_FORMATS = ("json", "csv", "pdf")
"""What ``GET /api/v1/audit/report?format=`` renders."""

ME = "/api/v1/me"

_CALLER = TypeAdapter(CallerOut)
_AUDIT_REPORT = TypeAdapter(AuditReportOut)
_TREE_HEADS = TypeAdapter(TreeHeadsOut)
_DOWNLOADS = TypeAdapter(DownloadsOut)
_BLOCKED = TypeAdapter(BlockedInvoicesOut)
_LINEAGE = TypeAdapter(LineageOut)
_DOCUMENT: TypeAdapter[dict[str, Any]] = TypeAdapter(dict[str, Any])
_SLAS = TypeAdapter(list[SlaOut])
_TREND = TypeAdapter(list[TrendPointOut])
_TIMERS = TypeAdapter(list[TimerOut])
_OBJECTIVES = TypeAdapter(list[ObjectiveOut])
_CLOSE_RISK = TypeAdapter(list[CloseRiskOut])
_ALERTS = TypeAdapter(list[AlertOut])
_ALERT_SUMMARY = TypeAdapter(AlertSummaryOut)
_TELEMETRY_SILENCE = TypeAdapter(TelemetrySilenceOut)
_WORK_ITEMS = TypeAdapter(WorkItemPageOut)
_WORK_ITEM = TypeAdapter(WorkItemDetailOut)

WORK_ITEM_ACTIONS = ("acknowledge", "assign", "snooze", "comment", "resolve", "reopen")
"""The verbs of ``POST /api/v1/work-items/{id}/{verb}``."""


@dataclass(frozen=True)
class ApiClient:
    """Typed reads of the endpoints the CLI and the dashboard use; ``fetch`` does the GET (the
    dashboard passes one behind its cache)."""

    base_url: str = DEFAULT_API_URL
    token: str = field(default="", repr=False)
    timeout: float = TIMEOUT_SECONDS
    fetch: Fetch = fetch_json

    def get(self, path: str, **params: str | int | datetime | None) -> Answer[Any]:
        """The raw JSON answer to ``GET path?params`` (unset parameters are left out)."""
        return self.fetch(self.base_url, self.token, self.timeout, path, _params(params))

    def _typed(
        self, adapter: TypeAdapter[T], path: str, **params: str | int | datetime | None
    ) -> Answer[T]:
        return self._validated(adapter, path, self.get(path, **params))

    def _validated(self, adapter: TypeAdapter[T], path: str, answer: Answer[Any]) -> Answer[T]:
        try:
            body = adapter.validate_python(answer.body)
        except ValidationError as error:
            raise ApiError(
                f"{path} answered a body that is not a {error.title}: "
                f"{_first_problem(error)} (a syncsight of another version?)",
                path=path,
                status=200,
                detail=str(error),
            ) from error
        return Answer(body, as_of=answer.as_of, known_at=answer.known_at)

    def me(self) -> CallerOut:
        """Who this client's token is and its role (``local_only`` when the service has no API
        tokens); an ``ApiError`` with status 401 when the token is missing or not accepted."""
        return self._typed(_CALLER, ME).body

    # lineage and impact
    def lineage(self, object_type: str, object_id: str, direction: str) -> LineageOut:
        path = f"/api/v1/lineage/{_segment(object_type)}/{_segment(object_id)}"
        return self._typed(_LINEAGE, path, direction=direction).body

    def evidence(
        self, object_type: str, object_id: str, direction: str, *, known_at: str | None = None
    ) -> dict[str, Any]:
        """The sealed evidence pack, as the document to store (``syncsight verify-evidence``
        checks it); as known at ``known_at`` when given, to reproduce an earlier pack."""
        path = f"/api/v1/lineage/{_segment(object_type)}/{_segment(object_id)}/evidence"
        return self._typed(_DOCUMENT, path, direction=direction, known_at=known_at).body

    def ocel(
        self, object_type: str, object_id: str, direction: str, *, known_at: str | None = None
    ) -> dict[str, Any]:
        """The OCEL 2.0 JSON log, as the document to store; as known at ``known_at`` when given
        (the access trail records the one used)."""
        path = f"/api/v1/lineage/{_segment(object_type)}/{_segment(object_id)}/ocel"
        return self._typed(_DOCUMENT, path, direction=direction, known_at=known_at).body

    # the auditor's report and the evidence ledger
    def audit_report(
        self, *, period: str, legal_entity: str, known_at: datetime | str | None = None
    ) -> Answer[AuditReportOut]:
        """The signed completeness-and-accuracy report of a period and legal entity (as known at
        ``known_at`` when given, else at the service's watermark), and the ``known_at`` it is for.
        Every read is a download on the access trail."""
        answer = self._typed(
            _AUDIT_REPORT,
            AUDIT_REPORT,
            period=period,
            legal_entity=legal_entity,
            known_at=known_at,
        )
        return replace(answer, known_at=_instant(answer.body.known_at))

    def audit_report_file(
        self,
        *,
        period: str,
        legal_entity: str,
        known_at: datetime | str | None = None,
        file_format: str,
    ) -> bytes:
        """The report as the service renders it in ``file_format`` (one of
        ``AUDIT_REPORT_FORMATS``), never cached: each call is a download on the access trail
        under this client's token and format. Pass the ``known_at`` of a report read to get its
        root; without it, the report as known at the service's watermark."""
        if file_format not in AUDIT_REPORT_FORMATS:
            raise ValueError(
                f"file_format={file_format!r}: expected one of {', '.join(AUDIT_REPORT_FORMATS)}"
            )
        params = _params(
            {
                "period": period,
                "legal_entity": legal_entity,
                "known_at": known_at,
                "format": file_format,
            }
        )
        response = _send(
            "GET", self.base_url, self.token, self.timeout, AUDIT_REPORT, params=params
        )
        return _succeeded(response, AUDIT_REPORT).content

    def ledger_heads(self, *, day: str | None = None, limit: int = 100) -> TreeHeadsOut:
        """Signed tree heads, newest day and largest tree first (any role)."""
        return self._typed(_TREE_HEADS, "/api/v1/ledger/heads", day=day, limit=limit).body

    def downloads(self, *, before: datetime | None = None, limit: int = 100) -> DownloadsOut:
        """The access trail, newest first (admin only: 403 for other roles)."""
        return self._typed(_DOWNLOADS, "/api/v1/ledger/downloads", before=before, limit=limit).body

    def ocel_export(
        self,
        output: BinaryIO,
        *,
        period: str | None = None,
        legal_entity: str | None = None,
        output_format: str = "json",
        known_at: str | None = None,
        read_timeout: float = OCEL_READ_TIMEOUT_SECONDS,
    ) -> int:
        """Stream the OCEL 2.0 log of a period and/or legal entity (``json`` or ``sqlite``) into
        ``output`` as it arrives; the bytes written. ``read_timeout``: the longest wait for the
        next chunk."""
        path = "/api/v1/ocel"
        params = _params(
            {
                "period": period,
                "legal_entity": legal_entity,
                "format": output_format,
                "known_at": known_at,
            }
        )
        written = 0
        # the SQLite file is built before its first byte is sent: a longer wait between chunks
        timeout = httpx.Timeout(self.timeout, read=read_timeout)
        with (
            _reaching(self.base_url, "GET", path, read_timeout),
            httpx.stream(
                "GET",
                self.base_url.rstrip("/") + path,
                params=dict(params),
                headers=_headers(self.token),
                timeout=timeout,
            ) as response,
        ):
            if not response.is_success:
                response.read()
                decoded(response, path)
            for chunk in response.iter_bytes():
                output.write(chunk)
                written += len(chunk)
        return written

    def blocked_invoices(
        self,
        *,
        period: str | None = None,
        legal_entity: str | None = None,
        as_of: datetime | None = None,
        known_at: datetime | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Answer[BlockedInvoicesOut]:
        """One page of the blocked items, the largest first (``limit`` None: the service's
        default page); ``cursor`` is the ``next_cursor`` of the page before, with the same period
        and legal entity (it carries the answer's instants)."""
        return self._typed(
            _BLOCKED,
            "/api/v1/impact/blocked-invoices",
            period=period,
            legal_entity=legal_entity,
            as_of=as_of,
            known_at=known_at,
            limit=limit,
            cursor=cursor,
        )

    def blocked_invoice_pages(
        self,
        *,
        period: str | None = None,
        legal_entity: str | None = None,
        as_of: datetime | None = None,
        known_at: datetime | None = None,
        limit: int | None = None,
    ) -> Iterator[Answer[BlockedInvoicesOut]]:
        """Every page of one blocked-invoice answer, in order, read as it is iterated: the first
        as asked, each next by the ``next_cursor`` of the one before, so every page describes
        the first one's as_of and known_at (stop iterating to read fewer)."""
        page = self.blocked_invoices(
            period=period, legal_entity=legal_entity, as_of=as_of, known_at=known_at, limit=limit
        )
        yield page
        while (cursor := page.body.next_cursor) is not None:
            page = self.blocked_invoices(
                period=period, legal_entity=legal_entity, limit=limit, cursor=cursor
            )
            yield page

    # SLAs and close risk: as_of None is now, known_at None the state's watermark
    def slas(
        self, *, as_of: datetime | None = None, known_at: datetime | None = None
    ) -> Answer[list[SlaOut]]:
        return self._typed(_SLAS, "/api/v1/slas", as_of=as_of, known_at=known_at)

    def sla_trend(
        self, *, as_of: datetime | None = None, known_at: datetime | None = None, weeks: int = 6
    ) -> Answer[list[TrendPointOut]]:
        """Attainment of every SLA at ``weeks`` weekly points before ``as_of`` and at it."""
        return self._typed(
            _TREND, "/api/v1/slas/trend", as_of=as_of, known_at=known_at, weeks=weeks
        )

    def sla_objectives(
        self, *, as_of: datetime | None = None, known_at: datetime | None = None
    ) -> Answer[list[ObjectiveOut]]:
        """Error budget left and burn rates per SLA with an objective and legal entity."""
        return self._typed(_OBJECTIVES, "/api/v1/slas/objectives", as_of=as_of, known_at=known_at)

    def sla_timers(
        self,
        name: str,
        *,
        as_of: datetime | None = None,
        known_at: datetime | None = None,
        state: str | None = None,
        legal_entity: str | None = None,
        limit: int | None = None,
    ) -> Answer[list[TimerOut]]:
        return self._typed(
            _TIMERS,
            f"/api/v1/slas/{_segment(name)}/timers",
            as_of=as_of,
            known_at=known_at,
            state=state,
            legal_entity=legal_entity,
            limit=limit,
        )

    def close_risk(
        self,
        *,
        period: str | None = None,
        as_of: datetime | None = None,
        known_at: datetime | None = None,
    ) -> Answer[list[CloseRiskOut]]:
        return self._typed(
            _CLOSE_RISK, "/api/v1/close-risk", period=period, as_of=as_of, known_at=known_at
        )

    # alerts: always the evaluator's current view
    def alerts(
        self, *, status: str | None = None, legal_entity: str | None = None, limit: int = 500
    ) -> list[AlertOut]:
        """Alerts of ``status`` (firing first, the newest first), at most ``limit``."""
        return self._typed(
            _ALERTS, "/api/v1/alerts", status=status, legal_entity=legal_entity, limit=limit
        ).body

    def alert_summary(self, *, legal_entity: str | None = None) -> AlertSummaryOut:
        return self._typed(_ALERT_SUMMARY, "/api/v1/alerts/summary", legal_entity=legal_entity).body

    def telemetry_silence(self) -> TelemetrySilenceOut:
        """How long each telemetry stream has been silent, now, against its limit."""
        return self._typed(_TELEMETRY_SILENCE, "/api/v1/telemetry/silence").body

    # the work queue: reads, and the actions an operator token may take (never cached)
    def work_items(
        self,
        *,
        state: str | None = None,
        owner: str | None = None,
        kind: str | None = None,
        legal_entity: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> WorkItemPageOut:
        """One page of the queue, oldest first; without ``state`` every item not resolved."""
        return self._typed(
            _WORK_ITEMS,
            "/api/v1/work-items",
            state=state,
            owner=owner,
            kind=kind,
            legal_entity=legal_entity,
            limit=limit,
            cursor=cursor,
        ).body

    def work_item(self, item_id: str) -> WorkItemDetailOut:
        """One item with its whole history."""
        return self._typed(_WORK_ITEM, f"/api/v1/work-items/{_segment(item_id)}").body

    def act_on_work_item(
        self, item_id: str, verb: str, body: Mapping[str, str] | None = None
    ) -> WorkItemDetailOut:
        """``POST /api/v1/work-items/{id}/{verb}`` (one of ``WORK_ITEM_ACTIONS``) with ``body``;
        the item afterwards. Needs an operator or admin token."""
        if verb not in WORK_ITEM_ACTIONS:
            raise ValueError(f"verb={verb!r}: expected one of {', '.join(WORK_ITEM_ACTIONS)}")
        path = f"/api/v1/work-items/{_segment(item_id)}/{verb}"
        response = _send("POST", self.base_url, self.token, self.timeout, path, body=body)
        return self._validated(_WORK_ITEM, path, decoded(response, path)).body
