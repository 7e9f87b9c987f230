"""The audit trail: who changed which entity, when, how, with a short before/after summary."""
from __future__ import annotations

from dataclasses import dataclass

from storage.models import AuditEntry, Client
from storage.paging import Page, keyset


@dataclass(frozen=True)
class Actor:
    """Who acts: an operator in the backoffice, an API token, or the system itself."""

    kind: str  # OPERATOR API SYSTEM
    name: str

    @classmethod
    def operator(cls, name: str) -> Actor:
        return cls("OPERATOR", name)

    @classmethod
    def api(cls, token_name: str) -> Actor:
        return cls("API", token_name)


SYSTEM = Actor("SYSTEM", "system")


def changes(before: dict, after: dict) -> str:
    """`field: old -> new` for each field that differs, the summary of an edit."""
    parts = [f"{k}: {before.get(k)!s} -> {after.get(k)!s}" for k in after if before.get(k) != after.get(k)]
    return "; ".join(parts)


def record(actor: Actor, entity_type: str, entity_id: object, action: str, summary: str = "",
           client: Client | int | None = None) -> AuditEntry:
    """Write one audit row; call inside the transaction of the change it describes."""
    return AuditEntry.create(actor=actor.name, actor_type=actor.kind, entity_type=entity_type,
                             entity_id=str(entity_id), action=action, summary=summary[:2000],
                             client=client)


def history(entity_type: str, entity_id: object, *, limit: int = 50, before: int | None = None) -> Page:
    """An entity's audit entries, newest first."""
    query = AuditEntry.select().where((AuditEntry.entity_type == entity_type)
                                      & (AuditEntry.entity_id == str(entity_id)))
    return keyset(query, AuditEntry.id, limit=limit, after=before, descending=True)


def client_history(client: Client, *, limit: int = 50, before: int | None = None) -> Page:
    query = AuditEntry.select().where(AuditEntry.client == client)
    return keyset(query, AuditEntry.id, limit=limit, after=before, descending=True)
