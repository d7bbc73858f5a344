"""State URLs: files and PostgreSQL databases, and where a password may come from."""

from __future__ import annotations

from pathlib import Path

import pytest

from journeyctl.diagnostics import Loc
from journeyctl.state.base import StateError
from journeyctl.state.urls import PostgresUrl, parse_state_url

ROOT = Path("/projects/shop")
WHERE = Loc("journeyctl.yaml", 9, 8)


def pg(url: str, from_environment: bool = False) -> PostgresUrl:
    location = parse_state_url(url, ROOT, WHERE, from_environment)
    assert isinstance(location, PostgresUrl)
    return location


def refused(url: str, from_environment: bool = False) -> StateError:
    with pytest.raises(StateError) as caught:
        parse_state_url(url, ROOT, WHERE, from_environment)
    assert caught.value.code == "JC967"
    assert caught.value.diagnostics[0].loc == WHERE
    return caught.value


def test_sqlite_urls_name_files_relative_to_the_project() -> None:
    assert parse_state_url("sqlite:///s/state.db", ROOT) == ROOT / "s/state.db"
    assert parse_state_url("sqlite:////var/state.db", ROOT) == Path("/var/state.db")


def test_a_postgresql_url_gives_libpq_its_conninfo_and_the_schema_apart() -> None:
    url = pg("postgresql://ci@db.internal:5433/journeys?schema=shop&sslmode=require")
    assert url.conninfo == "postgresql://ci@db.internal:5433/journeys?sslmode=require"
    assert url.schema == "shop" and url.password is None
    assert url.shown == url.recorded == \
        "postgresql://ci@db.internal:5433/journeys?schema=shop&sslmode=require"
    assert pg("postgres://ci@db/journeys").schema == "public"


def test_a_password_is_read_from_a_variable_and_never_shown(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PG_SECRET", "s3cret")
    url = pg("postgresql://ci:env:PG_SECRET@db/journeys")
    assert url.password == "s3cret" and url.connect_args() == {"password": "s3cret"}
    assert url.shown == "postgresql://ci:***@db/journeys"
    assert url.recorded == "postgresql://ci:env:PG_SECRET@db/journeys"  # names no secret
    assert "s3cret" not in repr(url)
    monkeypatch.delenv("PG_SECRET")
    assert "reads its password from $PG_SECRET, which is not set" in refused(
        "postgresql://ci:env:PG_SECRET@db/journeys").message


def test_only_the_environment_may_write_a_password_in_the_url() -> None:
    error = refused("postgresql://ci:s3cret@db/journeys")
    assert "holds a password" in error.message and "s3cret" not in str(error.diagnostics)
    assert "holds a password" in refused("postgresql://ci@db/journeys?password=s3cret").message
    url = pg("postgresql://ci:s3cret@db/journeys?schema=shop", from_environment=True)
    assert url.password == "s3cret"
    assert url.shown == "postgresql://ci:***@db/journeys?schema=shop"
    assert url.recorded == "postgresql://ci@db/journeys?schema=shop"


def test_a_value_from_the_environment_that_is_no_url_is_not_echoed() -> None:
    error = refused("s3cret", from_environment=True)
    assert error.message == "JOURNEYCTL_STATE is not a state URL"
    assert "'mysql://x' is not a state URL" in refused("mysql://x").message


@pytest.mark.parametrize(("url", "said"), [
    ("postgresql://db", "names no database"),
    ("postgresql://db:port/x", "port that is not a number"),
    ("postgresql://db/x?schema=Shop-1", "names the schema 'Shop-1'"),
    ("sqlite:///", "names no file"),
])
def test_bad_urls_say_what_is_wrong(url: str, said: str) -> None:
    assert said in refused(url).message


@pytest.mark.parametrize("url, secret", [
    ("postgresql://jc:ab/cd@db.example.com/shop", "ab/cd"),  # base64 passwords hold /
    ("postgresql://jc:12/34@db/shop", "12/34"),  # would parse as host "jc", port 12
    ("postgresql://jc:a?b#c@db/shop", "a?b#c"),
    ("postgresql://jc@db:1/shop?password=hunter2", "hunter2"),
    ("postgresql://jc@db/shop?schema=Bad&sslpassword=hunter2", "hunter2"),
])
def test_a_password_written_oddly_is_refused_and_never_echoed(url: str, secret: str) -> None:
    for from_environment in (False, True):
        error = refused(url, from_environment)
        said = error.message + (error.hint or "")
        assert secret not in said and "***" in said, said


def test_a_password_holding_an_at_sign_is_found_at_the_last_one() -> None:
    location = pg("postgresql://jc:p@ss@db/shop", from_environment=True)
    assert location.password == "p@ss"
    assert "p@ss" not in location.shown + location.recorded + location.conninfo
