"""What the keyed vendor adapters share: one key from the keys mapping, an HTTP client, a retry policy, a base URL
the environment may rehost, a ``repr`` that never shows the key, the check that the key goes only to the vendor's own
hosts, and ``close``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from . import downloads, http
from .backend import Artifact, BackendError, ErrorKind, JobState, JobStatus, Media, RemoteJob, SubmitRecovery


class VendorAdapter:
    """Base of a vendor adapter built as ``Class(keys, work_dir, *, client=None, policy=None)``.

    Subclasses name the backend ``id``, the vendor's ``label``, the ``key_name`` read from ``keys`` and the
    ``default_base_url`` (rehosted by ``BLENDER_CANVAS_<ID>_URL``); ``timeout`` replaces the client's default.
    Those sending through :meth:`_send` give :meth:`_auth` and name their hosts in ``api_hosts_name`` for the
    refusal.
    """

    id: str = ""
    label: str = ""
    key_name: str = ""
    default_base_url: str = ""
    timeout: httpx.Timeout | None = None
    repr_field = "base"  # how ``repr`` names the base URL
    secret_name = "key"  # how a refusal names the credential
    api_hosts: frozenset[str] = frozenset()  # the vendor's own hosts, when the key goes to more than the base URL's
    api_hosts_name = ""  # how a refusal names the hosts the key may go to ("a fal API host")
    # what resolves a submit cut off by a crash (backend.SubmitRecovery): "none" unless the adapter implements a
    # lookup by our own job id; each vendor adapter states its answer
    submit_recovery: SubmitRecovery = "none"

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

    def _rehost(self, url: str) -> str:
        """``url`` moved to the override host when it is on one of ``api_hosts``; other hosts (CDNs) are kept."""
        return http.rehost(url, self.id, hosts=self.api_hosts)

    def own_origins(self) -> set[str]:
        """``host:port`` of the vendor's API hosts (``api_hosts``, else the base URL's) after rehosting: the only
        places the key may go."""
        if self.api_hosts:
            return {http.origin(self._rehost(f"https://{host}/")) for host in self.api_hosts}
        return {http.origin(self.base_url)}

    def key_allowed(self, url: str) -> bool:
        return http.origin(url) in self.own_origins()

    def _auth(self) -> dict[str, str]:
        raise NotImplementedError

    def poll(self, job: RemoteJob) -> JobStatus:
        raise NotImplementedError

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request with the key, refused before anything is sent when ``url`` is not a host the key may go to."""
        if not self.key_allowed(url):
            raise BackendError(ErrorKind.INVALID_REQUEST, f"{self.label}: refusing to send the {self.secret_name} "
                               f"to {urlsplit(url).hostname}, which is not {self.api_hosts_name}")
        headers = {**kwargs.pop("headers", {}), **self._auth()}
        return http.send(self._client, method, url, policy=kwargs.pop("policy", self._policy),
                         backend_label=self.label, headers=headers, **kwargs)

    def _fetch_refreshing(self, job: RemoteJob, artifact: Artifact, dest: Path, *, media: Media, max_bytes: int,
                          expiry_note: str) -> Path:
        """Download a pre-signed result without the key; if its link has expired, read the task once more for a
        fresh one (never resubmitting). ``expiry_note`` tells the user how long the vendor keeps results."""
        if artifact.url is None:
            raise BackendError(ErrorKind.UNKNOWN, f"{self.label}: the artifact has no URL")

        def download(url: str) -> Path:
            return downloads.download(self._client, url, dest, media=media, max_bytes=max_bytes,
                                      policy=self._policy, backend_label=self.label)

        try:
            return download(artifact.url)
        except BackendError as error:
            if error.kind != ErrorKind.RESULT_EXPIRED:
                raise
            fresh = self.poll(job)
            urls = [a.url for a in fresh.artifacts if a.url and a.url != artifact.url]
            if fresh.state != JobState.SUCCEEDED or not urls:
                raise BackendError(ErrorKind.RESULT_EXPIRED, f"{error.message} ({expiry_note})",
                                   status=error.status) from None
            return download(urls[0])

    def close(self) -> None:
        self._client.close()
