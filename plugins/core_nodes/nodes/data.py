"""Data nodes: CSV files, columns, normalisation, splits, datasets and loaders (nodes.md §2.10)."""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import torch
from torch.utils.data import DataLoader

from nodeloom.kernel import CodeFragment, PathError, Requirement, confine
from nodeloom.kernel.api import In, Out, Param, node
from nodeloom.kernel.codegen import py_literal
from nodeloom.torchkit import as_float32, generator, int_list, to_device

from ._codegen import use
from ._codegen_sources import CSV_TABLE, READ_CSV, SELECT_COLUMNS
from .classical import CLASSICAL, check_lengths, features_numpy, labels_list, optional_import
from nodeloom.kernel.paths import paths_of, resolve_file

CATEGORY = "Data"

VISION = Requirement("torchvision", "torchvision", "vision")
DATASETS_ENV = "NODELOOM_DATASETS_DIR"


# -- CSVReader (note 2.20) --------------------------------------------------------------------------


@attrs.frozen
class CsvTable:
    """A parsed CSV file: column names and data rows padded to the same width."""

    columns: list[str]
    rows: list[list[str]]


def parse_csv(text: str, skip_header: bool) -> CsvTable:
    """Parse CSV text with the standard library (blank lines skipped, short rows padded)."""
    # newline="" keeps line breaks inside quoted cells, as the csv module expects.
    rows = [row for row in csv.reader(io.StringIO(text, newline="")) if row]
    header: list[str] = rows.pop(0) if (skip_header and rows) else []
    width = max([len(header), *(len(r) for r in rows)])
    columns = header + [str(i) for i in range(len(header), width)]
    padded = [r + [""] * (width - len(r)) for r in rows]
    return CsvTable(columns, padded)


def _parses(cell: str) -> bool:
    text = cell.strip()
    if not text:
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True


def _cell_value(cell: str, row: int, column: str) -> float:
    text = cell.strip()
    if not text:
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise ValueError(
            f"CSVReader: non-numeric value '{cell}' in column '{column}' at data row {row}"
        ) from None


def feature_columns(table: CsvTable, target: str, include: Sequence[str]) -> list[str]:
    """The feature columns: the included ones in order, else every numeric non-target column."""
    if include:
        unknown = [c for c in include if c not in table.columns]
        if unknown:
            raise ValueError(
                f"CSVReader: include_columns names unknown columns {unknown}. "
                f"Available columns: {table.columns}"
            )
        return list(include)
    chosen = []
    for index, name in enumerate(table.columns):
        if name == target:
            continue
        if all(_parses(row[index]) for row in table.rows):
            chosen.append(name)
    return chosen


def table_tensor(table: CsvTable, features: Sequence[str]) -> torch.Tensor:
    """The feature columns as float32 [rows, features]; empty cells become NaN."""
    indices = [table.columns.index(name) for name in features]
    values = [
        [_cell_value(row[i], n, table.columns[i]) for i in indices]
        for n, row in enumerate(table.rows, start=1)
    ]
    return torch.tensor(values, dtype=torch.float32).reshape(len(table.rows), len(indices))


SAMPLES_DIR = Path(__file__).resolve().parent.parent / "samples"
_SAMPLES_PREFIX = "data/samples/"


def bundled_sample(path: str) -> Path | None:
    """nodes.md N8: ``data/samples/...`` is looked up in this plugin's samples first."""
    if not path.startswith(_SAMPLES_PREFIX):
        return None
    try:
        candidate = confine(SAMPLES_DIR, path[len(_SAMPLES_PREFIX) :])
    except ValueError:
        return None
    return candidate if candidate.is_file() else None


def _csv_fingerprint(params: Mapping[str, Any], env: Any) -> str | None:
    raw = params.get("path")
    if not isinstance(raw, str) or not raw:
        return None
    resolved = bundled_sample(raw)
    if resolved is None:
        paths = paths_of(env)
        if paths is None:
            return None
        try:
            resolved = paths.resolve("libs", raw, node="CSVReader")
        except ValueError:
            return None
    try:
        st = resolved.stat()
    except OSError:
        return None
    return f"{resolved}:{st.st_size}:{st.st_mtime_ns}"


#: Bundled samples up to this size are embedded in exported scripts, so they run without nodeloom.
EMBED_SAMPLE_LIMIT = 1_000_000


def csv_reader_codegen(gen: Any) -> CodeFragment:
    path = gen.params["path"]
    if not path:
        raise ValueError("CSVReader requires a non-empty path param.")
    gen.need("csv", "io")
    gen.helper("CsvTable", CSV_TABLE)
    use(gen, parse_csv, _parses, _cell_value, feature_columns, table_tensor)
    gen.helper("read_csv", READ_CSV)
    text = gen.tmp("text")
    sample = bundled_sample(path)
    if sample is not None and sample.stat().st_size <= EMBED_SAMPLE_LIMIT:
        name = "SAMPLE_" + "".join(c if c.isalnum() else "_" for c in sample.name).upper()
        content = sample.read_text(encoding="utf-8-sig")
        gen.helper(name, f"# The bundled sample {path} (nodes.md N8), embedded.\n{name} = {py_literal(content)}\n")
        lines = [f"{text} = {name}"]
    else:
        file = gen.tmp("file")
        lines = [
            f"{file} = data_path('libs', {path!r}, data_dir)",
            f"if not os.path.isfile({file}):",
            f"    raise FileNotFoundError({f'CSVReader: file not found at {path}'!r})",
            f"with open({file}, encoding='utf-8-sig') as fh:",
            f"    {text} = fh.read()",
        ]
    target = gen.params["target_column"].strip()
    include = [c.strip() for c in gen.params["include_columns"].split(",") if c.strip()]
    tensor = gen.tmp("tensor")
    outs = f"{tensor}, {gen.var('labels')}, {gen.var('columns')}"
    args = f"{text}, {gen.param('skip_header')}, {target!r}, {py_literal(include)}"
    lines += [f"{outs} = read_csv({args})", f"{gen.var('tensor')} = to_device({tensor}, device)"]
    return gen.fragment(*lines)


@node(
    name="CSVReader",
    category=CATEGORY,
    outputs=[
        Out("tensor", "TENSOR", "Feature matrix [rows, features] (float32; empty cells are NaN)."),
        Out("labels", "LIST", "The target column's cells as strings (empty without a target)."),
        Out("columns", "LIST", "Names of the feature columns."),
    ],
    params=[
        Param.string(
            "path", "data/samples/iris.csv", "CSV file in the libs folder or the bundled samples."
        ),
        Param.string("target_column", "", "Column holding the labels (optional)."),
        Param.string(
            "include_columns", "", "Comma-separated feature columns; empty = every numeric column."
        ),
        Param.bool("skip_header", True, "The first row holds the column names."),
    ],
    fingerprint=_csv_fingerprint,
    codegen=csv_reader_codegen,
)
def csv_reader(call: Any) -> dict[str, Any]:
    """Read a CSV file into a float32 feature matrix, string labels and column names."""
    path = call.params["path"]
    if not path:
        raise ValueError("CSVReader requires a non-empty path param.")
    resolved = bundled_sample(path) or resolve_file(call, "libs", path, "CSVReader")
    if not resolved.is_file():
        raise FileNotFoundError(f"CSVReader: file not found at {path}")
    # utf-8-sig reads files with and without a byte-order mark alike.
    table = parse_csv(resolved.read_text(encoding="utf-8-sig"), call.params["skip_header"])
    target = call.params["target_column"].strip()
    if target and target not in table.columns:
        raise ValueError(
            f"CSVReader: target_column='{target}' is not in the file. "
            f"Available columns: {table.columns}"
        )
    include = [c.strip() for c in call.params["include_columns"].split(",") if c.strip()]
    features = feature_columns(table, target, include)
    labels = [row[table.columns.index(target)] for row in table.rows] if target else []
    tensor = to_device(table_tensor(table, features), call.device)
    return {"tensor": tensor, "labels": labels, "columns": features}


# -- column selection and normalisation ------------------------------------------------------------


def column_selector_codegen(gen: Any) -> CodeFragment:
    gen.helper("select_columns", SELECT_COLUMNS)
    names = [n.strip() for n in gen.params["names"].split(",") if n.strip()]
    indices = [] if names else int_list("ColumnSelector", "indices", gen.params["indices"])
    columns = gen.input("columns") if gen.has_input("columns") else "None"
    args = f"{gen.input('tensor')}, {columns}, {py_literal(names)}, {py_literal(indices)}"
    return gen.fragment(f"{gen.var('tensor')} = select_columns({args})")


@node(
    name="ColumnSelector",
    category=CATEGORY,
    inputs=[
        In("tensor", "TENSOR", "Table whose last dim holds the columns."),
        In(
            "columns",
            "LIST",
            "Column names (e.g. CSVReader's columns), needed by names.",
            optional=True,
        ),
    ],
    outputs=[Out("tensor", "TENSOR", "The selected columns, in the order asked for.")],
    params=[
        Param.string("indices", "0", "Comma-separated column indices (used when names is empty)."),
        Param.string("names", "", "Comma-separated column names looked up in the columns input."),
    ],
    codegen=column_selector_codegen,
)
def column_selector(call: Any) -> dict[str, Any]:
    """Pick columns by name (looked up in `columns`) or by index: `x[..., indices]`."""
    x = call.inputs["tensor"]
    names = [n.strip() for n in call.params["names"].split(",") if n.strip()]
    if names:
        columns = call.inputs.get("columns")
        if columns is None:
            raise ValueError(
                "ColumnSelector: names is set but no columns input is connected; connect the "
                "columns output of CSVReader or use indices instead."
            )
        columns = [str(c) for c in columns]
        missing = [n for n in names if n not in columns]
        if missing:
            raise ValueError(
                f"ColumnSelector: columns {missing} are not in the columns input {columns}"
            )
        indices = [columns.index(n) for n in names]
    else:
        indices = int_list("ColumnSelector", "indices", call.params["indices"])
        n_cols = x.shape[-1]
        for i in indices:
            if not 0 <= i < n_cols:
                raise ValueError(
                    f"ColumnSelector: indices contains out-of-range value {i} (tensor has {n_cols} cols)"
                )
    if not indices:
        return {"tensor": x[..., :0]}
    return {"tensor": x[..., torch.tensor(indices, dtype=torch.long, device=x.device)]}


def _nonzero(t: torch.Tensor) -> torch.Tensor:
    # A constant column would divide by zero; it is left centred instead (divide by 1).
    return torch.where(t == 0, torch.ones_like(t), t)


def normalize_tensor(x: torch.Tensor, mode: str, axis: int) -> tuple[torch.Tensor, dict[str, Any]]:
    """Normalise ``x`` along ``axis``; returns the result and the statistics used."""
    if mode == "zscore":
        mean = x.mean(dim=axis, keepdim=True)
        std = _nonzero(x.std(dim=axis, correction=0, keepdim=True))
        return (x - mean) / std, {"mean": mean.squeeze().tolist(), "std": std.squeeze().tolist()}
    if mode == "minmax":
        lo = x.amin(dim=axis, keepdim=True)
        hi = x.amax(dim=axis, keepdim=True)
        return (x - lo) / _nonzero(hi - lo), {
            "min": lo.squeeze().tolist(),
            "max": hi.squeeze().tolist(),
        }
    if mode == "unit_norm":
        norm = _nonzero(x.norm(dim=axis, keepdim=True))
        return x / norm, {"norm": norm.squeeze().tolist()}
    raise ValueError(f"Normalize: unknown mode '{mode}'")


def normalize_codegen(gen: Any) -> CodeFragment:
    use(gen, as_float32, _nonzero, normalize_tensor)
    outs = f"{gen.var('tensor')}, {gen.var('stats')}"
    args = f"as_float32({gen.input('tensor')}), {gen.param('mode')}, {gen.param('axis')}"
    return gen.fragment(f"{outs} = normalize_tensor({args})")


@node(
    name="Normalize",
    category=CATEGORY,
    inputs=[In("tensor", "TENSOR")],
    outputs=[
        Out("tensor", "TENSOR", "The normalised tensor (float32)."),
        Out("stats", "ANY", "The statistics used: mean/std, min/max or norm."),
    ],
    params=[
        Param.select("mode", "zscore", ("zscore", "minmax", "unit_norm"), "Normalisation."),
        Param.int("axis", 0, "Dim the statistics are taken over (0 = per column)."),
    ],
    codegen=normalize_codegen,
)
def normalize(call: Any) -> dict[str, Any]:
    """Z-score, min-max or unit-norm scaling along `axis` (population std; zero spreads become 1)."""
    out, stats = normalize_tensor(
        as_float32(call.inputs["tensor"]), call.params["mode"], call.params["axis"]
    )
    return {"tensor": out, "stats": stats}


# -- splits, datasets, loaders ------------------------------------------------------------------------


@node(
    name="TrainTestSplit",
    category=CATEGORY,
    inputs=[In("features", "TENSOR", "Features [N, D]."), In("labels", "LIST", "N labels.")],
    outputs=[
        Out("x_train", "TENSOR"),
        Out("y_train", "LIST"),
        Out("x_test", "TENSOR"),
        Out("y_test", "LIST"),
    ],
    params=[
        Param.float("test_size", 0.2, "Fraction of rows held out for testing.", min=0, max=1),
        Param.int("seed", 42, "random_state of the shuffle."),
        Param.bool("stratify", False, "Keep the label proportions in both parts."),
    ],
    requires=(CLASSICAL,),
)
def train_test_split(call: Any) -> dict[str, Any]:
    """Shuffle and split rows with `sklearn.model_selection.train_test_split`."""
    selection = optional_import("sklearn.model_selection", CLASSICAL, "TrainTestSplit")
    test_size = call.params["test_size"]
    if not 0 < test_size < 1:
        raise ValueError(f"TrainTestSplit: test_size must be in (0, 1), got {test_size}.")
    x = features_numpy(call.inputs["features"])
    labels = labels_list(call.inputs["labels"])
    check_lengths("TrainTestSplit", x, labels)
    x_train, x_test, y_train, y_test = selection.train_test_split(
        x,
        labels,
        test_size=test_size,
        random_state=call.params["seed"],
        stratify=labels if call.params["stratify"] else None,
    )

    def tensor(a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(a, dtype=torch.float32).to(call.device)

    return {
        "x_train": tensor(x_train),
        "y_train": list(y_train),
        "x_test": tensor(x_test),
        "y_test": list(y_test),
    }


DATASET_NAMES = ("MNIST", "CIFAR10", "FashionMNIST")


def dataset_root(paths: Any, data_dir: str) -> Path:
    """The folder for ``data_dir``: under $NODELOOM_DATASETS_DIR when set, else under libs (N8)."""
    rel = data_dir.strip()
    while rel.startswith("./"):
        rel = rel[2:]
    rel = "" if rel == "." else rel.rstrip("/")
    override = os.environ.get(DATASETS_ENV)
    if override:
        base = Path(override).expanduser()
    else:
        if paths is None or getattr(paths, "data_dir", None) is None:
            raise ValueError(f"Dataset: no data directory is available to resolve '{data_dir}'")
        base = paths.data_dir.area("libs")
    try:
        return confine(base, rel, allow_empty=True)
    except PathError:
        raise ValueError(
            f"Dataset: path '{data_dir}' must stay inside the libs directory"
        ) from None


def _listing_fingerprint(params: Mapping[str, Any], env: Any) -> str | None:
    """Names, sizes and mtimes of the files under the dataset root (bounded walk)."""
    try:
        root = dataset_root(paths_of(env), params["data_dir"])
    except (ValueError, KeyError):
        return None
    digest = hashlib.sha256(str(root).encode())
    seen = 0
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            try:
                st = os.stat(os.path.join(folder, name))
            except OSError:
                continue
            digest.update(f"{folder}/{name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
            seen += 1
            if seen >= 10_000:  # a huge shared folder: the first files are enough of a signal
                return digest.hexdigest()
    return digest.hexdigest()


@node(
    name="Dataset",
    category=CATEGORY,
    outputs=[Out("dataset", "DATASET", "Items are (image tensor normalised to [-1, 1], label).")],
    params=[
        Param.select("name", "MNIST", DATASET_NAMES, "torchvision dataset."),
        Param.select("split", "train", ("train", "test"), "Which split."),
        Param.string(
            "data_dir", "./data", "Folder under the libs folder (or $NODELOOM_DATASETS_DIR)."
        ),
    ],
    requires=(VISION,),
    fingerprint=_listing_fingerprint,
)
def dataset(call: Any) -> dict[str, Any]:
    """A torchvision image dataset (downloaded on first use) with ToTensor and Normalize(0.5, 0.5)."""
    datasets = optional_import("torchvision.datasets", VISION, "Dataset")
    transforms = optional_import("torchvision.transforms", VISION, "Dataset")
    name = call.params["name"]
    if name not in DATASET_NAMES:
        raise ValueError(f"Dataset: unknown dataset '{name}'")
    root = dataset_root(call.paths, call.params["data_dir"])
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    try:
        data = getattr(datasets, name)(
            str(root), train=call.params["split"] == "train", download=True, transform=transform
        )
    except Exception as exc:  # noqa: BLE001 - network and archive errors come in many types
        raise RuntimeError(
            f"Dataset: {name} not found under {root} and could not be downloaded: {exc}"
        ) from None
    return {"dataset": data}


def data_loader_codegen(gen: Any) -> CodeFragment:
    gen.need("torch.utils.data")
    p = gen.params
    args = ", ".join(
        [gen.input("dataset")]
        + [f"{k}={py_literal(p[k])}" for k in ("batch_size", "shuffle", "num_workers")]
        + [f"generator=torch.Generator(device='cpu').manual_seed({gen.seed_expr})"]
    )
    return gen.fragment(f"{gen.var('dataloader')} = torch.utils.data.DataLoader({args})")


@node(
    name="DataLoader",
    category=CATEGORY,
    inputs=[In("dataset", "DATASET")],
    outputs=[Out("dataloader", "DATALOADER")],
    params=[
        Param.int("batch_size", 32, "Samples per batch.", min=1),
        Param.bool("shuffle", True, "Reshuffle every epoch (seeded from the node seed)."),
        Param.int("num_workers", 0, "Worker processes (0 = load in the calling thread).", min=0),
    ],
    cacheable=False,
    random=True,
    codegen=data_loader_codegen,
)
def data_loader(call: Any) -> dict[str, Any]:
    """Batch a dataset with `torch.utils.data.DataLoader`; shuffling draws from the node seed."""
    loader = DataLoader(
        call.inputs["dataset"],
        batch_size=call.params["batch_size"],
        shuffle=call.params["shuffle"],
        num_workers=call.params["num_workers"],
        generator=generator(call),
    )
    return {"dataloader": loader}
