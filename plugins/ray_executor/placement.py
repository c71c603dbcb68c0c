"""Per-node placement: nodes with resource hints run as Ray tasks that hold those resources.

The run stays on its worker; only the body of a hinted node (``NodeSpec.resources``, or the
executor's ``node_resources`` setting) moves. Its inputs go to the task as one object in Ray's
object store, so values that share state keep sharing it (a model and the optimizer over its
parameters). The task is a streaming generator: progress reports come back while it runs and its
result (again one object-store object) comes last. The task process builds the same kernel as
the worker, checks the node's pack against the server's lock and runs the body inside the run
extensions' node contexts (grad mode), in a thread it can ask to stop.

A body placed this way works on *copies* of its inputs: a node that trains a model it is given
must return it (as ``TrainingLoop`` does) for downstream nodes to see the trained weights, and
its persisted modules live in the task's process.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import pickle
import queue
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from typing import Any

import attrs
import ray
from ray.exceptions import RayTaskError, TaskCancelledError, WorkerCrashedError

from nodeloom.kernel.call import NodeCall, NodeFailure, RunCancelled
from nodeloom.kernel.engine import RunContext
from nodeloom.kernel.extensions import node_contexts
from nodeloom.kernel.options import parse_run_options
from nodeloom.kernel.registry import NodeEntry
from nodeloom.kernel.state import ModuleStore, StateHandle

from . import shipping
from .config import Resources, WorkerConfig
from .kernels import reproduce, worker_kernel
from .lock import PackLock, entry_lock

log = logging.getLogger("nodeloom.ray")

#: How often a waiting worker thread looks at the run's cancellation flag.
WAIT_SLICE_S = 0.05
#: Hint names that map onto Ray's own scheduling arguments (the rest are custom resources).
_CPU = ("cpu", "CPU", "num_cpus")
_GPU = ("gpu", "GPU", "num_gpus")
_MEMORY = ("memory",)


def ray_options(hints: Resources) -> dict[str, Any]:
    """``{"gpu": 1, "cpu": 2, "fast_disk": 1}`` -> task options for ``.options(...)``.

    Without a ``cpu`` hint a task reserves no CPU: run workers hold theirs for as long as they
    live, and a run must never wait for a CPU its own worker holds.
    """
    options: dict[str, Any] = {"num_cpus": 0}
    custom: dict[str, float] = {}
    for name, amount in hints.items():
        if name in _CPU:
            options["num_cpus"] = amount
        elif name in _GPU:
            options["num_gpus"] = amount
        elif name in _MEMORY:
            options["memory"] = amount
        else:
            custom[name] = amount
    if custom:
        options["resources"] = custom
    return options


def missing_resources(options: Mapping[str, Any], total: Mapping[str, float]) -> list[str]:
    """What the whole cluster lacks for a task with ``options`` (such a task would wait forever)."""
    wanted = {
        "CPU": options.get("num_cpus", 0),
        "GPU": options.get("num_gpus", 0),
        "memory": options.get("memory", 0),
        **options.get("resources", {}),
    }
    return [
        f"{name}={amount:g} (the cluster has {total.get(name, 0):g})"
        for name, amount in wanted.items()
        if amount and amount > total.get(name, 0)
    ]


@attrs.frozen
class NodeRequest:
    """What a task needs besides the inputs to call one node body."""

    node_id: str
    type_key: str
    lock: PackLock
    params: dict[str, Any]
    device: str
    seed: int
    options: dict[str, Any]  # the run's options (wire form)
    cancel_grace_s: float


class RemoteNodeRunner:
    """The worker's :class:`~nodeloom.kernel.executors.NodeRunner` for hinted nodes."""

    def __init__(self, config: WorkerConfig, node_resources: Mapping[str, Resources]) -> None:
        self.config = config
        self.node_resources = dict(node_resources)

    def hints(self, entry: NodeEntry) -> dict[str, float]:
        declared = dict(entry.spec.resources or {})
        declared.update(self.node_resources.get(entry.spec.name, {}))
        declared.update(self.node_resources.get(entry.key, {}))
        return declared

    def takes(self, entry: NodeEntry) -> bool:
        return bool(self.hints(entry))

    def run(self, call: NodeCall, entry: NodeEntry, run: RunContext) -> Mapping[str, Any]:
        options = ray_options(self.hints(entry))
        missing = missing_resources(options, ray.cluster_resources())
        if missing:
            raise NodeFailure(
                f"Node {call.node_id} ({entry.key}) needs {', '.join(missing)}: no Ray node can run it"
            )
        request = NodeRequest(
            node_id=call.node_id,
            type_key=entry.key,
            lock=entry_lock(entry, run.snapshot),
            params=dict(call.params),
            device=call.device,
            seed=call.seed,
            options=run.options.as_dict(),
            cancel_grace_s=run.options.cancel_grace_s,
        )
        inputs = shipping.put(dict(call.inputs))
        task = _remote_node.options(**options)
        stream = task.remote(self.config, request, inputs)
        return _follow(stream, call, request.cancel_grace_s)


def _follow(stream: Any, call: NodeCall, grace_s: float) -> Mapping[str, Any]:
    """Relay the task's progress until its result; stop it when the run is cancelled."""
    cancelled_at: float | None = None
    while True:
        if call.cancelled and cancelled_at is None:
            cancelled_at = time.monotonic()
            ray.cancel(stream)  # KeyboardInterrupt in the task, which asks its body to stop
        if cancelled_at is not None and time.monotonic() - cancelled_at > grace_s:
            ray.cancel(stream, force=True)  # the body ignored the request: end its process
            raise RunCancelled(f"run cancelled while {call.node_id} was running on a Ray task")
        ready, _ = ray.wait([stream], timeout=WAIT_SLICE_S)
        if not ready:
            continue
        try:
            kind, value = _get(next(stream))
        except StopIteration:
            raise NodeFailure(f"the Ray task running {call.node_id} ended without a result") from None
        except TaskCancelledError:
            raise RunCancelled(f"run cancelled while {call.node_id} was running on a Ray task") from None
        except RayTaskError as exc:
            if isinstance(exc.cause, (KeyboardInterrupt, TaskCancelledError)) or call.cancelled:
                raise RunCancelled(f"run cancelled while {call.node_id} was running on a Ray task") from None
            raise NodeFailure(f"the Ray task running {call.node_id} failed: {exc.cause or exc}") from None
        except WorkerCrashedError as exc:
            raise NodeFailure(f"the Ray task running {call.node_id} died: {_first_line(exc)}") from None
        if kind == "progress":
            call.progress(value)
        elif kind == "result":
            return _get(value)
        else:
            raise value


def _get(ref: Any) -> Any:
    # Not ray.get: this blocks a worker thread of an async actor, which is fine, and ray.get
    # would warn that it blocks the actor's event loop.
    return ref.future().result()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# -- the task ------------------------------------------------------------------------------------


def _portable(exc: BaseException) -> BaseException:
    """``exc`` when it pickles (so the worker re-raises the very same type), else a stand-in."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001
        return NodeFailure(f"{type(exc).__name__}: {exc}")


_modules = ModuleStore()


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def run_node(config: WorkerConfig, request: NodeRequest, inputs: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """Call one node body in this process; yields ``("progress", data)``, then the outcome."""
    kernel = worker_kernel(config)
    problems = reproduce(kernel, request.lock)
    if problems:
        yield "error", NodeFailure("The Ray task cannot reproduce the node's pack: " + "; ".join(problems))
        return
    snapshot = kernel.snapshot
    entry = snapshot.lookup(request.type_key).entry
    if entry is None:
        yield "error", NodeFailure(f"node type {request.type_key} is unknown on the Ray task")
        return
    options = parse_run_options(request.options)
    env = kernel.run_environment
    cancel = threading.Event()
    outbox: queue.SimpleQueue = queue.SimpleQueue()
    context = RunContext(
        run_id=options.run_id,
        options=options,
        snapshot=snapshot,
        env=env,
        device=request.device,
        seed=request.seed,
        cancel_event=cancel,
    )
    call = NodeCall(
        node_id=request.node_id,
        node_type=entry.key,
        inputs=inputs,
        params=request.params,
        device=request.device,
        seed=request.seed,
        options=options.node_options(),
        paths=env.paths,
        state=StateHandle(_modules, options.graph_id, request.node_id, options.weights_persistent),
        cancel_event=cancel,
        emit_progress=lambda data: outbox.put(("progress", dict(data))),
        extras={
            "spec": entry.spec,
            "type_key": entry.key,
            "code_digest": entry.code_digest,
            "pack_version": entry.pack_version,
            "pack_id": entry.pack_id,
            "run": context,
        },
    )

    def body() -> None:
        try:
            with ExitStack() as stack:
                for cm in node_contexts(env.extensions, call, context):
                    stack.enter_context(cm)
                result = entry.spec.execute(call)
                if inspect.isawaitable(result):
                    result = asyncio.run(_awaited(result))
            outbox.put(("result", shipping.put({} if result is None else result)))
        except BaseException as exc:  # noqa: BLE001 - reported, never lost
            outbox.put(("error", _portable(exc)))

    thread = threading.Thread(target=body, name=f"nodeloom-node-{request.node_id}", daemon=True)
    thread.start()
    try:
        while True:
            try:
                kind, value = outbox.get(timeout=WAIT_SLICE_S)
            except queue.Empty:
                continue
            yield kind, value
            if kind != "progress":
                return
    except BaseException:  # ray.cancel: ask the body to stop and give it the run's grace
        cancel.set()
        thread.join(request.cancel_grace_s)
        raise


_remote_node = ray.remote(num_returns="streaming", max_retries=0)(run_node)
