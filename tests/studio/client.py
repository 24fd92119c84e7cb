"""A small HTTP client for the studio tests: real requests over a socket
(``http.client``), with the token, Host and JSON content type a page would
send unless a test says otherwise.

>>> answer = call(studio, "POST", "/api/rows", {"schema": "public", "table": "customers"})
>>> answer.status, answer.json()["rows"][0]
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from pgbuild.studio import Studio

__all__ = ["Answer", "call", "query_string"]

_DEFAULT = object()


@dataclass
class Answer:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error(self) -> str:
        return str(self.json().get("error"))


def call(
    studio: Studio,
    method: str,
    path: str,
    body: Any = None,
    *,
    token: Any = _DEFAULT,
    headers: dict[str, str] | None = None,
    raw_body: bytes | None = None,
    timeout: float = 60.0,
) -> Answer:
    """One request to ``studio``. ``token``: the studio's (default), a
    string, or None for none; ``headers`` are added (``Host`` replaces the
    default); ``raw_body`` is sent as is instead of ``body`` as JSON."""
    sent = {"Host": f"127.0.0.1:{studio.port}"}
    if token is _DEFAULT:
        sent["X-Studio-Token"] = studio.token
    elif token is not None:
        sent["X-Studio-Token"] = str(token)
    data = raw_body
    if data is None and method == "POST":
        data = json.dumps(body).encode()
        sent["Content-Type"] = "application/json"
    sent.update(headers or {})
    conn = http.client.HTTPConnection("127.0.0.1", studio.port, timeout=timeout)
    try:
        conn.request(method, path, body=data, headers=sent)
        response = conn.getresponse()
        payload = response.read()
        return Answer(response.status,
                      {k.lower(): v for k, v in response.getheaders()}, payload)
    finally:
        conn.close()


def query_string(**params: Any) -> str:
    """``?a=1&b=...`` with lists and dicts as JSON, everything URL-quoted."""
    parts = []
    for name, value in params.items():
        text = value if isinstance(value, str) else json.dumps(value)
        parts.append(f"{name}={quote(text, safe='')}")
    return "?" + "&".join(parts)
