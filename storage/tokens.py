"""API tokens: shown once at creation, stored as a SHA-256 digest, revocable."""
from __future__ import annotations

import hashlib
import secrets

from storage.audit import SYSTEM, Actor, record
from storage.clock import now
from storage.db import db
from storage.errors import TOKEN_INVALID, UNAUTHORIZED, DomainError, NotFound, invalid
from storage.models import ApiToken, Client
from storage.paging import Page, keyset

PREFIX = "ccx_"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(client: Client, name: str = "api", *, actor: Actor = SYSTEM) -> tuple[ApiToken, str]:
    """A new token for `client`; the plain token is returned here and never again."""
    name = (name or "").strip() or "api"
    if len(name) > 100:
        raise invalid("name", "must be at most 100 characters", name[:40])
    plain = PREFIX + secrets.token_urlsafe(32)
    with db.atomic():
        token = ApiToken.create(client=client, name=name, token_hash=_digest(plain), prefix=plain[:10])
        record(actor, "api_token", token.id, "create", f"name={name}", client=client)
    return token, plain


def authenticate(plain: str | None) -> ApiToken:
    """The live token for this header value; 99401 when missing, 99008 when wrong or revoked."""
    if not plain:
        raise DomainError(UNAUTHORIZED, "The X-plenigo-token header is missing")
    token = (ApiToken.select(ApiToken, Client).join(Client)
             .where(ApiToken.token_hash == _digest(plain.strip())).first())
    if token is None or token.revoked_at is not None:
        raise DomainError(TOKEN_INVALID, "The API token is invalid or revoked")
    return token


def touch(token: ApiToken) -> None:
    """Remember when a token was last used (at most once a minute, to spare writes)."""
    at = now()
    if token.last_used_at is None or (at - token.last_used_at).total_seconds() > 60:
        with db.atomic():
            ApiToken.update(last_used_at=at).where(ApiToken.id == token.id).execute()


def revoke_token(token_id, client: Client | None = None, *, actor: Actor = SYSTEM) -> ApiToken:
    with db.atomic():
        query = ApiToken.select().where(ApiToken.id == int(token_id))
        if client is not None:
            query = query.where(ApiToken.client == client)
        token = query.first()
        if token is None:
            raise NotFound("API token", token_id, "tokenId")
        if token.revoked_at is not None:
            raise invalid("tokenId", "token is already revoked", token_id)
        token.revoked_at = now()
        token.save()
        record(actor, "api_token", token.id, "revoke", f"name={token.name}", client=token.client_id)
    return token


def list_tokens(client: Client | None = None, *, limit: int = 100, after: int | None = None) -> Page:
    query = ApiToken.select(ApiToken, Client).join(Client)
    if client is not None:
        query = query.where(ApiToken.client == client)
    return keyset(query, ApiToken.id, limit=limit, after=after)
