"""``LLMChat`` (nodes.md §3.9): ask a chat model about text, an image and/or an array.

Providers: OpenAI chat completions, Anthropic messages and Ollama's OpenAI-compatible endpoint,
all streamed (see :mod:`._chat_providers`); the reply streams to the UI as ``{"text": ...}``
progress events.
"""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import numpy as np
import torch

from nodeloom.kernel import Requirement
from nodeloom.kernel.api import In, Out, Param, node

from ._chat_providers import ChatRequest, make_provider, stream_chat
from .classical import optional_import

CATEGORY = "LLM"
LLM = Requirement("httpx", "httpx", "llm")
PROVIDERS = ("ChatGPT API", "Codex", "Claude API", "Ollama")


def _summary(value: Any) -> Any:
    """JSON stand-in for values json cannot write: tensors and arrays become a short summary."""
    if isinstance(value, torch.Tensor):
        return {"type": "tensor", "shape": list(value.shape), "dtype": str(value.dtype)}
    if isinstance(value, np.ndarray):
        return {"type": "ndarray", "shape": list(value.shape), "dtype": str(value.dtype)}
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def array_json(value: Any) -> str:
    """The ``array`` input as JSON text (indent 2, non-ASCII kept, tensors summarised)."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=_summary)


def image_data_url(image: Any) -> str:
    """A (C, H, W) or (N, C, H, W) tensor in [0, 1] as a PNG ``data:`` URL (first item of a batch)."""
    from PIL import Image

    t = torch.as_tensor(image).detach().float().cpu()
    if t.dim() == 4:
        t = t[0]
    if t.dim() == 2:
        t = t.unsqueeze(0)
    if t.dim() != 3:
        raise ValueError(f"LLMChat: image must be (C, H, W) or (N, C, H, W); got {list(t.shape)}")
    if t.shape[0] not in (1, 3, 4):
        raise ValueError(f"LLMChat: image must have 1, 3 or 4 channels; got {t.shape[0]}")
    arr = (t.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    pil = Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def user_text(prompt: str, inputs: Any) -> str:
    """Blank-line join of the trimmed prompt, the text input and the array input (as JSON)."""
    parts = []
    if prompt.strip():
        parts.append(prompt.strip())
    if "text" in inputs and inputs["text"] is not None:
        parts.append(str(inputs["text"]))
    if "array" in inputs and inputs["array"] is not None:
        parts.append("Array input:\n" + array_json(inputs["array"]))
    return "\n\n".join(parts)


@node(
    name="LLMChat",
    category=CATEGORY,
    inputs=[
        In("text", "STRING", "Text appended to the prompt.", optional=True),
        In("image", "IMAGE", "An image sent along (multimodal models).", optional=True),
        In("array", "LIST", "Data appended as JSON.", optional=True),
    ],
    outputs=[Out("text", "STRING", "The model's reply.")],
    params=[
        Param.select("provider", "ChatGPT API", PROVIDERS, "Which service answers."),
        Param.string("model", "gpt-5.2", "Model name at the provider."),
        Param.string("prompt", "Summarize the provided input.", "Instruction placed first."),
        Param.string("system_prompt", "You are a helpful assistant.", "System message (if any)."),
        Param.secret(
            "openai_api_key", "", "OpenAI key (else $NODELOOM_OPENAI_API_KEY / $OPENAI_API_KEY).",
            visible_when={"provider": "ChatGPT API"},
        ),
        Param.secret(
            "anthropic_api_key", "",
            "Anthropic key (else $NODELOOM_ANTHROPIC_API_KEY / $ANTHROPIC_API_KEY).",
            visible_when={"provider": "Claude API"},
        ),
        Param.string(
            "ollama_base_url", "http://127.0.0.1:11434/v1", "Ollama's OpenAI-compatible endpoint.",
            visible_when={"provider": "Ollama"},
        ),
        Param.int("max_tokens", 1024, "Longest reply, in tokens.", min=1, max=200000),
        Param.float("temperature", 0.7, "Sampling temperature.", min=0, max=2),
    ],
    cacheable=False,
    deterministic=False,
    requires=(LLM,),
)
def llm_chat(call: Any) -> dict[str, Any]:
    """Send the prompt (plus wired text, image and array) to a chat model and stream its reply."""
    optional_import("httpx", LLM, "LLMChat")
    p = call.params
    provider = make_provider(p["provider"], p)
    text = user_text(p["prompt"], call.inputs)
    image = call.inputs.get("image")
    data_url = image_data_url(image) if image is not None else None
    if not text and data_url is None:
        raise ValueError("LLMChat: nothing to send; set a prompt or wire text, image or array")
    request = ChatRequest(
        model=p["model"],
        system=p["system_prompt"].strip(),
        text=text or "Describe the image.",
        image_data_url=data_url,
        max_tokens=p["max_tokens"],
        temperature=p["temperature"],
    )
    reply, usage = stream_chat(
        provider, request, lambda so_far: call.progress({"text": so_far}), call.check_cancelled
    )
    return {"text": reply, "__usage__": {"provider": p["provider"], "model": p["model"], **usage}}
