"""The ``nodeloom`` command line: serve, run, validate, nodes, plugins."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from nodeloom import __version__, config
from nodeloom.headless import EXIT_OK, EXIT_USAGE, UsageError

DATA_DIR = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Data directory (default: $NODELOOM_DATA_DIR or the platform's user data dir).",
)


def _kernel(data_dir: Path | None):
    from nodeloom.kernel.host import Kernel

    kernel = Kernel(config.data_dir(data_dir))
    kernel.start()
    return kernel


EXECUTOR = click.option(
    "--executor",
    envvar="NODELOOM_EXECUTOR",
    default=None,
    help="Executor that runs graphs: local (default) or one a plugin adds, e.g. ray.",
)
RAY_ADDRESS = click.option(
    "--ray-address",
    envvar="NODELOOM_RAY_ADDRESS",
    default=None,
    metavar="ADDRESS",
    help="Ray cluster for the ray executor (ray://host:10001, host:6379 or auto).",
)


def _executor_options(ray_address: str | None) -> dict[str, dict[str, str]]:
    return {"ray": {"address": ray_address}} if ray_address else {}


def _fail(message: str, code: int = EXIT_USAGE) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nodeloom")
def main() -> None:
    """nodeloom: build, run and serve PyTorch node graphs."""


@main.command()
@click.option("--host", envvar="NODELOOM_HOST", default="127.0.0.1", show_default=True)
@click.option("--port", envvar="NODELOOM_PORT", type=click.IntRange(0, 65535), default=8000, show_default=True)
@DATA_DIR
@click.option("--reload", "reload_", is_flag=True, help="Also watch plugin sources and rebuild on change.")
@EXECUTOR
@RAY_ADDRESS
def serve(
    host: str, port: int, data_dir: Path | None, reload_: bool, executor: str | None, ray_address: str | None
) -> None:
    """Serve the API, the execution WebSocket and the web UI.

    Runs go to --executor unless an execute message names another one (its ``executor`` option).
    """
    from nodeloom.api.server import serve as run_server

    try:
        run_server(
            host=host,
            port=port,
            data_dir=config.data_dir(data_dir),
            dev_reload=reload_,
            executor=executor,
            executor_options=_executor_options(ray_address),
        )
    except UsageError as exc:
        _fail(str(exc))


@main.command()
@click.argument("graph", type=click.Path(dir_okay=False, path_type=Path))
@DATA_DIR
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:N, mps or auto.")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=None, help="Run seed (random when omitted).")
@click.option("--validate-only", is_flag=True, help="Validate and exit.")
@click.option("--trace", is_flag=True, help="Record step traces (verbose mode).")
@click.option("--verbose", is_flag=True, help="Print every node event.")
@click.option("--max-workers", type=click.IntRange(1, 64), default=4, show_default=True)
@click.option(
    "--error-mode", type=click.Choice(["fail_fast", "continue", "retry"]), default="fail_fast", show_default=True
)
@click.option("--no-progress", is_flag=True, help="Do not draw the progress bar.")
@EXECUTOR
@RAY_ADDRESS
def run(
    graph: Path,
    data_dir: Path | None,
    device: str,
    seed: int | None,
    validate_only: bool,
    trace: bool,
    verbose: bool,
    max_workers: int,
    error_mode: str,
    no_progress: bool,
    executor: str | None,
    ray_address: str | None,
) -> None:
    """Run GRAPH (a graph JSON file) without a server.

    Exit status: 0 success, 1 run failure, 2 invalid graph or usage error. With GraphOutput
    nodes, stdout carries only their values as one JSON object; everything else goes to stderr.
    """
    from nodeloom import headless
    from nodeloom.progress import RunReporter

    kernel = None
    try:
        kernel = _kernel(data_dir)
        if validate_only:
            report = headless.validate_file(kernel, graph)
            _print_report(report)
            sys.exit(EXIT_OK if report.valid else EXIT_USAGE)
        raw = headless.read_graph_file(graph)
        has_outputs = any(n.get("type") == "GraphOutput" for n in raw.get("nodes", []) if isinstance(n, dict))
        reporter = RunReporter(
            verbose=verbose,
            progress_bar=not no_progress,
            log_stream=sys.stderr if has_outputs else sys.stdout,
        )
        options: dict[str, Any] = {
            "device": device,
            "seed": seed,
            "verbose_mode": trace,
            "max_workers": max_workers,
            "error_mode": error_mode,
        }
        try:
            outcome = headless.run_file(
                kernel,
                graph,
                options=options,
                on_event=reporter,
                executor=executor,
                executor_options=_executor_options(ray_address),
            )
        finally:
            reporter.close()
        outputs = headless.graph_outputs(outcome)
        if outputs is not None and outcome.exit_code == EXIT_OK:
            headless.write_json(headless.to_jsonable(outputs))
        sys.exit(outcome.exit_code)
    except UsageError as exc:
        _fail(str(exc))
    finally:
        if kernel is not None:
            kernel.close()  # executors that joined a cluster leave it


@main.command()
@click.argument("graph", type=click.Path(dir_okay=False, path_type=Path))
@DATA_DIR
@click.option("--json", "as_json", is_flag=True, help="Print the validation report as JSON.")
def validate(graph: Path, data_dir: Path | None, as_json: bool) -> None:
    """Validate GRAPH; exit 0 when it would run, 2 otherwise."""
    from nodeloom import headless

    try:
        report = headless.validate_file(_kernel(data_dir), graph)
    except UsageError as exc:
        _fail(str(exc))
    if as_json:
        click.echo(json.dumps(report.wire(), indent=2))
    else:
        _print_report(report)
    sys.exit(EXIT_OK if report.valid else EXIT_USAGE)


@main.command()
@click.argument("graph", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o", "--output", "output", type=click.Path(dir_okay=False, path_type=Path), required=True,
    help="Where to write the script.",
)
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=0, show_default=True,
              help="Default run seed written into the script.")
@click.option("--module-mode", type=click.Choice(["train", "eval"]), default="train", show_default=True)
@click.option("--mode", type=click.Choice(["auto", "standalone", "runner"]), default="auto", show_default=True,
              help="auto: standalone PyTorch when every node supports it, else a nodeloom runner.")
@DATA_DIR
def export(graph: Path, output: Path, seed: int, module_mode: str, mode: str, data_dir: Path | None) -> None:
    """Export GRAPH as one Python script (engine.md §6).

    Prints the mode and the omitted/unsupported nodes to stderr. Exit status: 0 written,
    2 invalid graph or usage error.
    """
    from nodeloom import headless
    from nodeloom.kernel.export import CodegenUnavailableError, ExportValidationError, export_graph
    from nodeloom.kernel.fsutil import atomic_write_text

    try:
        raw = headless.read_graph_file(graph)
        kernel = _kernel(data_dir)
        result = export_graph(raw, kernel.snapshot, seed=seed, module_mode=module_mode, mode=mode,
                              data_dir=kernel.data_dir)
    except ExportValidationError as exc:
        for message in exc.messages:
            click.echo(f"error: {message}", err=True)
        sys.exit(EXIT_USAGE)
    except (CodegenUnavailableError, UsageError, ValueError) as exc:
        _fail(str(exc))
    try:
        atomic_write_text(output, result.script)
    except OSError as exc:
        _fail(f"cannot write {output}: {exc}")
    click.echo(f"{result.mode} script written to {output}", err=True)
    for item in result.omitted_nodes:
        click.echo(f"omitted: {item['node_id']} ({item['type']})", err=True)
    for item in result.unsupported_nodes:
        click.echo(f"unsupported: {item['node_id']} ({item['type']}): {item['reason']}", err=True)


def _print_report(report) -> None:
    for message in report.errors:
        click.echo(f"error: {message}", err=True)
    for message in report.warnings:
        click.echo(f"warning: {message}", err=True)
    click.echo("valid" if report.valid else f"invalid ({len(report.errors)} errors)", err=True)


@main.command()
@DATA_DIR
@click.option("--category", default=None, help="Only this category.")
@click.option("--json", "as_json", is_flag=True, help="Print NodeDefinitions as JSON.")
def nodes(data_dir: Path | None, category: str | None, as_json: bool) -> None:
    """List the registered node types by category."""
    snapshot = _kernel(data_dir).snapshot
    definitions = [d for d in snapshot.node_definitions() if category is None or d["category"] == category]
    if as_json:
        click.echo(json.dumps(definitions, indent=2))
        return
    by_category: dict[str, list[Mapping[str, Any]]] = {}
    for d in definitions:
        by_category.setdefault(d["category"], []).append(d)
    for cat in sorted(by_category):
        click.echo(click.style(cat, bold=True))
        for d in by_category[cat]:
            mark = "" if d["available"] else f"  (unavailable: {d['unavailable_reason']})"
            click.echo(f"  {d['node_name']}  [{d['provider']}]{mark}")


@main.command()
@DATA_DIR
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def plugins(data_dir: Path | None, as_json: bool) -> None:
    """List plugins with their source, version and load error."""
    kernel = _kernel(data_dir)
    rows = [
        {
            "id": p.id,
            "source": p.source,
            "version": p.version,
            "enabled": p.enabled,
            "nodes": len(p.nodes),
            "error": p.error,
        }
        for p in sorted(kernel.plugins(), key=lambda p: p.id)
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        state = "enabled" if r["enabled"] else "disabled"
        line = f"{r['id']:<24} {r['source']:<12} {r['version'] or '-':<10} {state:<9} {r['nodes']:>4} nodes"
        if r["error"]:
            line += f"  ERROR: {r['error']}"
        click.echo(line)
