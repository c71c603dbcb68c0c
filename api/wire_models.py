"""Wire models every route shares: the error body of api.md §1.2.

:mod:`nodeloom.api.errors` builds these bodies as dicts; the classes here state their shape once,
for the OpenAPI components (``ErrorResponse`` and, nested, ``ValidationErrorItem``, which is
:class:`nodeloom.api.fields.Problem` itself).
"""

from __future__ import annotations

import attrs

from nodeloom.api.fields import Problem
from nodeloom.api.schema import components_for, wire_field, wire_model

__all__ = ["ERROR_SCHEMAS", "ErrorResponse"]


@wire_model(extra=True)  # some errors add fields (candidates, errors, line, ...)
@attrs.frozen(kw_only=True)
class ErrorResponse:
    """Every error response (api.md §1.2); some errors add fields of their own."""

    detail: str | list[Problem] = wire_field("Human-readable message; a list of items for 422 validation_error.")
    code: str = wire_field("Stable machine-readable error code (api.md Appendix B).")
    error_id: str = wire_field("500 internal_error only: the id logged with the traceback.", required=False,
                               pattern="^[0-9a-f]{12}$")
    success: bool = wire_field("Blobit-style routes only: always false on errors.", required=False)
    error: str = wire_field("Blobit-style routes only: the detail as one string.", required=False)


#: ``ErrorResponse`` and ``ValidationErrorItem``, as published in every OpenAPI document.
ERROR_SCHEMAS = components_for([ErrorResponse])
