"""LLM-flavoured teaching nodes: word vectors, cosine ranking and 2-D embedding maps (nodes.md §2.9).

``WordVector`` looks words up in nodeloom's offline ``demo-16d`` table (note 2.19), so the embedding
examples run without downloads.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from nodeloom.kernel import CodeFragment
from nodeloom.kernel.api import In, Out, Param, node
from nodeloom.kernel.codegen import CodegenUnsupported, py_literal
from nodeloom.torchkit import StepRecorder, as_float32

from ._codegen import use
from ._codegen_sources import COSINE_RANK, WORD_VECTORS
from .classical import CLASSICAL, optional_import

CATEGORY = "LLM"

# -- the demo-16d table (note 2.19) -----------------------------------------------------------------

AXES = (
    "royal",
    "divine",
    "male",
    "female",
    "young",
    "person",
    "animal",
    "flying",
    "water",
    "insect",
    "physical",
    "mental",
    "vehicle",
    "food",
    "weather",
    "family",
)

_TABLE: dict[str, dict[str, float]] = {
    "angel": {"divine": 1, "flying": 1},
    "ant": {"insect": 1},
    "apple": {"food": 1},
    "bee": {"insect": 1, "flying": 1, "food": 0.3},
    "bird": {"animal": 1, "flying": 1},
    "boat": {"vehicle": 1, "water": 1},
    "boy": {"male": 1, "young": 0.8, "person": 1},
    "bread": {"food": 1, "family": 0.2},
    "brother": {"male": 1, "young": 0.5, "person": 1, "family": 1},
    "bus": {"vehicle": 1, "person": 0.3},
    "butterfly": {"insect": 1, "flying": 1},
    "car": {"vehicle": 1},
    "cat": {"animal": 1},
    "cheese": {"food": 1, "animal": 0.2},
    "dog": {"animal": 1, "physical": 0.5},
    "dolphin": {"animal": 1, "water": 1, "mental": 0.5},
    "dream": {"mental": 1, "divine": 0.3},
    "duchess": {"royal": 0.5, "female": 1, "person": 1},
    "duke": {"royal": 0.5, "male": 1, "person": 1},
    "eagle": {"animal": 1, "flying": 1, "royal": 0.3},
    "father": {"male": 1, "person": 1, "family": 1},
    "fish": {"animal": 0.5, "water": 1, "food": 0.5},
    "fly": {"insect": 1, "flying": 1, "physical": 0.5},
    "girl": {"female": 1, "young": 0.8, "person": 1},
    "god": {"divine": 1, "male": 1},
    "goddess": {"divine": 1, "female": 1},
    "horse": {"animal": 1, "vehicle": 0.5},
    "imagine": {"mental": 1, "young": 0.3},
    "jump": {"physical": 1, "flying": 0.3},
    "king": {"royal": 1, "male": 1, "person": 1},
    "kitten": {"animal": 1, "young": 1},
    "lion": {"animal": 1, "royal": 0.5},
    "man": {"male": 1, "person": 1},
    "mother": {"female": 1, "person": 1, "family": 1},
    "owl": {"animal": 1, "flying": 1, "mental": 0.5},
    "pizza": {"food": 1, "young": 0.2},
    "plane": {"vehicle": 1, "flying": 1},
    "prince": {"royal": 1, "male": 1, "young": 1, "person": 1},
    "princess": {"royal": 1, "female": 1, "young": 1, "person": 1},
    "puppy": {"animal": 1, "young": 1, "physical": 0.5},
    "queen": {"royal": 1, "female": 1, "person": 1},
    "rabbit": {"animal": 1, "young": 0.3, "physical": 0.7},
    "rain": {"weather": 1, "water": 1},
    "remember": {"mental": 1, "family": 0.3},
    "run": {"physical": 1},
    "shark": {"animal": 1, "water": 1, "physical": 0.5},
    "ship": {"vehicle": 1, "water": 1, "royal": 0.2},
    "sister": {"female": 1, "young": 0.5, "person": 1, "family": 1},
    "snow": {"weather": 1, "water": 0.5},
    "sparrow": {"animal": 1, "flying": 1, "young": 0.3},
    "sun": {"weather": 1, "divine": 0.3},
    "swim": {"physical": 1, "water": 1},
    "think": {"mental": 1},
    "tiger": {"animal": 1, "physical": 0.3},
    "truck": {"vehicle": 1, "physical": 0.3},
    "walk": {"physical": 0.7},
    "whale": {"animal": 1, "water": 1},
    "wind": {"weather": 1, "flying": 0.5},
    "woman": {"female": 1, "person": 1},
}

#: The demo-16d vocabulary, sorted alphabetically (row i of :data:`DEMO_16D` is ``VOCAB[i]``).
VOCAB: tuple[str, ...] = tuple(sorted(_TABLE))
#: The demo-16d vectors as a float32 [59, 16] tensor.
DEMO_16D: torch.Tensor = torch.tensor(
    [[float(_TABLE[w].get(axis, 0.0)) for axis in AXES] for w in VOCAB], dtype=torch.float32
)
_INDEX = {w: i for i, w in enumerate(VOCAB)}
BACKENDS = ("demo-16d",)


def split_words(text: str) -> list[str]:
    """Commas become spaces, then whitespace splits; words are lower-cased, empty ones dropped."""
    return [w.strip().lower() for w in text.replace(",", " ").split() if w.strip()]


def lookup_words(words: list[str], keep_oov: bool) -> tuple[torch.Tensor, list[str], int]:
    """Rows of the demo table for ``words`` (zero rows for unknown ones when kept) and their labels."""
    rows, labels, oov = [], [], 0
    for word in words:
        index = _INDEX.get(word)
        if index is None:
            oov += 1
            if not keep_oov:
                continue
            rows.append(torch.zeros(len(AXES)))
        else:
            rows.append(DEMO_16D[index])
        labels.append(word)
    table = torch.stack(rows) if rows else torch.zeros((0, len(AXES)), dtype=torch.float32)
    return table, labels, oov


def _demo_table_source() -> str:
    """The demo-16d table as script literals: the words and one row of 16 floats per word."""
    rows = [[float(_TABLE[w].get(axis, 0.0)) for axis in AXES] for w in VOCAB]
    return (
        f"DEMO_16D_WORDS = {py_literal(VOCAB)}\n"
        f"DEMO_16D = torch.tensor({py_literal(rows, width=140)}, dtype=torch.float32)\n"
        "DEMO_16D_INDEX = {w: i for i, w in enumerate(DEMO_16D_WORDS)}\n"
    )


def word_vector_codegen(gen: Any) -> CodeFragment:
    backend = gen.params["backend"]
    if backend not in BACKENDS:
        raise ValueError(f"Unknown WordVector backend: '{backend}'")
    gen.helper("DEMO_16D", _demo_table_source())
    gen.helper("word_vectors", WORD_VECTORS)
    words, emb = gen.tmp("words"), gen.tmp("emb")
    if gen.has_input("tokens"):
        use(gen, split_words)
        tokens = gen.input("tokens")
        lines = [
            f"{words} = split_words({tokens}) if isinstance({tokens}, str) else "
            f"[w for w in (str(t).strip().lower() for t in {tokens}) if w]"
        ]
    else:
        lines = [f"{words} = {py_literal(split_words(gen.params['words']))}"]
    labels = gen.var("labels")
    keep, norm = py_literal(gen.params["keep_oov"]), py_literal(gen.params["normalize"])
    lines += [
        f"{emb}, {labels} = word_vectors({words}, {keep}, {norm})",
        f"{gen.var('embeddings')} = {emb}.to(device)",
    ]
    return gen.fragment(*lines)


@node(
    name="WordVector",
    category=CATEGORY,
    inputs=[In("tokens", "LIST", "Words to look up (overrides the words param).", optional=True)],
    outputs=[
        Out("embeddings", "TENSOR", "One 16-d row per kept word [N, 16]."),
        Out("labels", "LIST", "The kept words, lower-cased."),
    ],
    params=[
        Param.select("backend", "demo-16d", BACKENDS, "Embedding table."),
        Param.string(
            "words", "king queen man woman cat dog", "Words separated by spaces or commas."
        ),
        Param.bool("normalize", False, "Scale each row to unit L2 norm."),
        Param.bool("keep_oov", False, "Keep unknown words as zero rows."),
    ],
    codegen=word_vector_codegen,
)
def word_vector(call: Any) -> dict[str, Any]:
    """Look words up in the offline 16-dimensional demo embedding table (interpretable axes)."""
    backend = call.params["backend"]
    if backend not in BACKENDS:
        raise ValueError(f"Unknown WordVector backend: '{backend}'")
    tokens = call.inputs.get("tokens")
    if tokens is None:
        words = split_words(call.params["words"])
    elif isinstance(tokens, str):
        words = split_words(tokens)
    else:
        words = [w for w in (str(t).strip().lower() for t in tokens) if w]
    rec = StepRecorder(call)
    rec.add(
        "input_words",
        "The words to look up.",
        scalars={"input_count": len(words), "vocab_size": len(VOCAB)},
    )
    embeddings, labels, oov = lookup_words(words, call.params["keep_oov"])
    rec.add(
        "lookup",
        "Each known word selects its row of the table; unknown words are zero rows or dropped.",
        tensors={"embeddings": embeddings},
        scalars={"matched": len(words) - oov, "oov": oov, "dim": len(AXES)},
    )
    if call.params["normalize"]:
        norms = embeddings.norm(dim=1, keepdim=True)
        embeddings = embeddings / torch.where(norms == 0, torch.ones_like(norms), norms)
        rec.add("normalize", "Each row divided by its L2 norm.", tensors={"embeddings": embeddings})
    return rec.attach({"embeddings": embeddings.to(call.device), "labels": labels})


# -- CosineSimilarity -------------------------------------------------------------------------------


def _matrix(x: Any) -> torch.Tensor:
    t = as_float32(x)
    return t.unsqueeze(0) if t.dim() == 1 else t


def cosine_similarity_codegen(gen: Any) -> CodeFragment:
    use(gen, as_float32, _matrix)
    gen.helper("cosine_rank", COSINE_RANK)
    labels = gen.input("key_labels") if gen.has_input("key_labels") else "None"
    outs = ", ".join(gen.var(p) for p in ("similarity", "top_k_indices", "top_k_labels"))
    args = f"{gen.input('queries')}, {gen.input('keys')}, {labels}, {gen.param('top_k')}"
    return gen.fragment(f"{outs} = cosine_rank({args}, {gen.param('exclude_self_words')})")


@node(
    name="CosineSimilarity",
    category=CATEGORY,
    inputs=[
        In("queries", "TENSOR", "Query vectors [Q, D] (or one [D])."),
        In("keys", "TENSOR", "Key vectors [K, D] (or one [D])."),
        In(
            "key_labels",
            "LIST",
            "A label per key row, for top_k_labels and exclusions.",
            optional=True,
        ),
    ],
    outputs=[
        Out("similarity", "TENSOR", "Cosine similarities [Q, K]."),
        Out("top_k_indices", "LIST", "Per query, the indices of the best keys."),
        Out("top_k_labels", "LIST", "Per query, the labels of the best keys."),
    ],
    params=[
        Param.int("top_k", 5, "How many keys to rank per query.", min=1),
        Param.string(
            "exclude_self_words", "", "Comma-separated key labels left out of the ranking."
        ),
    ],
    codegen=cosine_similarity_codegen,
)
def cosine_similarity(call: Any) -> dict[str, Any]:
    """Cosine similarity of every query with every key, and the top-k keys per query."""
    q, k = _matrix(call.inputs["queries"]), _matrix(call.inputs["keys"])
    if q.dim() != 2 or k.dim() != 2:
        raise ValueError(
            "CosineSimilarity: queries and keys must be 1-D or 2-D, "
            f"got {list(q.shape)} and {list(k.shape)}"
        )
    if q.shape[1] != k.shape[1]:
        raise ValueError(
            f"Embedding dimension mismatch: queries D={q.shape[1]}, keys D={k.shape[1]}"
        )
    k = k.to(q.device)
    rec = StepRecorder(call)
    rec.add(
        "input",
        "Query and key matrices.",
        scalars={"Q": q.shape[0], "K": k.shape[0], "D": q.shape[1]},
    )
    similarity = F.normalize(q, dim=1, eps=1e-12) @ F.normalize(k, dim=1, eps=1e-12).T
    rec.add(
        "similarity", "Dot products of the L2-normalised rows.", tensors={"similarity": similarity}
    )
    labels = call.inputs.get("key_labels")
    ranked = similarity.clone()
    excluded = 0
    if labels is not None:
        labels = list(labels)
        skip = {
            w.strip().lower() for w in call.params["exclude_self_words"].split(",") if w.strip()
        }
        columns = [i for i, label in enumerate(labels[: k.shape[0]]) if str(label).lower() in skip]
        excluded = len(columns)
        if columns:
            ranked[:, columns] = float("-inf")
    top = min(call.params["top_k"], k.shape[0])
    indices = torch.topk(ranked, top, dim=1).indices.tolist()
    if labels is not None:
        rec.add(
            "top_k",
            "The best keys per query, excluded labels left out.",
            scalars={"k": top, "excluded": excluded},
        )
        top_labels = [[labels[i] if i < len(labels) else None for i in row] for row in indices]
    else:
        top_labels = [[] for _ in indices]
    return rec.attach(
        {"similarity": similarity, "top_k_indices": indices, "top_k_labels": top_labels}
    )


# -- EmbeddingScatter (note 2.18) -------------------------------------------------------------------


def embeddings_numpy(x: Any) -> np.ndarray:
    """Embeddings as float32 numpy [N, D]: a vector is one row, None is an empty [0, 0] matrix."""
    if x is None:
        return np.zeros((0, 0), dtype=np.float32)
    arr = as_float32(x).detach().cpu().numpy()
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ValueError(
            f"EmbeddingScatter: embeddings must be [N, D], got shape {list(arr.shape)}"
        )
    return arr


def pca_2d(x: np.ndarray) -> tuple[np.ndarray, float]:
    """Project onto the first two principal axes (sign fixed: largest loading positive).

    Returns the [N, 2] projection and the share of variance on the first axis.
    """
    n, d = x.shape
    if n == 0 or d == 0:
        return np.zeros((n, 2)), 0.0
    k = min(2, n, d)
    centred = torch.from_numpy(x.astype(np.float64))
    centred = centred - centred.mean(dim=0, keepdim=True)
    _u, s, vh = torch.linalg.svd(centred, full_matrices=False)
    axes = vh[:k].clone()
    for i in range(k):
        if axes[i, torch.argmax(axes[i].abs())] < 0:
            axes[i] = -axes[i]
    proj = (centred @ axes.T).numpy()
    if k < 2:
        proj = np.concatenate([proj, np.zeros((n, 2 - k))], axis=1)
    total = float((s**2).sum())
    return proj, float(s[0] ** 2) / total if total > 0 else 0.0


def centre_and_scale(points: np.ndarray) -> np.ndarray:
    """Centre the points and divide by the largest absolute coordinate (when positive)."""
    if len(points) == 0:
        return points
    points = points - points.mean(axis=0, keepdims=True)
    peak = float(np.abs(points).max())
    return points / peak if peak > 0 else points


def embedding_scatter_codegen(gen: Any) -> CodeFragment:
    """PCA is torch/numpy only; t-SNE needs scikit-learn, so it forces the runner."""
    if gen.params["method"] != "PCA":
        raise CodegenUnsupported(
            f"EmbeddingScatter method '{gen.params['method']}' needs scikit-learn (only PCA exports standalone)"
        )
    gen.need("numpy as np")
    use(gen, as_float32, embeddings_numpy, pca_2d, centre_and_scale)
    x, points = gen.tmp("x"), gen.tmp("points")
    labels = gen.input("labels") if gen.has_input("labels") else "None"
    return gen.fragment(
        f"{x} = embeddings_numpy({gen.input('embeddings')})",
        f"{points} = centre_and_scale(np.asarray(pca_2d({x})[0], dtype=np.float64))",
        f"{gen.var('labels')} = list({labels} or [])[: {x}.shape[0]]",
        f"{gen.var('points_2d')} = torch.as_tensor({points}, dtype=torch.float32)"
        f".reshape({x}.shape[0], 2).to(device)",
    )


@node(
    name="EmbeddingScatter",
    category=CATEGORY,
    inputs=[
        In("embeddings", "TENSOR", "Vectors to map [N, D]."),
        In("labels", "LIST", "A label per row (optional).", optional=True),
    ],
    outputs=[
        Out("points_2d", "TENSOR", "2-D points [N, 2], centred, within [-1, 1]."),
        Out("labels", "LIST", "The labels, truncated to N."),
    ],
    params=[
        Param.select("method", "PCA", ("PCA", "t-SNE"), "Projection (t-SNE needs scikit-learn)."),
        Param.float("perplexity", 5.0, "t-SNE perplexity (capped at N - 1).", min=2, max=50),
        Param.int("seed", 42, "t-SNE random state."),
    ],
    codegen=embedding_scatter_codegen,
)
def embedding_scatter(call: Any) -> dict[str, Any]:
    """Map embeddings to 2-D with PCA or t-SNE, centred and scaled into [-1, 1]."""
    x = embeddings_numpy(call.inputs.get("embeddings"))
    n, d = x.shape
    rec = StepRecorder(call)
    rec.add("input", "The embedding matrix.", scalars={"N": n, "D": d})
    method = call.params["method"]
    if method == "t-SNE" and n < 5:
        rec.add(
            "fallback",
            "Too few points for t-SNE; using PCA.",
            scalars={"requested_perplexity": call.params["perplexity"]},
        )
        method = "PCA"
    if method == "t-SNE":
        manifold = optional_import("sklearn.manifold", CLASSICAL, "EmbeddingScatter (t-SNE)")
        perplexity = max(2.0, min(call.params["perplexity"], n - 1))
        points = manifold.TSNE(
            n_components=2,
            perplexity=perplexity,
            random_state=call.params["seed"],
            init="pca",
            learning_rate="auto",
        ).fit_transform(x)
        rec.add("tsne", "t-SNE embedding in 2-D.", scalars={"perplexity": perplexity})
    elif method == "PCA":
        points, ratio = pca_2d(x)
        rec.add(
            "pca",
            "Projection on the two main axes of variance.",
            scalars={"explained_variance_pc1": ratio},
        )
    else:
        raise ValueError(f"EmbeddingScatter: unknown method '{method}'")
    points = centre_and_scale(np.asarray(points, dtype=np.float64))
    rec.add("normalize", "Centred and divided by the largest absolute coordinate.")
    labels = list(call.inputs.get("labels") or [])[:n]
    out = torch.as_tensor(points, dtype=torch.float32).reshape(n, 2).to(call.device)
    return rec.attach({"points_2d": out, "labels": labels})
