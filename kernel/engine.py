"""The execution engine and the local executor (engine.md §4).

One :class:`Run` executes one prepared graph for an asyncio loop: node bodies run in the run's
worker threads (coroutine bodies are awaited on the loop), at most ``max_workers`` at a time,
started in (level, expanded order) as their data predecessors finish. The scheduling state sits
behind one run lock so that the worker finishing a node can start the next one itself; futures,
timers and tasks stay on the loop thread, and subscribers get events on the loop, in order.

:class:`LocalExecutor` is the in-process executor behind the ``local`` name (engine.md §8.3);
:func:`run_graph` is a synchronous convenience for the CLI and tests.
"""

from __future__ import annotations

import asyncio
import heapq
import inspect
import logging
import threading
import time
import traceback
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import ExitStack
from typing import Any

import attrs

from .cache import OutputCache, cache_key
from .call import NodeCall, NodeFailure, RunCancelled
from .events import (
    EXECUTION_COMPLETE,
    EXECUTION_ERROR,
    EXECUTION_START,
    EXECUTION_STOPPED,
    NODE_STATUS,
    OUTPUTS_KEY,
    STATE_OF_TERMINAL,
    EventSink,
    Subscriber,
    result_log,
)
from .executors import NodeRunner, SinkRunView, WorkerPool
from .extensions import call_optional, mapping_nbytes, node_contexts, resolve_device
from .options import RunOptions, parse_run_options
from .outputs import RunOutputStore
from .prepared import Issue, PreparedGraph, PreparedNode, ValidationReport
from .registry import NodeEntry, RegistrySnapshot
from .seeds import draw_run_seed
from .state import ModuleStore, StateHandle

log = logging.getLogger("nodeloom.engine")

RETRY_DELAY_S = 0.5
SKIP_REASON = "upstream node failed"


# -- public shapes -------------------------------------------------------------------------------


@attrs.define(eq=False)
class RunEnvironment:
    """Process-level services a run uses. The caller decides their scope (the API shares them)."""

    cache: OutputCache | None = None
    outputs: RunOutputStore = attrs.field(factory=RunOutputStore)
    modules: ModuleStore = attrs.field(factory=ModuleStore)
    extensions: list[Any] = attrs.field(factory=list)
    paths: Any = None  # NodePaths or None
    debug: bool = False
    #: Runs the bodies of the nodes it takes elsewhere (see :class:`~.executors.NodeRunner`).
    node_runner: NodeRunner | None = None


@attrs.define(eq=False)
class RunSpec:
    """What an executor needs to run a graph.

    ``graph`` is a raw graph mapping (nodes, edges, presets...) or an already prepared graph.
    ``release`` is called once when the run ends (e.g. to unpin the snapshot). ``cancel_event``
    links the run to a parent's cancellation (a nested run inside a node body).
    """

    graph: Any
    snapshot: RegistrySnapshot
    options: RunOptions = attrs.field(factory=RunOptions)
    release: Callable[[], None] | None = None
    cancel_event: threading.Event | None = None

    @property
    def generation(self) -> int:
        return self.snapshot.generation

    @property
    def pack_lock(self) -> dict[str, str]:
        return self.snapshot.pack_lock()


@attrs.define(eq=False)
class RunContext:
    """The run as run extensions see it (``before_run``, ``node_context``, ``after_node``...).

    Extensions keep per-run state in ``scratch`` and may append terminal warnings to ``warnings``.
    """

    run_id: str
    options: RunOptions
    snapshot: RegistrySnapshot
    env: RunEnvironment
    device: str
    seed: int
    cancel_event: threading.Event
    prepared: PreparedGraph | None = None
    results: dict[str, Mapping[str, Any]] = attrs.field(factory=dict)
    executed: list[str] = attrs.field(factory=list)  # completed or cached, in completion order
    warnings: list[str] = attrs.field(factory=list)
    scratch: dict[str, Any] = attrs.field(factory=dict)
    status: str = "running"

    @property
    def graph_id(self) -> str:
        return self.options.graph_id

    @property
    def modules(self) -> ModuleStore:
        return self.env.modules

    def record(self, node_id: str, port: str, value: Any) -> None:
        """Write one value to the run output store (gradient capture records this way)."""
        self.env.outputs.record(self.run_id, node_id, port, value)


@attrs.frozen(repr=False)
class RunResult:
    """What :func:`run_graph` returns: every event, the node results and the terminal event."""

    run_id: str
    events: list[dict[str, Any]]
    results: dict[str, Mapping[str, Any]]
    terminal: dict[str, Any]

    def __repr__(self) -> str:
        # Never repr the results: asyncio.run (3.11) reprs the main task, result included, when
        # it checks the SIGINT handler, and printing every tensor of a run took most of its time.
        return (
            f"RunResult(run_id={self.run_id!r}, state={self.state!r}, "
            f"events={len(self.events)}, results={len(self.results)})"
        )

    @property
    def state(self) -> str:
        return STATE_OF_TERMINAL[self.terminal["type"]]

    @property
    def ok(self) -> bool:
        return self.terminal["type"] == EXECUTION_COMPLETE

    def node_events(self, node_id: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == NODE_STATUS and e["node_id"] == node_id]

    def statuses(self, node_id: str) -> list[str]:
        return [e["status"] for e in self.node_events(node_id)]


#: How long the synchronous :func:`run_graph` waits for a finished run's workers to exit.
WORKER_JOIN_S = 5.0


class RunIdInUse(ValueError):
    """A run with this id is still active on the executor."""

    code = "run_id_in_use"


# -- cancellation link ---------------------------------------------------------------------------


class _LinkedEvent(threading.Event):
    """A cancellation flag that also reads as set when a parent run's flag is set."""

    def __init__(self, parent: threading.Event) -> None:
        super().__init__()
        self._parent = parent

    def is_set(self) -> bool:
        return super().is_set() or self._parent.is_set()


# -- per-node plan -------------------------------------------------------------------------------


def _is_coroutine_function(fn: Any) -> bool:
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(fn, "__call__", None)  # noqa: B004 - callable objects with an async __call__
    return call is not None and inspect.iscoroutinefunction(call)


def _static_eligible(entry: NodeEntry, params: Mapping[str, Any]) -> bool:
    try:
        return entry.spec.cache_eligible(params)
    except Exception:  # a flag callable that fails on these params: never cache, never crash
        log.warning("cache flags of %s failed; node not cached", entry.key, exc_info=True)
        return False


@attrs.define(eq=False, slots=True)
class _Node:
    """Scheduling state of one executable node (guarded by the run lock)."""

    prep: PreparedNode
    order: int
    client_id: str  # the id clients know: the top-level preset instance for members
    in_edges: list[tuple[str, str, str]]  # (source, source port, target port) in edge order
    required: list[tuple[str, str, str]]  # (port, last source, its port) for required inputs
    successors: list[str]
    pending: int
    is_async: bool
    eligible: bool
    extras: dict[str, Any]
    runner: NodeRunner | None = None  # the environment's runner, when it took this node
    key: str | None = None
    doomed: bool = False
    state: str = "waiting"  # waiting, running, done, failed, skipped, abandoned
    started: float = 0.0
    attempts: int = 0
    call: NodeCall | None = None
    task: asyncio.Task | None = None  # coroutine bodies only
    timer: asyncio.TimerHandle | None = None  # pending retry


@attrs.define(eq=False, slots=True)
class _Instance:
    """Aggregation state of one top-level preset instance (engine.md §4.7)."""

    total: int
    finished: int = 0
    started: float | None = None


def _takes(runner: NodeRunner, entry: NodeEntry) -> bool:
    try:
        return bool(runner.takes(entry))
    except Exception:  # a broken runner must not break the run: the body then runs here
        log.warning("node runner failed to decide about %s; running it locally", entry.key, exc_info=True)
        return False


def _build_plan(prepared: PreparedGraph, ctx: RunContext) -> dict[str, _Node]:
    """Per-node wiring, dependency counts and static cache eligibility, in (level, order)."""
    node_runner = ctx.env.node_runner
    nodes: dict[str, _Node] = {}
    ids = {n.id for n in prepared.nodes}
    incoming: dict[str, list[tuple[str, str, str]]] = {i: [] for i in ids}
    preds: dict[str, set[str]] = {i: set() for i in ids}
    succs: dict[str, list[str]] = {i: [] for i in ids}
    for edge in prepared.edges:
        if edge.source not in ids or edge.target not in ids:
            continue
        incoming[edge.target].append((edge.source, edge.source_handle, edge.target_handle))
        if edge.source not in preds[edge.target]:
            preds[edge.target].add(edge.source)
            succs[edge.source].append(edge.target)
    is_async: dict[int, bool] = {}  # per spec: inspecting callables is slow and specs repeat
    for order, prep in enumerate(prepared.nodes):
        entry = prep.entry
        spec = entry.spec
        if id(spec) not in is_async:
            is_async[id(spec)] = _is_coroutine_function(spec.execute)
        last_edge: dict[str, tuple[str, str]] = {}
        for src, sport, tport in incoming[prep.id]:
            last_edge[tport] = (src, sport)
        required = [
            (p.name, *last_edge[p.name]) for p in spec.inputs if not p.optional and p.name in last_edge
        ]
        runner = node_runner if node_runner is not None and _takes(node_runner, entry) else None
        nodes[prep.id] = _Node(
            prep=prep,
            order=order,
            client_id=prep.instance or prep.id,
            in_edges=incoming[prep.id],
            required=required,
            successors=succs[prep.id],
            pending=len(preds[prep.id]),
            # A runner blocks a worker thread until the body has finished elsewhere.
            is_async=is_async[id(spec)] and runner is None,
            runner=runner,
            eligible=_static_eligible(entry, prep.params),
            extras={
                "spec": spec,
                "type_key": entry.key,
                "code_digest": entry.code_digest,
                "pack_version": entry.pack_version,
                "pack_id": entry.pack_id,
                "run": ctx,
            },
        )
    return nodes


def _error_message(exc: BaseException) -> str:
    text = str(exc)
    return text if text else type(exc).__name__


def _error_code(exc: BaseException, entry: NodeEntry) -> str:
    if isinstance(exc, NodeFailure):
        return exc.code
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        top = exc.name.split(".")[0]
        if any(req.import_name.split(".")[0] == top for req in entry.spec.requires):
            return "dependency_missing"
    return "node_error"


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))


# -- the run -------------------------------------------------------------------------------------


class Run(SinkRunView):
    """One execution: a handle for consumers and the scheduler that drives it.

    Consumers use :attr:`run_id`, :attr:`state`, :meth:`events`, :meth:`subscribe`,
    :meth:`cancel`, :meth:`wait` and :attr:`results`; the rest is the engine's.

    Threading: the scheduling state is guarded by one re-entrant run lock and may be advanced from
    any thread. A worker that finishes a node records it and, when that makes another sync node
    ready, runs it itself instead of handing back to the loop: a chain of cheap nodes then costs
    no thread switch per node. Loop-only objects (futures, timers, tasks) are touched only on the
    loop thread (:meth:`_on_loop`), and events reach subscribers on the loop, in ``seq`` order.
    """

    def __init__(self, spec: RunSpec, env: RunEnvironment) -> None:
        self.spec = spec
        self.env = env
        self.options = spec.options
        self.run_id = spec.options.run_id
        self.sink = EventSink(self.run_id)
        self.results: dict[str, Mapping[str, Any]] = {}
        self.failed_nodes: list[str] = []
        self.cancel_event: threading.Event = (
            _LinkedEvent(spec.cancel_event) if spec.cancel_event is not None else threading.Event()
        )
        self.context: RunContext | None = None
        self._lock = threading.RLock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._task: asyncio.Task | None = None
        self._terminal: asyncio.Future | None = None
        self._idle: asyncio.Future | None = None  # resolved when scheduling is over
        self._idle_signalled = False
        self._drained: asyncio.Future | None = None  # set while stopping: no body in flight
        self._cancel_reason: str | None = None
        self._failure: tuple[str, str] | None = None
        self._stopping = False
        self._suppress_node_events = False
        self._nodes: dict[str, _Node] = {}
        self._instances: dict[str, _Instance] = {}
        self._ready: list[tuple[int, str]] = []
        self._retrying: set[str] = set()
        self._active = 0  # nodes holding a worker slot (running or waiting to retry)
        self._pumping = False
        self._claimer: int | None = None  # worker thread that may run the next sync node itself
        self._claimed: _Node | None = None
        self._pool: WorkerPool | None = None
        self._released = False
        self._node_options = spec.options.node_options()
        self._context_extensions = [
            ext for ext in env.extensions if callable(getattr(ext, "node_context", None))
        ]
        self._after_node_extensions = [
            ext for ext in env.extensions if callable(getattr(ext, "after_node", None))
        ]

    # -- consumer API (state, events, subscriptions: SinkRunView) ----------------------------

    @property
    def bodies_in_flight(self) -> int:
        """Node bodies still holding a worker slot; after a stop's grace, the abandoned ones."""
        with self._lock:
            return self._active

    def join_workers(self, timeout: float) -> None:
        """Block until this run's worker threads have exited (at most ``timeout`` seconds)."""
        if self._pool is not None:
            self._pool.join(timeout)

    def request_cancel(self, reason: str = "stop") -> None:
        """Set the cancellation flag without waiting (any thread).

        The first reason wins. From here on no node starts and no node event is emitted.
        """
        with self._lock:
            if self.sink.closed or self._cancel_reason is not None:
                return
            self._cancel_reason = reason
            self._suppress_node_events = True
            self._stop()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Schedule the run on the running loop; events start on the next loop iteration."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self.sink.bind(loop)
        self._terminal = loop.create_future()
        self._idle = loop.create_future()
        self._task = loop.create_task(self._main(), name=f"nodeloom-run-{self.run_id}")

    def _on_loop(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the loop thread: now when already there, else posted."""
        if threading.get_ident() == self._loop_thread:
            fn(*args)
        else:
            assert self._loop is not None
            _post(self._loop, fn, *args)

    async def _main(self) -> None:
        assert self._loop is not None and self._terminal is not None
        started = time.perf_counter()
        timer = None
        if self.options.timeout_s is not None:
            timer = self._loop.call_later(self.options.timeout_s, self.request_cancel, "timeout")
        try:
            await self._execute(started)
        except Exception as exc:  # an engine bug must still end the run with one terminal event
            log.exception("run %s failed inside the engine", self.run_id)
            message = f"Internal engine error: {_error_message(exc)}"
            with self._lock:
                self._emit_start_if_missing()
                fields = {"error": message, "node_id": None, "errors": [message], "warnings": []}
                self._emit(EXECUTION_ERROR, fields)
        finally:
            if timer is not None:
                timer.cancel()
            with self._lock:
                if not self.sink.closed:  # cancelled from outside (loop shutdown): still a terminal
                    self._emit_start_if_missing()
                    reason = self._cancel_reason or "shutdown"
                    self._emit(EXECUTION_STOPPED, {"reason": reason, "warnings": []})
                self._stopping = True
            self.sink.flush()
            if self._pool is not None:
                self._pool.shutdown()
            if self.context is not None:
                self.context.status = self.state
            self._release()
            if not self._terminal.done():
                self._terminal.set_result(self.sink.terminal)

    def _emit_start_if_missing(self) -> None:
        """Keep ``execution_start`` as seq 1 even when the run dies before it was sent."""
        if self.sink.events:
            return
        ctx = self.context
        self._emit(
            EXECUTION_START,
            {
                "generation": self.spec.snapshot.generation,
                "device": ctx.device if ctx is not None else "cpu",
                "seed": ctx.seed if ctx is not None else self.options.seed,
                "graph_id": self.options.graph_id,
                "record_outputs": self.options.record_outputs,
                "warnings": [],
            },
        )

    def _release(self) -> None:
        if self._released or self.spec.release is None:
            return
        self._released = True
        try:
            self.spec.release()
        except Exception:
            log.exception("run %s: release callback failed", self.run_id)

    def _emit(self, type_: str, fields: dict[str, Any]) -> dict[str, Any] | None:
        return self.sink.emit(type_, fields)

    async def _execute(self, started: float) -> None:
        options = self.options
        env = self.env
        device, device_warning = resolve_device(env.extensions, options.device)
        seed = options.seed if options.seed is not None else draw_run_seed()
        ctx = RunContext(
            run_id=self.run_id,
            options=options,
            snapshot=self.spec.snapshot,
            env=env,
            device=device,
            seed=seed,
            cancel_event=self.cancel_event,
            results=self.results,
        )
        self.context = ctx
        self._pool = WorkerPool(options.max_workers, f"nodeloom-{self.run_id[:8]}")
        # A reused run_id starts from an empty output store entry (api.md §2.10).
        env.outputs.clear(self.run_id)

        prepared = await self._prepare(seed)
        if prepared.run_seed is not None:  # a graph prepared by the caller carries its own seed
            seed = ctx.seed = prepared.run_seed
        ctx.prepared = prepared
        warnings = list(prepared.report.warnings)
        if device_warning:
            warnings.append(device_warning)
        if (
            options.weights_persistent
            and not options.graph_id
            and any(n.entry.spec.stateful is not None for n in prepared.nodes)
        ):
            warnings.append(
                "weights_not_persisted: graph_id is empty, so stateful nodes build fresh modules "
                "on every run"
            )
        self._emit(
            EXECUTION_START,
            {
                "generation": self.spec.snapshot.generation,
                "device": device,
                "seed": seed,
                "graph_id": options.graph_id,
                "record_outputs": options.record_outputs,
                "warnings": warnings,
            },
        )
        if not prepared.report.valid:
            errors = prepared.report.errors
            fields = {"error": "; ".join(errors), "node_id": None, "errors": errors, "warnings": []}
            self._emit(EXECUTION_ERROR, fields)
            return
        if self.cancel_event.is_set():
            self.request_cancel("stop")  # a linked parent run was cancelled meanwhile
        if self._cancel_reason is not None:
            self._emit_stopped(ctx)
            return

        for ext in env.extensions:
            self._call_extension(ext, "before_run", ctx)
        with self._lock:
            self._nodes = _build_plan(prepared, ctx)
            for node in self._nodes.values():
                if node.prep.instance is not None:
                    self._instances.setdefault(node.prep.instance, _Instance(total=0)).total += 1
                if node.pending == 0:
                    heapq.heappush(self._ready, (node.order, node.prep.id))
            self._pump()
        assert self._idle is not None
        await self._idle
        if self._stopping:
            await self._drain()

        if self._cancel_reason is not None:
            self._emit_stopped(ctx)
        elif self._failure is not None:
            message, node_id = self._failure
            fields = {"error": message, "node_id": node_id, "errors": [], "warnings": list(ctx.warnings)}
            self._emit(EXECUTION_ERROR, fields)
        else:
            await self._after_run(ctx)
            with self._lock:
                if self._cancel_reason is not None:
                    self._emit_stopped(ctx)
                    return
                self._emit(
                    EXECUTION_COMPLETE,
                    {
                        "elapsed_ms": _ms(time.perf_counter() - started),
                        "failed_nodes": list(self.failed_nodes),
                        "warnings": list(ctx.warnings),
                    },
                )

    async def _prepare(self, seed: int) -> PreparedGraph:
        """Steps 1-6 of the pipeline, off the loop thread (large graphs take tens of ms).

        A preparation crash becomes a failed report, so the run still reports
        ``execution_start`` then ``execution_error`` like any invalid graph.
        """
        graph = self.spec.graph
        if isinstance(graph, PreparedGraph):
            return graph
        from .prepare import prepare  # late: preparation pulls in the graph model and validation

        def job() -> tuple[bool, Any]:
            try:
                return True, prepare(graph, self.spec.snapshot, run_seed=seed)
            except Exception as exc:
                return False, exc

        ok, value = await self._offload(job)
        if ok:
            return value
        log.error("run %s: preparing the graph failed", self.run_id, exc_info=value)
        message = f"Graph preparation failed: {_error_message(value)}"
        issue = Issue(code="invalid_graph", severity="error", message=message)
        return PreparedGraph(snapshot=self.spec.snapshot, report=ValidationReport(issues=(issue,)))

    def _emit_stopped(self, ctx: RunContext) -> None:
        fields = {"reason": self._cancel_reason or "stop", "warnings": list(ctx.warnings)}
        self._emit(EXECUTION_STOPPED, fields)

    def _call_extension(self, ext: Any, method: str, *args: Any) -> Any:
        try:
            return call_optional(ext, method, *args)
        except Exception as exc:
            name = getattr(ext, "name", type(ext).__name__)
            log.exception("run extension %s.%s failed", name, method)
            if self.context is not None:
                self.context.warnings.append(f"extension_error: {name}.{method}: {_error_message(exc)}")
            return None

    async def _after_run(self, ctx: RunContext) -> None:
        hooks = [ext for ext in self.env.extensions if callable(getattr(ext, "after_run", None))]
        if not hooks:
            return

        def job() -> list[str]:
            out: list[str] = []
            for ext in hooks:
                extra = self._call_extension(ext, "after_run", ctx)
                if extra:
                    out.extend(str(w) for w in extra)
            return out

        # Gradient capture may run a long backward pass: keep it off the loop thread.
        ctx.warnings.extend(await self._offload(job))

    def _offload(self, job: Callable[[], Any]) -> asyncio.Future:
        """Run ``job`` in one of the run's worker threads; the future resolves on the loop.

        The run's own pool is used rather than ``asyncio.to_thread``: the default executor
        would be created and joined by every ``asyncio.run`` of :func:`run_graph`.
        """
        loop = self._loop
        assert loop is not None and self._pool is not None
        future: asyncio.Future = loop.create_future()
        self._pool.submit(job, lambda out: _post(loop, _resolve, future, out))
        return future

    # -- stopping (callers hold the run lock) ------------------------------------------------

    def _stop(self) -> None:
        self._stopping = True
        self.cancel_event.set()
        self._on_loop(self._stop_on_loop)

    def _stop_on_loop(self) -> None:
        with self._lock:
            # Nodes waiting for a retry are not running a body: they stop at once, silently.
            for node_id in list(self._retrying):
                node = self._nodes[node_id]
                if node.timer is not None:
                    node.timer.cancel()
                    node.timer = None
                self._abandon(node)
            self._signal_idle(force=True)

    async def _drain(self) -> None:
        """Await bodies in flight for up to ``cancel_grace_s``; abandon the rest."""
        assert self._loop is not None
        with self._lock:
            busy = self._active > 0
            if busy:
                self._drained = self._loop.create_future()
        if busy:
            assert self._drained is not None
            try:
                await asyncio.wait_for(asyncio.shield(self._drained), self.options.cancel_grace_s)
            except asyncio.TimeoutError:
                pass
        with self._lock:
            for node in self._nodes.values():
                if node.state == "running":
                    node.state = "abandoned"
                    if node.task is not None:
                        node.task.cancel()

    def _release_slot(self) -> None:
        self._active -= 1
        if self._active == 0 and self._drained is not None:
            self._on_loop(_resolve, self._drained, None)
        self._pump()

    def _signal_idle(self, *, force: bool = False) -> None:
        if self._idle_signalled or self._idle is None:
            return
        if force or (self._active == 0 and not self._ready) or (self._active == 0 and self._stopping):
            self._idle_signalled = True
            self._on_loop(_resolve, self._idle, None)

    # -- scheduling (callers hold the run lock) ----------------------------------------------

    def _pump(self) -> None:
        """Start ready nodes in (level, order) order while worker slots are free."""
        if self._pumping:
            return
        self._pumping = True
        try:
            if not self._stopping and self.cancel_event.is_set():
                self.request_cancel("stop")  # a linked parent run was cancelled
            limit = self.options.max_workers
            ready = self._ready
            while ready and not self._stopping:
                node = self._nodes[ready[0][1]]
                if node.doomed:
                    heapq.heappop(ready)
                    self._skip(node)
                    continue
                if self._active >= limit:
                    break
                heapq.heappop(ready)
                self._launch(node)
        finally:
            self._pumping = False
        self._signal_idle()

    def _launch(self, node: _Node) -> None:
        results = self.results
        inputs: dict[str, Any] = {}
        winners: dict[str, tuple[str, str]] = {}
        for src, sport, tport in node.in_edges:
            upstream = results.get(src)
            if upstream is not None and sport in upstream:
                inputs[tport] = upstream[sport]
                winners[tport] = (src, sport)
        prep = node.prep
        for port, src, sport in node.required:
            if port not in inputs:
                node.started = time.perf_counter()
                node.state = "running"
                self._node_event(node, "running", {})
                failure = NodeFailure(
                    f"Input '{port}' on node {prep.id} ({prep.type}) was not produced by {src}.{sport}",
                    code="input_not_produced",
                )
                self._fail(node, failure)
                return

        cache = self.env.cache
        if cache is not None and node.eligible and not self.options.backward_mode:
            node.key = self._key_for(node, winners)
            if node.key is not None and self._lookup_allowed(node):
                hit = cache.get(node.key)
                if hit is not None:
                    self._complete(node, hit, cached=True)
                    return

        node.state = "running"
        node.started = time.perf_counter()
        self._node_event(node, "running", {})
        if self._stopping:  # a subscriber cancelled the run while handling that event
            node.state = "abandoned"
            return
        ctx = self.context
        assert ctx is not None
        options = self.options
        node.call = NodeCall(
            node_id=prep.id,
            node_type=prep.entry.key,
            inputs=inputs,
            params=prep.params,
            device=ctx.device,
            seed=prep.seed,
            options=self._node_options,
            paths=self.env.paths,
            state=StateHandle(self.env.modules, options.graph_id, prep.id, options.weights_persistent),
            cancel_event=self.cancel_event,
            emit_progress=self._progress_emitter(node),
            extras=node.extras,
        )
        self._active += 1
        self._attempt(node)

    def _lookup_allowed(self, node: _Node) -> bool:
        options = self.options
        if options.verbose_mode or options.backward_mode:
            return False
        changed = options.changed_nodes
        return not changed or (node.prep.id not in changed and node.client_id not in changed)

    def _key_for(self, node: _Node, winners: Mapping[str, tuple[str, str]]) -> str | None:
        nodes = self._nodes
        keyed_inputs = []
        for tport, (src, sport) in winners.items():
            upstream_key = nodes[src].key
            if upstream_key is None:
                return None  # ineligibility propagates downstream
            keyed_inputs.append((tport, upstream_key, sport))
        prep = node.prep
        entry = prep.entry
        fingerprint = None
        if entry.spec.fingerprint is not None:
            try:
                fingerprint = entry.spec.fingerprint(prep.params, self.env.paths)
            except Exception:
                log.warning("fingerprint of %s failed; node not cached", prep.id, exc_info=True)
                return None
        assert self.context is not None
        return cache_key(
            type_key=entry.key,
            pack=(entry.pack_id, entry.pack_version, entry.code_digest),
            params=prep.params,
            inputs=keyed_inputs,
            device=self.context.device,
            fingerprint=fingerprint,
        )

    # -- node execution ---------------------------------------------------------------------

    def _attempt(self, node: _Node) -> None:
        """Start one attempt of the node's body (lock held; the flag was checked by the caller)."""
        node.attempts += 1
        if node.is_async:
            self._on_loop(self._start_async, node)
        elif self._claimer == threading.get_ident() and self._claimed is None:
            self._claimed = node  # the finishing worker runs it next, without a thread switch
        else:
            assert self._pool is not None
            self._pool.submit(self._worker_job(node))

    def _worker_job(self, first: _Node) -> Callable[[], None]:
        def job() -> None:
            node: _Node | None = first
            me = threading.get_ident()
            while node is not None:
                attempt = node.attempts
                outcome = self._call_body(node)
                with self._lock:
                    self._claimer, self._claimed = me, None
                    try:
                        self._on_outcome(node, attempt, outcome)
                    finally:
                        node, self._claimed, self._claimer = self._claimed, None, None

        return job

    def _call_body(self, node: _Node) -> tuple[bool, Any]:
        """Run a sync body in this (worker) thread inside the extensions' node contexts."""
        call = node.call
        assert call is not None
        if node.runner is not None:
            # The runner applies the extensions' node contexts where the body really runs.
            try:
                return True, node.runner.run(call, node.prep.entry, self.context)
            except BaseException as exc:  # noqa: BLE001 - as below
                return False, exc
        execute = node.prep.entry.spec.execute
        try:
            if self._context_extensions:
                contexts = node_contexts(self._context_extensions, call, self.context)
                if len(contexts) == 1:  # the usual case (grad mode): no ExitStack on the hot path
                    with contexts[0]:
                        return True, execute(call)
                with ExitStack() as stack:
                    for cm in contexts:
                        stack.enter_context(cm)
                    return True, execute(call)
            return True, execute(call)
        except BaseException as exc:  # noqa: BLE001 - even SystemExit must not kill the run
            return False, exc

    def _start_async(self, node: _Node) -> None:
        with self._lock:
            if node.state != "running":
                return
            if self._stopping:
                self._abandon(node)
                return
            assert self._loop is not None and node.call is not None
            awaitable = node.prep.entry.spec.execute(node.call)
            node.task = self._loop.create_task(self._await_body(node, node.attempts, awaitable))

    async def _await_body(self, node: _Node, attempt: int, awaitable: Any) -> None:
        # Coroutine bodies run on the loop; node contexts (grad mode) are thread-local and do not
        # apply to them, which is fine for the I/O work they are meant for.
        try:
            outcome: tuple[bool, Any] = (True, await awaitable)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            outcome = (False, exc)
        with self._lock:
            node.task = None
            self._on_outcome(node, attempt, outcome)

    def _on_outcome(self, node: _Node, attempt: int, outcome: tuple[bool, Any]) -> None:
        """An attempt ended (lock held). Late outcomes of abandoned nodes are dropped here."""
        if node.state != "running" or attempt != node.attempts:
            return
        ok, value = outcome
        if ok:
            if inspect.isawaitable(value):  # a sync callable that returned an awaitable
                self._on_loop(self._await_later, node, attempt, value)
                return
            result = _as_result(node, value)
            if not isinstance(result, BaseException):
                self._complete(node, result, cached=False)
                self._release_slot()
                return
            value = result
        if isinstance(value, RunCancelled) and self.cancel_event.is_set():
            self._abandon(node)  # stopped on request: no event (engine.md §4.8)
            return
        if node.attempts < self._max_attempts and not self._stopping:
            self._schedule_retry(node, value)
            return
        self._fail(node, value)
        self._release_slot()

    def _await_later(self, node: _Node, attempt: int, awaitable: Any) -> None:
        assert self._loop is not None
        with self._lock:
            node.task = self._loop.create_task(self._await_body(node, attempt, awaitable))

    @property
    def _max_attempts(self) -> int:
        options = self.options
        return 1 + (options.max_retries if options.error_mode == "retry" else 0)

    def _schedule_retry(self, node: _Node, exc: BaseException) -> None:
        progress = {
            "event": "retry",
            "attempt": node.attempts + 1,
            "max_attempts": self._max_attempts,
            "error": _error_message(exc),
        }
        self._node_event(node, "progress", {"progress": progress})
        self._retrying.add(node.prep.id)
        self._on_loop(self._arm_retry, node, RETRY_DELAY_S * node.attempts)

    def _arm_retry(self, node: _Node, delay: float) -> None:
        assert self._loop is not None
        with self._lock:
            if node.state == "running" and node.prep.id in self._retrying:
                node.timer = self._loop.call_later(delay, self._retry, node)

    def _retry(self, node: _Node) -> None:
        with self._lock:
            self._retrying.discard(node.prep.id)
            node.timer = None
            if self._stopping or node.state != "running":
                return  # _stop_on_loop() already abandoned it
            self._attempt(node)

    def _abandon(self, node: _Node) -> None:
        """The node ends without an event (stopped on request); its slot is freed."""
        self._retrying.discard(node.prep.id)
        node.state = "abandoned"
        node.call = None
        self._release_slot()

    def _progress_emitter(self, node: _Node) -> Callable[[Mapping[str, Any]], None]:
        lock = self._lock
        sink = self.sink
        node_event = self._node_event

        def emit(data: Mapping[str, Any]) -> None:
            if sink.closed:
                return  # a late event of an abandoned body
            with lock:
                if node.state == "running":
                    node_event(node, "progress", {"progress": data})

        return emit

    # -- outcomes (callers hold the run lock) ------------------------------------------------

    def _complete(self, node: _Node, result: Mapping[str, Any], *, cached: bool) -> None:
        env = self.env
        prep = node.prep
        node.state = "done"
        node.call = None
        if not cached and node.key is not None and env.cache is not None:
            env.cache.put(node.key, result, mapping_nbytes(env.extensions, result))
        self.results[prep.id] = result
        if self.options.record_outputs:
            env.outputs.record_result(self.run_id, prep.id, result)
        fields: dict[str, Any] = {OUTPUTS_KEY: result}
        if "__log__" in result:
            text = result_log(result)
            if text is not None:
                fields["log"] = text
        if not cached:
            fields["elapsed_ms"] = _ms(time.perf_counter() - node.started)
        self._node_event(node, "cached" if cached else "completed", fields)
        ctx = self.context
        assert ctx is not None
        ctx.executed.append(prep.id)
        for ext in self._after_node_extensions:
            self._call_extension(ext, "after_node", ctx, prep.id, result)
        nodes = self._nodes
        for succ_id in node.successors:
            succ = nodes[succ_id]
            succ.pending -= 1
            if succ.pending == 0:
                heapq.heappush(self._ready, (succ.order, succ_id))

    def _fail(self, node: _Node, exc: BaseException) -> None:
        prep = node.prep
        node.state = "failed"
        node.call = None
        message = _error_message(exc)
        fields: dict[str, Any] = {
            "error": message,
            "error_type": type(exc).__name__,
            "code": _error_code(exc, prep.entry),
            "attempts": node.attempts,
        }
        if self.env.debug:
            fields["traceback"] = "".join(traceback.format_exception(exc))
        log.debug("node %s failed: %s", prep.id, message)
        self._node_event(node, "error", fields)
        if node.client_id not in self.failed_nodes:
            self.failed_nodes.append(node.client_id)
        if self.options.error_mode == "fail_fast":
            if self._failure is None:
                self._failure = (message, node.client_id)
                self._stop()
            return
        self._doom_successors(node)

    def _skip(self, node: _Node) -> None:
        node.state = "skipped"
        self._node_event(node, "skipped", {"reason": SKIP_REASON})
        self._doom_successors(node)

    def _doom_successors(self, node: _Node) -> None:
        nodes = self._nodes
        for succ_id in node.successors:
            succ = nodes[succ_id]
            succ.doomed = True
            succ.pending -= 1
            if succ.pending == 0:
                heapq.heappush(self._ready, (succ.order, succ_id))

    def _node_event(self, node: _Node, status: str, fields: dict[str, Any]) -> None:
        """Emit a node status, aggregating preset members under their instance (engine.md §4.7)."""
        if self._suppress_node_events:
            return
        prep = node.prep
        instance = prep.instance
        if instance is None:
            event = {"node_id": prep.id, "status": status}
            event.update(fields)
            self._emit(NODE_STATUS, event)
            return
        if status in ("progress", "error"):
            event = {"node_id": instance, "status": status, "member": prep.member}
            event.update(fields)
            self._emit(NODE_STATUS, event)
            return
        agg = self._instances[instance]
        if agg.started is None:
            agg.started = time.perf_counter()
            self._emit(NODE_STATUS, {"node_id": instance, "status": "running", "member": prep.member})
        if status != "running":
            agg.finished += 1
            if agg.finished == agg.total:
                elapsed = _ms(time.perf_counter() - agg.started)
                self._emit(NODE_STATUS, {"node_id": instance, "status": "completed", "elapsed_ms": elapsed})


def _resolve(future: asyncio.Future, value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _post(loop: asyncio.AbstractEventLoop, fn: Callable[..., Any], *args: Any) -> None:
    """Call ``fn(*args)`` on the loop from any thread; dropped once the loop is closed."""
    try:
        loop.call_soon_threadsafe(fn, *args)
    except RuntimeError:
        pass  # the loop is closed: the run is long over and this late outcome is discarded


def _as_result(node: _Node, value: Any) -> dict[str, Any] | BaseException:
    """The body's return value as a result dict, or the TypeError that failing it deserves."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    if isinstance(value, Mapping):
        return dict(value)
    return TypeError(
        f"Node {node.prep.id} ({node.prep.type}) returned {type(value).__name__}; "
        "execute must return a mapping of output ports"
    )


# -- executor ------------------------------------------------------------------------------------


class LocalExecutor:
    """The in-process executor (``local``): runs on the caller's event loop and worker threads."""

    name = "local"

    def __init__(self, env: RunEnvironment | None = None) -> None:
        self.env = env if env is not None else RunEnvironment()
        self._active: dict[str, Run] = {}

    async def submit(self, spec: RunSpec) -> Run:
        """Start a run; raises :class:`RunIdInUse` when a run with the same id is still active."""
        run_id = spec.options.run_id
        current = self._active.get(run_id)
        if current is not None and not current.done:
            raise RunIdInUse(f"Run '{run_id}' is already running")
        run = Run(spec, self.env)
        self._active[run_id] = run
        run.start()
        assert run._terminal is not None
        run._terminal.add_done_callback(lambda _f: self._forget(run))
        return run

    def _forget(self, run: Run) -> None:
        if self._active.get(run.run_id) is run:
            del self._active[run.run_id]

    def get(self, run_id: str) -> Run | None:
        """The active run with this id, if any."""
        run = self._active.get(run_id)
        return run if run is not None and not run.done else None

    def active_runs(self) -> list[Run]:
        return [run for run in self._active.values() if not run.done]

    def events(self, run: Run, after_seq: int = 0) -> AsyncIterator[dict[str, Any]]:
        return run.events(after_seq)

    async def cancel(self, run: Run | str, reason: str = "stop") -> dict[str, Any] | None:
        """Cancel a run (object or id) and return its terminal event; None for an unknown id."""
        target = self.get(run) if isinstance(run, str) else run
        if target is None:
            return None
        return await target.cancel(reason)

    async def shutdown(self, reason: str = "shutdown") -> None:
        """Cancel every active run and wait for their terminal events."""
        runs = list(self._active.values())
        for run in runs:
            run.request_cancel(reason)
        if runs:
            await asyncio.gather(*(run.wait() for run in runs))


# -- synchronous convenience ---------------------------------------------------------------------


def run_graph(
    graph: Any,
    snapshot: RegistrySnapshot,
    options: RunOptions | Mapping[str, Any] | None = None,
    env: RunEnvironment | None = None,
    on_event: Subscriber | None = None,
    *,
    cancel_event: threading.Event | None = None,
) -> RunResult:
    """Run a graph to its end and return every event, the results and the terminal event.

    ``on_event`` is called for each event as it happens. ``cancel_event`` links the run to an
    outer cancellation flag (a node body running a nested graph passes ``call.cancel_event``).
    Safe to call from a thread that is already running an event loop: the run then gets its own
    thread.
    """
    opts = options if isinstance(options, RunOptions) else parse_run_options(options)

    async def main() -> RunResult:
        executor = LocalExecutor(env)
        run = await executor.submit(RunSpec(graph, snapshot, opts, cancel_event=cancel_event))
        if on_event is not None:
            run.subscribe(on_event)
        terminal = await run.wait()
        await asyncio.to_thread(run.join_workers, WORKER_JOIN_S)
        return RunResult(run.run_id, list(run.event_log), dict(run.results), terminal)

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    box: dict[str, Any] = {}

    def runner() -> None:
        try:
            box["result"] = asyncio.run(main())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
            box["error"] = exc

    thread = threading.Thread(target=runner, name="nodeloom-run-graph")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["result"]
