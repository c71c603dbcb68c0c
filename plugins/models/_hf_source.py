"""The ``huggingface`` model source: one file of a Hub repo through ``huggingface_hub``.

huggingface_hub reads ``HF_ENDPOINT`` once, when it is imported; the endpoint and token are read
from the environment at download time instead and passed explicitly, so a change (or a test that
points ``HF_ENDPOINT`` at a local server) takes effect for the next download.

The file is fetched into a private dot-named folder next to ``dest`` (with its own cache folder, so
the user's Hub cache is neither read nor filled) and then renamed onto ``dest``.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ._sources import DownloadCancelled, DownloadError, Progress


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def _progress_bar(report: Progress) -> type[tqdm]:
    """A silent tqdm class that forwards huggingface_hub's byte counts to ``report``."""

    class _Bar(tqdm):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)
            self._done = int(kwargs.get("initial") or 0)
            report(self._done, self.total)

        def update(self, n: float | None = 1) -> bool | None:
            self._done += int(n or 0)  # negative when huggingface_hub restarts a download
            report(max(self._done, 0), self.total)
            return None

    return _Bar


def _http_failure(exc: BaseException) -> str | None:
    """``HTTP <status> from <url>`` for the first HTTP error in the exception's chain."""
    from huggingface_hub.errors import HfHubHTTPError

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, HfHubHTTPError) and getattr(current, "response", None) is not None:
            response = current.response
            return f"HTTP {response.status_code} from {response.url}"
        current = current.__cause__ or current.__context__
    return None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


class HuggingFaceSource:
    """``{"type": "huggingface", "repo_id", "filename", "revision"}`` (``url`` aliases ``repo_id``)."""

    def fetch(self, source: Mapping[str, Any], dest: Path, progress: Progress) -> None:
        from huggingface_hub import hf_hub_download

        repo_id = str(source.get("repo_id") or source.get("url") or "")
        filename = str(source.get("filename") or "")
        revision = str(source.get("revision") or "main")
        work = dest.parent / f".hf-{secrets.token_hex(8)}"
        try:
            result = hf_hub_download(
                repo_id,
                filename,
                revision=revision,
                local_dir=work / "files",
                cache_dir=work / "cache",
                endpoint=_env("HF_ENDPOINT"),
                token=_env("HF_TOKEN"),
                tqdm_class=_progress_bar(progress),
            )
            os.replace(result, dest)
        except DownloadCancelled:
            raise
        except Exception as exc:  # noqa: BLE001 - huggingface_hub raises many types; the job shows one line
            message = _http_failure(exc) or f"Download of {filename} from {repo_id} failed: {_one_line(exc)}"
            raise DownloadError(message) from None
        finally:
            shutil.rmtree(work, ignore_errors=True)
        size = dest.stat().st_size
        progress(size, size)
