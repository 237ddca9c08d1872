"""Not run alone: the ``--service-env NAME=VALUE`` option of the benchmarks that start
``syncsight serve`` (an environment variable for the service, repeatable)."""

from __future__ import annotations

import argparse


def add_service_env(parser: argparse.ArgumentParser, example: str) -> None:
    """``--service-env``, its help naming ``example`` (``NAME=VALUE``)."""
    parser.add_argument(
        "--service-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help=f"extra environment of the service, e.g. {example} (repeatable)",
    )


def service_env(items: list[str]) -> dict[str, str]:
    """The ``--service-env`` values as a mapping (the first ``=`` splits each)."""
    return dict(item.split("=", 1) for item in items)
