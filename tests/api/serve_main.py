"""A test server in its own process, for signal tests: ``python -m tests.api.serve_main <root>``.

It serves the test plugins over ``<root>/data`` on a free port until SIGINT or SIGTERM.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

from nodeloom.api.server import run_server
from tests.api.support import make_kernel, make_settings


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    kernel = make_kernel(Path(sys.argv[1]))
    asyncio.run(run_server(kernel, make_settings(kernel.data_dir)))
    kernel.close()


if __name__ == "__main__":
    main()
