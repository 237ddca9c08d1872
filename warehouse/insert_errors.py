"""Why an insert failed: the engine being unavailable (retry later) or refusing the rows themselves
(retrying the same rows can never succeed, so the batch must be set aside)."""

from __future__ import annotations

import re
from typing import Final

_CODE: Final = re.compile(r"\bcode: (\d+)", re.IGNORECASE)

TOO_MANY_PARTS: Final = 252
"""Both "too many partitions for single INSERT block" (the rows' fault) and "too many parts, merges
are slower than inserts" (a busy engine) carry this code; only the message tells them apart."""
_TOO_MANY_PARTITIONS_TEXT: Final = "partitions for single insert block"
_REASON_CHARS: Final = 1000

REFUSED_FOR_DATA: Final = {
    6: "CANNOT_PARSE_TEXT",
    25: "CANNOT_PARSE_ESCAPE_SEQUENCE",
    26: "CANNOT_PARSE_QUOTED_STRING",
    27: "CANNOT_PARSE_INPUT_ASSERTION_FAILED",
    32: "ATTEMPT_TO_READ_AFTER_EOF",
    38: "CANNOT_PARSE_DATE",
    41: "CANNOT_PARSE_DATETIME",
    53: "TYPE_MISMATCH",
    69: "ARGUMENT_OUT_OF_BOUND",
    70: "CANNOT_CONVERT_TYPE",
    72: "CANNOT_PARSE_NUMBER",
    117: "INCORRECT_DATA",
    128: "TOO_LARGE_ARRAY_SIZE",
    130: "CANNOT_READ_ARRAY_FROM_TEXT",
    131: "TOO_LARGE_STRING_SIZE",
    190: "SIZES_OF_ARRAYS_DONT_MATCH",
    321: "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE",
    349: "CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN",
    407: "DECIMAL_OVERFLOW",
}
"""ClickHouse error codes that say the inserted rows are wrong, not that the engine is unwell."""


def error_code(error: BaseException) -> int | None:
    """The ClickHouse error code quoted in ``error``'s text (server or embedded), if any."""
    match = _CODE.search(str(error))
    return int(match.group(1)) if match else None


def is_too_many_partitions(error: BaseException) -> bool:
    """The engine refused one insert block for spanning more partitions than it allows."""
    return error_code(error) == TOO_MANY_PARTS and _TOO_MANY_PARTITIONS_TEXT in str(error).lower()


def refusal_reason(error: BaseException) -> str | None:
    """The engine's reason when it refused an insert for its rows; None when it may be transient
    (connection, memory, timeouts, a busy engine and anything unrecognised: retried later)."""
    code = error_code(error)
    if code in REFUSED_FOR_DATA or is_too_many_partitions(error):
        return " ".join(str(error).split())[:_REASON_CHARS]
    return None
