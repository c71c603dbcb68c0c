"""Typed reads of query and form strings (api.md §1.3): conversions and their 422 items."""

from __future__ import annotations

import pytest

from nodeloom.api import ApiError, QueryFields


def _problems(fields: QueryFields) -> list[dict]:
    with pytest.raises(ApiError) as info:
        fields.raise_if_problems()
    return info.value.detail


def test_integer_text_converts():
    assert QueryFields({"n": "-12"}).integer("n") == -12


@pytest.mark.parametrize("text", ["1.5", "abc", "", "1e3", "true"])
def test_non_integer_text_is_wrong_type(text):
    fields = QueryFields({"n": text})
    assert fields.integer("n") is None
    item = _problems(fields)[0]
    assert item["loc"] == ["query", "n"] and item["type"] == "wrong_type"


def test_huge_integer_is_out_of_range_not_a_crash():
    # int() refuses more than 4300 digits with ValueError; that must be a 422, never a 500.
    fields = QueryFields({"n": "9" * 5000})
    assert fields.integer("n") is None
    item = _problems(fields)[0]
    assert item["loc"] == ["query", "n"] and item["type"] == "out_of_range"
