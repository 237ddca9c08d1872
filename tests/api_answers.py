"""API answers built from the response models the API itself uses (``lineage.models``,
``slas.models``), serialised as FastAPI serialises them: a field renamed or retyped in a model
changes these payloads, so the client and dashboard tests that read them break with it."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from lineage.audit_models import (
    AmountOut,
    AuditReportOut,
    DifferenceOut,
    InterfaceOut,
    QueryOut,
    SideOut,
    SignatureOut,
)
from lineage.ledger_models import (
    CallerOut,
    DownloadOut,
    DownloadsOut,
    TreeHeadOut,
    TreeHeadsOut,
)
from lineage.models import (
    BlockedInvoicesOut,
    BlockedItemOut,
    BlockerOut,
    LineageGap,
    LineageNode,
    LineageOut,
    ObjectRefOut,
    StreamSilenceOut,
    TelemetrySilenceOut,
)
from slas.models import (
    AlertOut,
    AlertSummaryOut,
    BurnRateOut,
    CloseRiskOut,
    ContributorOut,
    ObjectiveOut,
    SlaOut,
    TimerKey,
    TimerOut,
    TrendPointOut,
    TrendSlaOut,
)
from slas.work_item_models import (
    WorkItemActionOut,
    WorkItemDetailOut,
    WorkItemOut,
    WorkItemPageOut,
)


def at(text: str) -> datetime:
    """An RFC 3339 instant as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def wire(answer: BaseModel | list[Any]) -> Any:
    """The JSON a FastAPI ``response_model`` sends for ``answer`` (aliases, RFC 3339 times)."""
    if isinstance(answer, list):
        return [wire(part) for part in answer]
    return answer.model_dump(mode="json", by_alias=True)


def sla(name: str, attainment: float | None, breached: int, at_risk: int) -> SlaOut:
    return SlaOut(
        name=name,
        target="1d",
        counts={"met": 90, "breached": breached, "at_risk": at_risk, "on_track": 4},
        attainment=attainment,
        p50_business_hours=12.5,
        p95_business_hours=30.0,
        owner="billing team",
        severity="error",
        description=f"{name} within its target.",
    )


def trend_point(as_of: str, *slas: tuple[str, float]) -> TrendPointOut:
    return TrendPointOut(
        as_of=at(as_of),
        slas=[
            TrendSlaOut(name=name, counts={"met": 90, "breached": 10}, attainment=share)
            for name, share in slas
        ],
    )


def timer(key: str, state: str, hours: float, deadline: str, *, stopped: bool = False) -> TimerOut:
    return TimerOut(
        key=TimerKey(type="billing_event", id=key),
        state=state,
        started_at=at("2026-10-28T09:00:00Z"),
        stopped_at=at("2026-10-29T09:00:00Z") if stopped else None,
        deadline=at(deadline),
        business_elapsed_hours=hours,
        legal_entity="LE-UK01",
        amount=Decimal("1000.00"),
        currency="GBP",
        breach_reason="late" if state == "breached" else "",
        percent_elapsed=100 * hours / 24,
        start_event_id=f"billing.ready:{key}",
        stop_event_id=f"invoice.posted:{key}" if stopped else "",
    )


def objective(
    name: str, entity: str, met: int, breached: int, *, fast: float, slow: float
) -> ObjectiveOut:
    """A 95 % objective over 20 business days; ``fast`` and ``slow`` are both windows' burn."""
    budget = 0.05 * (met + breached)
    return ObjectiveOut(
        sla=name,
        legal_entity=entity,
        objective=0.95,
        window="20d",
        window_business_hours=480.0,
        met=met,
        breached=breached,
        attainment=met / (met + breached) if met + breached else None,
        error_budget=budget,
        budget_left=1 - breached / budget if budget else None,
        burn_rates=[
            BurnRateOut(
                tier=tier,
                window=window,
                severity=severity,
                long_window_business_hours=hours,
                short_window_business_hours=hours / 12,
                factor=factor,
                long_burn_rate=rate,
                short_burn_rate=rate,
                firing=rate > factor,
            )
            for tier, window, severity, hours, factor, rate in (
                ("fast", "1d", "critical", 24.0, 2.0, fast),
                ("slow", "5d", "warning", 120.0, 1.0, slow),
            )
        ],
    )


def risk(
    entity: str,
    period: str,
    level: str,
    amount: Decimal,
    currency: str,
    *,
    materiality: Decimal = Decimal(50000),
) -> CloseRiskOut:
    return CloseRiskOut(
        legal_entity=entity,
        period=period,
        close_date="2026-11-06",
        close_deadline="2026-11-06T23:59:59+00:00",
        business_days_left=5,
        amount_due={currency: amount * 2},
        amount_at_risk={currency: amount},
        materiality=materiality,
        level=level,
        contributors=[
            ContributorOut(
                object=TimerKey(type="billing_event", id=f"BE-{entity}-1"),
                amount=amount,
                currency=currency,
                reason="blocked",
                failed_event_type="invoice.posted",
                error_category="downstream",
                error_code="HTTP_503",
                posted_period=None,
                projected_post_at=None,
            )
        ],
    )


def blocker(event_id: str, category: str, owner: str, since: str | None) -> BlockerOut:
    return BlockerOut(
        event_id=event_id,
        event_type=event_id.split(":")[0],
        error_category=category,
        error_code="X",
        owner=owner,
        failed_since=at(since) if since else None,
    )


def blocked_item(
    object_id: str,
    amount: Decimal | None,
    currency: str,
    entity: str,
    *blockers: BlockerOut,
    period: str = "2026-10",
) -> BlockedItemOut:
    return BlockedItemOut(
        object=ObjectRefOut(type="billing_event", id=object_id),
        invoice=f"INV-{object_id}",
        stage="invoice.posted",
        amount=amount,
        currency=currency,
        legal_entity=entity,
        period=period,
        blocked_by=list(blockers),
    )


def blocked(as_of: str, *items: BlockedItemOut) -> BlockedInvoicesOut:
    total: dict[str, Decimal] = {}
    for item in items:
        if item.amount is not None:
            total[item.currency] = total.get(item.currency, Decimal(0)) + item.amount
    return BlockedInvoicesOut(as_of=at(as_of), total=total, count=len(items), items=list(items))


def lineage_node(
    event_id: str,
    when: str,
    source: str,
    target: str,
    outcome: str = "success",
    attempts: int = 1,
    replays: int = 0,
) -> LineageNode:
    return LineageNode(
        event_id=event_id,
        event_type=event_id.split(":")[0],
        timestamp=at(when),
        source_system=source,
        target_system=target,
        outcome=outcome,
        attempts=attempts,
        replays=replays,
        amount=Decimal("100.00"),
        currency="GBP",
        period="2026-10",
        legal_entity="LE-UK01",
        error_category="downstream" if outcome != "success" else "",
        objects={},
        trace_id=f"trace-{event_id}",
        span_id=f"span-{event_id}",
    )


def lineage(
    root: tuple[str, str], *nodes: LineageNode, edges: list[dict[str, Any]] | None = None
) -> LineageOut:
    """A lineage of ``nodes``; each failed node is a ``posting_failed`` gap."""
    return LineageOut.model_validate(
        {
            "root": {"type": root[0], "id": root[1]},
            "root_events": [nodes[0].event_id] if nodes else [],
            "direction": "upstream",
            "nodes": nodes,
            "edges": edges or [],
            "source_events": [n.event_id for n in nodes if n.source_system == "crm"],
            "complete": all(n.outcome == "success" for n in nodes),
            "gaps": [
                LineageGap(
                    kind="posting_failed",
                    event_id=n.event_id,
                    event_type=n.event_type,
                    message="has not succeeded",
                )
                for n in nodes
                if n.outcome != "success"
            ],
        }
    )


def alert(name: str, status: str, entity: str, started: str, ended: str | None = None) -> AlertOut:
    return AlertOut(
        fingerprint=f"{name}-{entity}",
        status=status,
        labels={
            "alertname": name,
            "sla": "time-to-invoice-posting",
            "legal_entity": entity,
            "severity": "error" if name == "SlaBreached" else "warning",
            "owner": "billing team",
        },
        annotations={"summary": f"{name} in {entity}"},
        starts_at=at(started),
        ends_at=at(ended) if ended else None,
        notified=[],
    )


def alert_summary(firing: int, resolved: int) -> AlertSummaryOut:
    return AlertSummaryOut(firing=firing, resolved=resolved, by_sla={}, by_severity={})


def silence(as_of: str, *streams: tuple[str, str, float, float, bool]) -> TelemetrySilenceOut:
    """A telemetry-silence answer of (kind, stream, silent business hours, limit, missing)."""
    return TelemetrySilenceOut(
        as_of=at(as_of),
        missing=sum(missing for *_, missing in streams),
        streams=[
            StreamSilenceOut(
                kind=kind,
                stream=name,
                last_seen=at(as_of),
                silence_business_hours=hours,
                limit_business_hours=limit,
                learnt_business_hours=None,
                bound_business_hours=limit,
                missing=missing,
            )
            for kind, name, hours, limit, missing in streams
        ],
    )


def work_item(
    item_id: str,
    owner: str,
    money: dict[str, str],
    age_hours: float,
    *,
    kind: str = "blocking_failure",
    state: str = "open",
    title: str = "invoice.posted",
    legal_entity: str = "LE-UK01",
) -> WorkItemOut:
    return WorkItemOut(
        id=item_id,
        kind=kind,
        event_id=f"{title}:{item_id}",
        sla="time-to-invoice-posting" if kind == "breached_timer" else "",
        key_type="billing_event" if kind == "breached_timer" else "",
        key_id=item_id if kind == "breached_timer" else "",
        title=title,
        detail="downstream: HTTP 503",
        owner=owner,
        legal_entities=[legal_entity],
        money_blocked={currency: Decimal(amount) for currency, amount in money.items()},
        blocked_items=1,
        since=at("2026-10-29T09:00:00Z"),
        age_business_hours=age_hours,
        state=state,
        resolution="",
        assignee="",
        snoozed_until=None,
        last_comment="",
        updated_at=None,
    )


def work_item_page(as_of: str, *items: WorkItemOut, may_act: bool) -> WorkItemPageOut:
    return WorkItemPageOut(
        as_of=at(as_of), total=len(items), items=list(items), next_cursor=None, may_act=may_act
    )


def work_item_detail(item: WorkItemOut, *actions: tuple[str, str, str]) -> WorkItemDetailOut:
    """``item`` with a history of (action, actor, at) rows."""
    return WorkItemDetailOut(
        **item.model_dump(),
        history=[
            WorkItemActionOut(
                action=action, actor=actor, at=at(when), assignee="", snoozed_until=None, text=""
            )
            for action, actor, when in actions
        ],
    )


def side(count: int, **amounts: str) -> SideOut:
    """A report side of ``count`` events with its amount per currency (``GBP="10.00"``)."""
    return SideOut(
        count=count, amounts=[AmountOut(currency=c, amount=a) for c, a in amounts.items()]
    )


def interface(
    name: str,
    object_type: str,
    checks: list[str],
    source: SideOut,
    target: SideOut,
    differences: dict[str, int],
) -> InterfaceOut:
    return InterfaceOut(
        interface=name,
        target_type=name.split(" → ")[-1].split(" by ")[0],
        object_type=object_type,
        source_types=name.split(" → ")[0].split(" | "),
        required=True,
        checks=checks,
        items=source.count,
        source=source,
        target=target,
        differences=differences,
    )


def difference(
    name: str, kind: str, object_type: str, object_id: str, source: str, target: str
) -> DifferenceOut:
    """A listed difference of interface ``name``; ``target`` empty when nothing arrived."""
    return DifferenceOut(
        interface=name,
        kind=kind,
        object_type=object_type,
        object_id=object_id,
        source_event_ids=[f"src:{object_id}"],
        target_event_ids=[f"tgt:{object_id}"] if target else [],
        source_amount=source,
        target_amount=target,
        currency="GBP",
        target_at="2026-11-09T10:00:00Z" if target else "",
        lineage_url=f"/api/v1/lineage/{object_type}/{object_id}?direction=both",
    )


def tree_head(day: str, size: int) -> TreeHeadOut:
    return TreeHeadOut(
        format="syncsight.tree-head/1",
        day=day,
        tree_size=size,
        root_hash=f"{size:064x}",
        timestamp=f"{day}T23:59:59.999Z",
        key_id="3f9c1a2b4d5e6f70",
        signature="c2lnbmF0dXJl",
    )


def audit_report(
    period: str,
    legal_entity: str,
    known_at: str,
    interfaces: list[InterfaceOut],
    differences: list[DifferenceOut],
    *,
    knowledge_days: list[str],
    heads: list[TreeHeadOut],
    truncated: bool = False,
) -> AuditReportOut:
    return AuditReportOut(
        format="syncsight.audit-report/1",
        period=period,
        legal_entity=legal_entity,
        known_at=known_at,
        close_deadline="2026-11-06T23:59:59Z",
        query=QueryOut(sql="SELECT 1", parameters={"period": period}, sha256="ab" * 32),
        interfaces=interfaces,
        differences=differences,
        truncated=truncated,
        knowledge_days=knowledge_days,
        max_differences_per_kind=10000,
        root_hash="cd" * 32,
        signature=SignatureOut(
            algorithm="ed25519",
            statement="syncsight.evidence-root/1",
            key_id="3f9c1a2b4d5e6f70",
            value="c2lnbmF0dXJl",
        ),
        ledger_heads=heads,
        generated_at=known_at,
    )


def tree_heads(*heads: TreeHeadOut) -> TreeHeadsOut:
    return TreeHeadsOut(heads=list(heads))


def downloads(*entries: tuple[str, str, str, dict[str, Any]]) -> DownloadsOut:
    """An access trail of (at, token name, role, parameters) report downloads."""
    return DownloadsOut(
        downloads=[
            DownloadOut(
                at=when,
                token_name=name,
                role=role,
                kind="report",
                path="/api/v1/audit/report",
                parameters=parameters,
                root_hash="cd" * 32,
                key_id="3f9c1a2b4d5e6f70",
                signature="c2lnbmF0dXJl",
            )
            for when, name, role, parameters in entries
        ]
    )


def caller(token_name: str, role: str, *also: str) -> CallerOut:
    """A token's ``/api/v1/me`` answer: its role, viewer, and the roles in ``also`` it covers."""
    return CallerOut(
        local_only=False,
        token_name=token_name,
        role=role,
        acts_as=sorted({"viewer", role, *also}),
    )
