"""Training nodes: losses, optimizers, SequentialModel and the TrainingLoop (nodes.md §2.12, 2.21).

TrainingLoop reports progress exactly as engine.md §4.16 describes (``config``, throttled ``batch``,
``epoch``) and checks cancellation once per batch.
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs
import torch
from torch import nn

from nodeloom.kernel import CodeFragment
from nodeloom.kernel.api import In, Out, Param, node
from nodeloom.kernel.codegen import py_literal
from nodeloom.torchkit import resolve_node_device, seeded, to_device

from . import sequential as _seq
from ._codegen import use
from ._codegen_sources import EARLY_STOPPING, SEQUENTIAL_BUILD, TRAIN_MODEL
from .sequential import DEFAULT_LAYERS, build_model

CATEGORY = "Training"

LOSSES = (
    "CrossEntropyLoss",
    "MSELoss",
    "BCEWithLogitsLoss",
    "L1Loss",
    "SmoothL1Loss",
    "NLLLoss",
    "KLDivLoss",
    "HuberLoss",
    "BCELoss",
    "MarginRankingLoss",
    "CosineEmbeddingLoss",
)
OPTIMIZERS = ("Adam", "SGD", "AdamW", "RMSprop", "Adagrad", "RAdam", "NAdam", "Rprop", "ASGD")
DEVICES = ("auto", "cpu", "cuda", "mps")
#: Minimum seconds between two ``batch`` progress events of one node (engine.md §4.16).
BATCH_EVENT_INTERVAL_S = 0.5


def loss_codegen(gen: Any) -> CodeFragment:
    name = gen.params["type"]
    if name not in LOSSES:
        raise ValueError(f"Loss: unknown loss type '{name}'")
    return gen.fragment(f"{gen.var('loss_fn')} = nn.{name}()")


@node(
    name="Loss",
    category=CATEGORY,
    outputs=[Out("loss_fn", "LOSS_FN")],
    params=[
        Param.select("type", "CrossEntropyLoss", LOSSES, "torch.nn loss class (default arguments).")
    ],
    codegen=loss_codegen,
)
def loss(call: Any) -> dict[str, Any]:
    """A `torch.nn` loss module with its default arguments."""
    name = call.params["type"]
    if name not in LOSSES:
        raise ValueError(f"Loss: unknown loss type '{name}'")
    return {"loss_fn": getattr(nn, name)()}


def accepted_kwargs(cls: type) -> set[str]:
    """Keyword names a constructor accepts (besides its first, positional argument)."""
    return {
        p.name
        for p in inspect.signature(cls.__init__).parameters.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }


def optimizer_codegen(gen: Any) -> CodeFragment:
    name = gen.params["type"]
    if name not in OPTIMIZERS:
        raise ValueError(f"Optimizer: unknown optimizer type '{name}'")
    # Which keywords the class accepts is decided now, against the torch the export runs with.
    kwargs = f"lr={gen.param('lr')}"
    weight_decay = gen.params["weight_decay"]
    if "weight_decay" in accepted_kwargs(getattr(torch.optim, name)):
        kwargs += f", weight_decay={py_literal(weight_decay)}"
    elif weight_decay != 0:
        message = (
            f"Optimizer '{name}' does not accept weight_decay; got {weight_decay}. "
            "Set weight_decay=0 or pick a different optimizer."
        )
        return gen.fragment(f"raise ValueError({message!r})")
    out = gen.var("optimizer")
    return gen.fragment(f"{out} = torch.optim.{name}({gen.input('model')}.parameters(), {kwargs})")


@node(
    name="Optimizer",
    category=CATEGORY,
    inputs=[In("model", "MODEL", "The model whose parameters are optimised.")],
    outputs=[Out("optimizer", "OPTIMIZER")],
    params=[
        Param.select("type", "Adam", OPTIMIZERS, "torch.optim class."),
        Param.float("lr", 0.001, "Learning rate.", min=0),
        Param.float("weight_decay", 0.0, "L2 penalty (only for optimizers that accept it).", min=0),
    ],
    cacheable=False,
    codegen=optimizer_codegen,
)
def optimizer(call: Any) -> dict[str, Any]:
    """A `torch.optim` optimizer over the model's parameters."""
    name = call.params["type"]
    if name not in OPTIMIZERS:
        raise ValueError(f"Optimizer: unknown optimizer type '{name}'")
    cls = getattr(torch.optim, name)
    kwargs: dict[str, Any] = {"lr": call.params["lr"]}
    weight_decay = call.params["weight_decay"]
    if "weight_decay" in accepted_kwargs(cls):
        kwargs["weight_decay"] = weight_decay
    elif weight_decay != 0:
        raise ValueError(
            f"Optimizer '{name}' does not accept weight_decay; got {weight_decay}. "
            "Set weight_decay=0 or pick a different optimizer."
        )
    return {"optimizer": cls(call.inputs["model"].parameters(), **kwargs)}


def _constant_source(name: str, values: Any) -> str:
    return f"{name} = frozenset({py_literal(sorted(values))})\n"


def _checked_spec_literal(layers: Any) -> dict[str, Any]:
    """The checked spec as plain data for the script's ``build_sequential`` (rules applied now)."""
    spec = _seq.check_graph_spec(_seq.parse_layers(layers))
    return {
        "nodes": [dict(n) for n in spec.nodes],
        "edges": [[e.source, e.target, e.source_handle, e.target_handle] for e in spec.edges],
        "input_id": spec.input_id,
        "output_id": spec.output_id,
        "input_ports": [[p.id, p.name] for p in spec.input_ports],
        "output_ports": [[p.id, p.name] for p in spec.output_ports],
        "order": list(spec.order),
    }


def sequential_model_codegen(gen: Any) -> CodeFragment:
    spec = _checked_spec_literal(gen.params["layers"])
    gen.need("types")
    for name in ("ACTIVATIONS", "WRAPPERS", "MERGES", "BOUNDARIES"):
        gen.helper(name, _constant_source(name, getattr(_seq, name)))
    use(
        gen,
        _seq.SpecError, _seq.Reshape, _seq.SelectIndex, _seq.SelfDecoder, _seq.SequenceOnly,
        _seq.SelfAttention, _seq._shape_list, _seq._transformer, _seq._activation, _seq._wrapper,
        _seq.build_layer, _seq._fold, _seq.merge, _seq._module_keys, _seq.GraphModel,
    )
    gen.helper("build_sequential", SEQUENTIAL_BUILD)
    model = gen.var("model")
    return gen.fragment(
        f"with seeded({gen.seed_expr}):",
        f"    {model} = build_sequential({py_literal(spec)})",
        f"{model} = to_device({model}, device)",
    )


@node(
    name="SequentialModel",
    category=CATEGORY,
    outputs=[Out("model", "MODEL")],
    params=[Param.string("layers", DEFAULT_LAYERS, "Model graph as a v2 DAG spec (JSON).")],
    cacheable=False,
    random=True,
    codegen=sequential_model_codegen,
)
def sequential_model(call: Any) -> dict[str, Any]:
    """Build a fresh `nn.Module` from a DAG of layers (engine.md §4.17), seeded by the node seed."""
    with seeded(call):
        model = build_model(call.params["layers"])
    return {"model": to_device(model, call.device)}


# -- TrainingLoop helpers ---------------------------------------------------------------------------


def _move_optimizer_state(opt: torch.optim.Optimizer, device: str) -> None:
    for state in opt.state.values():
        for key, value in state.items():
            # torch keeps non-capturable "step" counters on the CPU on purpose.
            if key != "step" and isinstance(value, torch.Tensor):
                state[key] = value.to(device)


def optimizer_for(
    model: nn.Module, opt: torch.optim.Optimizer, device: str
) -> tuple[torch.optim.Optimizer, bool]:
    """Reuse ``opt`` when it only holds ``model``'s parameters, else rebuild it (quirk 26).

    Returns the optimizer to use and whether it was rebuilt.
    """
    own = {id(p) for p in model.parameters()}
    if all(id(p) in own for group in opt.param_groups for p in group["params"]):
        _move_optimizer_state(opt, device)
        return opt, False
    cls = type(opt)
    allowed = accepted_kwargs(cls)
    kwargs = {k: v for k, v in opt.defaults.items() if k in allowed}
    return cls(model.parameters(), **kwargs), True


_SCHEDULER_STATE_SKIP = frozenset(
    {"base_lrs", "_last_lr", "last_epoch", "_step_count", "verbose", "_get_lr_called_within_step"}
)


def scheduler_for(scheduler: Any, opt: torch.optim.Optimizer, rebuilt: bool) -> Any:
    """Carry an upstream LR scheduler over to a rebuilt optimizer (nodes.md 2.21 step 3)."""
    if scheduler is None or not rebuilt:
        return scheduler
    cls = type(scheduler)
    try:
        allowed = accepted_kwargs(cls)
        kwargs = {
            k: v
            for k, v in scheduler.state_dict().items()
            if k not in _SCHEDULER_STATE_SKIP
            and k in allowed
            and isinstance(v, (int, float, str, bool, list, tuple))
        }
        return cls(opt, **kwargs)
    except Exception:  # noqa: BLE001 - any constructor failure falls back to re-pointing
        scheduler.optimizer = opt
        return scheduler


def _batch_size(loader: Any) -> Any:
    size = getattr(loader, "batch_size", None)
    return size if size is not None else "N/A"


def _batch_count(loader: Any) -> int | None:
    try:
        return len(loader)
    except TypeError:
        return None


def batch_loss(
    model: Any, loss_fn: Callable[..., torch.Tensor], batch: Any, device: str
) -> torch.Tensor:
    """The loss of one batch.

    A ``(data, targets)`` pair gives ``loss_fn(model(data), targets)``; anything else is the data
    alone and gives ``loss_fn(model(data))``.
    """
    if isinstance(batch, (list, tuple)) and len(batch) == 2:
        data, targets = to_device(batch[0], device), to_device(batch[1], device)
        return loss_fn(model(data), targets)
    data = to_device(batch, device) if isinstance(batch, torch.Tensor) else batch
    if not isinstance(data, torch.Tensor) and hasattr(data, "to"):
        data = data.to(device)
    return loss_fn(model(data))


@attrs.define
class EarlyStopping:
    """Patience bookkeeping; keeps a copy of the best weights seen so far."""

    patience: int
    best: float = math.inf
    best_epoch: int = 0
    counter: int = 0
    best_state: dict[str, torch.Tensor] | None = None

    def update(self, monitor: float, epoch: int, model: nn.Module) -> bool:
        """Record one epoch; True when training should stop after it."""
        if monitor < self.best:
            self.best, self.best_epoch, self.counter = monitor, epoch, 0
            self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            self.counter += 1
        return self.counter >= self.patience


def _round(values: Iterable[float]) -> list[float]:
    return [round(v, 6) for v in values]


def _param_count(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _evaluate(model: Any, loss_fn: Any, loader: Any, device: str, call: Any) -> float:
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in loader:
            total += batch_loss(model, loss_fn, batch, device).item()
            count += 1
            call.check_cancelled()
    return total / max(count, 1)


def _step_scheduler(scheduler: Any, monitor: float) -> None:
    if scheduler is None:
        return
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(monitor)
    elif hasattr(scheduler, "step"):
        scheduler.step()
    else:
        raise ValueError(
            f"TrainingLoop: lr_scheduler {type(scheduler).__name__} has no step() method"
        )


@attrs.define
class BatchThrottle:
    """Lets one ``batch`` event through at most every ``interval`` seconds."""

    interval: float = BATCH_EVENT_INTERVAL_S
    last: float = -math.inf

    def ready(self) -> bool:
        now = time.monotonic()
        if now - self.last < self.interval:
            return False
        self.last = now
        return True


def _config_event(
    model: nn.Module,
    opt: Any,
    loss_fn: Any,
    params: Mapping[str, Any],
    device: str,
    loader: Any,
    has_val: bool,
    scheduler: Any,
    rebuilt: bool,
) -> dict[str, Any]:
    clip = params["grad_clip_norm"]
    patience = params["early_stopping_patience"]
    return {
        "event": "config",
        "config": {
            "model_class": type(model).__name__,
            "params": _param_count(model),
            "trainable": _param_count(model, trainable_only=True),
            "optimizer": type(opt).__name__,
            "lr": float(opt.param_groups[0]["lr"]),
            "loss_fn": type(loss_fn).__name__,
            "epochs": params["epochs"],
            "device": device,
            "batch_size": _batch_size(loader),
            "early_stopping": patience > 0,
            "patience": patience,
            "grad_clip_norm": clip if clip > 0 else "disabled",
            "has_validation": has_val,
            "has_lr_scheduler": scheduler is not None,
            "optimizer_rebuilt": rebuilt,
        },
    }


def training_loop_codegen(gen: Any) -> CodeFragment:
    gen.need("inspect")
    gen.helper("_SCHEDULER_STATE_SKIP", _constant_source("_SCHEDULER_STATE_SKIP", _SCHEDULER_STATE_SKIP))
    use(gen, accepted_kwargs, _move_optimizer_state, optimizer_for, scheduler_for, _step_scheduler, batch_loss)
    gen.helper("EarlyStopping", EARLY_STOPPING)
    gen.helper("train_model", TRAIN_MODEL)
    p = gen.params
    optional = {k: gen.input(k) if gen.has_input(k) else "None" for k in ("val_dataloader", "lr_scheduler")}
    args = ", ".join(
        [gen.input(k) for k in ("model", "dataloader", "optimizer", "loss_fn")]
        + [optional["val_dataloader"], optional["lr_scheduler"]]
        + [
            f"epochs={p['epochs']!r}",
            f"device=node_device({p['device']!r}, device)",
            f"patience={p['early_stopping_patience']!r}",
            f"clip={py_literal(p['grad_clip_norm'])}",
            f"seed={gen.seed_expr}",
            "run_device=device",
            f"label={gen.node_id!r}",
        ]
    )
    outs = ", ".join(gen.var(port) for port in ("model", "losses", "val_losses", "metrics"))
    return gen.fragment(f"{outs} = train_model({args})")


@node(
    name="TrainingLoop",
    category=CATEGORY,
    inputs=[
        In("model", "MODEL"),
        In("dataloader", "DATALOADER", "Training batches: (data, targets) pairs or data alone."),
        In("optimizer", "OPTIMIZER"),
        In("loss_fn", "LOSS_FN"),
        In("val_dataloader", "DATALOADER", "Validation batches (optional).", optional=True),
        In("lr_scheduler", "ANY", "Stepped once per epoch (optional).", optional=True),
    ],
    outputs=[
        Out("model", "MODEL", "The same model, trained in place."),
        Out("losses", "TENSOR", "Mean training loss of each epoch."),
        Out(
            "val_losses", "TENSOR", "Mean validation loss of each epoch (empty without validation)."
        ),
        Out("metrics", "ANY", "Final losses, best epoch, epochs run, early stop flag, LR history."),
    ],
    params=[
        Param.int("epochs", 5, "Passes over the training data.", min=1),
        Param.select("device", "auto", DEVICES, "auto follows the run device."),
        Param.int(
            "early_stopping_patience",
            0,
            "Stop after this many epochs without improvement; 0 = off.",
            min=0,
        ),
        Param.float("grad_clip_norm", 0.0, "Clip the gradient norm to this value; 0 = off.", min=0),
    ],
    cacheable=False,
    random=True,
    codegen=training_loop_codegen,
)
def training_loop(call: Any) -> dict[str, Any]:
    """Train a model: epochs with optional validation, LR scheduling, early stopping, clipping."""
    inputs, params = call.inputs, call.params
    log: list[str] = []
    device = resolve_node_device(call, params["device"], log)
    model = to_device(inputs["model"], device)
    loss_fn = to_device(inputs["loss_fn"], device)
    loader, val_loader = inputs["dataloader"], inputs.get("val_dataloader")
    opt, rebuilt = optimizer_for(model, inputs["optimizer"], device)
    scheduler = scheduler_for(inputs.get("lr_scheduler"), opt, rebuilt)
    call.progress(
        _config_event(
            model, opt, loss_fn, params, device, loader, val_loader is not None, scheduler, rebuilt
        )
    )
    epochs, clip = params["epochs"], params["grad_clip_norm"]
    patience = params["early_stopping_patience"]
    stopper = EarlyStopping(patience) if patience > 0 else None
    losses: list[float] = []
    val_losses: list[float] = []
    lr_history: list[float] = []
    throttle = BatchThrottle()
    total_batches = _batch_count(loader)

    with seeded(call), torch.enable_grad():
        for epoch in range(1, epochs + 1):
            call.check_cancelled()
            model.train()
            total, count = 0.0, 0
            for index, batch in enumerate(loader, start=1):
                value = batch_loss(model, loss_fn, batch, device)
                opt.zero_grad()
                value.backward()
                if clip > 0:
                    nn.utils.clip_grad_norm_(model.parameters(), clip)
                opt.step()
                item = value.item()
                total, count = total + item, count + 1
                call.check_cancelled()
                if throttle.ready():
                    call.progress(
                        {
                            "event": "batch",
                            "epoch": epoch,
                            "batch": index,
                            "total_batches": total_batches,
                            "loss": round(item, 6),
                        }
                    )
            losses.append(total / max(count, 1))
            lr_history.append(float(opt.param_groups[0]["lr"]))
            if val_loader is not None:
                val_losses.append(_evaluate(model, loss_fn, val_loader, device, call))
            monitor = val_losses[-1] if val_loader is not None else losses[-1]
            _step_scheduler(scheduler, monitor)
            stop = stopper.update(monitor, epoch, model) if stopper is not None else False
            event: dict[str, Any] = {
                "event": "epoch",
                "epoch": epoch,
                "total_epochs": epochs,
                "loss": round(losses[-1], 6),
                "losses": _round(losses),
                "lr": lr_history[-1],
            }
            if val_loader is not None:
                event.update(val_loss=round(val_losses[-1], 6), val_losses=_round(val_losses))
            if stopper is not None:
                event.update(patience_counter=stopper.counter, best_epoch=stopper.best_epoch)
            call.progress(event)
            if stop:
                break
        if stopper is not None and stopper.best_state is not None:
            model.load_state_dict(stopper.best_state)

    metrics = {
        "final_train_loss": losses[-1] if losses else 0.0,
        "final_val_loss": val_losses[-1] if val_losses else None,
        "best_epoch": stopper.best_epoch if stopper is not None else len(losses),
        "total_epochs_run": len(losses),
        "stopped_early": bool(
            stopper is not None and stopper.best_state is not None and stopper.counter >= patience
        ),
        "lr_history": lr_history,
    }
    result: dict[str, Any] = {
        "model": model,
        "losses": torch.tensor(losses, dtype=torch.float32).to(call.device),
        "val_losses": torch.tensor(val_losses, dtype=torch.float32).to(call.device),
        "metrics": metrics,
    }
    if log:
        result["__log__"] = "\n".join(log)
    return result
