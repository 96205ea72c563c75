"""Issue 16: one long poll answer applied in one transaction (with no savepoints; once an event
fails, again with each event in a savepoint), the position stored with them, the events claimed
and the replies written by one statement each; and committed replies handed straight to the
sender, which then sends them without reading them back; reading the outbox stays the way
whenever it may hold more (a retry, a restart)."""
from __future__ import annotations

import re
import threading

from sqlalchemy import event as sa_event
from sqlalchemy import select

import db_functions as dbf
import messages as msg
import outbox
from db_models import DialogueRow, Outbox
from dialogue import Reply
from support import CUSTOMER_ID, MANAGER_IDS, labels
from test_real_vk_delivery import enqueue, rows, sender_for
from loop import BATCH_EVENTS
from vk_functions import Backoff

OTHERS = (CUSTOMER_ID + 1, CUSTOMER_ID + 2)


def statements_of(engine, thread_name: str | None = None) -> list[str]:
    seen: list[str] = []

    def note(conn, cursor, statement, *args):
        if thread_name is None or threading.current_thread().name == thread_name:
            seen.append(statement)

    sa_event.listen(engine, "before_cursor_execute", note)
    return seen


def test_one_answer_is_one_transaction_without_savepoints_its_users_read_and_dialogues_written_at_once(emu, bot):
    for user in OTHERS:
        emu.add_user(user, "Ирина", "Петрова")
    seen = statements_of(bot.bot.sessions.kw["bind"], "bot")
    with emu.held():
        updates = [emu.send_text(user, "Привет") for user in (OTHERS[0], CUSTOMER_ID, OTHERS[1])]
    for update in updates:
        bot.settle(update)
    for user in (*OTHERS, CUSTOMER_ID):
        assert len(emu.messages(user)) == 1 and emu.messages(user)[0].text != msg.APOLOGY
    flat = [" ".join(s.split()) for s in seen]
    assert not [s for s in flat if re.match(r"(SAVEPOINT|RELEASE|ROLLBACK)", s)]
    assert sum(s.startswith("INSERT INTO processed_events") for s in flat) == 1
    assert sum(s.startswith("INSERT INTO outbox") for s in flat) == 1
    assert sum(s.startswith("INSERT INTO dialogues") for s in flat) == 1
    assert not [s for s in flat if "LEFT OUTER JOIN dialogues" in s]  # no event read its own state
    assert sum(s.startswith("SELECT dialogues.user_id") for s in flat) == 1
    with bot.bot.sessions.begin() as session:
        assert {row.user_id for row in session.scalars(select(DialogueRow))} >= {*OTHERS, CUSTOMER_ID}


def test_a_failing_event_costs_only_itself(emu, bot):
    """The batch's transaction is rolled back and the batch applied again, each event in a savepoint."""
    for user in OTHERS:
        emu.add_user(user, "Ирина", "Петрова")
    applier = bot.bot.events
    apply = applier.apply

    def failing(session, event, **kwargs):
        applied = apply(session, event, **kwargs)  # its writes done, then it fails: all rolled back
        if event.user_id == CUSTOMER_ID:
            raise RuntimeError("a handler's bug")
        return applied

    applier.apply = failing
    seen = statements_of(bot.bot.sessions.kw["bind"], "bot")
    with emu.held():  # the three reach the bot in one long poll answer
        updates = [emu.send_text(user, "Привет") for user in (OTHERS[0], CUSTOMER_ID, OTHERS[1])]
    for update in updates:
        bot.settle(update)
    assert [m.text for m in emu.messages(CUSTOMER_ID)] == [msg.APOLOGY]
    for user in OTHERS:
        assert len(emu.messages(user)) == 1 and emu.messages(user)[0].text != msg.APOLOGY
    work = [s for s in seen if not re.match(r"\s*(SELECT 1|BEGIN|COMMIT|SAVEPOINT|RELEASE|ROLLBACK)", s)]
    # Claimed twice: by the first try, rolled back when the event failed, and by the second.
    assert sum(s.startswith("INSERT INTO processed_events") for s in work) == 2
    assert sum(s.startswith("INSERT INTO outbox") for s in work) == 1  # the first try wrote none
    assert sum(s.strip().startswith("COMMIT") for s in seen) <= 1  # SQLite: one; PostgreSQL's is the driver's
    assert sum(s.startswith("SAVEPOINT") for s in seen) == 4  # the second try: each event's, and the apology's
    assert sum(s.startswith("ROLLBACK TO SAVEPOINT") for s in seen) == 1
    with bot.bot.sessions.begin() as session:
        assert dbf.load_ts(session, emu.group_id) == str(emu._ts)  # stored with them
        dialogues = {row.user_id: row.state for row in session.scalars(select(DialogueRow))}
        assert dialogues[CUSTOMER_ID] == "menu" and set(OTHERS) <= set(dialogues)


def test_a_customers_second_event_in_one_answer_starts_where_the_first_left_them(customer, emu, bot):
    customer.says("Привет")
    customer.presses(msg.BTN_SERVICES)
    customer.presses("Дизайн логотипа")  # the bot asks for the task
    with emu.held():  # the task, then the deadline typed: one long poll answer
        updates = [emu.send_text(CUSTOMER_ID, "Логотип для кофейни"), emu.send_text(CUSTOMER_ID, "к пятнице")]
    for update in updates:
        bot.settle(update)
    assert msg.BTN_CONTACT_VK in labels(customer.last)  # the deadline was read as one: the contact is asked
    with bot.bot.sessions.begin() as session:
        assert session.get(DialogueRow, CUSTOMER_ID).data.get("task") == "Логотип для кофейни"


def test_the_same_update_twice_in_one_answer_is_applied_once(emu, bot):
    with emu.held():
        update = emu.send_text(CUSTOMER_ID, "Привет")
        emu.redeliver(1)
    bot.settle(update)
    assert len(emu.messages(CUSTOMER_ID)) == 1


def test_handed_rows_go_without_reading_the_outbox(emu, sessions, engine, db_url):
    sender = sender_for(emu, sessions, db_url)
    assert sender.deliver_due() == 0  # the first pass reads: the outbox is clear
    with sessions.begin() as session:
        handed = dbf.enqueue(session, [Reply.send(CUSTOMER_ID, "one"), Reply.send(MANAGER_IDS[0], "two")])
    sender.hand(handed)
    seen = statements_of(engine)
    assert sender.deliver_due() == 2
    assert not [s for s in seen if s.lstrip().startswith("SELECT") and "FROM outbox" in s]
    assert [m.text for m in emu.messages(CUSTOMER_ID)] == ["one"]
    assert [r.status for r in rows(sessions, [h.id for h in handed])] == ["sent", "sent"]


def test_a_row_read_first_and_handed_after_goes_once(emu, sessions, db_url):
    sender = sender_for(emu, sessions, db_url)
    with sessions.begin() as session:
        handed = dbf.enqueue(session, [Reply.send(CUSTOMER_ID, "one")])
    sender.wake()  # someone else's wake: this pass reads the outbox and sends it
    assert sender.deliver_due() == 1
    sender.hand(handed)  # the loop's hand-off arriving late
    assert sender.deliver_due() == 0
    assert [m.text for m in emu.messages(CUSTOMER_ID)] == ["one"]


def test_handed_rows_wait_behind_a_retry_of_their_peer(emu, sessions, db_url):
    sender = sender_for(emu, sessions, db_url)
    sender.retry = Backoff(first=3600.0, cap=3600.0)  # the retry waits: the peer is held back
    assert sender.deliver_due() == 0
    emu.fail_next("messages.send", code=10)
    first, = enqueue(sessions, Reply.send(CUSTOMER_ID, "one"))
    sender.deliver_due()
    assert rows(sessions, [first])[0].attempts == 1
    with sessions.begin() as session:
        handed = dbf.enqueue(session, [Reply.send(CUSTOMER_ID, "two"), Reply.send(MANAGER_IDS[0], "card")])
    sender.hand(handed)
    sender.deliver_due()  # read, not taken as handed: "two" stays behind "one"
    assert emu.messages(CUSTOMER_ID) == [] and [m.text for m in emu.messages(MANAGER_IDS[0])] == ["card"]
    with sessions.begin() as session:
        pending = session.scalars(select(Outbox.text).where(Outbox.status == "pending").order_by(Outbox.id)).all()
    assert pending == ["one", "two"]


def test_a_long_answer_goes_in_several_transactions_the_position_with_the_last(emu, bot):
    users = range(CUSTOMER_ID + 10, CUSTOMER_ID + 10 + BATCH_EVENTS + 10)
    for user in users:
        emu.add_user(user, "Ирина", "Петрова")
    seen = statements_of(bot.bot.sessions.kw["bind"], "bot")
    with emu.held():
        updates = [emu.send_text(user, "Привет") for user in users]
    for update in updates:
        bot.settle(update)
    assert all(emu.message_counts(users))
    assert sum(s.startswith("INSERT INTO processed_events") for s in seen) == 2
    assert sum(s.startswith("INSERT INTO poll_state") for s in seen) == 1
    with bot.bot.sessions.begin() as session:
        assert dbf.load_ts(session, emu.group_id) == str(emu._ts)


def test_a_reply_someone_else_wrote_meanwhile_is_not_overtaken(emu, sessions, db_url):
    sender = sender_for(emu, sessions, db_url)
    assert sender.deliver_due() == 0
    enqueue(sessions, Reply.send(CUSTOMER_ID, "the job's nudge"))  # the job runner's, its wake not yet there
    with sessions.begin() as session:
        handed = dbf.enqueue(session, [Reply.send(CUSTOMER_ID, "the reply")])
    sender.hand(handed)
    assert sender.deliver_due() == 2  # not the handed row alone: the gap before it sends the outbox read
    assert [m.text for m in emu.messages(CUSTOMER_ID)] == ["the job's nudge", "the reply"]


def test_a_sender_behind_keeps_no_more_than_handed_max_in_memory(emu, sessions, db_url, monkeypatch):
    monkeypatch.setattr(outbox, "HANDED_MAX", 2)
    sender = sender_for(emu, sessions, db_url)
    assert sender.deliver_due() == 0
    for text in ("one", "two", "three"):
        with sessions.begin() as session:
            sender.hand(dbf.enqueue(session, [Reply.send(CUSTOMER_ID, text)]))
    assert sender._handed == [] and sender._read_asked  # dropped: the outbox has them
    assert sender.deliver_due() == 3
    assert [m.text for m in emu.messages(CUSTOMER_ID)] == ["one", "two", "three"]
