"""The SQL of the OCEL 2.0 period export (``lineage.ocel_log``): the next page of event ids, and
every attempt of the page's events, named by their id range (no id list is sent)."""

from __future__ import annotations

from warehouse.first_stored import FIRST_STORED_ORDER
from warehouse.queries import EVENT_COLUMNS

_OF_PERIOD = """IngestedAt <= {known_at:DateTime64(3, 'UTC')}
  AND (empty({period:String}) OR Period = {period:String}
       OR (Period = '' AND toYYYYMM(EventTime) = toUInt32OrZero(replaceOne({period:String}, '-', ''))))"""

PERIOD_EVENT_IDS = f"""
SELECT EventId
FROM biz_events
WHERE EventId > {{after:String}} AND {_OF_PERIOD}
ORDER BY EventId
LIMIT {{limit:UInt32}}
"""
"""The next ``limit`` attempts' event ids after ``after``, in the table's key order (the read
stops once it has them: a page costs its own rows, four times less than ``DISTINCT``), of events
with an attempt of ``period`` (its own, else its UTC month; every event when empty), as known at
``known_at``. A superset: an event whose own period is another but that has an attempt without
one in the month is narrowed in Python (``lineage.ocel_log.in_period``)."""

PAGE_EVENTS = f"""
SELECT {EVENT_COLUMNS}, IngestedAt, ContentHash
FROM biz_events
WHERE EventId > {{after:String}} AND EventId <= {{last:String}}
  AND IngestedAt <= {{known_at:DateTime64(3, 'UTC')}}
  AND EventId IN (
      SELECT EventId FROM biz_events
      WHERE EventId > {{after:String}} AND EventId <= {{last:String}} AND {_OF_PERIOD}
  )
ORDER BY {FIRST_STORED_ORDER}
"""
"""Every stored version (known at ``known_at``) of the attempts of the events of a page: those of
``PERIOD_EVENT_IDS`` after ``after`` up to ``last``, a key range; first stored first, as
``lineage.queries.nodes_of`` counts them (the first version of a span is its fact)."""
