"""The catalogue file: parsing and checking (pure), storing it (SQLite and PostgreSQL), and
`python main.py --load-catalogue` as the operator runs it."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

import catalogue
import db_catalogue as dbc
from config import DEFAULT_CATALOGUE
from db_models import Order, ServiceRow

ROOT = Path(__file__).resolve().parents[1]
GOOD = """
[restaurant]          # the booking scenario's sections are not this loader's business
name = "Кафе"

[[services]]
key = "consulting"
title = "Консультация"
description = "Час разговора"
price = 2500
duration = "1 час"

[[services]]
key = "logo"
title = "Дизайн логотипа"
price = 5000
price_from = true
active = false
position = 9
"""


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "catalogue.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_good_file(tmp_path):
    loaded = catalogue.load(write(tmp_path, GOOD))
    assert [s.key for s in loaded.services] == ["consulting", "logo"]
    consulting, logo = loaded.services
    assert (consulting.price, consulting.price_from, consulting.active, consulting.position) == (2500, False, True, 1)
    assert (logo.price_from, logo.active, logo.position, logo.description) == (True, False, 9, "")


def test_the_shipped_example_is_valid_and_pages():
    loaded = catalogue.load(DEFAULT_CATALOGUE)
    active = [s for s in loaded.services if s.active]
    assert DEFAULT_CATALOGUE.endswith("catalogue.example.toml")
    assert len(active) > 4  # more than one page of 4, so the sandbox shows paging
    assert any(not s.active for s in loaded.services)


@pytest.mark.parametrize("text, expected", [
    ("[[services]]\nkey = \"a\"\ntitle = \"A\"\nprice = \n", "line 4"),
    ("[[services]]\nkey = \"a\"\ntitle = \"A\"\nprice = \"дорого\"\n", "services[1].price: must be a whole number"),
    ("[[services]]\nkey = \"a\"\ntitle = \"A\"\nprice = -5\n", "services[1].price: must be a whole number"),
    ("[[services]]\nkey = \"a\"\ntitle = \"A\"\nprice = 1.5\n", "services[1].price"),
    ("[[services]]\nkey = \"a\"\ntitle = \"A\"\nprice = true\n", "services[1].price"),
    ("[[services]]\nkey = \"a\"\ntitle = \"A\"\n", "services[1].price: is missing"),
    ("[[services]]\nkey = \"a\"\nprice = 1\n", "services[1].title: is missing"),
    ("[[services]]\nkey = \"a\"\ntitle = \"" + "я" * 41 + "\"\nprice = 1\n", "services[1].title: 41 characters"),
    ("[[services]]\ntitle = \"A\"\nprice = 1\n", "services[1].key: is missing"),
    ("[[services]]\nkey = \"Дизайн\"\ntitle = \"A\"\nprice = 1\n", "services[1].key: use 1-32 lowercase"),
    ("[[services]]\nkey = \"a\"\ntitle = \"A\"\nprice = 1\nactive = \"yes\"\n", "services[1].active: must be true or false"),
    ("[[services]]\nkey = \"a\"\ntitle = \"A\"\nprice = 1\nprise = 2\n", "services[1].prise: unknown field"),
    ("[[services]]\nkey = \"a\"\ntitle = \"A\"\nprice = 1\n[[services]]\nkey = \"a\"\ntitle = \"B\"\nprice = 2\n",
     "services[2].key: 'a' is already used by services[1]"),
    ("services = \"none\"\n", "services: must be [[services]] tables"),
])
def test_broken_file_names_the_file_the_place_and_the_problem(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(catalogue.CatalogueError) as err:
        catalogue.load(path)
    assert str(err.value).startswith(f"{path}: ")
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_and_non_utf8_files(tmp_path):
    with pytest.raises(catalogue.CatalogueError, match="cannot read the file"):
        catalogue.load(tmp_path / "nope.toml")
    bad = tmp_path / "cp1251.toml"
    bad.write_bytes("[[services]]\ntitle = \"Услуга\"\n".encode("cp1251"))
    with pytest.raises(catalogue.CatalogueError, match="not UTF-8"):
        catalogue.load(bad)


# --- Storing it: reload semantics, on SQLite and PostgreSQL ---------------------------------
def services_in(sessions) -> dict[str, tuple]:
    with sessions.begin() as s:
        return {r.key: (r.title, r.price, r.active) for r in s.scalars(select(ServiceRow))}


def test_reload_updates_in_place_adds_and_deactivates_never_deletes(sessions, tmp_path):
    first = catalogue.parse(GOOD).services
    with sessions.begin() as s:
        summary = dbc.sync_services(s, first)
    assert (summary.added, summary.updated, summary.deactivated, summary.active) == (2, 0, 0, 1)
    with sessions.begin() as s:
        ids = {r.key: r.id for r in s.scalars(select(ServiceRow))}
        s.add(Order(user_id=1, kind="service", details={"service": "consulting"}))
    edited = GOOD.replace("price = 2500", "price = 3000").replace('key = "logo"', 'key = "tutoring"')
    with sessions.begin() as s:
        summary = dbc.sync_services(s, catalogue.parse(edited).services)
    assert (summary.added, summary.updated, summary.deactivated) == (1, 1, 0)  # logo was inactive already
    with sessions.begin() as s:
        summary = dbc.sync_services(s, catalogue.parse(edited.split("[[services]]")[0]).services)
    assert summary.deactivated == 1 and summary.active == 0
    assert services_in(sessions) == {"consulting": ("Консультация", 3000, False), "logo": ("Дизайн логотипа", 5000, False),
                                      "tutoring": ("Дизайн логотипа", 5000, False)}
    with sessions.begin() as s:
        assert {r.key: r.id for r in s.scalars(select(ServiceRow))}.items() >= ids.items()  # same rows, same ids
    with sessions.begin() as s:
        summary = dbc.sync_services(s, first)
    assert summary.active == 1 and services_in(sessions)["consulting"] == ("Консультация", 2500, True)


def test_unchanged_reload_changes_nothing(sessions):
    services = catalogue.parse(GOOD).services
    with sessions.begin() as s:
        dbc.sync_services(s, services)
    with sessions.begin() as s:
        summary = dbc.sync_services(s, services)
    assert (summary.added, summary.updated, summary.deactivated) == (0, 0, 0)


# --- The operator's commands ------------------------------------------------------------------
def run_main(tmp_path, *args, catalogue_path: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VK_", "MANAGER", "DATABASE", "CATALOGUE"))}
    env.update({"VK_TOKEN": "test-token-value", "VK_GROUP_ID": "1", "MANAGER_IDS": "200",
                "VK_API_URL": "http://127.0.0.1:9/method/", "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.sqlite3'}",
                "SCENARIOS": "services"})  # these files have no [restaurant], which booking would require
    if catalogue_path:
        env["CATALOGUE_PATH"] = str(catalogue_path)
    return subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)


def test_load_catalogue_command_reports_and_reloads(tmp_path):
    path = write(tmp_path, GOOD)
    first = run_main(tmp_path, "--load-catalogue", catalogue_path=path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == f"catalogue {path}: 1 active services (2 added, 0 updated, 0 deactivated)"
    path.write_text(GOOD.replace("price = 2500", "price = 2700"), encoding="utf-8")
    again = run_main(tmp_path, "--load-catalogue", catalogue_path=path)
    assert "(0 added, 1 updated, 0 deactivated)" in again.stdout


def test_broken_catalogue_stops_the_bot_with_one_line_and_touches_nothing(tmp_path):
    path = write(tmp_path, GOOD.replace("price = 2500", "price = двести"))
    for args in ((), ("--load-catalogue",)):
        result = run_main(tmp_path, *args, catalogue_path=path)
        assert result.returncode == 2
        assert result.stderr.strip().count("\n") == 0
        assert str(path) in result.stderr and "line 9" in result.stderr
        assert not (tmp_path / "bot.sqlite3").exists()  # checked before the database is opened
