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


def test_options_before_the_command_are_kept(db_path, capsys, tmp_path, monkeypatch):
    """`crossclient --db FILE token ...` works on FILE, as `token ... --db FILE` does. argparse lets
    a subcommand's own default overwrite an option given before the command: the token went to
    the default database in the data directory, and FILE was left without it."""
    from tui.cli import build_parser

    monkeypatch.setenv("CROSSCLIENT_DATA_DIR", str(tmp_path / "data"))  # where a wrong default would go
    assert main(["--db", db_path, "token", "create", "--client", world.SOURCE_ID, "--name", "before"]) == 0
    assert main(["token", "--db", db_path, "list"]) == 0
    assert "before" in capsys.readouterr().out
    assert not (tmp_path / "data" / "crossclient.sqlite3").exists()
    parser = build_parser()
    assert parser.parse_args(["--readonly", "--operator", "eva", "demo"]).readonly is True
    assert parser.parse_args(["--operator", "eva", "demo"]).operator == "eva"
    assert parser.parse_args(["--db", "a.sqlite3", "serve", "--port", "9"]).db == "a.sqlite3"
    assert parser.parse_args(["serve", "--db", "b.sqlite3"]).db == "b.sqlite3"
    assert parser.parse_args(["--db", "a.sqlite3", "worker", "--db", "b.sqlite3"]).db == "b.sqlite3"
