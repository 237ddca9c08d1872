"""OCEL 2.0 JSON export of a lineage, for process-mining tools (PM4Py, Celonis, ocpa …).

Events are the lineage's business events; objects are every enterprise object they carry (the
dimensions too: a mining tool may group by them). E2O qualifiers say how an event touches an
object; O2O links follow the lineage's hops from an event's own object to the objects it came from.
Object ids are ``type:id`` so ids of different types never collide.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from domain import semconv as sc
from domain.instants import utc
from lineage.assembly import Lineage
from lineage.graph import EventNode
from lineage.rules import LineageRules

SUBJECT: Final = "subject"
"""E2O: the object the event creates or changes (its rules' producer)."""
INPUT: Final = "input"
"""E2O: an object through which upstream events feed this one (a hop)."""
DIMENSION: Final = "dimension"
REFERENCE: Final = "reference"
DERIVED_FROM: Final = "derived from"
BELONGS_TO: Final = "belongs to"

EVENT_ATTRIBUTES: Final = (
    ("outcome", "string"),
    ("source_system", "string"),
    ("target_system", "string"),
    ("amount", "float"),
    ("currency", "string"),
    ("period", "string"),
    ("attempts", "integer"),
    ("replays", "integer"),
    ("error_category", "string"),
    ("trace_id", "string"),
    ("span_id", "string"),
)


JSON_ENCODER: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
"""How OCEL JSON is written (one encoder: ``json.dumps`` with options builds one per call); the
engine and SQLite write the period log's records as it would (``lineage.ocel_queries``,
``lineage.ocel_sqlite``)."""


def ocel_object_id(object_type: str, object_id: str) -> str:
    return f"{object_type}:{object_id}"


OBJECT_ATTRIBUTES: Final = (
    ("amount", "float"),
    ("currency", "string"),
    ("legal_entity", "string"),
    ("customer", "string"),
    ("status", "string"),
)
"""What the business state knows of an object (filled by the period export)."""


def iso_instant(instant: datetime) -> str:
    """An OCEL 2.0 time: ISO 8601 in UTC with a ``Z``."""
    return utc(instant).isoformat().replace("+00:00", "Z")


def iso_time(node: EventNode) -> str:
    return iso_instant(node.timestamp)


def type_qualifier(event_type: str, object_type: str, rules: LineageRules) -> str:
    """How an event of ``event_type`` touches an object of ``object_type`` (its E2O
    qualifier)."""
    if event_type in rules.producers.get(object_type, ()):
        return SUBJECT
    if object_type in sc.DIMENSION_OBJECT_TYPES:
        return DIMENSION
    if any(hop.object_type == object_type for hop in rules.upstream_hops(event_type)):
        return INPUT
    return REFERENCE


def qualifier(node: EventNode, object_type: str, rules: LineageRules) -> str:
    """How ``node`` touches an object of ``object_type`` (its E2O qualifier)."""
    return type_qualifier(node.event_type, object_type, rules)


def attribute_records(values: Sequence[Any]) -> list[dict[str, Any]]:
    """An event's attributes given in ``EVENT_ATTRIBUTES`` order, as OCEL records: an unknown
    (None) one left out, an amount as a float."""
    return [
        {"name": name, "value": float(value) if isinstance(value, Decimal) else value}
        for (name, _), value in zip(EVENT_ATTRIBUTES, values, strict=True)
        if value is not None
    ]


def event_attributes(node: EventNode) -> list[dict[str, Any]]:
    decisive = node.decisive
    return attribute_records(
        (
            node.outcome,
            decisive.source_system,
            decisive.target_system,
            node.amount,
            node.currency,
            node.period,
            len(node.attempts),
            node.replays,
            node.error_category,
            decisive.trace_id,
            decisive.span_id,
        )
    )


Qualify = Callable[[str, str], str]
"""(event type, object type) → the E2O qualifier (``type_qualifier`` under some rules)."""


def event_relations(
    node: EventNode, rules: LineageRules
) -> tuple[list[dict[str, str]], list[tuple[str, str, str]]]:
    """The event's qualified E2O relations, and the qualified O2O links they imply
    (``relations_of``)."""
    return relations_of(node.event_type, node.objects, lambda e, o: type_qualifier(e, o, rules))


def relations_of(
    event_type: str, objects: Mapping[str, Sequence[str]], qualify: Qualify
) -> tuple[list[dict[str, str]], list[tuple[str, str, str]]]:
    """An event's qualified E2O relations, and the qualified O2O links they imply: its subject
    objects are derived from its inputs (the rules' hops) and belong to its dimensions."""
    relationships = []
    subjects = []
    for object_type, ids in sorted(objects.items()):
        how = qualify(event_type, object_type)
        for object_id in ids:
            oid = ocel_object_id(object_type, object_id)
            relationships.append({"objectId": oid, "qualifier": how})
            if how == SUBJECT:
                subjects.append(oid)
    links = [
        (
            subject,
            related["objectId"],
            DERIVED_FROM if related["qualifier"] == INPUT else BELONGS_TO,
        )
        for subject in subjects
        for related in relationships
        if related["qualifier"] in (INPUT, DIMENSION) and related["objectId"] != subject
    ]
    return relationships, links


def event_record(
    event_id: str,
    event_type: str,
    time: datetime,
    attributes: list[dict[str, Any]],
    relationships: list[dict[str, str]],
) -> dict[str, Any]:
    """The OCEL 2.0 JSON record of one event."""
    return {
        "id": event_id,
        "type": event_type,
        "time": iso_instant(time),
        "attributes": attributes,
        "relationships": relationships,
    }


def ocel_event(node: EventNode, relationships: list[dict[str, str]]) -> dict[str, Any]:
    """The OCEL 2.0 JSON record of one event node."""
    return event_record(
        node.event_id, node.event_type, node.timestamp, event_attributes(node), relationships
    )


def to_ocel(lineage: Lineage, rules: LineageRules) -> dict[str, Any]:
    """The lineage as one OCEL 2.0 JSON document."""
    events = []
    objects: dict[str, dict[str, Any]] = {}
    o2o: dict[str, dict[tuple[str, str], None]] = {}
    for node in lineage.nodes:
        relationships, links = event_relations(node, rules)
        for object_type, ids in node.objects.items():
            for object_id in ids:
                oid = ocel_object_id(object_type, object_id)
                objects.setdefault(oid, {"id": oid, "type": object_type})
        for subject, target, link in links:
            o2o.setdefault(subject, {})[(target, link)] = None
        events.append(ocel_event(node, relationships))
    for oid, record in objects.items():
        record["attributes"] = []
        record["relationships"] = [
            {"objectId": target, "qualifier": qualifier} for target, qualifier in o2o.get(oid, {})
        ]
    event_types = sorted({node.event_type for node in lineage.nodes})
    return {
        "objectTypes": [
            {"name": name, "attributes": []}
            for name in sorted({record["type"] for record in objects.values()})
        ],
        "eventTypes": [
            {
                "name": name,
                "attributes": [{"name": a, "type": t} for a, t in EVENT_ATTRIBUTES],
            }
            for name in event_types
        ],
        "objects": [objects[oid] for oid in sorted(objects)],
        "events": events,
    }


def cached_qualifier(rules: LineageRules) -> Qualify:
    """``type_qualifier`` under ``rules``, each (event type, object type) worked out once."""
    known: dict[tuple[str, str], str] = {}

    def qualify(event_type: str, object_type: str) -> str:
        key = (event_type, object_type)
        found = known.get(key)
        if found is None:
            found = known[key] = type_qualifier(event_type, object_type, rules)
        return found

    return qualify
