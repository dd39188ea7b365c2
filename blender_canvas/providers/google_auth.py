"""Google Cloud credentials for the ``vertex`` backend: OAuth 2.0 access tokens the way google-auth gets them.

Checked against googleapis/google-auth-library-python, google-auth 2.63.0 (PyPI wheel):

* where credentials come from (``auth/_default.py``, ``auth/_cloud_sdk.py``): the JSON file named by
  ``GOOGLE_APPLICATION_CREDENTIALS``, else gcloud's application-default file
  ``$CLOUDSDK_CONFIG/application_default_credentials.json`` (``~/.config/gcloud`` on Linux / macOS,
  ``%APPDATA%\\gcloud`` on Windows); the file's ``type`` is ``service_account`` or ``authorized_user`` (other types,
  external accounts and impersonation, are not supported here and say so);
* service account (``oauth2/service_account.py`` ``_make_authorization_grant_assertion``): a JWT signed RS256 with
  the account's ``private_key``, header ``kid`` = ``private_key_id``, claims ``iss`` = ``client_email``, ``scope``,
  ``aud`` = ``https://oauth2.googleapis.com/token`` (always that constant, even when ``token_uri`` differs),
  ``iat``, ``exp`` = ``iat`` + 3600; exchanged at ``token_uri`` with a form body ``grant_type=
  urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=…`` (``oauth2/_client.py`` ``jwt_grant``);
* authorized user (``oauth2/_client.py`` ``refresh_grant``): form body ``grant_type=refresh_token``,
  ``client_id``, ``client_secret``, ``refresh_token`` and ``scope``; the file's ``quota_project_id`` goes out as
  the ``x-goog-user-project`` header (as google-genai's ``_api_client.py`` does);
* the answer is ``{access_token, expires_in, token_type}``; errors are ``{error, error_description}``
  (``_handle_error_response``); a token counts as stale 3 min 45 s before it expires
  (``auth/_helpers.py`` ``REFRESH_THRESHOLD``), and is reused until then; a token request is retried on 408 /
  429 / 5xx (``auth/transport/__init__.py`` ``DEFAULT_RETRYABLE_STATUS_CODES``, ``_client.py`` ``_can_retry``) —
  here through the shared retry policy, which is safe as a token grant creates nothing billable.

Signing RS256 needs PyJWT's ``cryptography`` extra; without it a service-account file fails with a clear message
(application-default user credentials need no signing).
"""

from __future__ import annotations

import functools
import json
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from . import http, redaction
from .backend import BackendError, ErrorKind

TOKEN_URI = "https://oauth2.googleapis.com/token"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME_S = 3600
REFRESH_MARGIN_S = 225.0  # google.auth._helpers.REFRESH_THRESHOLD
SUPPORTED = ("service_account", "authorized_user")
LABEL = "Google sign-in"


def adc_path() -> Path:
    """gcloud's application-default credentials file (``gcloud auth application-default login`` writes it)."""
    config = os.environ.get("CLOUDSDK_CONFIG")
    if config:
        root = Path(config)
    elif os.name == "nt":
        root = Path(os.environ.get("APPDATA") or os.environ.get("SYSTEMDRIVE", "C:") + "\\") / "gcloud"
    else:
        root = Path.home() / ".config" / "gcloud"
    return root / "application_default_credentials.json"


class GoogleCredentials:
    """One credentials file, turned into access tokens on demand (thread-safe, cached until near expiry)."""

    def __init__(self, info: Mapping[str, Any], source: Path) -> None:
        self.kind = str(info.get("type") or "")
        self.source = source
        if self.kind not in SUPPORTED:
            raise BackendError(ErrorKind.AUTH, f"{LABEL}: {source} holds '{self.kind or 'unknown'}' credentials; "
                               "Blender Canvas supports a service-account key or application-default user "
                               "credentials (gcloud auth application-default login)")
        needed = ("client_email", "private_key") if self.kind == "service_account" else \
            ("client_id", "client_secret", "refresh_token")
        missing = [name for name in needed if not info.get(name)]
        if missing:
            raise BackendError(ErrorKind.AUTH, f"{LABEL}: {source} lacks {', '.join(missing)}")
        self._info = {k: str(v) for k, v in info.items() if isinstance(v, str)}
        for secret in ("private_key", "client_secret", "refresh_token"):
            redaction.register_secret(self._info.get(secret))
        self.token_uri = self._info.get("token_uri") or TOKEN_URI
        host = (urlsplit(self.token_uri).hostname or "").lower()
        if urlsplit(self.token_uri).scheme != "https" or not (host == "googleapis.com"
                                                               or host.endswith(".googleapis.com")):
            raise BackendError(ErrorKind.AUTH, f"{LABEL}: {source} names a token endpoint outside googleapis.com")
        self.quota_project = self._info.get("quota_project_id") or None
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"GoogleCredentials(kind={self.kind!r}, source={str(self.source)!r})"

    @classmethod
    def locate(cls, keys: Mapping[str, str]) -> GoogleCredentials:
        named = (keys.get("GOOGLE_APPLICATION_CREDENTIALS") or os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
                 or "").strip()
        path = Path(named).expanduser() if named else adc_path()
        if not path.is_file():
            where = f"GOOGLE_APPLICATION_CREDENTIALS points at {path}, which does not exist" if named else \
                f"no application-default credentials at {path}"
            raise BackendError(ErrorKind.AUTH, f"{LABEL}: {where}; set GOOGLE_APPLICATION_CREDENTIALS to a "
                               "service-account JSON key or run `gcloud auth application-default login`")
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise BackendError(ErrorKind.AUTH, f"{LABEL}: {path} is not a readable JSON credentials file "
                               f"({type(exc).__name__})") from None
        if not isinstance(info, dict):
            raise BackendError(ErrorKind.AUTH, f"{LABEL}: {path} is not a JSON credentials file")
        return cls(info, path)

    def invalidate(self) -> None:
        with self._lock:
            self._token, self._expires_at = None, 0.0

    def access_token(self, client: httpx.Client, policy: http.RetryPolicy, url: str) -> str:
        """A valid access token, from the cache or from ``url`` (the token endpoint, possibly rehosted)."""
        with self._lock:
            if self._token and time.time() < self._expires_at - REFRESH_MARGIN_S:
                return self._token
            form = self._grant()
            response = http.send(client, "POST", url, policy=policy, retry_safe=True, backend_label=LABEL,
                                 data=form, headers={"Accept": "application/json"})
            payload = _json(response)
            if response.status_code >= 400 or not isinstance(payload.get("access_token"), str):
                raise _token_error(response, payload)
            token = str(payload["access_token"])
            redaction.register_secret(token)
            try:
                lifetime = float(payload.get("expires_in", ASSERTION_LIFETIME_S))
            except (TypeError, ValueError):
                lifetime = float(ASSERTION_LIFETIME_S)
            self._token, self._expires_at = token, time.time() + lifetime
            return token

    def _grant(self) -> dict[str, str]:
        if self.kind == "authorized_user":
            return {"grant_type": "refresh_token", "client_id": self._info["client_id"],
                    "client_secret": self._info["client_secret"], "refresh_token": self._info["refresh_token"],
                    "scope": SCOPE}
        return {"grant_type": JWT_GRANT, "assertion": self._assertion()}

    def _assertion(self) -> str:
        import jwt
        from jwt.algorithms import has_crypto

        if not has_crypto:
            raise BackendError(ErrorKind.AUTH, f"{LABEL}: signing in with a service-account key needs the "
                               "'cryptography' package, which is not installed")
        from cryptography.exceptions import UnsupportedAlgorithm

        now = int(time.time())
        claims = {"iat": now, "exp": now + ASSERTION_LIFETIME_S, "iss": self._info["client_email"],
                  "aud": TOKEN_URI, "scope": SCOPE}
        headers = {"kid": self._info["private_key_id"]} if self._info.get("private_key_id") else None
        try:
            return jwt.encode(claims, _signing_key(self._info["private_key"]), algorithm="RS256", headers=headers)
        except (ValueError, TypeError, jwt.PyJWTError, UnsupportedAlgorithm) as exc:
            raise BackendError(ErrorKind.AUTH, f"{LABEL}: the private key in {self.source} could not be used "
                               f"({type(exc).__name__})") from None


@functools.lru_cache(maxsize=4)
def _signing_key(pem: str) -> Any:
    """The parsed private key (parsing checks the RSA key, ~150 ms: done once per key, not once per token)."""
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    return load_pem_private_key(pem.encode(), password=None)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def _token_error(response: httpx.Response, payload: Mapping[str, Any]) -> BackendError:
    status = response.status_code
    code = str(payload.get("error") or "") or None
    detail = str(payload.get("error_description") or "")
    said = redaction.redact(f"{code}: {detail}" if code and detail else code or detail)
    if status >= 500 or status == 429:
        kind = ErrorKind.VENDOR_DOWN if status >= 500 else ErrorKind.RATE_LIMITED
        return BackendError(kind, f"{LABEL}: the token endpoint is unavailable (HTTP {status})"
                            + (f": {said}" if said else ""), status=status, vendor_code=code,
                            retry_after_s=http.parse_retry_after(response.headers))
    if status < 400:
        return BackendError(ErrorKind.VENDOR_DOWN, f"{LABEL}: the token endpoint answered without an access token")
    return BackendError(ErrorKind.AUTH, f"{LABEL}: the credentials were refused (HTTP {status})"
                        + (f": {said}" if said else "") + "; renew the key or run "
                        "`gcloud auth application-default login` again", status=status, vendor_code=code)
