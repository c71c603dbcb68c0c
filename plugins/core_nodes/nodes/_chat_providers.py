"""Streaming chat requests for ``LLMChat``: OpenAI-style and Anthropic-style wire formats.

Each provider is a :class:`ChatProvider` that builds one HTTP request and turns the server-sent
events of its streamed answer into text deltas and a usage record. ``httpx`` (the ``llm`` extra)
is imported only by :func:`stream_chat`, when a request is actually sent.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import attrs

#: Base URLs may be pointed elsewhere (a proxy, a test server) with these variables (nodeloom).
OPENAI_BASE_ENV = "NODELOOM_OPENAI_BASE_URL"
ANTHROPIC_BASE_ENV = "NODELOOM_ANTHROPIC_BASE_URL"
OPENAI_BASE = "https://api.openai.com/v1"
ANTHROPIC_BASE = "https://api.anthropic.com/v1"
ANTHROPIC_VERSION = "2023-06-01"


@attrs.frozen
class ChatRequest:
    """What the node asks: prompt parts already assembled."""

    model: str
    system: str
    text: str
    image_data_url: str | None
    max_tokens: int
    temperature: float


@attrs.frozen
class ChatProvider:
    """One provider: how to build the request and read its stream."""

    name: str
    url: str
    headers: Mapping[str, str]
    body: Callable[[ChatRequest], dict[str, Any]]
    parse: Callable[[Mapping[str, Any], dict[str, Any]], str]  # (event, usage box) -> text delta


# -- OpenAI chat completions (also Ollama's compatible endpoint) -------------------------------


def openai_body(req: ChatRequest, *, token_field: str) -> dict[str, Any]:
    content: Any = req.text
    if req.image_data_url is not None:
        content = [
            {"type": "text", "text": req.text},
            {"type": "image_url", "image_url": {"url": req.image_data_url}},
        ]
    messages = [{"role": "system", "content": req.system}] if req.system else []
    messages.append({"role": "user", "content": content})
    return {
        "model": req.model,
        "messages": messages,
        token_field: req.max_tokens,
        "temperature": req.temperature,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def openai_parse(event: Mapping[str, Any], usage: dict[str, Any]) -> str:
    if isinstance(event.get("usage"), Mapping):
        usage.update(event["usage"])
    if isinstance(event.get("error"), Mapping):
        raise RuntimeError(str(event["error"].get("message") or event["error"]))
    choices = event.get("choices") or []
    if not choices:
        return ""
    delta = choices[0].get("delta") or {}
    return str(delta.get("content") or "")


# -- Anthropic messages -------------------------------------------------------------------------


def anthropic_body(req: ChatRequest) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if req.image_data_url is not None:
        media, _, data = req.image_data_url.partition(";base64,")
        content.append(
            {"type": "image", "source": {"type": "base64", "media_type": media[len("data:") :],
                                          "data": data}}
        )
    content.append({"type": "text", "text": req.text})
    body: dict[str, Any] = {
        "model": req.model,
        "max_tokens": req.max_tokens,
        "temperature": req.temperature,
        "messages": [{"role": "user", "content": content}],
        "stream": True,
    }
    if req.system:
        body["system"] = req.system
    return body


def anthropic_parse(event: Mapping[str, Any], usage: dict[str, Any]) -> str:
    kind = event.get("type")
    if kind == "error":
        error = event.get("error") or {}
        raise RuntimeError(str(error.get("message") or error))
    if kind == "message_start":
        usage.update((event.get("message") or {}).get("usage") or {})
    elif kind == "message_delta":
        usage.update(event.get("usage") or {})
    elif kind == "content_block_delta":
        delta = event.get("delta") or {}
        if delta.get("type") == "text_delta":
            return str(delta.get("text") or "")
    return ""


# -- provider table -----------------------------------------------------------------------------


def first_key(param: str, *names: str) -> str:
    """The API key: the node param when set, else the first environment variable that is."""
    if param:
        return param
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return ""


def make_provider(provider: str, params: Mapping[str, Any]) -> ChatProvider:
    """The :class:`ChatProvider` for the node's ``provider`` select and key/URL params."""
    if provider == "ChatGPT API":
        key = first_key(params.get("openai_api_key", ""), "NODELOOM_OPENAI_API_KEY", "OPENAI_API_KEY")
        if not key:
            raise ValueError(
                "LLMChat: no OpenAI API key; set openai_api_key or the NODELOOM_OPENAI_API_KEY / "
                "OPENAI_API_KEY environment variable"
            )
        base = os.environ.get(OPENAI_BASE_ENV) or OPENAI_BASE
        return ChatProvider(
            name=provider,
            url=base.rstrip("/") + "/chat/completions",
            headers={"Authorization": f"Bearer {key}"},
            # Current OpenAI models take max_completion_tokens; max_tokens is rejected by some.
            body=lambda req: openai_body(req, token_field="max_completion_tokens"),
            parse=openai_parse,
        )
    if provider == "Claude API":
        key = first_key(
            params.get("anthropic_api_key", ""), "NODELOOM_ANTHROPIC_API_KEY", "ANTHROPIC_API_KEY"
        )
        if not key:
            raise ValueError(
                "LLMChat: no Anthropic API key; set anthropic_api_key or the "
                "NODELOOM_ANTHROPIC_API_KEY / ANTHROPIC_API_KEY environment variable"
            )
        base = os.environ.get(ANTHROPIC_BASE_ENV) or ANTHROPIC_BASE
        return ChatProvider(
            name=provider,
            url=base.rstrip("/") + "/messages",
            headers={"x-api-key": key, "anthropic-version": ANTHROPIC_VERSION},
            body=anthropic_body,
            parse=anthropic_parse,
        )
    if provider == "Ollama":
        base = str(params.get("ollama_base_url") or "").strip()
        if not base:
            raise ValueError("LLMChat: ollama_base_url is required for the Ollama provider")
        return ChatProvider(
            name=provider,
            url=base.rstrip("/") + "/chat/completions",
            headers={},
            body=lambda req: openai_body(req, token_field="max_tokens"),
            parse=openai_parse,
        )
    if provider == "Codex":
        raise ValueError("The Codex provider is not supported by nodeloom; use ChatGPT API")
    raise ValueError(f"LLMChat: unknown provider '{provider}'")


def sse_events(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """JSON payloads of ``data:`` lines of a server-sent event stream, up to ``[DONE]``."""
    for line in lines:
        if not line.startswith("data:"):
            continue
        payload = line[len("data:") :].strip()
        if payload == "[DONE]":
            return
        if not payload:
            continue
        try:
            event = json.loads(payload)
        except json.JSONDecodeError:
            continue  # keep-alive comments and partial junk are not part of the answer
        if isinstance(event, dict):
            yield event


def stream_chat(
    provider: ChatProvider,
    req: ChatRequest,
    on_text: Callable[[str], None],
    check_cancelled: Callable[[], None],
    timeout_s: float = 300.0,
) -> tuple[str, dict[str, Any]]:
    """Send the request and stream the answer; returns ``(text, usage)``.

    ``on_text`` gets the accumulated text after each delta; ``check_cancelled`` is called for
    every event so a cancelled run stops reading at once.
    """
    import httpx

    usage: dict[str, Any] = {}
    parts: list[str] = []
    timeout = httpx.Timeout(timeout_s, connect=30.0)
    headers = {"content-type": "application/json", **provider.headers}
    with httpx.Client(timeout=timeout) as client:
        with client.stream("POST", provider.url, json=provider.body(req), headers=headers) as resp:
            if resp.status_code >= 400:
                detail = resp.read().decode("utf-8", errors="replace")[:500]
                raise RuntimeError(
                    f"LLMChat: {provider.name} returned HTTP {resp.status_code}: {detail}"
                )
            for event in sse_events(resp.iter_lines()):
                check_cancelled()
                delta = provider.parse(event, usage)
                if delta:
                    parts.append(delta)
                    on_text("".join(parts))
    return "".join(parts), usage
