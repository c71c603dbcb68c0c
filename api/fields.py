"""Typed field readers for request data (api.md §1.2 schema errors, §1.3 parsing rules).

Routes read JSON bodies with :class:`Fields`, query strings with :class:`QueryFields` and multipart
forms with :class:`FormFields`. Readers collect every problem instead of stopping at the first;
:meth:`Fields.raise_if_problems` turns them into one 422 ``validation_error`` whose ``detail``
lists ``{loc, msg, type}`` items.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal

import attrs

from nodeloom.api.errors import ApiError
from nodeloom.api.schema import wire_field, wire_model

Loc = tuple[str | int, ...]
#: The ``type`` of a 422 item (api.md §1.2).
ProblemType = Literal["json_invalid", "missing", "wrong_type", "not_in_enum", "out_of_range", "invalid_value"]

#: Marks a field without a default: absent is ``missing``, ``null`` is ``wrong_type``.
REQUIRED: Any = object()

_INT_TEXT = re.compile(r"^-?[0-9]+$")


@wire_model("ValidationErrorItem")
@attrs.frozen
class Problem:
    """One 422 item: where (``loc``), a human-readable ``msg`` and the problem ``type``."""

    loc: Loc = wire_field('Where: "body", "query" or "form", then keys and list indices.')
    msg: str = wire_field('Human-readable message, e.g. "Field required".')
    type: ProblemType = wire_field("What kind of problem.")

    def wire(self) -> dict[str, Any]:
        return {"loc": list(self.loc), "msg": self.msg, "type": self.type}


def validation_error(problems: Sequence[Problem]) -> ApiError:
    """The 422 ``validation_error`` for ``problems``."""
    return ApiError(422, "validation_error", [p.wire() for p in problems])


def invalid(loc: Loc, msg: str, type_: ProblemType = "invalid_value") -> ApiError:
    """A 422 with a single item, for checks a route makes after reading its fields."""
    return validation_error([Problem(tuple(loc), msg, type_)])


class Fields:
    """Typed reads from a parsed JSON object; problems are collected, not raised one by one.

    Each reader returns the value, the default, or ``None`` after recording a problem. Pass
    ``default=REQUIRED`` (the default) for required fields.
    """

    source = "body"

    def __init__(
        self, data: Mapping[str, Any], loc: Loc | None = None, problems: list[Problem] | None = None
    ) -> None:
        self.data = data
        self.loc: Loc = loc if loc is not None else (self.source,)
        self.problems: list[Problem] = problems if problems is not None else []

    # -- plumbing

    def problem(self, key: str | int | None, msg: str, type_: ProblemType) -> None:
        """Record a problem at ``key`` (None: this object itself)."""
        loc = self.loc if key is None else (*self.loc, key)
        self.problems.append(Problem(loc, msg, type_))

    def raise_if_problems(self) -> None:
        if self.problems:
            raise validation_error(self.problems)

    def _raw(self, key: str, default: Any) -> tuple[bool, Any]:
        """(found, value); records ``missing``/``wrong_type`` for absent or null required fields."""
        value = self.data.get(key)
        if value is None:
            if default is REQUIRED:
                if key in self.data:
                    self.problem(key, "Input should not be null", "wrong_type")
                else:
                    self.problem(key, "Field required", "missing")
                return False, None
            return False, default
        return True, value

    def _convert(self, key: str, value: Any, kind: str) -> tuple[bool, Any]:
        """Source-specific conversion (JSON values are used as they are, but type-checked)."""
        ok = {
            "str": isinstance(value, str),
            "int": isinstance(value, int) and not isinstance(value, bool),
            "number": isinstance(value, (int, float)) and not isinstance(value, bool),
            "bool": isinstance(value, bool),
        }[kind]
        if not ok:
            self.problem(key, _TYPE_MSG[kind], "wrong_type")
        return ok, value

    # -- scalar readers

    def string(
        self,
        key: str,
        *,
        default: Any = REQUIRED,
        min_length: int | None = None,
        max_length: int | None = None,
        pattern: str | re.Pattern[str] | None = None,
    ) -> Any:
        found, value = self._raw(key, default)
        if not found:
            return value
        ok, value = self._convert(key, value, "str")
        if not ok:
            return None
        if not self._length_ok(key, value, min_length, max_length, "String", "characters"):
            return None
        if pattern is not None and not re.fullmatch(pattern, value):
            self.problem(key, f"String should match pattern '{getattr(pattern, 'pattern', pattern)}'", "invalid_value")
            return None
        return value

    def integer(self, key: str, *, default: Any = REQUIRED, ge: float | None = None, le: float | None = None) -> Any:
        return self._numeric(key, "int", default, ge, le)

    def number(self, key: str, *, default: Any = REQUIRED, ge: float | None = None, le: float | None = None) -> Any:
        return self._numeric(key, "number", default, ge, le)

    def boolean(self, key: str, *, default: Any = REQUIRED) -> Any:
        found, value = self._raw(key, default)
        if not found:
            return value
        ok, value = self._convert(key, value, "bool")
        return value if ok else None

    def choice(self, key: str, choices: Sequence[str], *, default: Any = REQUIRED) -> Any:
        found, value = self._raw(key, default)
        if not found:
            return value
        ok, value = self._convert(key, value, "str")
        if not ok:
            return None
        if value not in choices:
            listed = ", ".join(f"'{c}'" for c in choices)
            self.problem(key, f"Input should be one of {listed}", "not_in_enum")
            return None
        return value

    # -- containers (JSON only)

    def mapping(self, key: str, *, default: Any = REQUIRED) -> Any:
        found, value = self._raw(key, default)
        if not found:
            return value
        if not isinstance(value, dict):
            self.problem(key, "Input should be an object", "wrong_type")
            return None
        return value

    def array(
        self, key: str, *, default: Any = REQUIRED, min_length: int | None = None, max_length: int | None = None
    ) -> Any:
        found, value = self._raw(key, default)
        if not found:
            return value
        if not isinstance(value, list):
            self.problem(key, "Input should be a list", "wrong_type")
            return None
        if not self._length_ok(key, value, min_length, max_length, "List", "items"):
            return None
        return value

    def nested(self, key: str, *, default: Any = REQUIRED) -> Fields | None:
        """A reader over an object field, sharing this reader's problem list."""
        value = self.mapping(key, default=default)
        return Fields(value, (*self.loc, key), self.problems) if isinstance(value, dict) else None

    def items(self, key: str, *, default: Any = REQUIRED) -> Iterator[tuple[int, Fields]]:
        """``(index, reader)`` for each object in a list field; non-objects are ``wrong_type``."""
        values = self.array(key, default=default) or []
        for index, item in enumerate(values):
            if isinstance(item, dict):
                yield index, Fields(item, (*self.loc, key, index), self.problems)
            else:
                self.problems.append(Problem((*self.loc, key, index), "Input should be an object", "wrong_type"))

    # -- helpers

    def _numeric(self, key: str, kind: str, default: Any, ge: float | None, le: float | None) -> Any:
        found, value = self._raw(key, default)
        if not found:
            return value
        ok, value = self._convert(key, value, kind)
        if not ok:
            return None
        if ge is not None and value < ge:
            self.problem(key, f"Input should be greater than or equal to {ge}", "out_of_range")
            return None
        if le is not None and value > le:
            self.problem(key, f"Input should be less than or equal to {le}", "out_of_range")
            return None
        return value

    def _length_ok(self, key: str, value: Any, lo: int | None, hi: int | None, what: str, unit: str) -> bool:
        if lo is not None and len(value) < lo:
            self.problem(key, f"{what} should have at least {lo} {unit}", "out_of_range")
            return False
        if hi is not None and len(value) > hi:
            self.problem(key, f"{what} should have at most {hi} {unit}", "out_of_range")
            return False
        return True


_TYPE_MSG = {
    "str": "Input should be a valid string",
    "int": "Input should be a valid integer",
    "number": "Input should be a valid number",
    "bool": "Input should be a valid boolean",
}


class _TextFields(Fields):
    """Readers over string values (query strings, form fields): converts instead of type-checking."""

    _TRUE = frozenset({"true", "1"})
    _FALSE = frozenset({"false", "0", ""})

    def __init__(self, data: Mapping[str, Any], problems: list[Problem] | None = None) -> None:
        super().__init__(data, (self.source,), problems)

    def _raw(self, key: str, default: Any) -> tuple[bool, Any]:
        # MultiDict.get returns the first occurrence (§1.3 query rule).
        value = self.data.get(key)
        if value is None:
            if default is REQUIRED:
                self.problem(key, "Field required", "missing")
                return False, None
            return False, default
        return True, value

    def _convert(self, key: str, value: Any, kind: str) -> tuple[bool, Any]:
        text = value if isinstance(value, str) else str(value)
        if kind == "str":
            return True, text
        if kind == "int":
            if _INT_TEXT.match(text.strip()):
                try:
                    return True, int(text.strip())
                except ValueError:  # Python refuses int() of more than 4300 digits
                    self.problem(key, "Number is too large", "out_of_range")
                    return False, None
        elif kind == "number":
            try:
                number = float(text.strip())
            except ValueError:
                number = math.nan
            if math.isfinite(number):
                return True, number
        elif kind == "bool":
            lowered = text.strip().lower()
            if lowered in self._TRUE:
                return True, True
            if lowered in self._FALSE:
                return True, False
        self.problem(key, _TYPE_MSG[kind], "wrong_type")
        return False, None


class QueryFields(_TextFields):
    """Typed reads from ``request.args``: ``QueryFields(request.args).integer("n", default=1, ge=1)``."""

    source = "query"


class FormFields(_TextFields):
    """Typed reads from a multipart form; :meth:`file` reads a file part."""

    source = "form"

    def __init__(self, form: Mapping[str, Any], files: Mapping[str, Any] | None = None,
                 problems: list[Problem] | None = None) -> None:
        super().__init__(form, problems)
        self.files = files or {}

    def file(self, key: str = "file", *, required: bool = True) -> Any:
        """The uploaded file part (a werkzeug ``FileStorage``), or None after recording ``missing``."""
        part = self.files.get(key)
        if part is None and required:
            self.problem(key, "Field required", "missing")
        return part
