"""Reinforcement-learning nodes: Q and actor-critic nets, reward heads, KL, environments (nodes.md §2.8)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nodeloom.kernel import CodeFragment, Requirement
from nodeloom.kernel.api import In, Out, Param, node
from nodeloom.torchkit import as_float32, seeded

from ._codegen import use
from .classical import optional_import

CATEGORY = "RL"

GYMNASIUM = Requirement("gymnasium", "gymnasium", "rl")


def _state(x: Any) -> torch.Tensor:
    # Observations often arrive as int or float64 arrays; the networks are float32.
    return x if isinstance(x, torch.Tensor) and x.dtype == torch.float32 else as_float32(x)


def build_dqn(state_dim: int, action_dim: int, hidden_dim: int) -> nn.Sequential:
    """The Q-network: two hidden ReLU layers mapping a state to one value per action."""
    return nn.Sequential(
        nn.Linear(state_dim, hidden_dim),
        nn.ReLU(),
        nn.Linear(hidden_dim, hidden_dim),
        nn.ReLU(),
        nn.Linear(hidden_dim, action_dim),
    )


def _act(
    model: nn.Module, state: Any | None, action_dim: int, device: str
) -> tuple[nn.Module, Any]:
    """Run ``model`` on ``state`` without grad (on the state's device), or return zeros."""
    if state is None:
        return model, torch.zeros(action_dim).to(device)
    x = _state(state)
    model = model.to(x.device)
    with torch.no_grad():
        return model, model(x)


def _policy_lines(gen: Any, build: str, forward: str, empty: str) -> list[str]:
    """Build under the node seed; with a state, ``action = forward`` on the state's device."""
    model, action = gen.var("model"), gen.var("action")
    lines = [f"with seeded({gen.seed_expr}):", f"    {model} = {build}"]
    if gen.has_input("state"):
        x = gen.tmp("x")
        lines += [
            f"{x} = _state({gen.input('state')})",
            f"{model} = {model}.to({x}.device)",
            f"{action} = {forward.replace('{x}', x).replace('{model}', model)}",
        ]
    else:
        lines.append(f"{action} = torch.zeros({empty}).to(device)")
    return lines


def dqn_codegen(gen: Any) -> CodeFragment:
    use(gen, as_float32, _state, build_dqn)
    p = gen.params
    build = f"build_dqn({p['state_dim']!r}, {p['action_dim']!r}, {p['hidden_dim']!r})"
    return gen.fragment(*_policy_lines(gen, build, "{model}({x})", repr(p["action_dim"])))


@node(
    name="DQN",
    category=CATEGORY,
    inputs=[In("state", "TENSOR", "Observation(s) to evaluate (optional).", optional=True)],
    outputs=[
        Out("model", "MODEL", "The Q-network."),
        Out("action", "TENSOR", "Q-values of the state."),
    ],
    params=[
        Param.int("state_dim", 4, "Observation size."),
        Param.int("action_dim", 2, "Number of discrete actions."),
        Param.int("hidden_dim", 128, "Hidden layer width."),
    ],
    cacheable=False,
    random=True,
    codegen=dqn_codegen,
)
def dqn(call: Any) -> dict[str, Any]:
    """A fresh Q-network (initialised from the node seed); with a state, its Q-values."""
    p = call.params
    with seeded(call):
        model = build_dqn(p["state_dim"], p["action_dim"], p["hidden_dim"])
    model, action = _act(model, call.inputs.get("state"), p["action_dim"], call.device)
    return {"model": model, "action": action}


class ActorCritic(nn.Module):
    """Shared tanh trunk with a softmax policy head and a value head."""

    def __init__(self, state_dim: int, action_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.shared = nn.Sequential(
            nn.Linear(state_dim, hidden_dim),
            nn.Tanh(),
            nn.Linear(hidden_dim, hidden_dim),
            nn.Tanh(),
        )
        self.actor = nn.Linear(hidden_dim, action_dim)
        self.critic = nn.Linear(hidden_dim, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.shared(x)
        return torch.softmax(self.actor(f), dim=-1), self.critic(f)


def ppo_codegen(gen: Any) -> CodeFragment:
    use(gen, as_float32, _state, ActorCritic)
    p = gen.params
    build = f"ActorCritic({p['state_dim']!r}, {p['action_dim']!r}, {p['hidden_dim']!r})"
    return gen.fragment(*_policy_lines(gen, build, "{model}({x})[0]", repr(p["action_dim"])))


@node(
    name="PPO",
    category=CATEGORY,
    inputs=[In("state", "TENSOR", "Observation(s) to evaluate (optional).", optional=True)],
    outputs=[
        Out("model", "MODEL", "The actor-critic module: model(x) -> (probs, value)."),
        Out("action", "TENSOR", "Action probabilities of the state."),
    ],
    params=[
        Param.int("state_dim", 4, "Observation size."),
        Param.int("action_dim", 2, "Number of discrete actions."),
        Param.int("hidden_dim", 64, "Hidden layer width."),
    ],
    cacheable=False,
    random=True,
    codegen=ppo_codegen,
)
def ppo(call: Any) -> dict[str, Any]:
    """A fresh actor-critic network (from the node seed); with a state, its action probabilities."""
    p = call.params
    with seeded(call):
        model = ActorCritic(p["state_dim"], p["action_dim"], p["hidden_dim"])
    state = call.inputs.get("state")
    if state is None:
        return {"model": model, "action": torch.zeros(p["action_dim"]).to(call.device)}
    x = _state(state)
    model = model.to(x.device)
    with torch.no_grad():
        probs, _value = model(x)
    return {"model": model, "action": probs}


class RewardHead(nn.Module):
    """Scalar reward per sequence: an MLP on the last position of 3-D hidden states."""

    def __init__(self, input_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(input_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, 1)
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if h.dim() == 3:
            h = h[:, -1, :]
        return self.net(h).squeeze(-1)


def reward_model_codegen(gen: Any) -> CodeFragment:
    use(gen, RewardHead)
    p = gen.params
    model, rewards = gen.var("model"), gen.var("rewards")
    lines = [f"with seeded({p['seed']!r}):", f"    {model} = RewardHead({p['input_dim']!r}, {p['hidden_dim']!r})"]
    if gen.has_input("hidden_states"):
        h = gen.tmp("h")
        lines += [
            f"{h} = {gen.input('hidden_states')}",
            f"{model} = {model}.to({h}.device)",
            f"{rewards} = {model}({h}.float())",
        ]
    else:
        lines.append(f"{rewards} = torch.zeros(0).to(device)")
    return gen.fragment(*lines)


@node(
    name="RewardModel",
    category=CATEGORY,
    inputs=[
        In(
            "hidden_states",
            "TENSOR",
            "[B, D] or [B, T, D] hidden states (optional).",
            optional=True,
        )
    ],
    outputs=[Out("model", "MODEL"), Out("rewards", "TENSOR", "One reward per batch item [B].")],
    params=[
        Param.int("input_dim", 128, "Hidden state size.", min=1),
        Param.int("hidden_dim", 64, "MLP width.", min=1),
        Param.int("seed", 42, "Seed of the initial weights."),
    ],
    cacheable=False,
    codegen=reward_model_codegen,
)
def reward_model(call: Any) -> dict[str, Any]:
    """An RLHF-style reward head (seeded); with hidden states, their rewards."""
    p = call.params
    with seeded(p["seed"]):
        model = RewardHead(p["input_dim"], p["hidden_dim"])
    h = call.inputs.get("hidden_states")
    if h is None:
        return {"model": model, "rewards": torch.zeros(0).to(call.device)}
    model = model.to(h.device)
    with torch.no_grad():
        rewards = model(h.float())
    return {"model": model, "rewards": rewards}


def kl_divergence_codegen(gen: Any) -> CodeFragment:
    use(gen, as_float32)
    p, q, log_q, target, kl = (gen.tmp(n) for n in ("p", "q", "log_q", "target", "kl"))
    out = gen.var("kl")
    lines = [
        f"{p}, {q} = as_float32({gen.input('p')}), as_float32({gen.input('q')})",
        f"if {p}.shape != {q}.shape:",
        "    raise ValueError(",
        f"        f\"KLDivergence: p and q must have the same shape, got {{list({p}.shape)}} vs {{list({q}.shape)}}.\"",
        "    )",
    ]
    if gen.params["input_kind"] == "logits":
        lines.append(f"{log_q}, {target} = F.log_softmax({q}, dim=-1), F.softmax({p}, dim=-1)")
    else:
        lines.append(f"{log_q}, {target} = torch.log({q}.clamp_min(1e-12)), {p}")
    reduction = gen.params["reduction"]
    if reduction == "none":
        lines += [
            f"{kl} = F.kl_div({log_q}, {target}, reduction='none').sum(-1)",
            f"{out} = {kl}.flatten() if {kl}.dim() > 1 else {kl}",
        ]
    else:
        lines.append(f"{out} = F.kl_div({log_q}, {target}, reduction={reduction!r})")
    return gen.fragment(*lines)


@node(
    name="KLDivergence",
    category=CATEGORY,
    inputs=[
        In("p", "TENSOR", "Target distribution."),
        In("q", "TENSOR", "Approximating distribution."),
    ],
    outputs=[Out("kl", "TENSOR", "KL(p ‖ q).")],
    params=[
        Param.select(
            "input_kind",
            "probs",
            ("probs", "logits"),
            "Whether p and q are probabilities or logits.",
        ),
        Param.select(
            "reduction", "batchmean", ("batchmean", "sum", "mean", "none"), "How to reduce."
        ),
    ],
    codegen=kl_divergence_codegen,
)
def kl_divergence(call: Any) -> dict[str, Any]:
    """$KL(p \\| q) = \\sum p \\log(p / q)$ over the last dim, from probabilities or logits."""
    p, q = as_float32(call.inputs["p"]), as_float32(call.inputs["q"])
    if p.shape != q.shape:
        raise ValueError(
            f"KLDivergence: p and q must have the same shape, got {list(p.shape)} vs {list(q.shape)}."
        )
    if call.params["input_kind"] == "logits":
        log_q, target = F.log_softmax(q, dim=-1), F.softmax(p, dim=-1)
    else:
        log_q, target = torch.log(q.clamp_min(1e-12)), p
    reduction = call.params["reduction"]
    if reduction == "none":
        kl = F.kl_div(log_q, target, reduction="none").sum(-1)
        return {"kl": kl.flatten() if kl.dim() > 1 else kl}
    return {"kl": F.kl_div(log_q, target, reduction=reduction)}


@node(
    name="EnvWrapper",
    category=CATEGORY,
    outputs=[
        Out("env", "ANY", "The gymnasium environment, reset."),
        Out("observation", "TENSOR", "The first observation (float32)."),
    ],
    params=[Param.string("env_name", "CartPole-v1", "gymnasium environment id.")],
    cacheable=False,
    random=True,
    deterministic=False,
    requires=(GYMNASIUM,),
)
def env_wrapper(call: Any) -> dict[str, Any]:
    """Make a gymnasium environment and reset it with the node seed."""
    gym = optional_import("gymnasium", GYMNASIUM, "EnvWrapper")
    env_id = call.params["env_name"]
    try:
        env = gym.make(env_id)
    except Exception as exc:  # noqa: BLE001 - gymnasium raises many error types for unknown ids
        raise ValueError(f"EnvWrapper: environment '{env_id}' is not available: {exc}") from None
    obs, _info = env.reset(seed=call.seed % 2**32)
    observation = torch.tensor(obs, dtype=torch.float32).to(call.device)
    return {"env": env, "observation": observation}
