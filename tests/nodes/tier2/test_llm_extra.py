"""Tier-2 LLM nodes (nodes.md §3.9). LLMChat talks only to a tiny HTTP server on 127.0.0.1."""

from __future__ import annotations

import base64
import importlib.util
import json
import math
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import torch

from nodeloom.kernel import NodeFailure
from nodeloom.plugins.core_nodes.nodes import _chat_providers, llm_chat, llm_extra

from ..helpers import call_node

HAS_TIKTOKEN = importlib.util.find_spec("tiktoken") is not None
HAS_HTTPX = importlib.util.find_spec("httpx") is not None

# -- AttentionHeatmap -----------------------------------------------------------------------------


def test_attention_heatmap_picks_a_head():
    w3 = torch.rand(4, 3, 5)
    w4 = torch.rand(2, 4, 3, 5)
    assert torch.equal(call_node(llm_extra.attention_heatmap, {"weights": w3}, head_index=2)["weights"], w3[2])
    assert torch.equal(call_node(llm_extra.attention_heatmap, {"weights": w4}, head_index=1)["weights"], w4[:, 1])
    out = call_node(llm_extra.attention_heatmap, {"weights": w3, "labels": ("a", "b")})
    assert out["weights"] is w3 and out["labels"] == ["a", "b"]
    assert call_node(llm_extra.attention_heatmap, {"weights": w3})["labels"] == []


def test_attention_heatmap_head_out_of_range():
    with pytest.raises(ValueError, match="head_index 4 is out of range; the weights have 4 heads"):
        call_node(llm_extra.attention_heatmap, {"weights": torch.rand(4, 3, 3)}, head_index=4)


# -- AttentionMask --------------------------------------------------------------------------------


def test_causal_mask_blocks_the_future():
    mask = call_node(llm_extra.attention_mask_node, {"tokens": ["a", "b", "c"]})["mask"]
    assert mask.dtype == torch.bool
    assert torch.equal(mask, torch.triu(torch.ones(3, 3, dtype=torch.bool), diagonal=1))
    from_tensor = call_node(llm_extra.attention_mask_node, {"tensor": torch.zeros(4, 2, 8)})["mask"]
    assert from_tensor.shape == (4, 4) and from_tensor[0, 1] and not from_tensor[1, 0]


def test_padding_mask_blocks_pad_columns():
    tokens = ["hi", "there", "<pad>", "<pad>"]
    mask = call_node(llm_extra.attention_mask_node, {"tokens": tokens}, mode="padding")["mask"]
    expected = torch.tensor([False, False, True, True]).expand(4, 4)
    assert torch.equal(mask, expected)
    custom = call_node(llm_extra.attention_mask_node, {"tokens": ["x", "0"]}, mode="padding", pad_token="0")
    assert custom["mask"][:, 1].all() and not custom["mask"][:, 0].any()


def test_attention_mask_needs_an_input():
    with pytest.raises(ValueError, match="needs a tensor or a tokens input"):
        call_node(llm_extra.attention_mask_node, {})
    with pytest.raises(ValueError, match="padding mode needs the tokens input"):
        call_node(llm_extra.attention_mask_node, {"tensor": torch.zeros(2)}, mode="padding")


# -- PositionalEncoding ---------------------------------------------------------------------------


def _reference_pe(seq: int, d: int) -> torch.Tensor:
    pe = torch.zeros(seq, d)
    for pos in range(seq):
        for i in range(d):
            angle = pos / (10000 ** ((i - i % 2) / d))
            pe[pos, i] = math.sin(angle) if i % 2 == 0 else math.cos(angle)
    return pe


@pytest.mark.parametrize("d", [6, 5])
def test_sinusoidal_encoding_matches_the_formula(d):
    x = torch.randn(7, d)
    out = call_node(llm_extra.positional_encoding, {"tensor": x})
    assert torch.allclose(out["pe"], _reference_pe(7, d), atol=1e-5)
    assert torch.allclose(out["tensor"], x + out["pe"])


def test_positional_encoding_broadcasts_over_the_batch():
    x = torch.randn(5, 3, 4)
    out = call_node(llm_extra.positional_encoding, {"tensor": x})
    assert torch.allclose(out["tensor"], x + out["pe"].unsqueeze(1))


def test_learnable_encoding_uses_its_seed():
    x = torch.zeros(3, 8)
    out = call_node(llm_extra.positional_encoding, {"tensor": x}, mode="learnable", node_params={"seed": 9})
    g = torch.Generator().manual_seed(9)
    assert torch.allclose(out["pe"], torch.randn(3, 8, generator=g) / math.sqrt(8))


def test_positional_encoding_errors_and_steps():
    with pytest.raises(ValueError, match="exceeds max_len=4"):
        call_node(llm_extra.positional_encoding, {"tensor": torch.zeros(5, 2)}, max_len=4)
    with pytest.raises(ValueError, match=r"\[seq, D\] or \[seq, batch, D\]"):
        call_node(llm_extra.positional_encoding, {"tensor": torch.zeros(5)})
    out = call_node(llm_extra.positional_encoding, {"tensor": [[1.0, 2.0]]}, options={"verbose": True})
    steps = out["__steps__"]
    assert [s["name"] for s in steps] == ["input", "compute_pe", "add"]
    assert [list(s["tensors"]) for s in steps] == [["tensor"], ["pe"], ["output"]]


# -- Tokenizer ------------------------------------------------------------------------------------


def test_token_helpers():
    assert llm_extra.token_offsets(["The", " quick", "!"]) == [[0, 3], [3, 9], [9, 10]]
    assert llm_extra.input_text(None, "param") == "param"
    assert llm_extra.input_text(["first", "second"], "p") == "first"
    assert llm_extra.input_text([], "p") == ""


@pytest.mark.skipif(HAS_TIKTOKEN, reason="tiktoken is installed")
def test_tokenizer_without_tiktoken_names_the_extra():
    with pytest.raises(NodeFailure) as info:
        call_node(llm_extra.tokenizer)
    assert info.value.code == "dependency_missing" and "nodeloom[text]" in str(info.value)


def test_tokenizer_reports_an_unavailable_vocabulary(monkeypatch):
    class Broken:
        @staticmethod
        def get_encoding(name):
            raise OSError("no network")

    monkeypatch.setattr(llm_extra, "optional_import", lambda *a: Broken)
    monkeypatch.setattr(llm_extra, "_ENCODERS", {})
    with pytest.raises(RuntimeError, match="vocabulary for 'gpt2' is not available offline: no network"):
        call_node(llm_extra.tokenizer, family="gpt2")


def test_tokenizer_with_a_stub_encoder_reports_steps(monkeypatch):
    class Enc:
        def encode(self, text, disallowed_special=()):
            assert disallowed_special == ()
            return [ord(c) for c in text]

        def decode(self, ids):
            return "".join(chr(i) for i in ids)

    monkeypatch.setattr(llm_extra, "_ENCODERS", {"cl100k_base": Enc()})
    out = call_node(llm_extra.tokenizer, {"text": "abca"}, options={"verbose": True})
    assert out["tokens"] == ["a", "b", "c", "a"] and out["token_ids"] == [97, 98, 99, 97]
    assert out["offsets"] == [[0, 1], [1, 2], [2, 3], [3, 4]]
    assert out["__steps__"][0]["scalars"] == {"chars": 4.0}
    assert out["__steps__"][1]["scalars"] == {"num_tokens": 4.0, "unique_ids": 3.0}


# -- LLMChat --------------------------------------------------------------------------------------


class FakeChat(BaseHTTPRequestHandler):
    """Answers OpenAI (/v1/chat/completions) and Anthropic (/v1/messages) streaming requests."""

    requests: list[dict] = []

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        FakeChat.requests.append({"path": self.path, "body": body, "headers": {k.lower(): v for k, v in self.headers.items()}})
        if body.get("model") == "broken":
            self.send_response(401)
            self.end_headers()
            self.wfile.write(b'{"error": "bad key"}')
            return
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.end_headers()
        for event in self._events():
            self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
        if self.path.endswith("/chat/completions"):
            self.wfile.write(b"data: [DONE]\n\n")

    def _events(self) -> Iterator[dict]:
        if self.path.endswith("/messages"):
            yield {"type": "message_start", "message": {"usage": {"input_tokens": 7}}}
            for piece in ("Hel", "lo"):
                yield {"type": "content_block_delta", "delta": {"type": "text_delta", "text": piece}}
            yield {"type": "message_delta", "usage": {"output_tokens": 2}}
        else:
            for piece in ("Hel", "lo", "!"):
                yield {"choices": [{"delta": {"content": piece}}]}
            yield {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 3}}


@pytest.fixture
def server():
    FakeChat.requests = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeChat)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


needs_httpx = pytest.mark.skipif(not HAS_HTTPX, reason="needs httpx (nodeloom[llm])")


@needs_httpx
def test_llm_chat_streams_an_ollama_reply(server):
    progress: list = []
    out = call_node(llm_chat.llm_chat, {"text": "some text", "array": [1, torch.zeros(2, 3)]},
                    provider="Ollama", ollama_base_url=server, model="llama3", max_tokens=50,
                    on_progress=progress.append)
    assert out["text"] == "Hello!"
    assert progress == [{"text": "Hel"}, {"text": "Hello"}, {"text": "Hello!"}]
    assert out["__usage__"]["completion_tokens"] == 3
    sent = FakeChat.requests[0]
    assert sent["path"] == "/v1/chat/completions"
    body = sent["body"]
    assert body["model"] == "llama3" and body["max_tokens"] == 50 and body["stream"] is True
    assert body["messages"][0] == {"role": "system", "content": "You are a helpful assistant."}
    user = body["messages"][1]["content"]
    prompt, text, array = user.split("\n\n", 2)
    assert prompt == "Summarize the provided input." and text == "some text"
    assert array.startswith("Array input:\n")
    assert json.loads(array[len("Array input:\n"):]) == [
        1, {"type": "tensor", "shape": [2, 3], "dtype": "torch.float32"}]


@needs_httpx
def test_llm_chat_sends_images_to_openai(server, monkeypatch):
    monkeypatch.setenv(_chat_providers.OPENAI_BASE_ENV, server)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.delenv("NODELOOM_OPENAI_API_KEY", raising=False)
    image = torch.zeros(1, 3, 2, 2)
    out = call_node(llm_chat.llm_chat, {"image": image}, prompt="  ", system_prompt="")
    assert out["text"] == "Hello!"
    sent = FakeChat.requests[0]
    assert sent["headers"]["authorization"] == "Bearer sk-test"
    body = sent["body"]
    assert body["max_completion_tokens"] == 1024 and len(body["messages"]) == 1
    text_part, image_part = body["messages"][0]["content"]
    assert text_part == {"type": "text", "text": "Describe the image."}
    url = image_part["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]).startswith(b"\x89PNG")


@needs_httpx
def test_llm_chat_talks_to_anthropic(server, monkeypatch):
    monkeypatch.setenv(_chat_providers.ANTHROPIC_BASE_ENV, server)
    out = call_node(llm_chat.llm_chat, {"text": "hi"}, provider="Claude API", anthropic_api_key="k1",
                    model="claude-x", temperature=0.0)
    assert out["text"] == "Hello"
    assert out["__usage__"]["input_tokens"] == 7 and out["__usage__"]["output_tokens"] == 2
    sent = FakeChat.requests[0]
    assert sent["path"] == "/v1/messages"
    assert sent["headers"]["x-api-key"] == "k1" and sent["headers"]["anthropic-version"]
    body = sent["body"]
    assert body["system"] == "You are a helpful assistant." and body["temperature"] == 0.0
    assert body["messages"] == [{"role": "user", "content": [
        {"type": "text", "text": "Summarize the provided input.\n\nhi"}]}]


@needs_httpx
def test_llm_chat_reports_http_errors(server):
    with pytest.raises(RuntimeError, match="Ollama returned HTTP 401"):
        call_node(llm_chat.llm_chat, provider="Ollama", ollama_base_url=server, model="broken")


@needs_httpx
def test_llm_chat_stops_when_cancelled(server):
    from nodeloom.kernel import RunCancelled

    cancel = threading.Event()
    cancel.set()
    with pytest.raises(RunCancelled):
        call_node(llm_chat.llm_chat, provider="Ollama", ollama_base_url=server, cancel_event=cancel)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"provider": "Codex"}, "The Codex provider is not supported by nodeloom; use ChatGPT API"),
        ({"provider": "ChatGPT API"}, "no OpenAI API key"),
        ({"provider": "Claude API"}, "no Anthropic API key"),
        ({"provider": "Ollama", "prompt": ""}, "nothing to send"),
    ],
)
def test_llm_chat_errors_before_any_request(params, message, monkeypatch):
    for name in ("OPENAI_API_KEY", "NODELOOM_OPENAI_API_KEY", "ANTHROPIC_API_KEY", "NODELOOM_ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    if not HAS_HTTPX:
        pytest.skip("needs httpx")
    with pytest.raises(ValueError, match=message):
        call_node(llm_chat.llm_chat, **params)


def test_image_data_url_takes_the_first_item_and_clamps():
    from PIL import Image
    import io

    url = llm_chat.image_data_url(torch.stack([torch.full((3, 2, 2), 2.0), torch.zeros(3, 2, 2)]))
    img = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert np.asarray(img).max() == 255 and img.size == (2, 2)
