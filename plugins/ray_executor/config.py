"""Settings of the Ray executor: from ``configure(options)``, the kernel's environment, defaults.

Options (``configure`` keys; environment variables in brackets):

- ``address`` [``NODELOOM_RAY_ADDRESS``]: the cluster to join, as ``ray.init`` takes it
  (``ray://host:10001``, ``host:6379``, ``auto``). Unset: the process's Ray if one is already
  initialised, else ``RAY_ADDRESS``, else a Ray instance local to this machine.
- ``workers`` [``NODELOOM_RAY_WORKERS``, default 2]: run workers (actors) kept warm.
- ``worker_cpus`` / ``worker_gpus`` [``NODELOOM_RAY_WORKER_CPUS`` (1) / ``..._GPUS`` (0)]: what
  each run worker reserves on the cluster.
- ``data_dir`` [``NODELOOM_RAY_DATA_DIR``]: where the workers find the shared data dir, when it
  is mounted at another path there (default: the server's own path).
- ``node_resources`` [``NODELOOM_RAY_NODE_RESOURCES``, JSON]: resource hints by node type, on top
  of those the nodes declare, e.g. ``{"TrainingLoop": {"gpu": 1}}``.
- ``kernel_factory`` (programmatic only): ``factory(data_dir, env)`` builds the workers' kernel
  (default: a :class:`~nodeloom.kernel.host.Kernel` over the installed entry points).

Nothing here imports Ray.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any

import attrs

#: The kernel settings a worker copies from the server (the rest is the worker's own environment;
#: the server's token in particular never leaves it).
SHIPPED_ENV = ("NODELOOM_PLUGINS", "NODELOOM_DISABLE_PLUGINS", "NODELOOM_DEBUG")

ENV_PREFIX = "NODELOOM_RAY_"
EXTRA_HINT = "pip install 'nodeloom[ray]'"

Resources = Mapping[str, float]
KernelFactory = Callable[[str, Mapping[str, str]], Any]


@attrs.frozen
class WorkerConfig:
    """What a Ray worker process needs to build the same kernel as the server (picklable)."""

    data_dir: str
    env: Mapping[str, str] = attrs.field(factory=dict)
    kernel_factory: KernelFactory | None = None

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.data_dir, tuple(sorted(self.env.items())), self.kernel_factory)


@attrs.frozen
class RayConfig:
    """The executor's settings, after options, environment and defaults."""

    address: str | None = None
    workers: int = 2
    worker_cpus: float = 1.0
    worker_gpus: float = 0.0
    data_dir: str | None = None
    node_resources: Mapping[str, Resources] = attrs.field(factory=dict)
    kernel_factory: KernelFactory | None = None


def _number(name: str, value: Any, *, integer: bool = False, minimum: float = 0.0) -> Any:
    if isinstance(value, str):
        try:
            value = int(value) if integer else float(value)
        except ValueError:
            raise ValueError(f"{name} must be a number, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if integer and int(value) != value:
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum:g}, got {value!r}")
    return int(value) if integer else float(value)


def check_resources(where: str, value: Any) -> dict[str, float]:
    """A resource mapping such as ``{"gpu": 1, "cpu": 2, "accelerator_type:A100": 1}``."""
    if not isinstance(value, Mapping):
        raise ValueError(f"{where} must be an object of resource amounts, got {value!r}")
    out = {}
    for key, amount in value.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"{where}: resource names must be non-empty strings")
        out[key] = _number(f"{where}.{key}", amount)
    return out


def _node_resources(value: Any) -> dict[str, dict[str, float]]:
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except json.JSONDecodeError as exc:
            raise ValueError(f"node_resources is not valid JSON: {exc.msg}") from None
    if not isinstance(value, Mapping):
        raise ValueError("node_resources must map node types to resource objects")
    return {str(k): check_resources(f"node_resources.{k}", v) for k, v in value.items()}


_OPTIONS = ("address", "workers", "worker_cpus", "worker_gpus", "data_dir", "node_resources", "kernel_factory")


def load_config(options: Mapping[str, Any], env: Mapping[str, str]) -> RayConfig:
    """Options win over ``NODELOOM_RAY_*`` variables of ``env``, which win over defaults.

    Raises ``ValueError`` naming the bad option.
    """
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise ValueError(f"unknown ray executor option(s): {', '.join(unknown)} (known: {', '.join(_OPTIONS)})")

    def pick(name: str) -> Any:
        if options.get(name) is not None:
            return options[name]
        text = env.get(ENV_PREFIX + name.upper(), "").strip()
        return text or None

    values: dict[str, Any] = {}
    address = pick("address")
    if address is not None:
        values["address"] = str(address)
    if (workers := pick("workers")) is not None:
        values["workers"] = _number("workers", workers, integer=True, minimum=1)
    if (cpus := pick("worker_cpus")) is not None:
        values["worker_cpus"] = _number("worker_cpus", cpus)
    if (gpus := pick("worker_gpus")) is not None:
        values["worker_gpus"] = _number("worker_gpus", gpus)
    if (data_dir := pick("data_dir")) is not None:
        values["data_dir"] = str(data_dir)
    if (hints := pick("node_resources")) is not None:
        values["node_resources"] = _node_resources(hints)
    factory = options.get("kernel_factory")
    if factory is not None:
        if not callable(factory):
            raise ValueError("kernel_factory must be callable")
        values["kernel_factory"] = factory
    return RayConfig(**values)


def shipped_env(env: Mapping[str, str]) -> dict[str, str]:
    return {k: env[k] for k in SHIPPED_ENV if k in env}
