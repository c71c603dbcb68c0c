"""Diffusion, RL and LLM nodes (nodes.md §2.7-2.9, notes 2.16-2.19)."""

from __future__ import annotations

import importlib.util
import math
import threading

import pytest
import torch
import torch.nn.functional as F

from nodeloom.kernel import NodeFailure, RunCancelled
from nodeloom.plugins.core_nodes.nodes.diffusion import (
    TimestepMLP,
    UNet,
    beta_schedule,
    ddpm_sampler,
    diffusion_unet,
    gaussian_noise,
    lerp,
    timestep_embedding,
)
from nodeloom.plugins.core_nodes.nodes.llm import (
    DEMO_16D,
    VOCAB,
    cosine_similarity,
    embedding_scatter,
    word_vector,
)
from nodeloom.plugins.core_nodes.nodes.rl import dqn, env_wrapper, kl_divergence, ppo, reward_model

from .helpers import call_node

HAS_SKLEARN = importlib.util.find_spec("sklearn") is not None
HAS_GYM = importlib.util.find_spec("gymnasium") is not None

# -- Diffusion -----------------------------------------------------------------------------------------


def test_unet_predicts_noise_of_the_input_shape_and_is_seed_determined():
    out = call_node(
        diffusion_unet,
        node_params={
            "in_channels": 1,
            "base_channels": 8,
            "channel_mult": "1,2",
            "time_emb_dim": 8,
            "num_groups": 4,
            "seed": 3,
        },
    )
    model = out["model"]
    x = torch.randn(2, 1, 8, 8)
    y = model(x, torch.tensor([0, 5]))
    assert y.shape == x.shape
    # Every weight comes from the seed, whatever the global RNG or node seed.
    torch.manual_seed(99)
    twin = UNet(1, 8, [1, 2], 8, 4, 3)
    assert all(
        torch.equal(a, b) for a, b in zip(model.state_dict().values(), twin.state_dict().values())
    )
    assert not torch.equal(twin.stem.weight, UNet(1, 8, [1, 2], 8, 4, 4).stem.weight)
    # A scalar timestep is broadcast over the batch.
    assert torch.allclose(model(x, 5), model(x, torch.tensor([5, 5])))


def test_unet_checks_groups_and_input_size():
    with pytest.raises(ValueError) as info:
        call_node(diffusion_unet, base_channels=6, channel_mult="1,2", num_groups=4)
    assert (
        str(info.value)
        == "DiffusionUNet: num_groups=4 must divide every base*mult — base=6, mult=[1, 2]."
    )
    model = UNet(1, 4, [1, 2, 4], 8, 2, 0)
    with pytest.raises(ValueError, match=r"divisible by 2\^\(levels-1\) = 4"):
        model(torch.randn(1, 1, 6, 6), 1)


def test_timestep_mlp_matches_the_formula():
    mlp = TimestepMLP(4, 100, seed=1)
    t = torch.tensor([0.0, 3.0])
    freqs = torch.exp(-math.log(100) * torch.arange(2.0) / 2)
    args = t[:, None] * freqs[None]
    emb = torch.cat([args.sin(), args.cos()], -1)
    expected = mlp.fc2(F.silu(mlp.fc1(emb)))
    assert torch.allclose(mlp(t), expected)
    assert torch.count_nonzero(mlp.fc1.bias) == 0
    g = torch.Generator().manual_seed(1)
    assert torch.allclose(mlp.fc1.weight, torch.randn(16, 4, generator=g) / 2)


def test_timestep_embedding_node():
    out = call_node(timestep_embedding, {"timestep": 7}, embed_dim=6)
    assert out["embedding"].shape == (1, 6)
    batch = call_node(timestep_embedding, {"timestep": torch.tensor([1, 2, 3])}, embed_dim=6)[
        "embedding"
    ]
    assert batch.shape == (3, 6)
    with pytest.raises(ValueError, match=r"^TimestepEmbedding: embed_dim must be even, got 5\.$"):
        call_node(timestep_embedding, {"timestep": 1}, embed_dim=5)


def test_gaussian_noise_uses_its_seed_param():
    a = call_node(gaussian_noise, shape="2,3", node_params={"seed": 5, "mean": 1.0, "std": 2.0})[
        "noise"
    ]
    g = torch.Generator().manual_seed(5)
    assert torch.allclose(a, torch.randn(2, 3, generator=g) * 2 + 1)
    ref = torch.zeros(4, 1)
    assert call_node(gaussian_noise, {"shape_ref": ref})["noise"].shape == (4, 1)
    with pytest.raises(
        ValueError, match=r"^GaussianNoise: shape dims must be positive; got \[2, 0\]\.$"
    ):
        call_node(gaussian_noise, shape="2,0")


def test_lerp_weights_tensor_a():
    a, b = torch.ones(3), torch.zeros(3)
    assert torch.allclose(
        call_node(lerp, {"tensor_a": a, "tensor_b": b}, alpha=0.25)["tensor"],
        torch.full((3,), 0.25),
    )
    per = call_node(
        lerp, {"tensor_a": a, "tensor_b": [2.0, 2.0, 2.0], "alpha": torch.tensor([0.0, 0.5, 1.0])}
    )
    assert per["tensor"].tolist() == [2.0, 1.5, 1.0]


def test_beta_schedules():
    linear = beta_schedule("linear", 5, 0.1, 0.5)
    assert linear.dtype == torch.float32 and torch.allclose(
        linear, torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5])
    )
    cosine = beta_schedule("cosine", 50, 0, 0)
    assert cosine.shape == (50,) and cosine.min() >= 1e-4 and cosine.max() <= 0.999
    assert torch.all(cosine[1:] >= cosine[:-1]), "cosine betas grow with t"


def test_ddpm_sampler_follows_the_reverse_update():
    noise = torch.randn(2, 1, 2, 2)

    def no_noise_predictor(x, t):
        assert t.dtype == torch.int64 and t.shape == (2,)
        return torch.zeros_like(x)

    one = call_node(
        ddpm_sampler,
        {"model": no_noise_predictor, "noise": noise},
        num_steps=1,
        beta_start=0.19,
        beta_end=0.19,
    )["image"]
    assert torch.allclose(one, noise / math.sqrt(0.81))
    two = call_node(
        ddpm_sampler,
        {"model": no_noise_predictor, "noise": noise},
        num_steps=2,
        beta_start=0.1,
        beta_end=0.2,
        node_params={"seed": 3},
    )["image"]
    g = torch.Generator().manual_seed(3)
    x1 = noise / math.sqrt(0.8) + math.sqrt(0.2) * torch.randn(noise.shape, generator=g)
    assert torch.allclose(two, x1 / math.sqrt(0.9), atol=1e-6)


def test_ddpm_sampler_runs_a_unet_and_checks_inputs():
    model = call_node(
        diffusion_unet,
        in_channels=1,
        base_channels=4,
        channel_mult="1,2",
        time_emb_dim=4,
        num_groups=2,
    )["model"]
    image = call_node(
        ddpm_sampler, {"model": model, "noise": torch.randn(1, 1, 4, 4)}, num_steps=3
    )["image"]
    assert image.shape == (1, 1, 4, 4) and not model.training
    with pytest.raises(ValueError, match="unknown schedule 'wavy'"):
        call_node(ddpm_sampler, {"model": model, "noise": torch.zeros(1, 1, 4, 4)}, schedule="wavy")
    with pytest.raises(ValueError, match="not callable"):
        call_node(ddpm_sampler, {"model": 3, "noise": torch.zeros(1)})
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(RunCancelled):
        call_node(
            ddpm_sampler, {"model": model, "noise": torch.zeros(1, 1, 4, 4)}, cancel_event=cancel
        )


# -- RL ------------------------------------------------------------------------------------------------


def test_dqn_is_seeded_and_evaluates_states():
    state = torch.randn(3, 4)
    a = call_node(dqn, {"state": state}, seed=11)
    b = call_node(dqn, {"state": state}, seed=11)
    assert a["action"].shape == (3, 2) and torch.equal(a["action"], b["action"])
    assert not a["action"].requires_grad
    assert not torch.equal(call_node(dqn, {"state": state}, seed=12)["action"], a["action"])
    empty = call_node(dqn, hidden_dim=8)
    assert empty["action"].tolist() == [0.0, 0.0] and len(empty["model"]) == 5


def test_ppo_returns_action_probabilities():
    out = call_node(ppo, {"state": torch.randn(5, 4)}, action_dim=3)
    assert out["action"].shape == (5, 3)
    assert torch.allclose(out["action"].sum(-1), torch.ones(5))
    probs, value = out["model"](torch.randn(2, 4))
    assert value.shape == (2, 1)


def test_reward_model_scores_the_last_position():
    h = torch.randn(2, 5, 8)
    out = call_node(reward_model, {"hidden_states": h}, input_dim=8, hidden_dim=4)
    assert out["rewards"].shape == (2,)
    assert torch.allclose(out["rewards"], out["model"].net(h[:, -1, :]).squeeze(-1))
    again = call_node(reward_model, {"hidden_states": h}, input_dim=8, hidden_dim=4, seed=999)
    assert torch.equal(again["rewards"], out["rewards"]), (
        "its own seed param decides, not the node seed"
    )
    assert call_node(reward_model)["rewards"].shape == (0,)


def test_kl_divergence_matches_the_definition():
    p = torch.tensor([[0.5, 0.5], [0.9, 0.1]])
    q = torch.tensor([[0.25, 0.75], [0.5, 0.5]])
    rows = (p * (p / q).log()).sum(-1)
    out = call_node(kl_divergence, {"p": p, "q": q}, reduction="none")["kl"]
    assert torch.allclose(out, rows)
    assert torch.allclose(call_node(kl_divergence, {"p": p, "q": q})["kl"], rows.mean())
    logits = call_node(
        kl_divergence, {"p": p.log(), "q": q.log()}, input_kind="logits", reduction="sum"
    )
    assert torch.allclose(logits["kl"], rows.sum(), atol=1e-6)
    with pytest.raises(ValueError, match=r"same shape, got \[2\] vs \[3\]"):
        call_node(kl_divergence, {"p": [0.5, 0.5], "q": [0.2, 0.3, 0.5]})


@pytest.mark.skipif(HAS_GYM, reason="gymnasium is installed")
def test_env_wrapper_names_the_rl_extra():
    with pytest.raises(
        NodeFailure, match=r"needs gymnasium \(pip install 'nodeloom\[rl\]'\)"
    ) as info:
        call_node(env_wrapper)
    assert info.value.code == "dependency_missing"


# -- LLM -----------------------------------------------------------------------------------------------


def test_demo_table_has_59_distinct_words():
    assert len(VOCAB) == 59 and list(VOCAB) == sorted(VOCAB)
    assert DEMO_16D.shape == (59, 16)
    assert len({tuple(row.tolist()) for row in DEMO_16D}) == 59


def test_word_analogy_acceptance_check():
    words = call_node(word_vector, words="king man woman")["embeddings"]
    query = words[0] - words[1] + words[2]
    table = call_node(word_vector, words=" ".join(VOCAB))
    out = call_node(
        cosine_similarity,
        {"queries": query, "keys": table["embeddings"], "key_labels": table["labels"]},
        exclude_self_words="King, man,woman",
    )
    assert out["top_k_labels"] == [["queen", "duchess", "princess", "girl", "mother"]]
    scores = out["similarity"][0, out["top_k_indices"][0]].tolist()
    assert scores == pytest.approx([1.0, 0.9623, 0.8660, 0.7107, 0.6667], abs=1e-4)


def test_word_vector_tokens_oov_and_normalize():
    out = call_node(word_vector, {"tokens": ["Cat", "zebra", " dog "]})
    assert out["labels"] == ["cat", "dog"] and out["embeddings"].shape == (2, 16)
    kept = call_node(word_vector, words="cat, zebra", keep_oov=True, normalize=True)
    assert kept["labels"] == ["cat", "zebra"]
    assert kept["embeddings"][1].abs().sum() == 0
    assert kept["embeddings"][0].norm().item() == pytest.approx(1.0)
    assert call_node(word_vector, words="qqq")["embeddings"].shape == (0, 16)
    with pytest.raises(ValueError, match="^Unknown WordVector backend: 'glove'$"):
        call_node(word_vector, backend="glove")


def test_word_vector_steps_in_verbose_mode():
    out = call_node(word_vector, words="cat zebra", normalize=True, options={"verbose": True})
    steps = out["__steps__"]
    assert [s["name"] for s in steps] == ["input_words", "lookup", "normalize"]
    assert steps[1]["scalars"] == {"matched": 1.0, "oov": 1.0, "dim": 16.0}
    assert "__steps__" not in call_node(word_vector)


def test_cosine_similarity_shapes_and_errors():
    q = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    k = torch.tensor([[3.0, 0.0], [1.0, 1.0], [0.0, -1.0]])
    out = call_node(cosine_similarity, {"queries": q, "keys": k}, top_k=10)
    expected = F.normalize(q, dim=1) @ F.normalize(k, dim=1).T
    assert torch.allclose(out["similarity"], expected)
    assert out["top_k_indices"] == [[0, 1, 2], [1, 0, 2]]
    assert out["top_k_labels"] == [[], []]
    with pytest.raises(ValueError, match="^Embedding dimension mismatch: queries D=2, keys D=3$"):
        call_node(cosine_similarity, {"queries": q, "keys": torch.zeros(1, 3)})


def test_embedding_scatter_pca_is_centred_scaled_and_sign_fixed():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 4, generator=g) * torch.tensor([5.0, 1.0, 0.1, 0.1])
    out = call_node(embedding_scatter, {"embeddings": x, "labels": list("abcdefgh")})
    points = out["points_2d"]
    assert points.shape == (6, 2) and out["labels"] == list("abcdef")
    assert torch.allclose(points.mean(0), torch.zeros(2), atol=1e-6)
    assert points.abs().max().item() == pytest.approx(1.0)
    # The first axis follows the dominant feature, oriented so its largest loading is positive.
    centred = (x - x.mean(0)).double()
    assert torch.corrcoef(torch.stack([points[:, 0].double(), centred[:, 0]]))[0, 1] > 0.99
    one = call_node(embedding_scatter, {"embeddings": torch.tensor([1.0, 2.0])})["points_2d"]
    assert one.tolist() == [[0.0, 0.0]]


def test_embedding_scatter_tsne_falls_back_or_needs_the_extra():
    small = call_node(
        embedding_scatter,
        {"embeddings": torch.randn(4, 3)},
        method="t-SNE",
        options={"verbose": True},
    )
    assert [s["name"] for s in small["__steps__"]] == ["input", "fallback", "pca", "normalize"]
    if HAS_SKLEARN:
        big = call_node(embedding_scatter, {"embeddings": torch.randn(8, 3)}, method="t-SNE")
        assert big["points_2d"].shape == (8, 2)
    else:
        with pytest.raises(NodeFailure, match=r"nodeloom\[classical\]"):
            call_node(embedding_scatter, {"embeddings": torch.randn(8, 3)}, method="t-SNE")
