"""Hand-written helper sources for standalone scripts (engine.md §6.2).

Used where a node body depends on nodeloom at run time (progress events, cancellation, attrs
classes) and cannot be copied as it is. Each helper repeats the node's computation step for step,
in the same order and with the same torch calls, so the script's numbers equal the engine's; the
export tests compare them bitwise. Names defined here are the helper names in the script.
"""

from __future__ import annotations

__all__ = [
    "COSINE_RANK",
    "CSV_TABLE",
    "DDPM_SAMPLE",
    "EARLY_STOPPING",
    "READ_CSV",
    "SELECT_COLUMNS",
    "SEQUENTIAL_BUILD",
    "TRAIN_MODEL",
    "WORD_VECTORS",
]

CSV_TABLE = '''
class CsvTable:
    """A parsed CSV file: column names and data rows padded to the same width."""

    def __init__(self, columns, rows):
        self.columns = columns
        self.rows = rows
'''

READ_CSV = '''
def read_csv(text, skip_header, target, include):
    """CSVReader: (float32 feature matrix, target labels, feature column names) of CSV text."""
    table = parse_csv(text, skip_header)
    if target and target not in table.columns:
        raise ValueError(
            f"CSVReader: target_column='{target}' is not in the file. Available columns: {table.columns}"
        )
    features = feature_columns(table, target, include)
    labels = [row[table.columns.index(target)] for row in table.rows] if target else []
    return table_tensor(table, features), labels, features
'''

SELECT_COLUMNS = '''
def select_columns(x, columns, names, indices):
    """ColumnSelector: columns by name (looked up in ``columns``) or by index, x[..., indices]."""
    if names:
        if columns is None:
            raise ValueError(
                "ColumnSelector: names is set but no columns input is connected; connect the "
                "columns output of CSVReader or use indices instead."
            )
        columns = [str(c) for c in columns]
        missing = [n for n in names if n not in columns]
        if missing:
            raise ValueError(f"ColumnSelector: columns {missing} are not in the columns input {columns}")
        indices = [columns.index(n) for n in names]
    else:
        n_cols = x.shape[-1]
        for i in indices:
            if not 0 <= i < n_cols:
                raise ValueError(
                    f"ColumnSelector: indices contains out-of-range value {i} (tensor has {n_cols} cols)"
                )
    if not indices:
        return x[..., :0]
    return x[..., torch.tensor(indices, dtype=torch.long, device=x.device)]
'''

COSINE_RANK = '''
def cosine_rank(queries, keys, labels, top_k, exclude_words):
    """CosineSimilarity: (similarity [Q, K], top-k indices per query, their labels)."""
    q, k = _matrix(queries), _matrix(keys)
    if q.dim() != 2 or k.dim() != 2:
        raise ValueError(
            f"CosineSimilarity: queries and keys must be 1-D or 2-D, got {list(q.shape)} and {list(k.shape)}"
        )
    if q.shape[1] != k.shape[1]:
        raise ValueError(f"Embedding dimension mismatch: queries D={q.shape[1]}, keys D={k.shape[1]}")
    k = k.to(q.device)
    similarity = F.normalize(q, dim=1, eps=1e-12) @ F.normalize(k, dim=1, eps=1e-12).T
    ranked = similarity.clone()
    if labels is not None:
        labels = list(labels)
        skip = {w.strip().lower() for w in exclude_words.split(",") if w.strip()}
        columns = [i for i, label in enumerate(labels[: k.shape[0]]) if str(label).lower() in skip]
        if columns:
            ranked[:, columns] = float("-inf")
    top = min(top_k, k.shape[0])
    indices = torch.topk(ranked, top, dim=1).indices.tolist()
    if labels is not None:
        top_labels = [[labels[i] if i < len(labels) else None for i in row] for row in indices]
    else:
        top_labels = [[] for _ in indices]
    return similarity, indices, top_labels
'''

WORD_VECTORS = '''
def word_vectors(words, keep_oov, normalize):
    """WordVector (demo-16d): one table row per known word (zeros for kept unknown words)."""
    rows, labels = [], []
    for word in words:
        index = DEMO_16D_INDEX.get(word)
        if index is None:
            if not keep_oov:
                continue
            rows.append(torch.zeros(DEMO_16D.shape[1]))
        else:
            rows.append(DEMO_16D[index])
        labels.append(word)
    table = torch.stack(rows) if rows else torch.zeros((0, DEMO_16D.shape[1]), dtype=torch.float32)
    if normalize:
        norms = table.norm(dim=1, keepdim=True)
        table = table / torch.where(norms == 0, torch.ones_like(norms), norms)
    return table, labels
'''

DDPM_SAMPLE = '''
def ddpm_sample(model, noise, num_steps, schedule, beta_start, beta_end, seed):
    """DDPMSampler: the full reverse DDPM chain from ``noise`` (nodes.md 2.16)."""
    if model is None or noise is None:
        raise ValueError("DDPMSampler: both the model and the noise inputs are required.")
    if not callable(model):
        raise ValueError(f"DDPMSampler: model is not callable (got {type(model).__name__}).")
    if num_steps < 1:
        raise ValueError(f"DDPMSampler: num_steps must be at least 1, got {num_steps}.")
    betas = beta_schedule(schedule, num_steps, beta_start, beta_end)
    x = noise.clone().float()
    betas = betas.to(x.device)
    alphas = 1 - betas
    alpha_bars = torch.cumprod(alphas, dim=0)
    g = torch.Generator().manual_seed(seed)
    if hasattr(model, "eval"):
        model.eval()
    with torch.no_grad():
        for t in range(num_steps - 1, -1, -1):
            timesteps = torch.full((x.shape[0],), t, dtype=torch.int64, device=x.device)
            eps = model(x, timesteps)
            mean = (1 / torch.sqrt(alphas[t])) * (x - (betas[t] / torch.sqrt(1 - alpha_bars[t])) * eps)
            if t > 0:
                z = torch.randn(x.shape, generator=g, dtype=x.dtype).to(x.device)
                x = mean + torch.sqrt(betas[t]) * z
            else:
                x = mean
    return x
'''

EARLY_STOPPING = '''
class EarlyStopping:
    """Patience bookkeeping; keeps a copy of the best weights seen so far."""

    def __init__(self, patience):
        self.patience = patience
        self.best = math.inf
        self.best_epoch = 0
        self.counter = 0
        self.best_state = None

    def update(self, monitor, epoch, model):
        """Record one epoch; True when training should stop after it."""
        if monitor < self.best:
            self.best, self.best_epoch, self.counter = monitor, epoch, 0
            self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            self.counter += 1
        return self.counter >= self.patience
'''

TRAIN_MODEL = '''
def evaluate_loss(model, loss_fn, loader, device):
    """Mean loss over a validation loader, in eval mode without gradients."""
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in loader:
            total += batch_loss(model, loss_fn, batch, device).item()
            count += 1
    return total / max(count, 1)


def train_model(model, loader, optimizer, loss_fn, val_loader, scheduler, *, epochs, device,
                patience, clip, seed, run_device, label):
    """TrainingLoop (nodes.md 2.21): returns (model, losses, val_losses, metrics)."""
    model = to_device(model, device)
    loss_fn = to_device(loss_fn, device)
    opt, rebuilt = optimizer_for(model, optimizer, device)
    scheduler = scheduler_for(scheduler, opt, rebuilt)
    stopper = EarlyStopping(patience) if patience > 0 else None
    losses, val_losses, lr_history = [], [], []
    with seeded(seed), torch.enable_grad():
        for epoch in range(1, epochs + 1):
            model.train()
            total, count = 0.0, 0
            for batch in loader:
                value = batch_loss(model, loss_fn, batch, device)
                opt.zero_grad()
                value.backward()
                if clip > 0:
                    nn.utils.clip_grad_norm_(model.parameters(), clip)
                opt.step()
                item = value.item()
                total, count = total + item, count + 1
            losses.append(total / max(count, 1))
            lr_history.append(float(opt.param_groups[0]["lr"]))
            if val_loader is not None:
                val_losses.append(evaluate_loss(model, loss_fn, val_loader, device))
            monitor = val_losses[-1] if val_loader is not None else losses[-1]
            _step_scheduler(scheduler, monitor)
            stop = stopper.update(monitor, epoch, model) if stopper is not None else False
            print(f"{label}: epoch {epoch}/{epochs} loss {round(losses[-1], 6)}", file=sys.stderr)
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
    return (
        model,
        torch.tensor(losses, dtype=torch.float32).to(run_device),
        torch.tensor(val_losses, dtype=torch.float32).to(run_device),
        metrics,
    )
'''

SEQUENTIAL_BUILD = '''
def build_sequential(spec):
    """SequentialModel: build a checked v2 DAG spec, layers constructed in spec node order."""
    ns = types.SimpleNamespace
    checked = ns(
        nodes=tuple(spec["nodes"]),
        edges=tuple(ns(source=s, target=t, source_handle=sh, target_handle=th) for s, t, sh, th in spec["edges"]),
        input_id=spec["input_id"],
        output_id=spec["output_id"],
        input_ports=tuple(ns(id=i, name=n) for i, n in spec["input_ports"]),
        output_ports=tuple(ns(id=i, name=n) for i, n in spec["output_ports"]),
        order=tuple(spec["order"]),
    )
    built = {
        n["id"]: build_layer(n["id"], n["type"], n.get("params") or {})
        for n in checked.nodes
        if n["type"] not in BOUNDARIES and n["type"] not in MERGES
    }
    return GraphModel(checked, built)
'''
