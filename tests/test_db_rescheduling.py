"""Moving a booking in the database, on SQLite and PostgreSQL (db_functions.reschedule): the
booking row is updated in place, so the database's own guard (the exclusion constraint, the
SQLite update trigger) refuses a taken slot and the old booking stays as it was."""
from datetime import timedelta

from sqlalchemy import select

import db_functions as dbf
import db_jobs
import dialogue as d
from db_models import Booking, Job
from planning import JobPlan
from test_db_booking import CUSTOMER, SEVEN_PM, TWO_HOURS, book_one, synced

NOW = SEVEN_PM - timedelta(days=1)


def move(sessions, order_id: int, start, user_id=CUSTOMER, now=NOW, plans=()) -> d.Booked:
    effect = d.Reschedule(order_id=order_id, user_id=user_id, start=start,
                          details={"start": start.isoformat(), "when": "new"}, draft={}, plans=tuple(plans))
    with sessions.begin() as s:
        return dbf.reschedule(s, effect, now)


def held(sessions, order_id: int) -> tuple:
    with sessions.begin() as s:
        row = s.scalars(select(Booking).where(Booking.order_id == order_id)).one()
        return row.id, row.table_id, row.starts_at, row.ends_at, row.active


def test_a_move_updates_the_booking_in_place_and_frees_the_old_slot(sessions):
    synced(sessions)
    order = book_one(sessions, party=5).change.order  # "Зал 6", the only table for five
    with sessions.begin() as s:
        dbf.decide(s, order.id, 200, d.Status.CONFIRMED, NOW)
    before = held(sessions, order.id)
    moved = move(sessions, order.id, SEVEN_PM + timedelta(hours=2))
    change = moved.change
    assert change.changed and change.order.status == d.Status.PENDING and change.order.decided_by is None
    assert change.order.details == {"start": (SEVEN_PM + timedelta(hours=2)).isoformat(), "when": "new",
                                    "table": "Зал 6"}
    after = held(sessions, order.id)
    assert after[0] == before[0] and after[2:] == (SEVEN_PM + TWO_HOURS, SEVEN_PM + 2 * TWO_HOURS, True)
    assert book_one(sessions, user_id=101, party=5).change is not None  # 19:00 is free again


def test_a_move_by_half_an_hour_may_overlap_the_booking_itself(sessions):
    synced(sessions)
    order = book_one(sessions, party=5).change.order
    assert move(sessions, order.id, SEVEN_PM + timedelta(minutes=30)).change.changed
    assert held(sessions, order.id)[2] == SEVEN_PM + timedelta(minutes=30)


def test_a_taken_time_is_refused_and_the_old_booking_stays(sessions):
    synced(sessions)
    order = book_one(sessions, party=5).change.order
    book_one(sessions, user_id=101, party=5, start=SEVEN_PM + TWO_HOURS)  # 21:00 on "Зал 6" is someone else's
    before = held(sessions, order.id)
    assert move(sessions, order.id, SEVEN_PM + TWO_HOURS) == d.Booked(None)
    assert held(sessions, order.id) == before


def test_the_database_refuses_a_taken_slot_the_python_check_missed(sessions, monkeypatch):
    """busy_between sees nothing (as under a race): the update itself is refused by the database,
    each table in turn, and the old booking is left as it was."""
    synced(sessions)
    order = book_one(sessions, party=2).change.order  # "Зал 2" at 19:00
    for user_id in (101, 102, 103):  # every hall table at 21:00 taken
        assert book_one(sessions, user_id=user_id, party=2, start=SEVEN_PM + TWO_HOURS).change
    before = held(sessions, order.id)
    monkeypatch.setattr(dbf, "busy_between", lambda *a, **kw: [])
    assert move(sessions, order.id, SEVEN_PM + TWO_HOURS) == d.Booked(None)
    monkeypatch.undo()
    assert held(sessions, order.id) == before
    with sessions.begin() as s:
        assert len(s.scalars(select(Booking).where(Booking.active.is_(True))).all()) == 4


def test_a_stale_read_moves_to_the_next_free_table(sessions, monkeypatch):
    synced(sessions)
    order = book_one(sessions, party=2).change.order
    book_one(sessions, user_id=101, party=2, start=SEVEN_PM + TWO_HOURS)  # "Зал 2" at 21:00
    real, calls = dbf.busy_between, []
    monkeypatch.setattr(dbf, "busy_between", lambda *a, **kw: calls.append(1) or ([] if len(calls) == 1
                                                                                   else real(*a, **kw)))
    moved = move(sessions, order.id, SEVEN_PM + TWO_HOURS)
    assert moved.change.order.details["table"] == "Зал 4" and len(calls) == 2


def test_only_the_owners_upcoming_active_booking_moves(sessions):
    synced(sessions)
    order = book_one(sessions, party=2).change.order
    assert not move(sessions, order.id, SEVEN_PM + TWO_HOURS, user_id=999).change.changed
    assert move(sessions, order.id, SEVEN_PM + TWO_HOURS, user_id=999).change.order is None  # says nothing of it
    assert not move(sessions, order.id, SEVEN_PM + TWO_HOURS, now=SEVEN_PM).change.changed  # started
    with sessions.begin() as s:
        dbf.cancel_order(s, order.id, CUSTOMER)
    refused = move(sessions, order.id, SEVEN_PM + TWO_HOURS).change
    assert not refused.changed and refused.order.status == d.Status.CANCELLED


def test_the_jobs_move_and_a_reminder_with_no_room_left_is_retired(sessions):
    synced(sessions)
    order = book_one(sessions, party=2).change.order
    with sessions.begin() as s:
        db_jobs.plan_jobs(s, [JobPlan("remind_1440m", order.id, SEVEN_PM - timedelta(hours=24)),
                              JobPlan("remind_120m", order.id, SEVEN_PM - TWO_HOURS),
                              JobPlan("remind_managers", order.id, NOW + timedelta(minutes=30))])
    start = NOW + timedelta(hours=5)  # within 24 h: only the 2 h reminder has room
    plans = [JobPlan("remind_120m", order.id, start - TWO_HOURS),
             JobPlan("remind_managers", order.id, NOW + timedelta(minutes=30))]
    assert move(sessions, order.id, start, plans=plans).change.changed
    with sessions.begin() as s:
        jobs = {j.kind: (j.due_at, j.done_at is not None, j.result) for j in s.scalars(select(Job))}
    assert jobs["remind_1440m"][1:] == (True, "moved")
    assert jobs["remind_120m"] == (start - TWO_HOURS, False, None)
    assert jobs["remind_managers"] == (NOW + timedelta(minutes=30), False, None)


def test_a_failed_move_leaves_the_jobs(sessions):
    synced(sessions)
    order = book_one(sessions, party=5).change.order
    book_one(sessions, user_id=101, party=5, start=SEVEN_PM + TWO_HOURS)
    with sessions.begin() as s:
        db_jobs.plan_jobs(s, [JobPlan("remind_1440m", order.id, SEVEN_PM - timedelta(hours=24))])
    assert move(sessions, order.id, SEVEN_PM + TWO_HOURS, plans=[]) == d.Booked(None)
    with sessions.begin() as s:
        assert s.scalars(select(Job)).one().done_at is None
