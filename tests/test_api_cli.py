"""`crossclient token create|list|revoke`: a token is shown once, works, and stops working."""
from __future__ import annotations

import pytest

from storage.db import close_database, open_database
from storage.errors import DomainError
from storage.tokens import authenticate
from tests import world
from tui.cli import main


@pytest.fixture
def db_path(tmp_path):
    path = tmp_path / "cli.sqlite3"
    open_database(str(path))
    world.companies()
    close_database()
    yield str(path)
    close_database()


def test_token_create_list_revoke(db_path, capsys):
    assert main(["token", "create", "--client", world.SOURCE_ID.lower(), "--name", "shop", "--db", db_path]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    plain = out[-1]
    assert plain.startswith("ccx_") and "shown once" in out[0]
    assert authenticate(plain).client.company_id == world.SOURCE_ID

    assert main(["token", "list", "--db", db_path]) == 0
    listed = capsys.readouterr().out
    assert "shop" in listed and "active" in listed and plain not in listed and plain[:10] in listed

    assert main(["token", "revoke", "1", "--db", db_path]) == 0
    assert "revoked" in capsys.readouterr().out
    with pytest.raises(DomainError):
        authenticate(plain)
    assert main(["token", "revoke", "1", "--db", db_path]) == 2
    assert "already revoked" in capsys.readouterr().err


def test_token_for_unknown_client_is_refused(db_path, capsys):
    assert main(["token", "create", "--client", "NOSUCHCLIENT00000000", "--db", db_path]) == 2
    assert "not found" in capsys.readouterr().err
