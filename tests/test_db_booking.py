"""Bookings in the database, on SQLite and PostgreSQL: the database itself refuses two active
bookings of one table that overlap (an exclusion constraint on PostgreSQL, triggers on SQLite),
also when two transactions race."""
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, OperationalError

import dialogue as d
from db_models import Booking, DiningTable, Order, TableTypeRow

UTC = timezone.utc
SEVEN_PM = datetime(2026, 6, 15, 16, 0, tzinfo=UTC)  # 19:00 in Moscow
TWO_HOURS = timedelta(hours=2)


@pytest.fixture
def tables(sessions) -> list[int]:
    with sessions.begin() as s:
        s.add(TableTypeRow(key="hall", title="Зал"))
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
    """Two real connections insert the same slot at once, with no lock taken first; each holds its
    transaction open a moment. Exactly one commits; the database refuses the other, not Python:
    an exclusion violation, or on PostgreSQL, when both inserts check each other at the same
    instant, a deadlock abort (db_functions.book_table locks the tables first to avoid that)."""
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
            except OperationalError as exc:
                assert getattr(exc.orig, "pgcode", None) == "40P01", exc  # deadlock detected
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


# --- Syncing the catalogue, booking through db_functions, the view ------------------------------------
import catalogue  # noqa: E402
import db_catalogue as dbc  # noqa: E402
import db_functions as dbf  # noqa: E402
import handlers as h  # noqa: E402
from db_models import Contact, RestaurantRow  # noqa: E402
from db_models import utcnow  # noqa: E402

CAFE = """
[restaurant]
name = "Кафе"
phone = "+7 495 123-45-67"
closed_dates = ["2026-12-31"]
[restaurant.hours]
mon = "12:00-23:00"
tue = "12:00-23:00"
wed = "12:00-23:00"
thu = "12:00-23:00"
fri = "12:00-02:00"
sat = "10:00-24:00"
sun = "closed"
[[table_types]]
key = "hall"
title = "Зал"
[[table_types]]
key = "terrace"
title = "Терраса"
[[tables]]
label = "Зал 6"
type = "hall"
seats = 6
[[tables]]
label = "Зал 2"
type = "hall"
seats = 2
[[tables]]
label = "Зал 4"
type = "hall"
seats = 4
[[tables]]
label = "Терраса"
type = "terrace"
seats = 4
"""
CUSTOMER = 100


def synced(sessions, text: str = CAFE) -> int:
    with sessions.begin() as s:
        return dbc.sync_restaurant(s, catalogue.parse(text, booking=True))


def booking_effect(start=SEVEN_PM, party=2, kind="hall", name="Анна", phone="+79123456789") -> d.BookTable:
    return d.BookTable(start=start, end=start + TWO_HOURS, party=party, type_key=kind, name=name, phone=phone,
                       details={"start": start.isoformat(), "party": party, "name": name, "phone": phone}, draft={})


def book_one(sessions, user_id=CUSTOMER, **kw) -> d.Booked:
    with sessions.begin() as s:
        return dbf.book_table(s, booking_effect(**kw), user_id, utcnow())


def view_of(sessions, fn):
    with sessions.begin() as s:
        return fn(dbf.SessionView(s, dbc.load_catalogue_snapshot(s)))


def test_sync_restaurant_and_read_it_back(sessions):
    assert synced(sessions) == 4
    cafe = view_of(sessions, lambda v: v.restaurant())
    assert cafe == catalogue.parse(CAFE, booking=True).restaurant  # hours, closed dates and rules round-trip
    assert [t.key for t in view_of(sessions, lambda v: v.table_types())] == ["hall", "terrace"]
    tables = view_of(sessions, lambda v: v.tables())
    assert sorted((t.label, t.type_key, t.seats) for t in tables) == [
        ("Зал 2", "hall", 2), ("Зал 4", "hall", 4), ("Зал 6", "hall", 6), ("Терраса", "terrace", 4)]


def test_resync_updates_in_place_and_hides_never_deletes(sessions):
    synced(sessions)
    ids = {t.label: t.id for t in view_of(sessions, lambda v: v.tables())}
    assert book_one(sessions, party=5).change  # a booking refers to "Зал 6"
    edited = (CAFE.replace('label = "Зал 6"\ntype = "hall"\nseats = 6', 'label = "Зал 6"\ntype = "hall"\nseats = 8')
              .replace('[[tables]]\nlabel = "Терраса"\ntype = "terrace"\nseats = 4\n', "")
              .replace('[[table_types]]\nkey = "terrace"\ntitle = "Терраса"\n', "")
              .replace('name = "Кафе"', 'name = "Кафе у парка"'))
    assert synced(sessions, edited) == 3
    assert view_of(sessions, lambda v: v.restaurant().name) == "Кафе у парка"
    tables = {t.label: t for t in view_of(sessions, lambda v: v.tables())}
    assert set(tables) == {"Зал 2", "Зал 4", "Зал 6"} and tables["Зал 6"].seats == 8
    assert all(tables[label].id == ids[label] for label in tables)  # the same rows
    assert [t.key for t in view_of(sessions, lambda v: v.table_types())] == ["hall"]
    with sessions.begin() as s:
        assert s.scalar(select(text("count(*)")).select_from(DiningTable.__table__)) == 4  # hidden, not deleted
        assert s.get(RestaurantRow, dbc.RESTAURANT_ID).name == "Кафе у парка"
    synced(sessions)
    assert len(view_of(sessions, lambda v: v.tables())) == 4  # back again, same ids
    assert {t.label: t.id for t in view_of(sessions, lambda v: v.tables())} == ids


def test_book_the_smallest_free_table_that_fits(sessions):
    synced(sessions)
    first = book_one(sessions, party=2).change.order
    assert first.kind == "booking" and first.status == d.Status.PENDING and first.details["table"] == "Зал 2"
    assert book_one(sessions, party=2).change.order.details["table"] == "Зал 4"
    assert book_one(sessions, party=2).change.order.details["table"] == "Зал 6"
    assert book_one(sessions, party=2).change is None  # the hall is full at 19:00
    assert book_one(sessions, party=2, kind="terrace").change.order.details["table"] == "Терраса"
    assert book_one(sessions, party=2, start=SEVEN_PM + TWO_HOURS).change.order.details["table"] == "Зал 2"
    busy = view_of(sessions, lambda v: v.busy(SEVEN_PM, SEVEN_PM + timedelta(minutes=1)))
    assert len(busy) == 4


def test_the_contact_is_saved_and_replaced(sessions):
    synced(sessions)
    assert view_of(sessions, lambda v: v.contact(CUSTOMER)) is None
    book_one(sessions)
    assert view_of(sessions, lambda v: v.contact(CUSTOMER)) == d.SavedContact("Анна", "+79123456789")
    book_one(sessions, start=SEVEN_PM + timedelta(days=1), name="Анна Петрова", phone="+79001112233")
    assert view_of(sessions, lambda v: v.contact(CUSTOMER)) == d.SavedContact("Анна Петрова", "+79001112233")
    with sessions.begin() as s:
        assert s.scalar(select(text("count(*)")).select_from(Contact.__table__)) == 1


@pytest.mark.parametrize("how", ["rejected", "cancelled"])
def test_a_rejected_or_cancelled_booking_frees_its_table_at_once(sessions, how):
    synced(sessions)
    order = book_one(sessions, party=5).change.order  # the only table for five
    assert book_one(sessions, party=5).change is None
    with sessions.begin() as s:
        if how == "rejected":
            assert dbf.decide(s, order.id, 200, d.Status.REJECTED, utcnow()).changed
        else:
            assert dbf.cancel_order(s, order.id, CUSTOMER).changed
    again = book_one(sessions, user_id=101, party=5).change
    assert again and again.order.details["table"] == "Зал 6"


def test_a_confirmed_booking_keeps_its_table(sessions):
    synced(sessions)
    order = book_one(sessions, party=5).change.order
    with sessions.begin() as s:
        dbf.decide(s, order.id, 200, d.Status.CONFIRMED, utcnow())
    assert book_one(sessions, party=5).change is None


def test_a_stale_read_is_caught_by_the_database_and_the_next_table_is_tried(sessions, monkeypatch):
    """If the Python check misses a booking (as under a race), the database refuses the insert;
    only the savepoint is undone, and the next free table is booked in the same transaction."""
    synced(sessions)
    book_one(sessions, party=2)  # "Зал 2" at 19:00
    real = dbf.busy_between
    calls = []
    monkeypatch.setattr(dbf, "busy_between",
                        lambda *a, **kw: calls.append(1) or ([] if len(calls) == 1 else real(*a, **kw)))
    with sessions.begin() as s:
        booked = dbf.book_table(s, booking_effect(party=2), 101, utcnow())
        dbf.enqueue(s, [d.Reply.send(101, "the event's other writes survive")])
    assert booked.change.order.details["table"] == "Зал 4" and len(calls) == 2
    with sessions.begin() as s:
        rows = s.scalars(select(Booking).where(Booking.active.is_(True))).all()
        assert len(rows) == 2 and s.scalar(select(text("count(*)")).select_from(Order.__table__)) == 2


def race(sessions, party: int, racers: int = 2) -> list[d.Booked]:
    """`racers` customers book the same time at once, each in its own transaction and connection,
    each holding it open a moment after booking. PostgreSQL queues them on the tables' row locks,
    SQLite on BEGIN IMMEDIATE; the later ones then see what the earlier ones booked."""
    barrier = threading.Barrier(racers)
    results: list[d.Booked] = []

    def customer(user_id: int) -> None:
        barrier.wait()
        with sessions.begin() as s:
            results.append(dbf.book_table(s, booking_effect(party=party), user_id, utcnow()))
            time.sleep(0.1)

    threads = [threading.Thread(target=customer, args=(300 + n,)) for n in range(racers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_two_customers_race_for_the_last_table(sessions):
    synced(sessions)
    results = race(sessions, party=5)  # only "Зал 6" seats five
    assert sorted(r.change is not None for r in results) == [False, True]
    with sessions.begin() as s:
        assert len(s.scalars(select(Booking)).all()) == 1
        assert s.scalar(select(text("count(*)")).select_from(Order.__table__)) == 1  # the loser left nothing


def test_racers_for_one_table_type_get_the_next_smallest_tables(sessions):
    synced(sessions)
    results = race(sessions, party=2, racers=3)
    assert sorted(r.change.order.details["table"] for r in results) == ["Зал 2", "Зал 4", "Зал 6"]


def test_bookings_between_for_the_managers_day(sessions):
    synced(sessions)
    late = book_one(sessions, party=2, start=SEVEN_PM).change.order
    early = book_one(sessions, party=4, start=SEVEN_PM - timedelta(hours=5)).change.order
    gone = book_one(sessions, party=2, start=SEVEN_PM - timedelta(hours=3)).change.order
    book_one(sessions, party=2, start=SEVEN_PM + timedelta(days=1))
    with sessions.begin() as s:
        dbf.cancel_order(s, gone.id, CUSTOMER)
    day = view_of(sessions, lambda v: v.bookings_between(SEVEN_PM - timedelta(hours=12), SEVEN_PM + timedelta(hours=5)))
    assert [(b.order_id, b.table, b.party, b.name) for b in day] == [(early.id, "Зал 4", 4, "Анна"),
                                                                       (late.id, "Зал 2", 2, "Анна")]
    assert day[0].starts_at == SEVEN_PM - timedelta(hours=5) and day[0].status == d.Status.PENDING
