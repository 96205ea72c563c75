"""Mailings in the database (db_mailings.py), on SQLite and PostgreSQL: who gets one, its chunks,
each recipient's result and the finish."""
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

import db_functions as dbf
import db_mailings as dbm
from db_models import MailingRecipient, VkUser
from dialogue import State

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
MANAGERS = (200, 201)


def wrote(s, *user_ids: int) -> None:
    for user_id in user_ids:
        dbf.save_dialogue(s, user_id, State.MENU, {}, T0)


def recipients(s, mailing_id: int) -> dict[int, tuple[int, str]]:
    rows = s.execute(select(MailingRecipient.user_id, MailingRecipient.chunk, MailingRecipient.status)
                     .where(MailingRecipient.mailing_id == mailing_id))
    return {user_id: (chunk, status) for user_id, chunk, status in rows}


def started(s, exclude=MANAGERS) -> int:
    mailing_id = dbm.create(s, None, "Новость", None, T0, T0)
    assert dbm.start(s, mailing_id, exclude, T0) is not None
    return mailing_id


def test_recipients_are_who_wrote_or_allowed_minus_denied_unsubscribed_and_managers(sessions):
    with sessions.begin() as s:
        wrote(s, 1, 2, 3, 4, 200)  # 200 is a manager
        dbf.note_user(s, 5, messages_allowed=True)  # allowed by the button, never wrote
        dbf.note_user(s, 2, messages_allowed=False)  # wrote, then denied (message_deny or a 901)
        dbf.note_user(s, 6, messages_allowed=None)  # known (callbacks seen), neither wrote nor allowed
        dbm.subscribe(s, 3, False, T0)  # unsubscribed
        dbm.subscribe(s, 4, False, T0)
        dbm.subscribe(s, 4, True, T0 + timedelta(hours=1))  # and subscribed again
        dbm.subscribe(s, 7, False, T0)  # unsubscribed, never wrote: no row makes them a recipient
    with sessions.begin() as s:
        assert dbm.count_recipients(s, MANAGERS) == 3
        assert dbm.count_recipients(s) == 4  # the manager too when nobody is left out
        mailing_id = started(s)
        assert set(recipients(s, mailing_id)) == {1, 4, 5}
        assert not dbm.is_subscribed(s, 3) and dbm.is_subscribed(s, 4) and dbm.is_subscribed(s, 1)


def test_unsubscribing_changes_nothing_else_of_the_user(sessions):
    with sessions.begin() as s:
        dbf.note_user(s, 1, messages_allowed=True, callbacks=False)
        dbm.subscribe(s, 1, False, T0)
    with sessions.begin() as s:
        row = s.get(VkUser, 1)
        assert (row.messages_allowed, row.callbacks, row.unsubscribed_at) == (True, False, T0)


def test_recipients_are_taken_at_the_start_in_fixed_chunks_of_100(sessions):
    with sessions.begin() as s:
        wrote(s, *range(1000, 1250), 200)  # and a manager
        mailing_id = dbm.create(s, 200, "Новость", "photo1_2", T0 + timedelta(hours=1), T0)
        wrote(s, 1250)  # came before the start: counted in
        assert dbm.due_to_start(s, T0) == [] and dbm.next_start(s) == T0 + timedelta(hours=1)
        assert dbm.due_to_start(s, T0 + timedelta(hours=1)) == [mailing_id]
        assert dbm.start(s, mailing_id, MANAGERS, T0) == 251
        assert dbm.start(s, mailing_id, MANAGERS, T0) is None  # started once
        wrote(s, 1251)  # after the start: not in this mailing
    with sessions.begin() as s:
        taken = recipients(s, mailing_id)
        assert len(taken) == 251 and 1251 not in taken and 200 not in taken
        assert [taken[u][0] for u in (1000, 1099, 1100, 1199, 1200, 1250)] == [0, 0, 1, 1, 2, 2]
        chunks = dbm.next_chunks(s, 25)
        assert [(c.chunk, len(c.user_ids)) for c in chunks] == [(0, 100), (1, 100), (2, 51)]
        assert chunks[0].attachment == "photo1_2" and chunks[0].user_ids[:2] == (1000, 1001)
        assert dbm.pending_chunks(s, 2) == [(mailing_id, 0), (mailing_id, 1)]
        dbm.record(s, mailing_id, {u: (dbm.SENT, None) for u in range(1000, 1100)}, T0)
        assert dbm.pending_chunks(s, 25) == [(mailing_id, 1), (mailing_id, 2)]  # from the lowest pending on


def test_each_recipient_has_its_own_result_and_the_mailing_is_done_when_none_is_pending(sessions):
    with sessions.begin() as s:
        wrote(s, 1, 2, 3, 4)
        mailing_id = started(s)
        dbm.record(s, mailing_id, {1: (dbm.SENT, None), 2: (dbm.NOT_ALLOWED, "VK error 901"),
                                   3: (dbm.PENDING, "HTTP 500")}, T0, max_attempts=2)
        dbm.record(s, mailing_id, {1: (dbm.FAILED, "late")}, T0)  # a result never undoes a final one
        assert dbm.finish(s, mailing_id, T0) is None  # 3 and 4 pending
        dbm.subscribe(s, 4, False, T0)
        assert dbm.recheck(s, [(mailing_id, 0)], T0) == 1  # unsubscribed since the start: not sent to
        assert [c.user_ids for c in dbm.next_chunks(s, 25)] == [(3,)]
        dbm.record(s, mailing_id, {3: (dbm.PENDING, "HTTP 500")}, T0, max_attempts=2)  # two attempts: failed
        assert dbm.next_chunks(s, 25) == []
        done = dbm.finish(s, mailing_id, T0 + timedelta(minutes=1))
        assert done.status == dbm.DONE and done.finished_at == T0 + timedelta(minutes=1)
        assert done.totals == dbm.Totals(sent=1, not_allowed=1, unsubscribed=1, failed=1)
        assert dbm.finish(s, mailing_id, T0) is None  # finished once: one report


def test_a_recipient_who_denied_since_the_start_is_not_sent_to(sessions):
    with sessions.begin() as s:
        wrote(s, 1, 2)
        mailing_id = started(s)
        dbm.note_denied(s, [2], T0)
        assert [c.user_ids for c in dbm.next_chunks(s, 25, T0)] == [(1,)]  # re-checked first
        assert recipients(s, mailing_id) == {1: (0, dbm.PENDING), 2: (0, dbm.NOT_ALLOWED)}
        assert s.get(VkUser, 2).messages_allowed is False


def test_cancel_and_the_last_mailings_with_their_totals(sessions):
    with sessions.begin() as s:
        wrote(s, 1, 2)
        first = started(s)
        dbm.record(s, first, {1: (dbm.SENT, None)}, T0)
        second = dbm.create(s, 200, "Скидки", None, T0 + timedelta(days=1), T0)
        assert dbm.cancel(s, second) and not dbm.cancel(s, second)
        assert dbm.totals(s, second) == dbm.Totals()
        assert dbm.due_to_start(s, T0 + timedelta(days=2)) == []
        last = dbm.last_mailings(s, 5)
        assert [(m.id, m.status) for m in last] == [(second, dbm.CANCELLED), (first, dbm.SENDING)]
        assert last[1].totals == dbm.Totals(pending=1, sent=1) and last[1].totals.total == 2
        assert dbm.cancel(s, first)  # being sent: the rest is not sent
        assert dbm.next_chunks(s, 25) == [] and dbm.sending(s) == []
