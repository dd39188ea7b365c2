"""What the keyed vendor adapters share: one key from the keys mapping, an HTTP client, a retry policy, a base URL
the environment may rehost, a ``repr`` that never shows the key, and ``close``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import httpx

from . import http


class VendorAdapter:
    """Base of a vendor adapter built as ``Class(keys, work_dir, *, client=None, policy=None)``.

    Subclasses name the backend ``id``, the vendor's ``label``, the ``key_name`` read from ``keys`` and the
    ``default_base_url`` (rehosted by ``BLENDER_CANVAS_<ID>_URL``); ``timeout`` replaces the client's default.
    """

    id: str = ""
    label: str = ""
    key_name: str = ""
    default_base_url: str = ""
    timeout: httpx.Timeout | None = None
    repr_field = "base"  # how ``repr`` names the base URL

    def __init__(self, keys: Mapping[str, str], work_dir: Path | None = None, *, client: httpx.Client | None = None,
                 policy: http.RetryPolicy | None = None) -> None:
        self._key = http.require_key(keys, self.label, self.key_name)
        self._work_dir = work_dir
        self._client = client or http.make_client(self.id, timeout=self.timeout)
        self._policy = policy or http.DEFAULT_POLICY

    def __repr__(self) -> str:  # never show the key
        return f"{type(self).__name__}({self.repr_field}={self.base_url!r})"

    @property
    def base_url(self) -> str:
        return http.base_url(self.id, self.default_base_url)

    def close(self) -> None:
        self._client.close()
