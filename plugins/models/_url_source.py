"""The ``url`` model source: a plain HTTP(S) GET that follows redirects, streamed to disk.

The standard library's ``urllib`` is used on purpose: it is always there, whereas httpx is only an
optional dependency of nodeloom.
"""

from __future__ import annotations

import http.client
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ._sources import DownloadError, Progress

CHUNK_BYTES = 1024 * 1024
#: Seconds one socket operation may wait (connect, or the next bytes), not the whole download.
SOCKET_TIMEOUT_S = 60.0


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    # urllib would also follow a redirect to ftp://; a registry URL must stay on HTTP(S).
    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        if urlsplit(newurl).scheme not in ("http", "https"):
            raise DownloadError(f"Refusing a redirect from {req.full_url} to {newurl}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _content_length(response: Any) -> int | None:
    value = response.headers.get("Content-Length")
    if value is None or response.headers.get("Content-Encoding", "identity") != "identity":
        return None
    try:
        length = int(value)
    except ValueError:
        return None
    return length if length >= 0 else None


class UrlSource:
    """``{"type": "url", "url": <http(s) URL>}``."""

    def __init__(self, timeout: float = SOCKET_TIMEOUT_S) -> None:
        self.timeout = timeout

    def fetch(self, source: Mapping[str, Any], dest: Path, progress: Progress) -> None:
        url = str(source.get("url", ""))
        if urlsplit(url).scheme not in ("http", "https"):
            raise DownloadError(f"Not an http(s) URL: {url}")
        opener = urllib.request.build_opener(_HttpOnlyRedirects)
        request = urllib.request.Request(url, headers={"Accept-Encoding": "identity", "User-Agent": "nodeloom"})
        done, total = 0, None
        try:
            with opener.open(request, timeout=self.timeout) as response, open(dest, "xb") as fh:
                total = _content_length(response)
                progress(0, total)
                # read1 hands over what has arrived, so progress moves on slow connections too.
                while chunk := response.read1(CHUNK_BYTES):
                    fh.write(chunk)
                    done += len(chunk)
                    progress(done, total)
                if total is not None and done != total:
                    raise DownloadError(f"Incomplete download from {url}: got {done} of {total} bytes")
                fh.flush()
                os.fsync(fh.fileno())
        except urllib.error.HTTPError as exc:
            exc.close()
            raise DownloadError(f"HTTP {exc.code} from {exc.filename or url}") from None
        except urllib.error.URLError as exc:
            raise DownloadError(f"Cannot reach {url}: {exc.reason}") from None
        except http.client.IncompleteRead:
            raise DownloadError(f"Incomplete download from {url}: got {done} of {total} bytes") from None
        except (http.client.HTTPException, OSError) as exc:
            raise DownloadError(f"Download from {url} failed: {exc or type(exc).__name__}") from None
