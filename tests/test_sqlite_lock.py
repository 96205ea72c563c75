"""SQLite's write lock taken in arrival order inside the process (db.WriteQueue): a thread that
writes back to back cannot keep another writer out, and the turn is given back on every way a
transaction ends."""
from __future__ import annotations

import sqlite3
import threading

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

import db

HAMMER_LIMIT = 2_000  # the back-to-back writer stops here, so a starved writer still gets in in the end


@pytest.fixture
def lite(tmp_path):
    engine = db.make_engine(f"sqlite:///{tmp_path / 'lock.sqlite3'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE marks (who TEXT NOT NULL)")
    yield engine
    engine.dispose()


def queue_of(engine) -> db.WriteQueue:
    with engine.connect() as conn:
        return conn.connection.dbapi_connection.write_queue


def test_a_writer_back_to_back_cannot_starve_another(lite):
    done = 0  # the hammer's committed transactions
    inside, stop = threading.Event(), threading.Event()

    def hammer() -> None:  # one connection, so nothing but the loop between its transactions
        nonlocal done
        with lite.connect() as conn:
            while not stop.is_set() and done < HAMMER_LIMIT:
                with conn.begin():
                    conn.exec_driver_sql("INSERT INTO marks VALUES ('hammer')")
                    inside.set()
                    for _ in range(20):
                        conn.exec_driver_sql("INSERT INTO marks VALUES ('hammer')")
                done += 1

    thread = threading.Thread(target=hammer, name="hammer")
    thread.start()
    try:
        assert inside.wait(60)  # the other writer comes while the hammer is in a transaction
        asked = done
        with lite.begin() as conn:
            got_in = done
            conn.exec_driver_sql("INSERT INTO marks VALUES ('other')")
    finally:
        stop.set()
        thread.join()
    # in line behind the hammer's open transaction, served before its next one (without the
    # queue SQLite's busy handler, which sleeps and looks again, let it wait for hundreds)
    assert got_in - asked <= 3, f"the other writer got in only after {got_in - asked} of the hammer's transactions"


def test_a_write_transaction_holds_the_turn_until_commit(lite):
    queue = queue_of(lite)
    sessions = db.make_session_factory(lite)
    with sessions.begin() as session:
        session.execute(text("INSERT INTO marks VALUES ('a')"))
        assert queue.held
    assert not queue.held


@pytest.mark.parametrize("ending", ["rollback", "invalidate"])
def test_the_turn_is_given_back_after_rollback_or_when_the_connection_is_invalidated(lite, ending):
    queue = queue_of(lite)
    with lite.connect() as conn:
        transaction = conn.begin()
        conn.exec_driver_sql("INSERT INTO marks VALUES ('a')")
        assert queue.held
        transaction.rollback() if ending == "rollback" else conn.invalidate()
        assert not queue.held


def test_the_turn_is_given_back_after_an_exception_in_the_transaction(lite):
    queue = queue_of(lite)
    sessions = db.make_session_factory(lite)
    with pytest.raises(OperationalError):
        with sessions.begin() as session:
            session.execute(text("INSERT INTO marks VALUES ('a')"))
            session.execute(text("INSERT INTO no_such_table VALUES (1)"))
    assert not queue.held
    with sessions() as session:
        assert session.execute(text("SELECT count(*) FROM marks")).scalar_one() == 0


def test_the_turn_is_given_back_when_begin_fails(lite, tmp_path):
    queue = queue_of(lite)
    other = sqlite3.connect(tmp_path / "lock.sqlite3", isolation_level=None)  # another writer on the file
    other.execute("BEGIN IMMEDIATE")
    try:
        with lite.connect() as conn:
            conn.connection.dbapi_connection.execute("PRAGMA busy_timeout=0")  # fail at once, not in 30 s
            with pytest.raises(OperationalError, match="database is locked"):
                conn.begin()
            assert not queue.held
    finally:
        other.rollback()
        other.close()


def test_a_read_only_transaction_takes_no_turn(lite):
    queue = queue_of(lite)
    sessions = db.make_session_factory(lite)
    with sessions.begin() as session:
        db.read_only(session)
        assert session.execute(text("SELECT count(*) FROM marks")).scalar_one() == 0
        assert not queue.held
    with lite.connect().execution_options(**db.READ_ONLY) as conn:
        conn.execute(text("SELECT count(*) FROM marks"))
        assert conn.in_transaction() and not queue.held


def test_a_reader_is_not_held_up_by_a_writer(lite):
    sessions = db.make_session_factory(lite)
    with sessions.begin() as writer:
        writer.execute(text("INSERT INTO marks VALUES ('a')"))
        with sessions() as reader:  # same thread, writer still open: a reader must not wait for it
            db.read_only(reader)
            assert reader.execute(text("SELECT count(*) FROM marks")).scalar_one() == 0


def test_a_thread_never_waits_for_its_own_turn():
    queue = db.WriteQueue()
    mine, again = object(), object()
    assert queue.enter(mine)
    assert queue.enter(mine)  # already its turn
    assert not queue.enter(again)  # the same thread's other connection: SQLite decides, as without the queue
    queue.leave(again)  # not its turn: nothing happens
    assert queue.held
    queue.leave(mine)
    assert not queue.held


def test_the_wait_is_bounded():
    queue = db.WriteQueue(patience=0)
    holder = object()
    taken = threading.Thread(target=queue.enter, args=(holder,))
    taken.start()
    taken.join()
    assert not queue.enter(object())  # the holder never leaves: the waiter goes on to SQLite's own wait
    queue.leave(holder)
    assert not queue.held  # the waiter that gave up is not in the line any more


def test_the_turn_goes_in_the_order_asked():
    queue = db.WriteQueue()
    first = object()
    assert queue.enter(first)
    order: list[int] = []

    def writer(number: int) -> None:
        connection = object()
        assert queue.enter(connection)
        order.append(number)
        queue.leave(connection)

    threads = []
    for number in range(3):
        threads.append(threading.Thread(target=writer, args=(number,)))
        threads[-1].start()
        while len(queue._waiting) < number + 1:  # in the line before the next one comes
            threading.Event().wait(0.001)
    queue.leave(first)
    for thread in threads:
        thread.join()
    assert order == [0, 1, 2]
