"""HTTP Digest (RFC 7616, qop=auth; MD5, MD5-sess, SHA-256, SHA-256-sess) and Basic auth for OpenRosa clients.

ODK Collect and KoBoCollect prompt for a user name and password when a request answers 401 with a
`WWW-Authenticate` challenge, and use Digest over plain HTTP (Basic only over HTTPS). The credentials are the
JSON API's: user name = `name` in SIAGA_AUTH_FILE, password = that entry's token. Roles are the same too.

Nonces are stateless: `base64(issued-at:random:HMAC(secret, issued-at:random))`, valid NONCE_TTL_S; an expired
but genuine nonce gets `stale=true`, so clients retry with a fresh one without asking the volunteer again.
Replays of a (nonce, nc, cnonce) triple are refused while the nonce lives. The secret is SIAGA_DIGEST_SECRET
when set (needed when several ingest replicas share clients), else random per process.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from services.common.auth import Principal, TokenStore

REALM = "Siaga"
NONCE_TTL_S = 600
_PARAM = re.compile(r'([A-Za-z0-9_*-]+)\s*=\s*("((?:[^"\\]|\\.)*)"|[^\s,]*)')
_HASHES = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}


def parse_auth_params(text: str) -> dict[str, str]:
    """`username="a", qop=auth, nc=00000001` -> dict; quoted-string escapes undone."""
    out: dict[str, str] = {}
    for m in _PARAM.finditer(text):
        value = re.sub(r"\\(.)", r"\1", m.group(3)) if m.group(3) is not None else m.group(2)
        out[m.group(1).lower()] = value
    return out


def _h(algorithm: str, data: str) -> str:
    return _HASHES[algorithm](data.encode("utf-8")).hexdigest()


def digest_response(*, algorithm: str, username: str, password: str, realm: str, method: str, uri: str,
                    nonce: str, nc: str, cnonce: str, qop: str = "auth") -> str:
    """The `response` value of RFC 7616 section 3.4.1 (what the client computes and the server checks)."""
    sess = algorithm.upper().endswith("-SESS")
    base = algorithm.upper().removesuffix("-SESS")
    ha1 = _h(base, f"{username}:{realm}:{password}")
    if sess:
        ha1 = _h(base, f"{ha1}:{nonce}:{cnonce}")
    ha2 = _h(base, f"{method}:{uri}")
    return _h(base, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")


class Nonces:
    def __init__(self, secret: bytes | None = None, ttl_s: float = NONCE_TTL_S) -> None:
        env = os.environ.get("SIAGA_DIGEST_SECRET", "")
        self.secret = secret or (env.encode() if env else secrets.token_bytes(32))
        self.ttl_s = ttl_s
        self._seen: dict[str, tuple[float, set[tuple[str, str]]]] = {}
        self._lock = threading.Lock()

    def _mac(self, raw: str) -> str:
        return hmac.new(self.secret, raw.encode(), hashlib.sha256).hexdigest()[:32]

    def new(self, now: float | None = None) -> str:
        raw = f"{int(now if now is not None else time.time())}:{secrets.token_hex(8)}"
        return base64.b64encode(f"{raw}:{self._mac(raw)}".encode()).decode()

    def check(self, nonce: str, now: float | None = None) -> str:
        """'ok', 'stale' (ours but expired) or 'invalid' (not ours)."""
        try:
            issued, rand, mac = base64.b64decode(nonce, validate=True).decode().split(":")
            issued_at = int(issued)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return "invalid"
        if not hmac.compare_digest(mac, self._mac(f"{issued}:{rand}")):
            return "invalid"
        now = now if now is not None else time.time()
        return "ok" if 0 <= now - issued_at <= self.ttl_s else "stale"

    def replayed(self, nonce: str, nc: str, cnonce: str) -> bool:
        """Record the use of (nonce, nc, cnonce); True when it was used before."""
        now = time.time()
        with self._lock:
            if len(self._seen) > 10_000:  # forget expired nonces now and then
                self._seen = {n: v for n, v in self._seen.items() if now - v[0] <= self.ttl_s * 2}
            _, used = self._seen.setdefault(nonce, (now, set()))
            if (nc, cnonce) in used:
                return True
            used.add((nc, cnonce))
            return False


@dataclass(frozen=True)
class AuthResult:
    principal: Principal | None
    problem: str = ""
    stale: bool = False


class OpenRosaAuth:
    def __init__(self, tokens: TokenStore, nonces: Nonces | None = None, realm: str = REALM) -> None:
        self.tokens = tokens
        self.nonces = nonces or Nonces()
        self.realm = realm

    def challenges(self, stale: bool = False) -> list[str]:
        """`WWW-Authenticate` values for a 401: Digest first (what ODK Collect uses over HTTP), then Basic."""
        digest = (f'Digest realm="{self.realm}", qop="auth", algorithm=MD5, nonce="{self.nonces.new()}", '
                  f'opaque="{secrets.token_hex(8)}"')
        if stale:
            digest += ", stale=true"
        return [digest, f'Basic realm="{self.realm}", charset="UTF-8"']

    def _credentials(self, name: str) -> list[tuple[str, Principal]]:
        # TokenStore keeps token -> Principal; Digest needs the password (token) of a user name.
        by_token: dict[str, Principal] = getattr(self.tokens, "_by_token", {})
        return [(token, p) for token, p in by_token.items() if p.name == name]

    def authenticate(self, method: str, path: str, query: str, header: str) -> AuthResult:
        scheme, _, rest = header.strip().partition(" ")
        scheme = scheme.lower()
        if scheme == "digest":
            return self._digest(method, path, query, parse_auth_params(rest))
        if scheme == "basic":
            try:
                user, sep, password = base64.b64decode(rest.strip(), validate=True).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return AuthResult(None, "malformed Basic credentials")
            principal = self.tokens.principal_for_basic(user, password) if sep else None
            return AuthResult(principal, "" if principal else "unknown user name or wrong password")
        if scheme == "bearer" and rest.strip():
            principal = self.tokens.find(rest.strip())
            return AuthResult(principal, "" if principal else "unknown or expired token")
        return AuthResult(None, "authentication required")

    def _digest(self, method: str, path: str, query: str, p: dict[str, str]) -> AuthResult:
        needed = ("username", "realm", "nonce", "uri", "response", "qop", "nc", "cnonce")
        if missing := [k for k in needed if not p.get(k)]:
            return AuthResult(None, f"Digest credentials lack {', '.join(missing)} (qop=auth is required)")
        algorithm = (p.get("algorithm") or "MD5").upper()
        if algorithm.removesuffix("-SESS") not in _HASHES or p["qop"].lower() != "auth":
            return AuthResult(None, f"unsupported Digest algorithm {algorithm} or qop {p['qop']}")
        if p["realm"] != self.realm:
            return AuthResult(None, "wrong realm")
        uri = urlsplit(p["uri"])
        if uri.path != path or (uri.query or "") != (query or ""):
            return AuthResult(None, "Digest uri does not match the request")
        state = self.nonces.check(p["nonce"])
        if state != "ok":
            return AuthResult(None, "nonce expired" if state == "stale" else "unknown nonce", stale=state == "stale")
        for token, principal in self._credentials(p["username"]):
            expected = digest_response(algorithm=algorithm, username=p["username"], password=token,
                                       realm=self.realm, method=method, uri=p["uri"], nonce=p["nonce"],
                                       nc=p["nc"], cnonce=p["cnonce"], qop="auth")
            if hmac.compare_digest(expected, p["response"].lower()):
                if self.nonces.replayed(p["nonce"], p["nc"], p["cnonce"]):
                    return AuthResult(None, "replayed Digest credentials")
                return AuthResult(principal)
        return AuthResult(None, "unknown user name or wrong password")
