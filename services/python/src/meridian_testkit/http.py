"""Plain HTTP/1.1 JSON calls to Meridian's control APIs (the link proxy's
Toxiproxy-compatible API and the dashboard's), with the standard library
only: both APIs are small and speak JSON."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from .errors import ControlError


def call(
    method: str,
    url: str,
    body: Any = None,
    *,
    token: str | None = None,
    timeout: float = 10.0,
) -> tuple[int, Any]:
    """One request; answers (status, decoded JSON or None). An HTTP error
    status is returned, not raised, so callers decide what a 404 or 409
    means; a connection failure raises ControlError."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("content-type", "application/json")
    if token is not None:
        req.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    except (urllib.error.URLError, OSError) as e:
        raise ControlError(f"{method} {url}: {e}") from e
    if not raw:
        return status, None
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def must(
    method: str,
    url: str,
    body: Any = None,
    *,
    token: str | None = None,
    timeout: float = 10.0,
) -> Any:
    """As [call], but any status other than 2xx raises ControlError with the
    API's own error message."""
    status, doc = call(method, url, body, token=token, timeout=timeout)
    if not 200 <= status < 300:
        raise ControlError(f"{method} {url}: {status}: {error_text(doc)}")
    return doc


def error_text(doc: Any) -> str:
    """The `error` of an error document, else the document."""
    if isinstance(doc, dict) and "error" in doc:
        return str(doc["error"])
    return str(doc)


def seg(name: str) -> str:
    """A path segment: proxy names hold `>`, which a URL path may not."""
    return urllib.parse.quote(name, safe="")


def answers(url: str, timeout: float = 1.0) -> bool:
    """Whether GET `url` answers 2xx now."""
    try:
        status, _ = call("GET", url, timeout=timeout)
    except ControlError:
        return False
    return 200 <= status < 300


def listening(url: str, timeout: float = 1.0) -> bool:
    """Whether anything answers HTTP at `url` now, whatever its status."""
    try:
        call("GET", url, timeout=timeout)
    except ControlError:
        return False
    return True
