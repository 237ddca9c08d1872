"""What the never-ending held pieces cost close risk's at-risk read (issue 14): the read as the
answer makes it, at the instants ``benchmarks/answer_profile.py`` draws for close risk of every
period, against the same read without the pieces that never end in the states blocked and posted
into another period (what a read that took those from state of their own would still read). The
two reads return different rows: the second is a lower bound of the first's cost, not an answer.
Opens the data directory itself: no service may hold it.
Run: ``.venv/bin/python benchmarks/lasting_pieces.py --clickhouse-url chdb:///abs/path/data
[--answers 6] [--rounds 2]``
"""

from __future__ import annotations

import argparse
import random
import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.process_stats import own_cpu_seconds
from benchmarks.statement_settings import Capturing, opened
from slas import close_item_pieces
from slas.close_state import CloseRiskAnswers
from tests.firm import firm_calendar_book
from warehouse.schema import PIECE_NEVER

HELD = "State IN (1, 2, 3) AND Ends > {as_of:DateTime64(6, 'UTC')}"
WITHOUT_LASTING = f"(State = 1 OR Ends < {PIECE_NEVER}) AND {HELD}"
AT_RISK = "SELECT LegalEntity, DuePeriod, Currency, reason"
"""How ``slas.close_item_pieces.at_risk_items_sql`` begins."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clickhouse-url", required=True, help="chdb:///abs/path/data")
    parser.add_argument("--answers", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=2, help="times each read is repeated")
    parser.add_argument("--seed", type=int, default=7)
    arguments = parser.parse_args()

    client, state, first, span = opened(arguments.clickhouse_url)
    capturing = Capturing(client)
    answers = CloseRiskAnswers(lambda: capturing, firm_calendar_book(), state)  # type: ignore[arg-type, return-value]
    rng = random.Random(arguments.seed)
    for _ in range(arguments.answers):
        answers.report(None, first + timedelta(seconds=rng.uniform(0.1 * span, span)), None)
    at_risk = [(s, p) for s, p in capturing.statements if s.lstrip().startswith(AT_RISK)]
    assert close_item_pieces.at_risk_items_sql(0).count(HELD) == 1
    lasting = f"""SELECT countIf(State = 2), countIf(State = 3) FROM close_item_pieces
        WHERE State IN (2, 3) AND Ends = {PIECE_NEVER}"""
    blocked, elsewhere = client.query(lasting).result_rows[0]
    print(f"never-ending rows: {blocked:,} blocked, {elsewhere:,} posted into another period")
    for name, variant in (("as answered", HELD), ("without the never-ending", WITHOUT_LASTING)):
        cpu, rows = own_cpu_seconds(), 0
        for _ in range(arguments.rounds):
            for statement, parameters in at_risk:
                result = client.query(statement.replace(HELD, variant), parameters=parameters)
                rows += len(result.result_rows)
        count = arguments.rounds * len(at_risk)
        per = 1000 * (own_cpu_seconds() - cpu) / count
        print(f"{name}: {per:.0f} ms CPU per read ({count} reads, {rows // count} rows each)")


if __name__ == "__main__":
    main()
