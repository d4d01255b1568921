"""``coprocessor/postgres.py``, the one PostgreSQL opener both stores use: passwords never
reach a message, errors are one line naming the store, an unreachable server is an error
within the connect timeout, not a hang."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coprocessor.errors import StoreError
from coprocessor.index.store_pg import PgStore
from coprocessor.postgres import PgConnection, database_error, first_line, redacted
from coprocessor.service.store.postgres import PgJobStore

SECRET = st.text(
    alphabet=st.characters(
        blacklist_characters="@/?&: \t\n\r", blacklist_categories=["Cs", "Cc", "Z"]
    ),
    min_size=1,
    max_size=30,
)


@settings(deadline=None)
@given(SECRET)
def test_a_url_password_never_survives_redaction(password: str) -> None:
    templates = [
        "postgresql://coproc:{}@db.example:5432/jobs",
        "postgresql://coproc:{}@/jobs?host=/run/pg",
        "postgresql:///jobs?user=coproc&password={}&sslmode=require",
    ]
    if "'" not in password and "\\" not in password:
        # libpq reads ' and \ in a bare keyword value as quoting (a quoted value is below)
        templates.append("host=db.example user=coproc password={} dbname=jobs")
    for template in templates:
        assert redacted(template.format(password)) == template.format("***")


def test_redaction_keeps_what_an_operator_needs() -> None:
    assert (
        redacted("postgresql://coproc:hunter2@db:5432/jobs")
        == "postgresql://coproc:***@db:5432/jobs"
    )
    assert redacted("postgresql://coproc@db/jobs") == "postgresql://coproc@db/jobs"
    assert (
        redacted("dbname=jobs password=x sslmode=require")
        == "dbname=jobs password=*** sslmode=require"
    )


def test_a_quoted_keyword_password_is_redacted_whole() -> None:
    assert redacted("dbname=jobs password='a b\\' c' user=x") == "dbname=jobs password=*** user=x"
    assert redacted("password = 'hunter 2'") == "password = ***"


def test_first_line_of_a_multiline_error_and_of_an_empty_one() -> None:
    assert first_line(ValueError("one\ntwo\nthree")) == "one"
    assert first_line(ValueError("")) == "ValueError"
    message = str(database_error("postgresql://u:pw@h/d", RuntimeError("boom\ndetail")))
    assert message == "database postgresql://u:***@h/d: boom"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(("opener", "name"), [(PgJobStore, "job store"), (PgStore, "chain cache")])
def test_both_stores_refuse_an_unreachable_server_in_one_line(
    opener: Callable[[str], PgConnection], name: str
) -> None:
    url = f"postgresql://coproc:hunter2@127.0.0.1:{_closed_port()}/jobs"
    with pytest.raises(StoreError) as info:
        opener(url)
    message = str(info.value)
    assert message.startswith(f"{name} postgresql://coproc:***@127.0.0.1:"), message
    assert "hunter2" not in message and "\n" not in message
