"""A query parameter no route declares is refused, not ignored: ``/close-risk?legalentity=LE-DE01``
(a typo) answered every entity's rows as if the filter held, and whoever asked could not tell.
The 422 has FastAPI's shape for a request it cannot validate, naming the parameter and the ones
the route takes."""

from __future__ import annotations

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute


def refuse_unknown_query_parameters(request: Request) -> None:
    """An app-wide dependency: 422 for every query parameter the matched route does not take."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.query_params:
        return
    taken = declared_query_names(route)
    unknown = sorted({name for name in request.query_params if name not in taken})
    if not unknown:
        return
    accepted = ", ".join(sorted(taken)) or "none"
    raise RequestValidationError(
        [
            {
                "type": "extra_forbidden",
                "loc": ("query", name),
                "msg": f"unknown query parameter {name!r}; this route takes: {accepted}",
                "input": request.query_params.get(name),
            }
            for name in unknown
        ]
    )


def declared_query_names(route: APIRoute) -> frozenset[str]:
    """The query parameters ``route`` and its dependencies declare (by the name a request
    spells): a walk of a few dozen fields, asked only of a request that has a query."""
    return frozenset(_names(route.dependant))


def _names(dependant: Dependant) -> set[str]:
    names = {field.alias for field in dependant.query_params}
    for inner in dependant.dependencies:
        names |= _names(inner)
    return names
