"""Hot reload while graphs are running: runs keep the registry they started with, none fails."""

from __future__ import annotations

import threading
import time

from nodeloom.kernel import DataDir
from nodeloom.kernel.engine import RunEnvironment, run_graph
from nodeloom.kernel.host import Kernel

NODE = '''
import time
from nodeloom.kernel.api import node, Out, Param

@node(name="SlowVersion", category="Custom", outputs=[Out("value", "SCALAR")],
      params=[Param.float("seconds", 0.3)])
def slow_version(call):
    """Waits, then reports which version of this file it came from."""
    deadline = time.monotonic() + call.params["seconds"]
    while time.monotonic() < deadline:
        call.check_cancelled()
        time.sleep(0.01)
    return {{"value": {version}}}
'''

GRAPH = {
    "nodes": [{"id": "s", "type": "Start"}, {"id": "n", "type": "SlowVersion"}],
    "edges": [{"source": "s", "sourceHandle": "trigger", "target": "n", "targetHandle": "", "type": "trigger"}],
}


def test_runs_in_flight_survive_reloads_and_a_broken_file(tmp_path):
    data = DataDir(tmp_path / "data").ensure()
    start_src = '''
from nodeloom.kernel import NodeSpec, PortSpec
START = NodeSpec(name="Start", category="Control", execute=lambda call: {},
                 outputs=(PortSpec("trigger", "TRIGGER"),))
'''
    (data.area("custom_nodes") / "start.py").write_text(start_src, encoding="utf-8")
    node_file = data.area("custom_nodes") / "slow.py"
    node_file.write_text(NODE.format(version=1), encoding="utf-8")
    kernel = Kernel(data, entry_points=lambda: [], env={})
    kernel.start()
    env = RunEnvironment()
    outcomes: list[tuple[int, str, object]] = []
    lock = threading.Lock()

    def one_run() -> None:
        with kernel.holder.pinned() as snapshot:
            result = run_graph(GRAPH, snapshot, {"seed": 0}, env=env)
        value = result.results.get("n", {}).get("value")
        with lock:
            outcomes.append((snapshot.generation, result.terminal["type"], value))

    threads = []
    for version in (2, 3):
        batch = [threading.Thread(target=one_run) for _ in range(4)]
        for t in batch:
            t.start()
        threads += batch
        time.sleep(0.1)  # the batch is mid-node when the file changes
        node_file.write_text(NODE.format(version=version), encoding="utf-8")
        kernel.reload()
    # A broken save: the last good version (3) stays live and the error is reported.
    batch = [threading.Thread(target=one_run) for _ in range(4)]
    for t in batch:
        t.start()
    threads += batch
    time.sleep(0.1)
    node_file.write_text("def broken(:\n", encoding="utf-8")
    report = kernel.reload()
    for t in threads:
        t.join(timeout=30)

    assert len(outcomes) == 12
    assert all(kind == "execution_complete" for _, kind, _ in outcomes), outcomes
    # Generation g ran the file version g (1 -> gen 1, 2 -> gen 2, 3 -> gen 3).
    assert sorted(outcomes) == [(g, "execution_complete", g) for g in (1, 2, 3) for _ in range(4)]
    assert any(e["source"] == "slow.py" and e["line"] == 1 for e in report.wire()["errors"])
    assert "SlowVersion" in kernel.snapshot.nodes
    after = run_graph(GRAPH, kernel.snapshot, {"seed": 0}, env=env)
    assert after.results["n"]["value"] == 3
