"""The project's layout, read from the source: imports run one way, and no module outgrows its room.

    main → handlers → scenario modules (services, booking, orders) → dialogue → keyboard, messages,
    catalogue, slots; the adapters (config, db_models, db, db_catalogue, db_functions, vk_functions,
    outbox, loop)
    → dialogue. Only main imports handlers; nothing imports main; the VK adapter knows no SQL.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PURE = {"messages", "slots", "keyboard", "catalogue", "planning", "dates"}
SHARED = PURE | {"dialogue", "people", "mail"}
STORAGE = {"config", "db_models", "db", "db_catalogue", "db_jobs", "db_people", "db_batch", "db_functions",
           "db_mailings"}
ADAPTERS = STORAGE | {"vk_functions", "vk_events", "outbox", "jobs", "loop"}

# Every top-level module, and the project modules it may import. A new module must be placed here.
ALLOWED: dict[str, set[str]] = {
    "messages": set(),
    "slots": set(),
    "planning": set(),
    "dates": set(),
    "keyboard": {"messages"},
    "catalogue": {"slots"},
    "dialogue": PURE,
    "people": PURE | {"dialogue"},  # names on cards, the hand-over's effects
    "mail": PURE | {"dialogue"},  # the mailings' effects
    "services": SHARED,
    "booking": SHARED | {"services"},
    "orders": SHARED | {"services", "booking"},
    "handover": SHARED,  # a person when asked
    "mailing": SHARED | {"orders"},  # a manager's «Рассылка», «Отписаться» / «Подписаться», «Сводка»
    "aftercare": SHARED | {"services", "booking", "orders", "handover"},
    "rescheduling": SHARED | {"booking", "orders"},
    "handlers": SHARED | {"services", "booking", "orders", "aftercare", "rescheduling", "handover", "mailing"},
    "config": SHARED,
    "db_models": SHARED,
    "db": SHARED | {"db_models"},
    "db_catalogue": {"catalogue", "slots", "db_models", "db"},
    "db_jobs": SHARED | {"db_models", "db"},
    "db_people": SHARED | {"db_models", "db"},  # the hand-over flag, the names cache and its sweep
    "db_mailings": SHARED | {"db_models", "db"},  # mailings: recipients, rows, the delivery's queries
    "db_batch": SHARED | {"db_models", "db"},  # a batch of events' claims and replies, written at once
    "db_outbox": SHARED | {"db_models"},  # the sender's queries: what is due, what became of each reply
    "db_functions": SHARED | {"db_models", "db", "db_catalogue", "db_jobs", "db_people", "db_batch", "db_mailings"},
    "drafts": SHARED | {"db_functions", "db_models"},  # the drafts sweep: a pure decision and its adapter
    "vk_functions": SHARED | {"config"},
    "vk_events": SHARED | {"vk_functions"},
    "outbox": SHARED | {"config", "db_models", "db_functions", "db_outbox", "vk_functions"},
    "jobs": SHARED | {"config", "db_models", "db", "db_catalogue", "db_functions", "db_jobs", "vk_functions",
                      "outbox"},
    "mailer": SHARED | {"config", "db_models", "db", "db_mailings", "db_functions", "db_outbox", "vk_functions",
                        "outbox"},
    "loop": SHARED | {"config", "db_models", "db", "db_batch", "db_catalogue", "db_functions", "db_outbox",
                      "vk_functions", "vk_events", "outbox", "jobs"},
    "standby": SHARED | {"config", "db"},  # which process of a community is active: the lease
    "sandbox": SHARED | ADAPTERS | {"vk_emulator"},
    "mailing_cli": SHARED | {"config", "db", "db_models", "db_mailings"},  # main.py --mailing: create, then watch
    "main": SHARED | ADAPTERS | {"handlers", "services", "booking", "orders", "aftercare", "sandbox",
                                 "drafts", "standby", "mailer", "mailing_cli"},
    "vk_emulator": set(),  # a stand-in for VK: knows nothing of the bot
}
# Third-party packages a layer must not reach for.
FORBIDDEN_PACKAGES = {
    **{name: {"sqlalchemy", "vk_api", "requests"}
       for name in SHARED | {"services", "booking", "orders", "aftercare", "rescheduling", "handlers", "handover",
                            "mailing"}},
    "vk_functions": {"sqlalchemy"},
    "vk_events": {"sqlalchemy"},
}
MAX_LINES = 600
MAX_HANDLERS_LINES = 400


def sources(name: str) -> list[Path]:
    package = ROOT / name
    return sorted(package.glob("*.py")) if package.is_dir() else [ROOT / f"{name}.py"]


def top_level_modules() -> set[str]:
    files = {p.stem for p in ROOT.glob("*.py")}
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    return files | packages


def imported(path: Path) -> set[str]:
    """The top-level names of every module `path` imports, at any depth of its code."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def project_imports(name: str) -> set[str]:
    modules = top_level_modules()
    return {other for path in sources(name) for other in imported(path) if other in modules and other != name}


def test_every_top_level_module_has_its_place():
    assert top_level_modules() == set(ALLOWED), "place new modules in tests/test_layout.py ALLOWED"


@pytest.mark.parametrize("name", sorted(ALLOWED))
def test_imports_run_one_way(name):
    against = project_imports(name) - ALLOWED[name]
    assert not against, f"{name} imports {sorted(against)} against the direction of the layers"


@pytest.mark.parametrize("name", sorted(FORBIDDEN_PACKAGES))
def test_layers_keep_to_their_own_libraries(name):
    reached = {package for path in sources(name) for package in imported(path)} & FORBIDDEN_PACKAGES[name]
    assert not reached, f"{name} imports {sorted(reached)}"


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle in the graph, as a path that ends where it starts, or None."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return path[path.index(node):] + [node]
        if node in done:
            return None
        for nxt in sorted(graph.get(node, ())):
            cycle = visit(nxt, path + [node])
            if cycle:
                return cycle
        done.add(node)
        return None

    return next((c for c in (visit(n, []) for n in sorted(graph)) if c), None)


def test_no_import_cycle():
    graph = {name: project_imports(name) for name in top_level_modules()}
    assert find_cycle(graph) is None, " → ".join(find_cycle(graph))


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("name", sorted(ALLOWED))
def test_no_module_outgrows_its_room(name):
    for path in sources(name):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        limit = MAX_HANDLERS_LINES if path.name == "handlers.py" else MAX_LINES
        assert lines <= limit, f"{path.name}: {lines} lines (at most {limit})"
