"""The ``ray`` executor on a real local Ray cluster: same outputs as ``local``, stop, faults, packs.

Runs are submitted through the executor's public API, as the WebSocket run manager does.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

ray = pytest.importorskip(
    "ray", reason="the ray extra is not installed (pip install 'nodeloom[ray]')", exc_type=ImportError
)

from nodeloom.kernel.engine import RunSpec  # noqa: E402
from nodeloom.kernel.executors import executor_problem  # noqa: E402
from nodeloom.kernel.options import RunOptions  # noqa: E402
from nodeloom.plugins.ray_executor import RayExecutor  # noqa: E402
from tests.ray.support import example, fresh_local, graph, make_site, run_on, same_value, until, worker_options  # noqa: E402

EXAMPLES = ["Basics/Scaled-Softmax", "Data/Iris-Tabular", "Training/Token-Classifier"]
#: Outputs a later node changes in place (training): locally the recorded object *is* the trained
#: model; a worker ships it as its node produced it. Compared by architecture only.
CHANGED_LATER = {"Training/Token-Classifier": {"model"}}


# -- same graph, same seed, same outputs -----------------------------------------------------------


@pytest.mark.parametrize("path", EXAMPLES)
async def test_examples_give_the_same_outputs_through_ray_as_through_local(kernel, executor, path) -> None:
    body = example(path)
    tag = path.replace("/", "-").lower()
    local_executor = fresh_local(kernel)
    _, local = await run_on(local_executor, kernel, body, seed=7, record_outputs=True, run_id=f"local-{tag}")
    remote_run, remote = await run_on(executor, kernel, body, seed=7, record_outputs=True, run_id=f"ray-{tag}")

    assert local.ok, local.terminal
    assert remote.ok, remote.terminal
    assert [e["seq"] for e in remote.events] == list(range(1, len(remote.events) + 1))
    start = remote.events[0]
    assert start["type"] == "execution_start" and start["seed"] == 7
    assert start["generation"] == kernel.snapshot.generation

    # Node by node, the same statuses in the same per-node order (a worker cache hit may turn
    # `completed` into `cached`, which is the same outcome).
    def story(result):
        out: dict[str, list[str]] = {}
        for e in result.events:
            if e["type"] == "node_status" and e["status"] != "progress":
                out.setdefault(e["node_id"], []).append("completed" if e["status"] == "cached" else e["status"])
        return {k: [s for s in v if s != "running"] for k, v in out.items()}

    assert story(remote) == story(local)
    # Top-level results came back through the object store, equal to the local ones.
    assert remote.results.keys() == {k for k, v in local.results.items() if "__" not in k}
    changed = CHANGED_LATER.get(path, set())
    for node_id, result in remote.results.items():
        assert same_value(result, local.results[node_id], weights=node_id not in changed), node_id

    # Recorded outputs (preset members under their expanded ids) are in the server's store.
    recorded = {(n, p): v for n, p, v in executor.env.outputs.entries(remote_run.run_id)}
    expected = {(n, p): v for n, p, v in local_executor.env.outputs.entries(local.run_id)}
    assert recorded.keys() == expected.keys()
    for key, value in recorded.items():
        assert same_value(value, expected[key], weights=key[0] not in changed), key


# -- stop -------------------------------------------------------------------------------------------


async def test_stop_mid_run_cancels_the_remote_work_and_ends_stopped(kernel, executor) -> None:
    marker = "stop-whole.txt"
    body = graph(("z", "raytest:Slow", {"seconds": 60, "marker": marker}))
    with kernel.holder.pinned() as snapshot:
        run = await executor.submit(RunSpec(body, snapshot, RunOptions(run_id="ray-stop", cancel_grace_s=10)))
        await until(lambda: any(e.get("status") == "progress" for e in run.event_log))
        run.request_cancel("stop")
        terminal = await run.wait()
    assert terminal["type"] == "execution_stopped" and terminal["reason"] == "stop"
    stopped_at = terminal["seq"]
    assert [e["seq"] for e in run.event_log] == list(range(1, stopped_at + 1))
    # The body on the worker saw the request (it leaves a marker when it stops).
    written = Path(kernel.data_dir.root) / "temp" / marker
    await until(written.exists, timeout=10)
    assert int(written.read_text()) != os.getpid()


async def test_stop_reaches_a_node_placed_as_a_task(kernel, executor) -> None:
    marker = "stop-task.txt"
    body = graph(("z", "raytest:PlacedSlow", {"seconds": 60, "marker": marker}))
    with kernel.holder.pinned() as snapshot:
        run = await executor.submit(RunSpec(body, snapshot, RunOptions(run_id="ray-stop-task", cancel_grace_s=10)))
        await until(lambda: any(e.get("status") == "progress" for e in run.event_log), timeout=60)
        terminal = await run.cancel("stop")
    assert terminal["type"] == "execution_stopped" and terminal["reason"] == "stop"
    written = Path(kernel.data_dir.root) / "temp" / marker
    await until(written.exists, timeout=10)


async def test_a_run_timeout_stops_the_remote_run(kernel, executor) -> None:
    _, result = await run_on(executor, kernel, graph(("z", "raytest:Slow", {"seconds": 60})), run_id="ray-timeout",
                             timeout_s=0.5)
    assert result.terminal["type"] == "execution_stopped" and result.terminal["reason"] == "timeout"


# -- per-node placement --------------------------------------------------------------------------------


async def test_a_node_with_a_resource_hint_runs_as_a_ray_task(kernel, executor) -> None:
    body = graph(
        ("o", "raytest:Ones", {"size": 3}),
        ("p", "raytest:Placed", {}),
        ("w", "raytest:Pid", {}),
        links=(("o", "tensor", "p", "tensor"),),
    )
    _, result = await run_on(executor, kernel, body, seed=1, run_id="ray-placed")
    assert result.ok, result.terminal
    placed, worker = result.results["p"], result.results["w"]
    assert placed["tensor"].tolist() == [2.0, 2.0, 2.0]
    # Run on another process than the run's worker, which is not this one either.
    assert placed["pid"] != worker["pid"] != os.getpid()
    assert placed["grad"] is False  # the run extensions' node context (grad mode) applied there
    progress = [e["progress"] for e in result.node_events("p") if e["status"] == "progress"]
    assert progress == [{"event": "placed", "pid": placed["pid"]}]
    # The same graph through the local executor ignores the hint.
    _, local = await run_on(fresh_local(kernel), kernel, body, seed=1, run_id="local-placed")
    assert local.results["p"]["pid"] == os.getpid()


async def test_a_hint_no_ray_node_can_satisfy_fails_the_node_clearly(kernel, executor) -> None:
    body = graph(("o", "raytest:Ones", {}), ("g", "raytest:NeedsGpu", {}), links=(("o", "tensor", "g", "tensor"),))
    _, result = await run_on(executor, kernel, body, run_id="ray-nogpu")
    assert result.terminal["type"] == "execution_error" and result.terminal["node_id"] == "g"
    error = result.node_events("g")[-1]
    assert error["status"] == "error" and "GPU=1 (the cluster has 0)" in error["error"]


# -- packs the worker cannot reproduce -----------------------------------------------------------------


async def test_a_worker_with_another_pack_version_refuses_the_run(kernel, tmp_path: Path) -> None:
    other = RayExecutor()
    other.bind(kernel)
    other.configure(worker_options(make_site(tmp_path / "site-2", pack_version="2.0")))
    try:
        _, result = await run_on(other, kernel, graph(("o", "raytest:Ones", {})), run_id="ray-mismatch")
    finally:
        other.close()
    terminal = result.terminal
    assert [e["type"] for e in result.events] == ["execution_start", "execution_error"]
    assert terminal["node_id"] is None and terminal["errors"] == [terminal["error"]]
    message = terminal["error"]
    assert "pack 'raytest' differs" in message
    assert "the server runs version 1.0" in message and "the Ray worker has version 2.0" in message
    assert "code digest" in message


# -- the headless runner ---------------------------------------------------------------------------------


def test_the_cli_runner_can_run_a_graph_on_ray(kernel, executor, tmp_path: Path) -> None:
    import json

    from nodeloom import headless

    path = tmp_path / "function.json"
    path.write_text(json.dumps(example("Functions/Graph-As-Function")), encoding="utf-8")
    seen: list[str] = []
    remote = headless.run_file(kernel, path, options={"seed": 0}, executor="ray", on_event=lambda e: seen.append(e["type"]))
    local = headless.run_file(kernel, path, options={"seed": 0})
    assert remote.exit_code == 0, remote.terminal
    assert seen[0] == "execution_start" and seen[-1] == "execution_complete"
    outputs, expected = headless.graph_outputs(remote), headless.graph_outputs(local)
    assert outputs and outputs.keys() == expected.keys()
    assert all(same_value(outputs[k], expected[k]) for k in outputs)


# -- options and availability --------------------------------------------------------------------------


def test_the_executor_is_registered_and_available(kernel) -> None:
    assert "ray" in kernel.executors and executor_problem(kernel.executors, "ray") is None
    assert "unknown executor 'nope'" in executor_problem(kernel.executors, "nope")
    with pytest.raises(ValueError, match="workers must be at least 1"):
        RayExecutor().configure({"workers": 0})
    with pytest.raises(ValueError, match="unknown ray executor option"):
        RayExecutor().configure({"adress": "x"})


async def test_a_body_that_ignores_the_stop_gets_its_worker_killed(kernel, executor) -> None:
    body = graph(("z", "raytest:Stubborn", {"seconds": 60}))
    with kernel.holder.pinned() as snapshot:
        run = await executor.submit(RunSpec(body, snapshot, RunOptions(run_id="ray-stubborn", cancel_grace_s=0.3)))
        await until(lambda: any(e.get("status") == "progress" for e in run.event_log))
        (handle,) = executor.pool.workers().values()
        pid = await handle.pid.remote()
        terminal = await run.cancel("stop")
    assert terminal["type"] == "execution_stopped" and terminal["reason"] == "stop"
    # The worker could not stop the body, so it was retired: its process is gone.
    await until(lambda: not _alive(pid), timeout=30)
    assert executor.pool.workers() == {}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# -- a worker that dies --------------------------------------------------------------------------------


async def test_a_killed_worker_ends_the_run_with_an_error_naming_the_node(kernel, executor) -> None:
    body = graph(("z", "raytest:Slow", {"seconds": 60}))
    with kernel.holder.pinned() as snapshot:
        run = await executor.submit(RunSpec(body, snapshot, RunOptions(run_id="ray-killed")))
        await until(lambda: any(e.get("status") == "progress" for e in run.event_log))
        (handle,) = executor.pool.workers().values()
        pid = await handle.pid.remote()
        os.kill(pid, signal.SIGKILL)
        terminal = await run.wait()
    assert terminal["type"] == "execution_error" and terminal["node_id"] == "z"
    assert "died while node z was running" in terminal["error"]
    node_error = run.event_log[-2]
    assert node_error["status"] == "error" and node_error["node_id"] == "z"

    # The next run gets a fresh worker and succeeds.
    _, after = await run_on(executor, kernel, graph(("w", "raytest:Pid", {})), run_id="ray-after-kill")
    assert after.ok, after.terminal
    assert after.results["w"]["pid"] != pid
