"""Bookings in the database, on SQLite and PostgreSQL: the database itself refuses two active
bookings of one table that overlap (an exclusion constraint on PostgreSQL, triggers on SQLite),
also when two transactions race."""
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from db_models import Booking, DiningTable, Order, TableType

UTC = timezone.utc
SEVEN_PM = datetime(2026, 6, 15, 16, 0, tzinfo=UTC)  # 19:00 in Moscow
TWO_HOURS = timedelta(hours=2)


@pytest.fixture
def tables(sessions) -> list[int]:
    with sessions.begin() as s:
        s.add(TableType(key="hall", title="Зал"))
        s.flush()
        rows = [DiningTable(label=f"Зал {n}", type_key="hall", seats=4) for n in (1, 2)]
        s.add_all(rows)
        s.flush()
        return [r.id for r in rows]


def book(session, table_id: int, start: datetime, length: timedelta = TWO_HOURS, active: bool = True) -> Booking:
    order = Order(user_id=100, kind="booking", details={})
    session.add(order)
    session.flush()
    row = Booking(order_id=order.id, table_id=table_id, starts_at=start, ends_at=start + length, party=2, active=active)
    session.add(row)
    session.flush()
    return row


def refused(sessions, table_id: int, start: datetime, length: timedelta = TWO_HOURS) -> bool:
    try:
        with sessions.begin() as s:
            book(s, table_id, start, length)
    except IntegrityError:
        return True
    return False


def test_overlap_is_refused_by_the_database(sessions, tables):
    first, second = tables
    with sessions.begin() as s:
        book(s, first, SEVEN_PM)
    assert refused(sessions, first, SEVEN_PM)
    assert refused(sessions, first, SEVEN_PM + timedelta(minutes=90))  # 20:30-22:30 overlaps 19:00-21:00
    assert refused(sessions, first, SEVEN_PM - timedelta(minutes=30), timedelta(hours=4))  # covers it
    assert not refused(sessions, first, SEVEN_PM + TWO_HOURS)  # half-open: 21:00 may start
    assert not refused(sessions, first, SEVEN_PM - TWO_HOURS)  # 17:00-19:00 ends as it starts
    assert not refused(sessions, second, SEVEN_PM)  # another table
    with sessions.begin() as s:
        assert s.scalar(select(text("count(*)")).select_from(Booking.__table__)) == 4


def test_inactive_bookings_free_the_table_and_cannot_come_back_over_another(sessions, tables):
    table = tables[0]
    with sessions.begin() as s:
        old_id = book(s, table, SEVEN_PM).id
    with sessions.begin() as s:
        s.get(Booking, old_id).active = False  # rejected or cancelled
    with sessions.begin() as s:
        book(s, table, SEVEN_PM + timedelta(minutes=30))  # the freed time is taken again
        book(s, table, SEVEN_PM - timedelta(hours=3), active=False)
    with pytest.raises(IntegrityError):
        with sessions.begin() as s:
            s.get(Booking, old_id).active = True  # re-activating would double-book


def test_two_transactions_racing_for_one_table(sessions, tables):
    """Two real connections insert the same slot at once; each holds its transaction open a
    moment. Exactly one commits; the other is refused by the database, not by Python."""
    for attempt in range(3):
        start = SEVEN_PM + timedelta(days=attempt)
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def race() -> None:
            barrier.wait()
            try:
                with sessions.begin() as s:
                    book(s, tables[0], start)
                    time.sleep(0.2)
                outcomes.append("booked")
            except IntegrityError:
                outcomes.append("refused")

        threads = [threading.Thread(target=race) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(outcomes) == ["booked", "refused"]
        with sessions.begin() as s:
            rows = s.scalars(select(Booking).where(Booking.starts_at == start)).all()
        assert len(rows) == 1
