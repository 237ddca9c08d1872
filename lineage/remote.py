"""The CLI's way to lineage: through the REST API (in embedded mode the service process owns the
chdb data, so nothing else may open it), and the offline check of an evidence pack."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

import httpx

from lineage.evidence import Verification, verify
from lineage.models import LineageOut
from lineage.render import render_text

FORMATS: Final = ("text", "json", "ocel", "evidence")


class LineageRequestError(RuntimeError):
    """The API could not be reached or refused the request; the message says which and why."""


def get_json(api_url: str, path: str, params: dict[str, str], token: str | None) -> Any:
    """GET a REST path with an optional bearer token; any failure is a ``LineageRequestError``
    whose message names the API, the path and the reason (the SLA CLI reuses it)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = api_url.rstrip("/") + path
    try:
        response = httpx.get(url, params=params, headers=headers, timeout=120)
    except httpx.TransportError as error:
        raise LineageRequestError(
            f"cannot reach the syncsight API at {api_url} ({error}); start it with "
            "`syncsight serve` or pass --api-url"
        ) from error
    if response.status_code != 200:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        raise LineageRequestError(f"GET {path} answered {response.status_code}: {detail}")
    return response.json()


def fetch_lineage(
    api_url: str,
    object_type: str,
    object_id: str,
    *,
    direction: str = "upstream",
    output: str = "text",
    token: str | None = None,
    known_at: str | None = None,
) -> str:
    """The lineage in ``output`` form (text tree, JSON, OCEL 2.0 JSON or evidence pack; the pack
    as known at ``known_at`` when given, to reproduce an earlier one)."""
    if output not in FORMATS:
        raise LineageRequestError(f"--format {output!r}: expected one of {', '.join(FORMATS)}")
    if known_at is not None and output != "evidence":
        raise LineageRequestError(f"--known-at applies to --format evidence, not {output!r}")
    path = f"/api/v1/lineage/{quote(object_type, safe='')}/{quote(object_id, safe='')}"
    if output in ("ocel", "evidence"):
        path += f"/{output}"
    params = {"direction": direction}
    if known_at is not None:
        params["known_at"] = known_at
    document = get_json(api_url, path, params, token)
    if output == "text":
        return render_text(LineageOut.model_validate(document))
    return json.dumps(document, indent=2, ensure_ascii=False)


class UnreadableFile(ValueError):
    """A file that cannot be read or is not JSON; the message names it and says which."""


def read_json(path: Path) -> Any:
    """The JSON document stored at ``path``."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise UnreadableFile(f"{path}: cannot read the file ({error.strerror})") from None
    except ValueError as error:
        raise UnreadableFile(f"{path}: not JSON ({error})") from None


def verify_file(path: Path, *, expected_root: str | None = None) -> Verification:
    """Verify the evidence pack stored at ``path``."""
    try:
        pack = read_json(path)
    except UnreadableFile as error:
        return Verification(False, str(error))
    return verify(pack, expected_root=expected_root)
