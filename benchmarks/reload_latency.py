"""Hot-reload latency: from writing a custom-node file to its node type being in the live registry.

    python benchmarks/reload_latency.py [--trials 7]

Each trial writes a new file (a new node name) into ``custom_nodes/`` of a temporary data dir
watched by a running kernel, then polls the live registry every millisecond. Prints the median,
min and max in milliseconds (target: median < 500 ms).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from nodeloom.kernel import DataDir
from nodeloom.kernel.host import Kernel

NODE_SOURCE = '''
from nodeloom.kernel.api import node, In, Out, Param

@node(name="{name}", category="Custom", inputs=[In("tensor", "TENSOR")],
      outputs=[Out("tensor", "TENSOR")], params=[Param.float("value", 1.0)])
def add_scalar(call):
    """Adds a constant to a tensor."""
    return {{"tensor": call.inputs["tensor"] + call.params["value"]}}
'''


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=7)
    ap.add_argument("--timeout", type=float, default=10.0)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        data = DataDir(Path(tmp) / "data").ensure()
        kernel = Kernel(data)
        kernel.start()
        watcher = kernel.watch()
        time.sleep(1.0)  # let the watcher settle before the first trial
        latencies = []
        try:
            for i in range(args.trials):
                name = f"AddScalarBench{i}"
                path = data.area("custom_nodes") / f"bench_{i}.py"
                t0 = time.perf_counter()
                path.write_text(NODE_SOURCE.format(name=name), encoding="utf-8")
                while name not in kernel.snapshot.nodes:
                    if time.perf_counter() - t0 > args.timeout:
                        raise SystemExit(f"trial {i}: node did not appear within {args.timeout} s")
                    time.sleep(0.001)
                latencies.append(time.perf_counter() - t0)
                time.sleep(0.4)  # keep trials apart so each measures a cold change
        finally:
            kernel.stop_watching()
    ms = [x * 1e3 for x in latencies]
    print(f"trials={args.trials}")
    print(f"reload latency median: {statistics.median(ms):8.1f} ms  (target < 500 ms)")
    print(f"reload latency min:    {min(ms):8.1f} ms")
    print(f"reload latency max:    {max(ms):8.1f} ms")


if __name__ == "__main__":
    main()
