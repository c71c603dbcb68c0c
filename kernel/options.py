"""Run options (engine.md §4.12, api.md §3.3): one attrs object, parsed strictly from the wire.

:func:`parse_run_options` accepts a whole ``execute`` message (unknown keys such as ``nodes`` are
ignored) and either returns a :class:`RunOptions` or raises :class:`InvalidRunOption` listing
every problem in the api.md §1.2 item shape (``loc``, ``msg``, ``type``).
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import attrs

ERROR_MODES = ("fail_fast", "continue", "retry")
MODULE_MODES = ("train", "eval")
CANCEL_REASONS = ("stop", "superseded", "disconnect", "timeout", "shutdown")

RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
MAX_SEED = 2**63 - 1


def new_run_id() -> str:
    """A server-assigned run id: a UUID4 in canonical form."""
    return str(uuid.uuid4())


@attrs.frozen
class GradHealth:
    """Thresholds of the gradient health labels (engine.md §4.15)."""

    vanish_norm: float = 1e-7
    vanish_mean: float = 1e-8
    explode_norm: float = 1e3
    explode_max: float = 1e2

    def as_dict(self) -> dict[str, float]:
        return attrs.asdict(self)


@attrs.frozen
class RunOptions:
    """Every run option of engine.md §4.12 under its wire name, with its default.

    ``device`` holds the *requested* device (normalised: trimmed, lower-cased, ``""`` -> ``cpu``);
    the engine resolves it when the run starts.
    """

    run_id: str = attrs.field(factory=new_run_id)
    graph_id: str = ""
    device: str = "cpu"
    seed: int | None = None
    max_workers: int = 4
    error_mode: str = "fail_fast"
    max_retries: int = 0
    changed_nodes: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    record_outputs: bool = False
    verbose_mode: bool = False
    backward_mode: bool = False
    auto_backward: bool = False
    grad_health: GradHealth = attrs.field(factory=GradHealth)
    weights_persistent: bool = True
    module_mode: str = "train"
    timeout_s: float | None = None
    cancel_grace_s: float = 30.0
    #: The executor that runs the run (a name of ``Kernel.executors``); None: the caller's default.
    executor: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible form under the wire names (round-trips through the parser)."""
        out = attrs.asdict(self, recurse=True)
        out["changed_nodes"] = list(self.changed_nodes)
        return out

    def node_options(self) -> dict[str, Any]:
        """The read-only subset nodes see as ``call.options`` (engine.md §2.4)."""
        return {
            "verbose": self.verbose_mode,
            "backward_mode": self.backward_mode,
            "graph_id": self.graph_id,
            "weights_persistent": self.weights_persistent,
            "module_mode": self.module_mode,
            "record_outputs": self.record_outputs,
            "run_id": self.run_id,
        }


class InvalidRunOption(ValueError):
    """Run options that break the rules; ``problems`` holds api.md §1.2 items."""

    code = "invalid_run_option"

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        self.problems = problems
        super().__init__(problems[0]["msg"] if problems else "invalid run options")


def _problem(loc: list[Any], msg: str, type_: str) -> dict[str, Any]:
    return {"loc": loc, "msg": msg, "type": type_}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class _Parser:
    """Collects every problem instead of stopping at the first (api.md §1.2 asks for all)."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = raw
        self.problems: list[dict[str, Any]] = []
        self.values: dict[str, Any] = {}

    def fail(self, loc: list[Any], msg: str, type_: str) -> None:
        self.problems.append(_problem(loc, msg, type_))

    def present(self, name: str) -> bool:
        # null for an optional field means "use the default" (api.md §1.3)
        return self.raw.get(name) is not None

    def boolean(self, name: str) -> None:
        if not self.present(name):
            return
        value = self.raw[name]
        if isinstance(value, bool):
            self.values[name] = value
        else:
            self.fail([name], f"{name} must be a boolean (true or false)", "wrong_type")

    def integer(self, name: str, low: int, high: int) -> None:
        if not self.present(name):
            return
        value = self.raw[name]
        if not _is_int(value):
            self.fail([name], f"{name} must be an integer", "wrong_type")
        elif not low <= value <= high:
            self.fail([name], f"{name} must be between {low} and {high}, got {value}", "out_of_range")
        else:
            self.values[name] = value

    def number(self, name: str, ok: Callable[[float], bool], rule: str) -> None:
        if not self.present(name):
            return
        value = self.raw[name]
        if not _is_number(value):
            self.fail([name], f"{name} must be a number", "wrong_type")
        elif not math.isfinite(value):
            self.fail([name], f"{name} must be a finite number", "invalid_value")
        elif not ok(value):
            self.fail([name], f"{name} must be {rule}, got {value}", "out_of_range")
        else:
            self.values[name] = float(value)

    def string(self, name: str) -> str | None:
        if not self.present(name):
            return None
        value = self.raw[name]
        if not isinstance(value, str):
            self.fail([name], f"{name} must be a string", "wrong_type")
            return None
        return value

    def enum(self, name: str, allowed: tuple[str, ...]) -> None:
        value = self.string(name)
        if value is None:
            return
        if value not in allowed:
            choices = ", ".join(allowed)
            self.fail([name], f"{name} must be one of {choices}, got '{value}'", "not_in_enum")
        else:
            self.values[name] = value


def normalize_device(value: str) -> str | None:
    """Trimmed, lower-cased device string, ``""`` meaning ``cpu``; None when malformed."""
    device = value.strip().lower()
    if device == "":
        return "cpu"
    return device if _DEVICE_RE.match(device) else None


def parse_run_options(raw: Mapping[str, Any] | None) -> RunOptions:
    """Parse run options from a wire mapping (an ``execute`` message); unknown keys are ignored.

    Raises :class:`InvalidRunOption` with every problem found.
    """
    if raw is None:
        return RunOptions()
    if not isinstance(raw, Mapping):
        raise InvalidRunOption([_problem([], "run options must be an object", "wrong_type")])
    p = _Parser(raw)

    run_id = p.string("run_id")
    if run_id is not None:
        if RUN_ID_RE.match(run_id):
            p.values["run_id"] = run_id
        else:
            p.fail(["run_id"], f"run_id '{run_id}' does not match {RUN_ID_RE.pattern}", "invalid_value")

    graph_id = p.string("graph_id")
    if graph_id is not None:
        p.values["graph_id"] = graph_id

    # Only the shape is checked here: which executors exist is known to the caller, not the parser.
    executor = p.string("executor")
    if executor is not None and executor.strip():
        p.values["executor"] = executor.strip()

    device = p.string("device")
    if device is not None:
        normal = normalize_device(device)
        if normal is None:
            p.fail(
                ["device"],
                f"device must be auto, cpu, cuda, cuda:<n> or mps, got '{device}'",
                "invalid_value",
            )
        else:
            p.values["device"] = normal

    p.integer("seed", 0, MAX_SEED)
    p.integer("max_workers", 1, 64)
    p.integer("max_retries", 0, 10)
    p.enum("error_mode", ERROR_MODES)
    p.enum("module_mode", MODULE_MODES)
    for flag in (
        "record_outputs",
        "verbose_mode",
        "backward_mode",
        "auto_backward",
        "weights_persistent",
    ):
        p.boolean(flag)
    p.number("timeout_s", lambda v: v > 0, "greater than 0")
    p.number("cancel_grace_s", lambda v: v >= 0, "at least 0")
    _parse_changed_nodes(p)
    _parse_grad_health(p)

    if p.problems:
        raise InvalidRunOption(p.problems)
    return RunOptions(**p.values)


def _parse_changed_nodes(p: _Parser) -> None:
    if not p.present("changed_nodes"):
        return
    value = p.raw["changed_nodes"]
    if not isinstance(value, (list, tuple)):
        p.fail(["changed_nodes"], "changed_nodes must be a list of strings", "wrong_type")
        return
    ok = True
    for i, item in enumerate(value):
        if not isinstance(item, str):
            p.fail(["changed_nodes", i], "changed_nodes items must be strings", "wrong_type")
            ok = False
    if ok:
        p.values["changed_nodes"] = tuple(value)


def _parse_grad_health(p: _Parser) -> None:
    if not p.present("grad_health"):
        return
    value = p.raw["grad_health"]
    if not isinstance(value, Mapping):
        p.fail(["grad_health"], "grad_health must be an object", "wrong_type")
        return
    fields: dict[str, float] = {}
    for name in attrs.fields_dict(GradHealth):
        item = value.get(name)
        if item is None:
            continue
        if not _is_number(item):
            p.fail(["grad_health", name], f"grad_health.{name} must be a number", "wrong_type")
        elif not math.isfinite(item):
            p.fail(["grad_health", name], f"grad_health.{name} must be finite", "invalid_value")
        else:
            fields[name] = float(item)
    p.values["grad_health"] = GradHealth(**fields)
