"""Connections: preconditions, the state machine, invitations and settings (DOMAIN.md "Connection")."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from storage import clock
from storage.audit import history
from storage.connections import (
    accept_invitation,
    accept_invitation_code,
    block_connection,
    create_connection,
    decline_invitation,
    expire_invitations,
    get_connection,
    hash_code,
    list_connections,
    resend_invitation,
    revoke_invitation,
    rotate_secret,
    unblock_connection,
    update_connection,
)
from storage.errors import DomainError
from storage.models import Connection, EmailOutbox
from storage.tenancy import create_client, set_cross_client_module
from tests.world import OPS, SOURCE_ID, TARGET_ID, companies, connect, refused

URL = "http://127.0.0.1:9/callbacks"


def invite(w, **kwargs):
    kwargs.setdefault("callback_url", URL)
    return create_connection(w.source, TARGET_ID, actor=OPS, **kwargs)


def code_of(connection: Connection) -> str:
    mail = (EmailOutbox.select().where(EmailOutbox.kind == "invitation")
            .order_by(EmailOutbox.id.desc()).first())
    params = json.loads(mail.params_json)
    assert params["connection_id"] == connection.id
    return params["code"]






def test_create_invites_target_and_queues_the_email_in_the_same_transaction(any_db):
    w = companies()
    conn = invite(w)
    assert conn.status == "INVITED"
    assert conn.signing_secret.startswith("whsec_")
    mail = EmailOutbox.get()
    assert mail.kind == "invitation" and mail.to_address == "online@south.example"
    code = json.loads(mail.params_json)["code"]
    assert len(code.replace("-", "")) == 32  # 160 bits of base32
    assert conn.invitation_token_hash == hash_code(code) and code not in conn.invitation_token_hash
    assert conn.invitation_expires_at > clock.now() + dt.timedelta(days=13)
    assert [e.action for e in history("connection", conn.id)] == ["create"]


def test_module_must_be_active_in_source_company(any_db):
    w = companies(module_north=False)
    err = refused(99410, invite, w)
    assert "CROSS_CLIENT_CONNECTIONS" in err.message and "North Media" in err.message


def test_module_must_be_active_in_target_company_for_two_companies(any_db):
    w = companies(module_south=False)
    err = refused(99410, invite, w)
    assert err.field == "targetCompanyId"


def test_module_of_target_irrelevant_within_one_company(any_db):
    w = companies(module_south=False)
    conn = create_connection(w.source, w.sibling.company_id, actor=OPS)
    assert conn.status == "INVITED" and conn.callback_url is None


def test_unknown_target_is_not_found(any_db):
    w = companies()
    err = refused(99404, create_connection, w.source, "NOSUCHCLIENT00000000", callback_url=URL)
    assert err.field == "targetCompanyId"


def test_target_id_format_is_checked(any_db):
    w = companies()
    err = refused(99400, create_connection, w.source, "short", callback_url=URL)
    assert err.errors[0].field == "targetCompanyId" and "20" in err.errors[0].error


def test_source_cannot_connect_to_itself(any_db):
    w = companies()
    err = refused(99400, create_connection, w.source, SOURCE_ID, callback_url=URL)
    assert "itself" in err.message


def test_one_live_connection_per_ordered_pair(any_db):
    w = companies()
    first = invite(w)
    refused(99411, invite, w)
    accept_invitation(first.id, w.target, actor=OPS)
    refused(99411, invite, w)
    block_connection(first.id, w.target, actor=OPS)
    refused(99411, invite, w)
    # The reverse direction is another pair.
    create_connection(w.target, SOURCE_ID, callback_url=URL, actor=OPS)


def test_answered_connection_frees_the_pair(any_db):
    w = companies()
    decline_invitation(invite(w).id, w.target, actor=OPS)
    assert invite(w).status == "INVITED"


def test_callback_url_required_between_two_companies(any_db):
    w = companies()
    err = refused(99400, create_connection, w.source, TARGET_ID, callback_url="")
    assert err.errors[0].field == "callbackUrl"
    err = refused(99400, create_connection, w.source, TARGET_ID, callback_url="ftp://x.example/cb")
    assert "http" in err.errors[0].error


def test_basic_auth_and_header_pairs_are_validated(any_db):
    w = companies()
    err = refused(99400, invite, w, auth_type="BASIC", basic_user="", basic_password="")
    assert {e.field for e in err.errors} == {"basicUser", "basicPassword"}
    err = refused(99400, invite, w, auth_type="HEADERS", headers=[["plenigo-signature", "x"]])
    assert err.errors[0].field == "headers[0].key"
    err = refused(99400, invite, w, auth_type="HEADERS", headers=[["X-Key", "a\r\nb"]])
    assert err.errors[0].field == "headers[0].value"
    conn = invite(w, auth_type="HEADERS", headers=[["X-Api-Key", "k1"]])
    assert json.loads(conn.headers_json) == [["X-Api-Key", "k1"]]


# Every action from every state: the allowed ones by the allowed side, all others 10025.
ACTIONS = {
    "accept": (accept_invitation, "TARGET", {"INVITED": "ACTIVE"}),
    "decline": (decline_invitation, "TARGET", {"INVITED": "DECLINED"}),
    "revoke": (revoke_invitation, "SOURCE", {"INVITED": "REVOKED"}),
    "resend": (resend_invitation, "SOURCE", {"INVITED": "INVITED"}),
    "block": (block_connection, "EITHER", {"ACTIVE": "BLOCKED"}),
    "unblock": (unblock_connection, "BLOCKER", {"BLOCKED": "ACTIVE"}),
}


def in_state(w, state: str) -> Connection:
    conn = invite(w)
    if state in ("ACTIVE", "BLOCKED"):
        accept_invitation(conn.id, w.target, actor=OPS)
    if state == "BLOCKED":
        block_connection(conn.id, w.source, actor=OPS)
    if state == "DECLINED":
        decline_invitation(conn.id, w.target, actor=OPS)
    if state == "REVOKED":
        revoke_invitation(conn.id, w.source, actor=OPS)
    if state == "EXPIRED":
        clock.fix(clock.now() + dt.timedelta(days=15))
        expire_invitations()
    return Connection.get_by_id(conn.id)


@pytest.mark.parametrize("state", ["INVITED", "ACTIVE", "BLOCKED", "DECLINED", "REVOKED", "EXPIRED"])
@pytest.mark.parametrize("action", list(ACTIONS))
def test_transition_table(sqlite_db, state, action):
    w = companies()
    conn = in_state(w, state)
    fn, side, allowed = ACTIONS[action]
    right = {"TARGET": w.target, "SOURCE": w.source, "EITHER": w.target, "BLOCKER": w.source}[side]
    wrong = {"TARGET": w.source, "SOURCE": w.target, "EITHER": None, "BLOCKER": w.target}[side]
    if state in allowed:
        if wrong is not None:
            refused(10025, fn, conn.id, wrong, actor=OPS)
        assert fn(conn.id, right, actor=OPS).status == allowed[state]
    else:
        refused(10025, fn, conn.id, right, actor=OPS)


def test_either_side_blocks_and_only_the_blocker_unblocks(any_db):
    w = companies()
    conn = connect(w.source, w.target)
    blocked = block_connection(conn.id, w.target, actor=OPS)
    assert (blocked.status, blocked.blocked_by) == ("BLOCKED", "TARGET")
    err = refused(10025, unblock_connection, conn.id, w.source, actor=OPS)
    assert "target" in err.message
    again = unblock_connection(conn.id, w.target, actor=OPS)
    assert (again.status, again.blocked_by) == ("ACTIVE", None)
    assert [e.action for e in history("connection", conn.id)][:3] == ["unblock", "block", "accept"]


def test_a_third_client_does_not_see_the_connection(any_db):
    w = companies()
    conn = invite(w)
    refused(99404, accept_invitation, conn.id, w.sibling, actor=OPS)
    with pytest.raises(DomainError) as info:
        get_connection(conn.id, w.sibling)
    assert info.value.code == 99404


def test_accept_with_code_is_single_use_and_bound_to_target(any_db):
    w = companies()
    conn = invite(w)
    code = code_of(conn)
    refused(99413, accept_invitation_code, w.sibling, code, actor=OPS)
    refused(99413, accept_invitation_code, w.target, "AAAA-BBBB", actor=OPS)
    accepted = accept_invitation_code(w.target, code.lower().replace("-", " "), actor=OPS)
    assert accepted.status == "ACTIVE" and accepted.invitation_token_hash is None
    refused(99413, accept_invitation_code, w.target, code, actor=OPS)
    notice = EmailOutbox.select().where(EmailOutbox.kind == "invitation_answered").get()
    assert notice.to_address == "digital@north.example" and json.loads(notice.params_json)["outcome"] == "ACTIVE"


def test_resend_issues_new_code_kills_old_and_resets_expiry(any_db):
    w = companies()
    conn = invite(w)
    old = code_of(conn)
    clock.fix(clock.now() + dt.timedelta(days=10))
    again = resend_invitation(conn.id, w.source, actor=OPS)
    new = code_of(conn)
    assert new != old and again.invitation_expires_at > clock.now() + dt.timedelta(days=13)
    refused(99413, accept_invitation_code, w.target, old, actor=OPS)
    assert accept_invitation_code(w.target, new, actor=OPS).status == "ACTIVE"


def test_unanswered_invitation_expires_and_source_is_told(any_db):
    w = companies()
    conn = invite(w)
    code = code_of(conn)
    clock.fix(clock.now() + dt.timedelta(days=14, seconds=1))
    with pytest.raises(DomainError) as info:
        accept_invitation_code(w.target, code, actor=OPS)
    assert info.value.code == 99413
    assert Connection.get_by_id(conn.id).status == "EXPIRED"
    notice = EmailOutbox.select().where(EmailOutbox.kind == "invitation_answered").get()
    assert json.loads(notice.params_json)["outcome"] == "EXPIRED"
    assert expire_invitations() == 0


def test_expiry_not_before_its_time(any_db):
    w = companies()
    invite(w)
    clock.fix(clock.now() + dt.timedelta(days=13))
    assert expire_invitations() == 0


def test_only_source_edits_settings_and_rotates_secret(any_db):
    w = companies()
    conn = connect(w.source, w.target)
    refused(10025, update_connection, conn.id, w.target, access_to_offers=False, actor=OPS)
    refused(10025, rotate_secret, conn.id, w.target, actor=OPS)
    refused(99400, update_connection, conn.id, w.source, callback_url="", actor=OPS)
    edited = update_connection(conn.id, w.source, access_to_offers=False, auth_type="BASIC",
                               basic_user="shop", basic_password="s3cret", actor=OPS)
    assert not edited.access_to_offers and edited.auth_type == "BASIC"
    summary = history("connection", conn.id).items[0].summary
    assert "accessToOffers: True -> False" in summary and "s3cret" not in summary
    old = edited.signing_secret
    assert rotate_secret(conn.id, w.source, actor=OPS).signing_secret != old


def test_settings_of_a_dead_connection_cannot_change(any_db):
    w = companies()
    conn = invite(w)
    revoke_invitation(conn.id, w.source, actor=OPS)
    refused(10025, update_connection, conn.id, w.source, access_to_offers=False, actor=OPS)


def test_module_switched_off_later_blocks_new_connections(any_db):
    w = companies()
    set_cross_client_module(w.north.id, False)
    refused(99410, invite, w)


def test_list_connections_by_direction_and_paging(any_db):
    w = companies()
    extra = [create_client(w.south, f"EXTRACLIENT{i:09d}", f"Extra {i}", f"x{i}@south.example")
             for i in range(6)]
    for c in extra:
        create_connection(w.source, c.company_id, callback_url=URL, actor=OPS)
    create_connection(w.target, SOURCE_ID, callback_url=URL, actor=OPS)
    first = list_connections(w.source, direction="OUT", limit=4)
    assert len(first) == 4 and first.has_more
    second = list_connections(w.source, direction="OUT", limit=4, after=first.last_key)
    assert len(second) == 2 and not second.has_more
    ids = [c.id for c in first] + [c.id for c in second]
    assert ids == sorted(ids, reverse=True)
    incoming = list_connections(w.source, direction="IN")
    assert [c.source.company_id for c in incoming] == [TARGET_ID]
    back = list_connections(w.source, direction="OUT", limit=4, before=second.first_key)
    assert [c.id for c in back] == [c.id for c in first]


def test_accepting_needs_the_module_still_active(any_db):
    w = companies()
    conn = invite(w)
    set_cross_client_module(w.south.id, False)
    err = refused(99410, accept_invitation, conn.id, w.target, actor=OPS)
    assert "South Press" in err.message
    set_cross_client_module(w.south.id, True)
    assert accept_invitation(conn.id, w.target, actor=OPS).status == "ACTIVE"
