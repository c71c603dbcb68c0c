"""Output summaries (api.md §4.6), REST value bodies (§4.7), slices and ``.npy`` (§4.8)."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from nodeloom.plugins.api_routes import slices, values, wire


def dumps_strict(value: object) -> str:
    """What the server sends must be valid JSON: no NaN/Infinity anywhere."""
    return json.dumps(value, allow_nan=False)


# -- §4.6 tensor summaries ---------------------------------------------------------------------------


def test_float_tensor_with_nan_and_inf_summary() -> None:
    t = torch.tensor([[1.0, float("nan")], [float("inf"), -2.0], [float("-inf"), 4.0]])
    s = values.summarize_value(t)
    assert s["type"] == "tensor" and s["shape"] == [3, 2] and s["dtype"] == "torch.float32"
    # statistics over the finite elements only; ±Inf counted together
    assert (s["min"], s["max"], s["mean"]) == (-2.0, 4.0, 1.0)
    assert s["nan_count"] == 1 and s["inf_count"] == 2
    assert s["values"] == [[1.0, None], [None, -2.0], [None, 4.0]]
    dumps_strict(s)


def test_all_non_finite_tensor_has_null_statistics() -> None:
    s = values.summarize_value(torch.tensor([float("nan"), float("inf")]))
    assert s["min"] is None and s["max"] is None and s["mean"] is None
    assert s["nan_count"] == 1 and s["inf_count"] == 1 and s["values"] == [None, None]


def test_statistics_round_to_four_significant_digits_values_keep_full_precision() -> None:
    t = torch.tensor([1.0, 2.0, 2.0], dtype=torch.float64) / 3.0
    s = values.summarize_value(t)
    assert s["mean"] == 0.5556 and s["min"] == 0.3333 and s["max"] == 0.6667
    assert s["values"][0] == pytest.approx(1 / 3, abs=1e-15)


def test_integer_and_bool_tensors_get_integer_min_max_only() -> None:
    s = values.summarize_value(torch.tensor([3, -7, 12345678]))
    assert (s["min"], s["max"]) == (-7, 12345678) and isinstance(s["max"], int)
    assert "mean" not in s and "nan_count" not in s
    b = values.summarize_value(torch.tensor([True, False]))
    assert (b["min"], b["max"]) == (0, 1) and b["values"] == [True, False]


def test_empty_and_complex_tensors_have_no_statistics() -> None:
    empty = values.summarize_value(torch.zeros(0, 3))
    assert empty["shape"] == [0, 3] and "min" not in empty and empty["values"] == []
    c = values.summarize_value(torch.tensor([1 + 2j, complex(float("nan"), 0)]))
    assert "min" not in c and "mean" not in c
    assert c["values"] == [[1.0, 2.0], [None, 0.0]]


def test_values_only_up_to_256_elements() -> None:
    assert "values" in values.summarize_value(torch.zeros(256))
    big = values.summarize_value(torch.zeros(257))
    assert "values" not in big and big["min"] == 0.0


def test_half_precision_and_numpy_dtypes() -> None:
    bf = values.summarize_value(torch.tensor([1.5, float("nan")], dtype=torch.bfloat16))
    assert bf["dtype"] == "torch.bfloat16" and bf["max"] == 1.5 and bf["nan_count"] == 1
    half = values.summarize_value(torch.full((3,), 60000.0, dtype=torch.float16))
    assert half["mean"] == 6e4  # no float16 overflow in the mean
    arr = values.summarize_value(np.array([[1.0, np.inf]], dtype=np.float32))
    assert arr["dtype"] == "numpy.float32" and arr["shape"] == [1, 2] and arr["inf_count"] == 1
    assert values.summarize_value(np.arange(3, dtype=np.int16))["dtype"] == "numpy.int16"


def test_zero_dim_tensor_summary() -> None:
    s = values.summarize_value(torch.tensor(2.5))
    assert s["shape"] == [] and s["values"] == 2.5 and s["mean"] == 2.5


# -- §4.6 other kinds --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (float("nan"), {"type": "scalar", "value": None, "nonfinite": "nan"}),
        (float("inf"), {"type": "scalar", "value": None, "nonfinite": "inf"}),
        (float("-inf"), {"type": "scalar", "value": None, "nonfinite": "-inf"}),
        (3.14159, {"type": "scalar", "value": 3.142}),
        (12345678, {"type": "scalar", "value": 12345678}),
        (True, {"type": "scalar", "value": True}),
        (np.float32("nan"), {"type": "scalar", "value": None, "nonfinite": "nan"}),
        (np.int64(4), {"type": "scalar", "value": 4}),
    ],
)
def test_scalar_summaries(value: object, expected: dict) -> None:
    summary = values.summarize_value(value)
    assert summary == expected
    dumps_strict(summary)


def test_model_summary_counts_trainable_parameters() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 1))
    for p in model[0].parameters():
        p.requires_grad_(False)
    assert values.summarize_value(model) == {"type": "model", "class": "Sequential", "params": 11, "trainable": 3}


def test_string_summary_cuts_at_200_and_finds_model_files(tmp_path: Path) -> None:
    models = tmp_path / "models"
    (models / "sub").mkdir(parents=True)
    weights = models / "sub" / "w.pt"
    weights.write_bytes(b"x")
    (tmp_path / "outside.pt").write_bytes(b"x")
    long = values.summarize_value("x" * 500, models)
    assert long == {"type": "string", "value": "x" * 200}
    assert values.summarize_value(str(weights), models)["download_path"] == "sub/w.pt"
    assert values.summarize_value("sub/w.pt", models)["download_path"] == "sub/w.pt"
    assert values.summarize_value("models/sub/w.pt", models)["download_path"] == "sub/w.pt"
    assert "download_path" not in values.summarize_value(str(tmp_path / "outside.pt"), models)
    assert "download_path" not in values.summarize_value("../outside.pt", models)
    assert "download_path" not in values.summarize_value("sub/missing.pt", models)
    assert "download_path" not in values.summarize_value("sub", models)  # a folder, not a file


def test_list_summaries() -> None:
    plain = values.summarize_value(["a", 1, 2.5, True, None, float("nan")])
    assert plain["type"] == "list" and plain["length"] == 6
    assert plain["values"] == ["a", 1, 2.5, True, None, None]
    pairs = values.summarize_value([(0, 1.5), [2, float("inf")]])
    assert pairs["values"] == [[0, 1.5], [2, None]]
    mixed = values.summarize_value([1, (2, 3)])
    assert "values" not in mixed and mixed["repr"] == "[1, (2, 3)]"
    assert "values" not in values.summarize_value(list(range(257)))
    tensors = values.summarize_value((torch.zeros(2),))
    assert "values" not in tensors and tensors["repr"] == repr((torch.zeros(2),))[:200]


def test_bounded_repr_matches_repr_prefix_without_building_it_all() -> None:
    nested = [{"a": (1,), "b": [None, "x'y"]}, (2, 3), [], {}, ()]
    assert values.bounded_repr(nested, 1000) == repr(nested)
    big = [list(range(50))] * 10_000
    assert values.bounded_repr(big, 200) == repr(big)[:200]


def test_other_values_report_their_type_name() -> None:
    s = values.summarize_value({"k": 1})
    assert s == {"type": "dict", "repr": "{'k': 1}"}
    assert values.summarize_value(None) == {"type": "NoneType", "repr": "None"}


def test_output_summary_skips_hidden_ports_and_finds_the_image() -> None:
    png = "iVBORw0KGgo" + "A" * 300
    outputs = {"__log__": "x", "short": "abc", "odd": "!" * 300, "img": png, "img2": "B" * 400}
    assert set(values.summarize_outputs(outputs)) == {"short", "odd", "img", "img2"}
    assert values.find_image(outputs) == png
    assert values.find_image({"a": "A" * 200}) is None  # exactly 200 is not "longer than 200"
    huge = "A" * (8 * 1024 * 1024 + 1)
    assert values.find_image({"a": huge, "b": "C" * 201}) == "C" * 201
    assert values.summarize_outputs({"__steps__": []}) == {}


def test_run_event_frame_drops_raw_outputs_and_is_strict_json() -> None:
    event = {
        "type": "node_status",
        "run_id": "r",
        "seq": 4,
        "node_id": "n",
        "status": "completed",
        "outputs": {"t": torch.tensor([float("nan"), 1.0]), "x": float("inf")},
        "log": "hi",
    }
    frame = wire.run_event_frame(event)
    body = json.loads(frame.text)
    assert "outputs" not in body and body["log"] == "hi"
    assert body["output_summary"]["t"]["nan_count"] == 1
    assert body["output_summary"]["x"] == {"type": "scalar", "value": None, "nonfinite": "inf"}
    assert "NaN" not in frame.text and "Infinity" not in frame.text
    progress = {"type": "node_status", "run_id": "r", "seq": 5, "node_id": "n", "status": "progress",
                "progress": {"event": "batch", "loss": float("nan"), "t": torch.tensor(0.5)}}
    pframe = wire.run_event_frame(progress)
    assert json.loads(pframe.text)["progress"] == {"event": "batch", "loss": None, "t": 0.5}
    assert pframe.merge_key == ("r", "n", "batch")


# -- §4.7 REST bodies -------------------------------------------------------------------------------


def test_rest_tensor_body_matches_the_spec_example() -> None:
    t = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4)
    t[0, 0, 2] = float("nan")
    body = slices.tensor_body(t, "0,:,:", 4096)
    assert body == {
        "type": "tensor",
        "dtype": "torch.float32",
        "full_shape": [2, 3, 4],
        "slice": "0,:,:",
        "sliced_shape": [3, 4],
        "values": [[0.0, 1.0, None, 3.0], [4.0, 5.0, 6.0, 7.0], [8.0, 9.0, 10.0, 11.0]],
        "truncated": False,
        "min": 0.0,
        "max": 11.0,
        "mean": 5.81818,
        "nan_count": 1,
        "inf_count": 0,
    }


def test_rest_tensor_body_kinds() -> None:
    zero_d = slices.tensor_body(torch.tensor([[1.5, 2.5]]), "0,1", 10)
    assert zero_d["values"] == 2.5 and zero_d["sliced_shape"] == []
    flags = slices.tensor_body(torch.tensor([True, False]), "", 10)
    assert flags["values"] == [True, False] and "min" not in flags
    ints = slices.tensor_body(torch.tensor([5, -1]), " ", 10)
    assert (ints["min"], ints["max"]) == (-1, 5) and "mean" not in ints and ints["slice"] == " "
    cplx = slices.tensor_body(torch.tensor([1 + 1j]), "", 10)
    assert cplx["values"] == [[1.0, 1.0]] and "min" not in cplx
    bf = slices.tensor_body(torch.tensor([0.1], dtype=torch.bfloat16), "", 10)
    assert bf["dtype"] == "torch.bfloat16" and isinstance(bf["values"][0], float)


def test_rest_bodies_of_other_values() -> None:
    assert values.rest_body(float("nan")) == {"type": "scalar", "value": None, "nonfinite": "nan"}
    assert values.rest_body(1 / 3) == {"type": "scalar", "value": 1 / 3}  # full precision here
    text = values.rest_body("y" * 5000)
    assert text["length"] == 5000 and len(text["value"]) == 4000
    lst = values.rest_body(list(range(1024)))
    assert lst["values"] == list(range(1024)) and len(lst["repr"]) == 4000
    assert "values" not in values.rest_body(list(range(1025)))
    model = values.rest_body(torch.nn.Linear(2, 2))
    assert model["class"] == "Linear" and model["params"] == 6 and model["repr"].startswith("Linear(")
    assert values.rest_body({"a": 1})["type"] == "dict"


# -- §4.8 slices --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shape"),
    [
        ("", [2, 3, 4]),
        ("0", [3, 4]),
        ("-1", [3, 4]),
        ("0:1", [1, 3, 4]),
        ("::2", [1, 3, 4]),
        ("0,::2", [2, 4]),
        (":,0", [2, 4]),
        (" 0 , : ", [3, 4]),
        ("0,,1", [3]),
        ("0,:,1", [3]),
        ("-5:100", [2, 3, 4]),
        ("1:0", [0, 3, 4]),
        (":,::100000000000000000000000", [2, 1, 4]),
        ("0:99999999999999999999999", [2, 3, 4]),
    ],
)
def test_slice_shapes(text: str, shape: list[int]) -> None:
    t = torch.arange(24).reshape(2, 3, 4)
    assert values.shape_of(slices.sliced(t, text, 10**9)) == shape
    a = np.arange(24).reshape(2, 3, 4)
    assert values.shape_of(slices.sliced(a, text, 10**9)) == shape


def test_slice_values_follow_python_indexing() -> None:
    t = torch.arange(24).reshape(2, 3, 4)
    assert slices.tensor_body(t, "1,-1,1:3", 100)["values"] == t[1, -1, 1:3].tolist()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("::0", "step must be a positive integer in '::0'"),
        ("::-1", "step must be a positive integer in '::-1'"),
        ("5", "index 5 is out of bounds for dimension 0 with size 2"),
        ("0,-4", "index -4 is out of bounds for dimension 1 with size 3"),
        ("0,0,0,0", "too many indices"),
        ("a", "bad index 'a'"),
        ("1.5", "bad index '1.5'"),
        ("...", "bad index '...'"),
        ("None", "bad index 'None'"),
        ("1:2:3:4", "bad slice piece '1:2:3:4'"),
        ("1:x", "bad slice piece '1:x'"),
    ],
)
def test_bad_slices(text: str, reason: str) -> None:
    with pytest.raises(slices.SliceError) as info:
        slices.sliced(torch.zeros(2, 3, 4), text, 10**9)
    assert reason in str(info.value)


def test_zero_dim_tensor_accepts_only_the_empty_slice() -> None:
    assert slices.tensor_body(torch.tensor(3.0), "", 1)["values"] == 3.0
    with pytest.raises(slices.SliceError):
        slices.sliced(torch.tensor(3.0), "0", 1)


def test_element_cap_is_inclusive_and_reports_shapes() -> None:
    t = torch.zeros(2, 3, 4)
    assert slices.sliced(t, "", 24) is t
    with pytest.raises(slices.TooLarge) as info:
        slices.sliced(t, "0:2,0:2", 7)
    assert (info.value.shape, info.value.full_shape, info.value.numel, info.value.max_elements) == (
        [2, 2, 4],
        [2, 3, 4],
        16,
        7,
    )


# -- .npy -----------------------------------------------------------------------------------------------


def _npy_roundtrip(value: object, text: str = "") -> np.ndarray:
    arr = slices.npy_array(value, text, 10**9)
    data = slices.npy_header(arr) + b"".join(slices.npy_chunks(arr, chunk_bytes=7))
    assert data[:8] == b"\x93NUMPY\x01\x00"
    return np.load(io.BytesIO(data), allow_pickle=False)


@pytest.mark.parametrize(
    ("tensor", "descr"),
    [
        (torch.tensor([[1.0, float("nan")], [float("inf"), -0.0]]), "<f4"),
        (torch.arange(6, dtype=torch.int64).reshape(2, 3), "<i8"),
        (torch.tensor([True, False]), "|b1"),
        (torch.tensor([1 + 2j, 3 - 4j], dtype=torch.complex64), "<c8"),
        (torch.tensor([1.5, -2.25], dtype=torch.bfloat16), "<f4"),
        (torch.tensor([0.5], dtype=torch.float16), "<f2"),
        (torch.tensor(7.0), "<f4"),
    ],
)
def test_npy_roundtrip_keeps_values_and_dtype(tensor: torch.Tensor, descr: str) -> None:
    loaded = _npy_roundtrip(tensor)
    assert loaded.dtype.str == descr
    expected = tensor.float().numpy() if tensor.dtype == torch.bfloat16 else tensor.numpy()
    assert loaded.shape == expected.shape
    np.testing.assert_array_equal(loaded, expected)  # NaN and Inf kept as IEEE values


def test_npy_of_a_slice_is_c_ordered() -> None:
    t = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4).transpose(0, 2)  # not contiguous
    loaded = _npy_roundtrip(t, "1:3,::2")
    np.testing.assert_array_equal(loaded, t[1:3, ::2].numpy())
    assert loaded.flags["C_CONTIGUOUS"]


def test_big_endian_arrays_are_sent_little_endian() -> None:
    a = np.arange(3, dtype=">i4")
    loaded = _npy_roundtrip(a)
    assert loaded.dtype.str == "<i4" and loaded.tolist() == [0, 1, 2]


def test_jsonable_makes_anything_strict_json() -> None:
    payload = {"a": [math.nan, np.float64(math.inf), np.int32(3)], "t": torch.ones(2), "o": object()}
    out = values.jsonable(payload)
    assert out["a"] == [None, None, 3] and out["t"] == [1.0, 1.0] and out["o"].startswith("<object")
    dumps_strict(out)
