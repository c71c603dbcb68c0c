"""Source text shared by every exported script (engine.md §6.2, §6.3).

These are strings: the kernel writes them into scripts and never runs them itself (it imports
neither torch nor numpy). ``NODE_SEED_SOURCE`` must stay identical in meaning to
:func:`nodeloom.kernel.seeds.node_seed`; a test checks that both give the same numbers.
"""

from __future__ import annotations

from .seeds import SEED_MODULUS, SEED_TAG

__all__ = [
    "PREAMBLE_NAMES",
    "COERCE_SOURCE",
    "DEVICE_SOURCE",
    "JSONABLE_SOURCE",
    "NODE_SEED_SOURCE",
    "SEEDED_SOURCE",
]

#: Module-level names every standalone script defines itself; node helpers may not reuse them.
PREAMBLE_NAMES = frozenset(
    {
        # imports
        "argparse", "contextlib", "hashlib", "json", "math", "os", "sys", "torch", "F", "nn", "np",
        # constants
        "GRAPH_NAME", "DEFAULT_SEED", "MODULE_MODE", "DATA_DIR", "GRAPH_INPUTS", "GRAPH_OUTPUTS",
        "MAX_OUTPUT_ELEMENTS",
        # functions and classes
        "node_seed", "seeded", "resolve_device", "node_device", "to_device", "data_path", "InputError",
        "coerce_input", "check_inputs", "read_inputs", "OutputError", "to_jsonable", "log_text", "run",
        "main", "graph_output_values", "dump_tensors", "_mps_available", "_mps_safe",
    }
)

NODE_SEED_SOURCE = f'''
def node_seed(run_seed, node_id):
    """The seed of one node: the same formula as nodeloom's engine (engine.md 4.10)."""
    material = ("{SEED_TAG}:" + str(run_seed) + ":" + node_id).encode("utf-8")
    return int.from_bytes(hashlib.sha256(material).digest()[:8], "big") % {SEED_MODULUS}
'''

SEEDED_SOURCE = '''
@contextlib.contextmanager
def seeded(seed):
    """torch.manual_seed(seed) for the block; the previous global RNG state comes back afterwards."""
    cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
    with torch.random.fork_rng(devices=list(range(torch.cuda.device_count())) if cuda else []):
        torch.manual_seed(seed)
        yield
'''

DEVICE_SOURCE = '''
def _mps_available():
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(requested):
    """(device, warning or None) for a requested device string; unavailable ones fall back to cpu."""
    name = "" if requested is None else str(requested).strip().lower()
    if name in ("", "cpu"):
        return "cpu", None
    if name == "auto":
        if torch.cuda.is_available():
            return "cuda", None
        return ("mps", None) if _mps_available() else ("cpu", None)
    if name == "mps":
        return ("mps", None) if _mps_available() else ("cpu", "device 'mps' is not available; using cpu")
    if name == "cuda" or (name.startswith("cuda:") and name[5:].isdigit()):
        if not torch.cuda.is_available():
            return "cpu", f"device '{name}' is not available; using cpu"
        if name != "cuda" and int(name[5:]) >= torch.cuda.device_count():
            return "cpu", f"device '{name}' does not exist; using cpu"
        return name, None
    raise InputError(f"unknown device '{requested}' (use cpu, cuda, cuda:N, mps or auto)")


def node_device(requested, device):
    """A node-level device param: auto (or empty) follows the run device, others are resolved."""
    name = "" if requested is None else str(requested).strip().lower()
    if name in ("", "auto"):
        return device
    try:
        resolved, warning = resolve_device(name)
    except InputError:
        resolved, warning = "cpu", f"device '{name}' is not a known device; using cpu"
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    return resolved


def _mps_safe(t):
    return t.float() if t.dtype == torch.float64 else t


def to_device(value, device):
    """Move tensors and modules (also inside lists, tuples and dicts) to device; others unchanged."""
    dev = torch.device(device)
    if isinstance(value, torch.Tensor):
        return (_mps_safe(value) if dev.type == "mps" else value).to(dev)
    if isinstance(value, torch.nn.Module):
        if dev.type == "mps":
            value._apply(_mps_safe)
        return value.to(dev)
    if isinstance(value, dict):
        return {k: to_device(v, dev) for k, v in value.items()}
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*(to_device(v, dev) for v in value))
    if isinstance(value, (list, tuple)):
        return type(value)(to_device(v, dev) for v in value)
    return value


def data_path(area, path, data_dir):
    """A file under <data dir>/<area> (or <data dir>/temp for /temp/... paths), kept inside it."""
    if not data_dir:
        raise InputError(f"'{path}' is a file in the nodeloom data directory; pass --data-dir")
    if path.startswith("/temp/"):
        area, path = "temp", path[len("/temp/"):]
    root = os.path.realpath(os.path.join(data_dir, area))
    target = os.path.realpath(os.path.join(root, path))
    if os.path.isabs(path) or (target != root and not target.startswith(root + os.sep)):
        raise ValueError(f"path '{path}' must stay inside the {area} directory")
    return target
'''

COERCE_SOURCE = '''
class InputError(ValueError):
    """A bad command-line value or graph input; main() exits with status 2."""


def coerce_input(name, kind, value):
    """Strict coercion of a caller value to a GraphInput type (engine.md 4.18)."""
    if kind == "string" and isinstance(value, str):
        return value
    if kind == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind == "integer" and not isinstance(value, bool):
        if isinstance(value, int):
            return value
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)
    if kind == "boolean" and isinstance(value, bool):
        return value
    if kind in ("json", "image"):
        return value
    shown = json.dumps(value)
    raise InputError(f"input '{name}': expected {kind}, got {shown if len(shown) <= 80 else shown[:77] + '...'}")


def check_inputs(values):
    """Graph input values by name, coerced; unknown names and bad values are listed at once."""
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise InputError("graph inputs must be a JSON object of name -> value")
    problems, out = [], {}
    for name, value in values.items():
        if name not in GRAPH_INPUTS:
            problems.append(f"unknown input '{name}' (known: {', '.join(sorted(GRAPH_INPUTS)) or 'none'})")
            continue
        try:
            out[name] = coerce_input(name, GRAPH_INPUTS[name], value)
        except InputError as exc:
            problems.append(str(exc))
    if problems:
        raise InputError("; ".join(problems))
    return out


def read_inputs(inputs_json, inputs_file):
    """The --inputs-json / --inputs-file value as a dict (None when neither is given)."""
    if inputs_json is None and inputs_file is None:
        return None
    try:
        if inputs_file is not None:
            with open(inputs_file, encoding="utf-8") as fh:
                return json.load(fh)
        return json.loads(inputs_json)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the graph inputs: {exc}") from None
'''

JSONABLE_SOURCE = '''
MAX_OUTPUT_ELEMENTS = 65536


class OutputError(ValueError):
    """A GraphOutput value that cannot be printed as JSON (engine.md 4.18)."""


def to_jsonable(value):
    """Serialise a graph output like nodeloom does: tensors become {"__type__": "tensor", ...}."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "shape") and hasattr(value, "tolist"):
        if getattr(value, "ndim", 1) == 0 and not hasattr(value, "detach"):  # numpy scalars
            return to_jsonable(value.item())
        count = 1
        for size in value.shape:
            count *= int(size)
        if count > MAX_OUTPUT_ELEMENTS:
            raise OutputError(f"output_too_large: {count} elements (the limit is {MAX_OUTPUT_ELEMENTS})")
        data = value.detach().cpu().tolist() if hasattr(value, "detach") else value.tolist()
        return {"__type__": "tensor", "shape": [int(s) for s in value.shape],
                "dtype": str(value.dtype), "values": to_jsonable(data)}
    if hasattr(value, "item") and callable(value.item):
        return to_jsonable(value.item())
    raise OutputError(f"unserializable_output: a {type(value).__name__} cannot be written as JSON")
'''
