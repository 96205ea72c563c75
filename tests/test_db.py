"""The database layer on SQLite and PostgreSQL: dialogues, event ids, the outbox."""
from datetime import timedelta

from sqlalchemy import event, func, select, text

import catalogue
import db
import db_catalogue as dbc
import db_functions as dbf
import db_outbox as dbo
import dialogue as d
from db_models import DialogueRow, utcnow


def test_dialogue_round_trip(sessions):
    with sessions.begin() as s:
        assert dbf.load_dialogue(s, 1).is_new
        dbf.save_dialogue(s, 1, d.State.MENU, {"service": 3, "text": "привет"})
    with sessions.begin() as s:
        dialogue = dbf.load_dialogue(s, 1)
    assert (dialogue.state, dict(dialogue.data), dialogue.is_new) == (d.State.MENU, {"service": 3, "text": "привет"}, False)


def test_unknown_stored_state_starts_over(sessions):
    with sessions.begin() as s:
        dbf.save_dialogue(s, 1, d.State.MENU, {})
    with sessions.begin() as s:
        s.get(DialogueRow, 1).state = "state-from-an-old-version"
    with sessions.begin() as s:
        assert dbf.load_dialogue(s, 1) == d.Conversation(d.State.MENU, {})


def test_event_ids_and_pruning(sessions):
    with sessions.begin() as s:
        assert dbf.claim_event(s, "e1")
        assert not dbf.claim_event(s, "e1")  # the same transaction already has it
    with sessions.begin() as s:
        assert not dbf.claim_event(s, "e1") and dbf.claim_event(s, "e2")
        assert dbf.prune_events(s, utcnow() + timedelta(seconds=1)) == 2
    with sessions.begin() as s:
        assert dbf.claim_event(s, "e1")


def test_dialogue_upsert_keeps_one_row(sessions):
    with sessions.begin() as s:
        dbf.save_dialogue(s, 5, d.State.MENU, {"a": 1})
        dbf.save_dialogue(s, 5, d.State.MENU, {"a": 2})
    with sessions.begin() as s:
        assert dict(dbf.load_dialogue(s, 5).data) == {"a": 2}
        assert s.scalar(select(func.count()).select_from(DialogueRow)) == 1


def test_outbox_order_retry_and_blocking(sessions):
    with sessions.begin() as s:
        rows = dbf.enqueue(s, [d.Reply.send(1, "a"), d.Reply.send(1, "b"), d.Reply.send(2, "c"), d.Reply.send(3, "d")])
        ids = [r.id for r in rows]
        assert {r.random_id for r in rows} == {None}  # derived by the sender from the row's id
    now = utcnow()
    with sessions.begin() as s:
        assert [r.id for r in dbo.due_outbox(s, now)] == ids
        dbo.mark_retry(s, ids[0], 1, timedelta(minutes=5), "HTTP 502")
        dbo.mark_all_sent(s, [ids[2]])
    with sessions.begin() as s:
        # peer 1 waits for its retry, so its second reply waits too; peer 2 is done
        assert [r.id for r in dbo.due_outbox(s, utcnow())] == [ids[3]]
        assert dbo.next_outbox_time(s) is not None


def test_outbox_pruning_keeps_cards_and_pending(sessions):
    with sessions.begin() as s:
        rows = dbf.enqueue(s, [d.Reply.send(1, "a"), d.Reply.send(2, "card", card_order_id=9), d.Reply.send(3, "b")])
        dbo.mark_all_sent(s, [rows[0].id, rows[1].id])
    with sessions.begin() as s:
        assert dbo.prune_outbox(s, utcnow() + timedelta(seconds=1)) == 1
        assert [r.peer_id for r in dbo.due_outbox(s, utcnow())] == [3]


def test_card_cmids(sessions):
    with sessions.begin() as s:
        rows = dbf.enqueue(s, [d.Reply.send(200, "card", card_order_id=5), d.Reply.send(201, "card", card_order_id=5)])
        dbo.mark_sent(s, rows[0].id, cmid=11)
    with sessions.begin() as s:
        assert dbf.card_cmids(s, 5) == {200: 11}


def test_poll_ts(sessions):
    with sessions.begin() as s:
        assert dbf.load_ts(s, 1) is None
        dbf.save_ts(s, 1, "10")
    with sessions.begin() as s:
        dbf.save_ts(s, 1, "12")
    with sessions.begin() as s:
        assert dbf.load_ts(s, 1) == "12"


# --- The catalogue kept in memory between events -----------------------------------------------------
def count_reads(engine):
    """A list that grows by one for every SELECT the engine runs."""
    seen = []
    event.listen(engine, "before_cursor_execute",
                 lambda *args: seen.append(args[2]) if args[2].lstrip().upper().startswith("SELECT") else None)
    return seen


def test_dialogue_and_catalogue_version_in_one_statement(engine, sessions):
    with sessions.begin() as s:
        assert dbf.load_event_state(s, 1) == dbf.EventState(d.Conversation(is_new=True), None, dbf.UserFlags())  # no catalogue
        dbc.bump_catalogue_version(s)
        dbf.save_dialogue(s, 1, d.State.MENU, {"a": 1})
    statements = count_reads(engine)
    with sessions.begin() as s:
        assert dbf.load_event_state(s, 1) == dbf.EventState(d.Conversation(d.State.MENU, {"a": 1}), 1, dbf.UserFlags())
        assert dbf.load_event_state(s, 2) == dbf.EventState(d.Conversation(is_new=True), 1, dbf.UserFlags())
        dbc.bump_catalogue_version(s)
        dbf.note_user(s, 2, messages_allowed=False)
        assert dbf.load_event_state(s, 2).version == 2
        assert dbf.load_event_state(s, 2).user == dbf.UserFlags(messages_allowed=False)
    assert len(statements) == 4  # one per load


def test_the_catalogue_is_read_once_per_version(engine, sessions):
    with sessions.begin() as s:
        dbc.sync_services(s, [catalogue.Service(key="a", title="Первая", price=100)])
        dbc.bump_catalogue_version(s)
    kept = None  # the snapshot the event loop keeps between events
    statements = count_reads(engine)

    def titles(version):
        nonlocal kept
        with sessions.begin() as s:
            kept = dbc.catalogue_at(s, version, kept)
            view = dbf.SessionView(s, kept)
            listed = [service.title for service in view.services()]
            assert view.service("a").title == listed[0]  # the same read answers both
            return listed

    snapshot_reads = 4  # services, restaurant, table types, tables: one statement each
    assert titles(1) == ["Первая"]
    assert titles(1) == ["Первая"] and len(statements) == snapshot_reads  # the second event read nothing
    with sessions.begin() as s:
        dbc.sync_services(s, [catalogue.Service(key="a", title="Обновлённая", price=100)])
        dbc.bump_catalogue_version(s)
    del statements[:]
    assert titles(1) == ["Первая"]  # an event that still saw the old version
    assert titles(2) == ["Обновлённая"] and len(statements) == snapshot_reads
    with sessions.begin() as s:  # no version to check against: the database every time
        assert dbc.catalogue_at(s, None, kept) is not kept


def test_a_read_only_transaction_on_sqlite_does_not_queue_behind_a_writer(tmp_path):
    engine = db.make_engine(f"sqlite:///{tmp_path / 'bot.sqlite3'}")
    sessions = db.make_session_factory(engine)
    with sessions.begin() as s:  # WAL on, a table to read
        s.execute(text("CREATE TABLE t (x INTEGER)"))
    writer = engine.connect()
    writer.begin()  # BEGIN IMMEDIATE: the write lock held, as the loop holds it during a batch
    writer.execute(text("INSERT INTO t VALUES (1)"))
    try:
        with sessions.begin() as s:
            db.read_only(s)
            assert s.execute(text("SELECT count(*) FROM t")).scalar() == 0  # at once, the writer's row unseen
    finally:
        writer.rollback()
        writer.close()
        engine.dispose()
