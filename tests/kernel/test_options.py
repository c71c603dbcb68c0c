"""Run option parsing (engine.md §4.12, api.md §3.3): strict types, ranges and defaults."""

from __future__ import annotations

import uuid

import pytest

from nodeloom.kernel.options import (
    GradHealth,
    InvalidRunOption,
    RunOptions,
    parse_run_options,
)


def problems(raw):
    with pytest.raises(InvalidRunOption) as info:
        parse_run_options(raw)
    return {(tuple(p["loc"]), p["type"]) for p in info.value.problems}


def test_defaults_match_the_spec_table():
    opts = parse_run_options({})
    assert uuid.UUID(opts.run_id).version == 4
    assert opts.graph_id == "" and opts.device == "cpu" and opts.seed is None
    assert opts.max_workers == 4 and opts.error_mode == "fail_fast" and opts.max_retries == 0
    assert opts.changed_nodes == () and opts.module_mode == "train"
    assert (opts.record_outputs, opts.verbose_mode, opts.backward_mode, opts.auto_backward) == (
        False,
        False,
        False,
        False,
    )
    assert opts.weights_persistent is True
    assert opts.timeout_s is None and opts.cancel_grace_s == 30.0
    assert opts.grad_health == GradHealth(1e-7, 1e-8, 1e3, 1e2)


def test_two_parses_get_distinct_run_ids():
    assert parse_run_options({}).run_id != parse_run_options({}).run_id


def test_full_execute_message_parses_and_ignores_unknown_keys():
    raw = {
        "action": "execute",
        "nodes": [],
        "edges": [],
        "name": "x",
        "run_id": "run-1:a.b_c",
        "graph_id": "tab-7",
        "device": "  CUDA:1 ",
        "seed": 2**63 - 1,
        "max_workers": 64,
        "error_mode": "retry",
        "max_retries": 10,
        "changed_nodes": ["a", "b"],
        "record_outputs": True,
        "verbose_mode": True,
        "backward_mode": True,
        "auto_backward": True,
        "grad_health": {"vanish_norm": 1, "explode_max": 5.5, "extra": "ignored"},
        "weights_persistent": False,
        "module_mode": "eval",
        "timeout_s": 2,
        "cancel_grace_s": 0,
    }
    opts = parse_run_options(raw)
    assert opts.run_id == "run-1:a.b_c" and opts.graph_id == "tab-7"
    assert opts.device == "cuda:1"
    assert opts.seed == 2**63 - 1 and opts.max_workers == 64 and opts.max_retries == 10
    assert opts.error_mode == "retry" and opts.module_mode == "eval"
    assert opts.changed_nodes == ("a", "b")
    assert opts.record_outputs and opts.verbose_mode and opts.backward_mode and opts.auto_backward
    assert opts.weights_persistent is False
    assert opts.grad_health == GradHealth(vanish_norm=1.0, explode_max=5.5)
    assert isinstance(opts.timeout_s, float) and opts.timeout_s == 2.0
    assert opts.cancel_grace_s == 0.0
    # as_dict round-trips through the parser
    assert parse_run_options(opts.as_dict()) == opts


def test_null_means_default():
    opts = parse_run_options({"seed": None, "timeout_s": None, "device": None, "max_workers": None})
    assert opts.seed is None and opts.timeout_s is None and opts.device == "cpu" and opts.max_workers == 4


@pytest.mark.parametrize("device, expected", [("", "cpu"), ("AUTO", "auto"), (" mps", "mps"), ("cuda", "cuda"), ("cuda:0", "cuda:0")])
def test_device_is_normalised(device, expected):
    assert parse_run_options({"device": device}).device == expected


@pytest.mark.parametrize("device", ["gpu", "cuda:", "cuda:x", "cuda:-1", "cpu0", "tpu", "cuda 0"])
def test_malformed_device_is_rejected(device):
    assert problems({"device": device}) == {(("device",), "invalid_value")}


@pytest.mark.parametrize(
    "flag", ["record_outputs", "verbose_mode", "backward_mode", "auto_backward", "weights_persistent"]
)
@pytest.mark.parametrize("value", ["false", 0, 1, "true", [], {}])
def test_flags_must_be_json_booleans(flag, value):
    assert problems({flag: value}) == {((flag,), "wrong_type")}


@pytest.mark.parametrize(
    "raw, expected",
    [
        ({"max_workers": 0}, ("max_workers", "out_of_range")),
        ({"max_workers": 65}, ("max_workers", "out_of_range")),
        ({"max_workers": 2.0}, ("max_workers", "wrong_type")),
        ({"max_workers": True}, ("max_workers", "wrong_type")),
        ({"max_retries": -1}, ("max_retries", "out_of_range")),
        ({"max_retries": 11}, ("max_retries", "out_of_range")),
        ({"seed": -1}, ("seed", "out_of_range")),
        ({"seed": 2**63}, ("seed", "out_of_range")),
        ({"seed": "1"}, ("seed", "wrong_type")),
        ({"seed": False}, ("seed", "wrong_type")),
        ({"timeout_s": 0}, ("timeout_s", "out_of_range")),
        ({"timeout_s": -1.5}, ("timeout_s", "out_of_range")),
        ({"timeout_s": "5"}, ("timeout_s", "wrong_type")),
        ({"timeout_s": float("inf")}, ("timeout_s", "invalid_value")),
        ({"cancel_grace_s": -0.1}, ("cancel_grace_s", "out_of_range")),
        ({"cancel_grace_s": True}, ("cancel_grace_s", "wrong_type")),
        ({"error_mode": "ignore"}, ("error_mode", "not_in_enum")),
        ({"error_mode": 1}, ("error_mode", "wrong_type")),
        ({"module_mode": "test"}, ("module_mode", "not_in_enum")),
        ({"run_id": "-starts-with-dash"}, ("run_id", "invalid_value")),
        ({"run_id": "a" * 129}, ("run_id", "invalid_value")),
        ({"run_id": "has space"}, ("run_id", "invalid_value")),
        ({"run_id": 5}, ("run_id", "wrong_type")),
        ({"graph_id": 5}, ("graph_id", "wrong_type")),
        ({"changed_nodes": "a"}, ("changed_nodes", "wrong_type")),
        ({"grad_health": [1]}, ("grad_health", "wrong_type")),
    ],
)
def test_invalid_values(raw, expected):
    loc, type_ = expected
    assert problems(raw) == {((loc,), type_)}


def test_item_errors_carry_their_index_and_every_problem_is_reported():
    found = problems(
        {
            "changed_nodes": ["a", 3],
            "grad_health": {"vanish_norm": "x", "explode_norm": True},
            "max_workers": 0,
            "record_outputs": "yes",
        }
    )
    assert found == {
        (("changed_nodes", 1), "wrong_type"),
        (("grad_health", "vanish_norm"), "wrong_type"),
        (("grad_health", "explode_norm"), "wrong_type"),
        (("max_workers",), "out_of_range"),
        (("record_outputs",), "wrong_type"),
    }


def test_error_carries_code_and_readable_message():
    with pytest.raises(InvalidRunOption) as info:
        parse_run_options({"error_mode": "ignore"})
    assert info.value.code == "invalid_run_option"
    assert "ignore" in str(info.value) and "fail_fast" in str(info.value)
    assert set(info.value.problems[0]) == {"loc", "msg", "type"}


def test_non_mapping_is_rejected_and_none_gives_defaults():
    assert problems(["x"]) == {((), "wrong_type")}
    assert parse_run_options(None).max_workers == 4


def test_node_options_expose_the_documented_subset():
    opts = RunOptions(verbose_mode=True, graph_id="g", module_mode="eval")
    seen = opts.node_options()
    assert seen["verbose"] is True and seen["graph_id"] == "g" and seen["module_mode"] == "eval"
    assert {"backward_mode", "weights_persistent", "record_outputs"} <= set(seen)
