"""The OCEL 2.0 export of a period and/or a legal entity over the real engine, through its REST
route and the CLI: PM4Py reads the JSON and the SQLite back, and what it reads matches what the
warehouse holds (counted by SQL here); object attributes come from the business state; bad
parameters are 422 by name, as the audit report's; every download is on the access trail; pages are bounded."""

from __future__ import annotations

import gc
import io
import json
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from clickhouse_connect.driver.client import Client
from fastapi import FastAPI

from domain import semconv as sc
from lineage.audit_api import audit_router
from lineage.ledger import Ledger
from lineage.ledger_api import ledger_router
from lineage.ocel import ocel_object_id
from lineage.ocel_api import ocel_router
from lineage.ocel_export import export_stream
from lineage.ocel_log import LogRequest, describe_objects, log_pages
from lineage.rules import LineageRules
from lineage.signing import Signer
from slas.business_state import BusinessState
from slas.calendars import CalendarBook
from slas.definitions import DEFAULT_SLAS
from slas.ocel_states import POSTED, BusinessStateFacts
from syncsight.access import AccessControl, ApiTokens
from tests.lineage.events import Objects, attempt, chain, span
from tests.service import serving_in_thread
from tests.syncsight.test_cli import run
from warehouse.pool import ClientPool
from warehouse.spans import OTEL_TRACES_COLUMNS

pm4py = pytest.importorskip("pm4py")

VIEWER = "viewer-token-0123456789abcdef"
AUDITOR = "auditor-token-0123456789abcdef"
ADMIN = "admin-token-0123456789abcdef"
OCEL = "/api/v1/ocel"
PERIOD = "2026-09"
US = "LE-US01"
US_IDS = ("CTR-US", "PRJ-US", "TE-US1", "BE-US", "INV-US", "CUS-US")
"""The ids of the US entity's chain: the SQL below finds its events by them."""

EVENT_PERIOD = """
SELECT EventId FROM biz_events
GROUP BY EventId
HAVING if(anyIf(Period, Period != '') != '', anyIf(Period, Period != ''),
          formatDateTime(min(EventTime), '%Y-%m')) = {period:String}
   AND (NOT {us_only:Bool} OR max(arrayExists(r -> r.id IN {us_ids:Array(String)}, ObjectRefs)))
"""
"""The events the export must hold, counted independently: an event's own period, else the
month of its first attempt; for the US entity, those touching its chain's ids."""

OBJECTS = f"""
SELECT DISTINCT concat(ref.type, ':', ref.id) FROM biz_events ARRAY JOIN ObjectRefs AS ref
WHERE EventId IN ({EVENT_PERIOD})
"""

E2O = f"""
SELECT count() FROM (
    SELECT DISTINCT EventId, ref.type, ref.id FROM biz_events ARRAY JOIN ObjectRefs AS ref
    WHERE EventId IN ({EVENT_PERIOD})
)
"""

INVOICE_AMOUNT = """
SELECT Amount, Currency FROM biz_events
WHERE EventType = 'invoice.posted' AND has(ObjectRefs, ('invoice', {invoice:String}))
  AND Outcome = 'success'
"""


def load(client: Client) -> None:
    """Two entities' chains in September, the German invoice first failing, and a time entry
    of August on the German project (outside the period)."""
    german = chain(entries=("TE-1", "TE-2"))
    invoice_objects: Objects = dict(german[-1].objects)
    german.insert(
        -1,
        attempt(
            sc.INVOICE_POSTED,
            "invoice.posted:INV-1",
            invoice_objects,
            hours=72.5,
            outcome=sc.FAILED,
            error_category=sc.MASTER_DATA,
        ),
    )
    american = chain(
        contract="CTR-US",
        project="PRJ-US",
        entries=("TE-US1",),
        billing_event="BE-US",
        invoice="INV-US",
        entity=US,
        customer="CUS-US",
    )
    august = attempt(
        sc.TIME_APPROVED,
        "time.approved:TE-AUG",
        {sc.TIME_ENTRY: "TE-AUG", sc.PROJECT: "PRJ-1"},
        hours=-24 * 5,
        amount="10",
        period="2026-08",
    )
    events = [*german, *american, august]
    client.insert("otel_traces", [span(e) for e in events], column_names=OTEL_TRACES_COLUMNS)
    time.sleep(0.01)


@pytest.fixture
def store(migrated: Client) -> Client:
    load(migrated)
    time.sleep(0.01)  # the state's knowledge time is after every row's
    BusinessState(lambda: migrated, DEFAULT_SLAS, CalendarBook(), settle=timedelta(0)).tick(
        datetime.now(UTC)
    )
    return migrated


@pytest.fixture
def api(store: Client, engine_url: str, database: str) -> Iterator[httpx.Client]:
    pool = ClientPool(engine_url, database=database)
    ledger = Ledger(Signer.generate())
    app = FastAPI()
    settle = timedelta(0)
    app.include_router(
        ocel_router(
            pool,
            LineageRules.default(),
            ledger,
            BusinessStateFacts(),
            record_pool=pool,
            settle=settle,
            page_size=4,  # several pages even for this small log
        ),
        prefix="/api/v1",
    )
    app.include_router(ledger_router(pool, ledger, settle=settle), prefix="/api/v1")
    app.include_router(  # the report beside the export: the same mistake gets the same answer
        audit_router(
            pool,
            LineageRules.default(),
            ledger,
            lambda entity, period: datetime(2026, 10, 8, tzinfo=UTC),
            record_pool=pool,
            settle=settle,
            watermark=BusinessState(lambda: store, DEFAULT_SLAS, CalendarBook()).watermark,
        ),
        prefix="/api/v1",
    )
    tokens = ApiTokens.parse(f"{VIEWER}:viewer,{AUDITOR}:auditor,{ADMIN}:admin")
    app.add_middleware(AccessControl, tokens=tokens)
    try:
        with serving_in_thread(app) as http:
            yield http
    finally:
        pool.close()


def fetch(api: httpx.Client, token: str = AUDITOR, **params: str) -> httpx.Response:
    return api.get(OCEL, params=params, headers={"Authorization": f"Bearer {token}"})


def download(api: httpx.Client, tmp_path: Path, **params: str) -> Path:
    response = fetch(api, **params)
    assert response.status_code == 200, response.text
    suffix = "sqlite" if params.get("format") == "sqlite" else "jsonocel"
    path = tmp_path / f"log.{suffix}"
    path.write_bytes(response.content)
    return path


def read_back(path: Path) -> Any:
    if path.suffix == ".sqlite":
        return pm4py.read_ocel2_sqlite(str(path))
    return pm4py.read_ocel2_json(str(path))


def expected(client: Client, *, us_only: bool = False) -> dict[str, Any]:
    parameters = {"period": PERIOD, "us_only": us_only, "us_ids": list(US_IDS)}
    return {
        "events": {r[0] for r in client.query(EVENT_PERIOD, parameters=parameters).result_rows},
        "objects": {r[0] for r in client.query(OBJECTS, parameters=parameters).result_rows},
        "e2o": int(client.query(E2O, parameters=parameters).result_rows[0][0]),
    }


def exported(store: Client, output_format: str, request: LogRequest) -> bytes:
    """The whole stream of an export in pages of three attempts, joined."""
    rules, facts = LineageRules.default(), BusinessStateFacts()
    return b"".join(
        export_stream(
            output_format,
            log_pages(lambda: store, rules, request, facts, shape=output_format, page_size=3),
            describe_objects(lambda: store, rules, facts, request.known_at),
        )
    )


def attribute(log: Any, oid: str, name: str) -> Any:
    row = log.objects[log.objects["ocel:oid"] == oid]
    assert len(row) == 1, oid
    return row.iloc[0][name]


@pytest.mark.parametrize("output_format", ["json", "sqlite"])
class TestReadBackByPm4py:
    def test_events_objects_and_relations_are_the_warehouse_s(
        self, api: httpx.Client, store: Client, tmp_path: Path, output_format: str
    ) -> None:
        """Every event of the period (retries folded, August's left out), every object they
        touch, every E2O relation; the O2O derived-from links of the rules' hops."""
        log = read_back(download(api, tmp_path, period=PERIOD, format=output_format))
        want = expected(store)
        assert set(log.events["ocel:eid"]) == want["events"]
        assert len(log.events) == len(want["events"])
        assert set(log.objects["ocel:oid"]) == want["objects"]
        assert len(log.relations) == want["e2o"]
        o2o = set(
            zip(log.o2o["ocel:oid"], log.o2o["ocel:oid_2"], log.o2o["ocel:qualifier"], strict=True)
        )
        assert (
            ocel_object_id(sc.INVOICE, "INV-1"),
            ocel_object_id(sc.BILLING_EVENT, "BE-1"),
            "derived from",
        ) in o2o

    def test_objects_carry_what_the_business_state_knows(
        self, api: httpx.Client, store: Client, tmp_path: Path, output_format: str
    ) -> None:
        """An invoice's amount and currency are its posting's, its status the close item's;
        a time entry's legal entity and customer are the ones the evaluator resolved."""
        log = read_back(download(api, tmp_path, period=PERIOD, format=output_format))
        amount, currency = store.query(INVOICE_AMOUNT, parameters={"invoice": "INV-1"}).result_rows[
            0
        ]
        invoice = ocel_object_id(sc.INVOICE, "INV-1")
        assert Decimal(str(attribute(log, invoice, "amount"))) == amount
        assert attribute(log, invoice, "currency") == currency
        assert attribute(log, invoice, "status") == POSTED
        entity, customer = store.query(
            "SELECT LegalEntity, Customer FROM sla_timers WHERE KeyType = 'time_entry' "
            "AND KeyId = 'TE-US1' ORDER BY KnownAt DESC LIMIT 1"
        ).result_rows[0]
        entry = ocel_object_id(sc.TIME_ENTRY, "TE-US1")
        assert (attribute(log, entry, "legal_entity"), attribute(log, entry, "customer")) == (
            entity,
            customer,
        )
        assert entity == US

    def test_a_legal_entity_gets_only_its_events(
        self, api: httpx.Client, store: Client, tmp_path: Path, output_format: str
    ) -> None:
        """Time entries and billing events inherit the entity: the US chain's events only."""
        log = read_back(
            download(api, tmp_path, period=PERIOD, legal_entity=US, format=output_format)
        )
        want = expected(store, us_only=True)
        assert set(log.events["ocel:eid"]) == want["events"]
        assert set(log.objects["ocel:oid"]) == want["objects"]


class TestParameters:
    @pytest.mark.parametrize(
        ("params", "named"),
        [
            ({"period": "2026-13"}, "period"),
            ({"period": "0000-01"}, "period"),
            ({"period": "October"}, "period"),
            ({"legal_entity": "LE-NOWHERE"}, "legal_entity"),
            ({"legal_entity": "bad id!"}, "legal_entity"),
            ({"period": PERIOD, "format": "xlsx"}, "format"),
            ({}, "period"),
        ],
    )
    def test_bad_parameters_are_422_by_name(
        self, api: httpx.Client, params: dict[str, str], named: str
    ) -> None:
        """422 naming the parameter (FastAPI's status for a bad parameter, as every other route
        answers), and nothing streamed."""
        response = fetch(api, **params)
        assert response.status_code == 422
        assert named in response.json()["detail"]

    @pytest.mark.parametrize(
        ("params", "same_words"),
        [
            ({"period": "9999-12"}, True),
            ({"period": "1969-12"}, True),
            ({"legal_entity": "LE-NOWHERE"}, True),
            ({"period": "2026-13"}, False),  # the report's pattern check words it FastAPI's way
            ({"format": "xlsx"}, False),
            ({"known_at": "1969-12-31T23:59:59Z"}, True),
        ],
    )
    def test_the_report_and_the_export_refuse_the_same_mistake_alike(
        self, api: httpx.Client, params: dict[str, str], same_words: bool
    ) -> None:
        """Found from the outside: the report answered 422 and the export 400 for the same bad
        period or entity (each as its docs said), so an auditor's client had to handle both."""
        asked = {"period": PERIOD, "legal_entity": US, **params}
        headers = {"Authorization": f"Bearer {AUDITOR}"}
        report = api.get("/api/v1/audit/report", params=asked, headers=headers)
        export = api.get(OCEL, params=asked, headers=headers)
        assert (report.status_code, export.status_code) == (422, 422), (report.text, export.text)
        if same_words:
            assert report.json()["detail"] == export.json()["detail"]

    @pytest.mark.parametrize(("token", "status"), [(VIEWER, 403), (AUDITOR, 200), (ADMIN, 200)])
    def test_only_auditors_and_admins_export(
        self, api: httpx.Client, token: str, status: int
    ) -> None:
        assert fetch(api, token, period=PERIOD).status_code == status

    def test_every_download_is_on_the_access_trail(self, api: httpx.Client) -> None:
        """kind ocel, the auditor's role, the parameters and the knowledge time it served."""
        response = fetch(api, period=PERIOD, legal_entity=US, format="sqlite")
        assert response.status_code == 200
        trail = api.get("/api/v1/ledger/downloads", headers={"Authorization": f"Bearer {ADMIN}"})
        [entry] = [d for d in trail.json()["downloads"] if d["kind"] == "ocel"]
        assert entry["role"] == "auditor"
        assert entry["path"] == OCEL
        assert entry["parameters"] == {
            "period": PERIOD,
            "legal_entity": US,
            "format": "sqlite",
            "known_at": response.headers["X-Syncsight-Known-At"],
        }


class TestBoundedPages:
    def test_small_pages_give_the_same_log_as_one_page(self, store: Client) -> None:
        """Pages of two attempts: many pages, each at most two events, and the same log."""
        rules, facts = LineageRules.default(), BusinessStateFacts()
        request = LogRequest(PERIOD, None, datetime.now(UTC))
        small = list(log_pages(lambda: store, rules, request, facts, page_size=2))
        whole = list(log_pages(lambda: store, rules, request, facts, page_size=10_000))
        assert len(whole) == 1
        assert len(small) >= len(expected(store)["events"]) // 2
        assert all(page.read <= 2 for page in small)
        assert [e for page in small for e in page.records] == whole[0].records

    def test_the_sqlite_file_has_the_standard_tables(self, store: Client, tmp_path: Path) -> None:
        """event, object, event_object, object_object, the two map tables and one table per
        type, the event types mapped to their tables."""
        content = exported(store, "sqlite", LogRequest(PERIOD, None, datetime.now(UTC)))
        path = tmp_path / "log.sqlite"
        path.write_bytes(content)
        with sqlite3.connect(path) as db:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            mapped = dict(db.execute("SELECT ocel_type, ocel_type_map FROM event_map_type"))
        assert {"event", "object", "event_object", "object_object"} <= tables
        assert {"event_map_type", "object_map_type"} <= tables
        assert mapped[sc.INVOICE_POSTED] == "InvoicePosted"
        assert "event_InvoicePosted" in tables
        assert "object_Invoice" in tables


def cli(api: httpx.Client, *args: str) -> Any:
    return run("ocel", *args, "--api-url", str(api.base_url), "--token", AUDITOR)


class TestCli:
    def test_the_cli_writes_the_export_through_the_api(
        self, api: httpx.Client, store: Client, tmp_path: Path
    ) -> None:
        """syncsight ocel --format sqlite --output FILE: a file PM4Py reads, same events."""
        output = tmp_path / "us.sqlite"
        result = cli(
            api,
            "--period",
            PERIOD,
            "--legal-entity",
            US,
            "--format",
            "sqlite",
            "--output",
            str(output),
        )
        assert result.returncode == 0, result.stderr
        log = pm4py.read_ocel2_sqlite(str(output))
        assert set(log.events["ocel:eid"]) == expected(store, us_only=True)["events"]

    def test_the_cli_names_the_server_s_refusal(self, api: httpx.Client, tmp_path: Path) -> None:
        """A bad period: exit 2 with the API's message, no file left behind."""
        output = tmp_path / "bad.jsonocel"
        result = cli(api, "--period", "2026-13", "--output", str(output))
        assert result.returncode == 2
        assert "HTTP 422" in result.stderr
        assert "period='2026-13'" in result.stderr
        assert not output.exists()
        assert not list(tmp_path.iterdir())


def test_json_is_one_document(store: Client) -> None:
    """The streamed pieces join into one JSON document with the four OCEL sections."""
    content = exported(store, "json", LogRequest(PERIOD, US, datetime.now(UTC)))
    document = json.load(io.BytesIO(content))
    assert set(document) == {"events", "objects", "eventTypes", "objectTypes"}
    assert {e["id"] for e in document["events"]} == expected(store, us_only=True)["events"]


def test_objects_are_described_as_tuples_the_collector_lets_go(store: Client) -> None:
    """What the export knows of each object (the business state's answer over its producer's
    facts) is a plain tuple, which the collector stops tracking the first time it sees it: a
    named tuple per object, built and merged some 300,000 times a period, stayed tracked and
    made a dozen full collections of the heap an export."""
    request = LogRequest(PERIOD, None, datetime.now(UTC))
    rules, facts = LineageRules.default(), BusinessStateFacts()
    pages = list(log_pages(lambda: store, rules, request, facts, page_size=1_000))
    objects = sorted({pair for page in pages for pair in page.objects}, key=lambda o: (o[1], o[0]))
    produced = {page.produced[0][0]: page.produced[0][2:] for page in pages if page.produced}
    assert produced, "no object is produced inside the log: the test reads no producer"
    states = describe_objects(lambda: store, rules, facts, request.known_at)(
        objects,
        {
            oid: (None if made[0] is None else Decimal(made[0]), *made[1:])
            for oid, made in produced.items()
        },
    )
    assert set(states) == {oid for oid, _ in objects}
    assert {states[ocel_object_id(sc.INVOICE, "INV-1")][4]} == {POSTED}
    gc.collect()
    assert [s for s in states.values() if type(s) is not tuple or gc.is_tracked(s)] == []
