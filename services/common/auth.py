"""Bearer tokens and roles, read from the JSON file named by SIAGA_AUTH_FILE.

Roles: volunteer (submit only), coordinator (review; sees reporters' names and phones), manager (reads
everything but personal data), comms (verified figures and exports of verified sites), admin (all).
Without an auth file every request is refused: an unconfigured server must not leak personal data.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from pathlib import Path

from fastapi import HTTPException, Request

ROLES = ("volunteer", "coordinator", "manager", "comms", "admin")
PERSONAL_DATA_ROLES = frozenset({"coordinator", "admin"})


@dataclass(frozen=True)
class Principal:
    name: str
    role: str

    @property
    def sees_personal_data(self) -> bool:
        return self.role in PERSONAL_DATA_ROLES


class TokenStore:
    def __init__(self, entries: list[dict]) -> None:
        self._by_token: dict[str, Principal] = {}
        for e in entries:
            if e.get("role") not in ROLES:
                raise ValueError(f"auth file: unknown role {e.get('role')!r} for {e.get('name')!r}")
            self._by_token[str(e["token"])] = Principal(name=str(e.get("name") or e["role"]), role=e["role"])

    @classmethod
    def from_file(cls, path: str | None) -> TokenStore:
        if not path:
            return cls([])
        return cls(json.loads(Path(path).read_text()))

    def find(self, token: str) -> Principal | None:
        for known, principal in self._by_token.items():  # constant-time compare per token
            if hmac.compare_digest(known, token):
                return principal
        return None

    def principal_for_basic(self, username: str, password: str) -> Principal | None:
        p = self.find(password)
        return p if p is not None and p.name == username else None

    def __len__(self) -> int:
        return len(self._by_token)


def allowed_roles(*roles: str) -> frozenset[str]:
    """The roles that may call a route declared for `roles`: admin may do everything."""
    return frozenset(roles) | {"admin"}


def authenticate(store: TokenStore, header: str, allowed: frozenset[str]) -> Principal:
    """The Principal behind an Authorization header, or HTTPException 401/403 with a clear message.

    Shared by the `require` dependency and routes served as plain ASGI (services.ingest.reports), so that both
    answer a missing, unknown or under-privileged token in exactly the same words.
    """
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(401, "missing bearer token: send 'Authorization: Bearer <token>'",
                            headers={"WWW-Authenticate": "Bearer"})
    principal = store.find(token)
    if principal is None:
        raise HTTPException(401, "unknown or expired token", headers={"WWW-Authenticate": "Bearer"})
    if principal.role not in allowed:
        raise HTTPException(403, f"role '{principal.role}' may not do this; needs one of {sorted(allowed)}")
    return principal


def require(*roles: str):  # noqa: ANN201 - FastAPI dependency factory
    """A dependency that returns the caller's Principal, or answers 401/403 with a clear message."""
    allowed = allowed_roles(*roles)

    # async on purpose: FastAPI runs a plain `def` dependency in its thread pool, a thread hop per request
    # that cost the ingest service most of its throughput.
    async def dependency(request: Request) -> Principal:
        return authenticate(request.app.state.tokens, request.headers.get("authorization", ""), allowed)

    return dependency
