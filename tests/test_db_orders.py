"""Orders in the database, on SQLite and PostgreSQL: the first decision wins even when two
managers' transactions run at once, cancellation and the reject reason are atomic too, and
the view reads what the handlers need."""
import threading
import time
from datetime import timedelta

import db_catalogue as dbc
import db_functions as dbf
import db_outbox as dbo
import dialogue as d
from catalogue import Service
from db_models import Order, utcnow

CUSTOMER, MANAGER, OTHER = 100, 200, 201


def new_order(sessions, user_id=CUSTOMER, created_at=None) -> int:
    event = d.Incoming(kind="message", event_id="e", user_id=user_id, peer_id=user_id)
    with sessions.begin() as s:
        change = dbf.store(s, d.CreateOrder("service", {"title": "Логотип"}), event, created_at or utcnow())
    assert change.changed and change.order.status == d.Status.PENDING
    return change.order.id


def test_two_managers_at_once_one_decision(sessions):
    """Real concurrent transactions: each manager's UPDATE waits for the other's lock; one wins."""
    for _ in range(5):
        order_id = new_order(sessions)
        barrier = threading.Barrier(2)
        results: dict[int, d.OrderChange] = {}

        def press(manager_id: int, confirm: bool) -> None:
            barrier.wait()
            with sessions.begin() as s:
                status = d.Status.CONFIRMED if confirm else d.Status.REJECTED
                results[manager_id] = dbf.decide(s, order_id, manager_id, status, utcnow())
                time.sleep(0.1)  # hold the transaction open: the other one must wait, not slip past

        threads = [threading.Thread(target=press, args=(MANAGER, True)), threading.Thread(target=press, args=(OTHER, False))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        winners = [m for m, r in results.items() if r.changed]
        assert len(results) == 2 and len(winners) == 1
        loser = OTHER if winners[0] == MANAGER else MANAGER
        assert results[loser].order.decided_by == winners[0]  # the loser learns who decided
        with sessions.begin() as s:
            row = s.get(Order, order_id)
            assert row.decided_by == winners[0]
            assert row.status == (d.Status.CONFIRMED if winners[0] == MANAGER else d.Status.REJECTED)


def test_decision_after_cancellation_changes_nothing(sessions):
    order_id = new_order(sessions)
    with sessions.begin() as s:
        assert dbf.cancel_order(s, order_id, CUSTOMER).changed
    with sessions.begin() as s:
        change = dbf.decide(s, order_id, MANAGER, d.Status.CONFIRMED, utcnow())
    assert not change.changed and change.order.status == d.Status.CANCELLED and change.order.decided_by is None


def test_cancellation_rules(sessions):
    confirmed, rejected, foreign = new_order(sessions), new_order(sessions), new_order(sessions, user_id=999)
    with sessions.begin() as s:
        dbf.decide(s, confirmed, MANAGER, d.Status.CONFIRMED, utcnow())
        dbf.decide(s, rejected, MANAGER, d.Status.REJECTED, utcnow())
    with sessions.begin() as s:
        assert dbf.cancel_order(s, confirmed, CUSTOMER).changed
        assert not dbf.cancel_order(s, confirmed, CUSTOMER).changed  # twice: once
        refused = dbf.cancel_order(s, rejected, CUSTOMER)
        assert not refused.changed and refused.order.status == d.Status.REJECTED
        assert dbf.cancel_order(s, foreign, CUSTOMER) == d.OrderChange(False, None)  # says nothing about it
        assert dbf.cancel_order(s, 10_000, CUSTOMER).order is None
    with sessions.begin() as s:
        assert s.get(Order, foreign).status == d.Status.PENDING


def test_reject_reason_only_by_the_rejecting_manager_and_once(sessions):
    order_id = new_order(sessions)
    with sessions.begin() as s:
        assert not dbf.set_reject_reason(s, order_id, MANAGER, "рано").changed  # not rejected yet
        dbf.decide(s, order_id, MANAGER, d.Status.REJECTED, utcnow())
        assert not dbf.set_reject_reason(s, order_id, OTHER, "чужая").changed
        assert dbf.set_reject_reason(s, order_id, MANAGER, "Нет мастеров").order.reject_reason == "Нет мастеров"
        assert not dbf.set_reject_reason(s, order_id, MANAGER, "ещё раз").changed


def test_change_carries_the_delivered_cards(sessions):
    order_id = new_order(sessions)
    with sessions.begin() as s:
        rows = dbf.enqueue(s, [d.Reply.send(MANAGER, "card", card_order_id=order_id),
                               d.Reply.send(OTHER, "card", card_order_id=order_id)])
        dbo.mark_sent(s, rows[0].id, cmid=41)
        dbo.mark_sent(s, rows[1].id, cmid=42)
    with sessions.begin() as s:
        assert dbf.decide(s, order_id, MANAGER, d.Status.CONFIRMED, utcnow()).cards == {MANAGER: 41, OTHER: 42}


def test_view(sessions):
    with sessions.begin() as s:
        dbc.sync_services(s, [Service("b", "Б", price=1, position=2), Service("a", "А", price=2, position=1),
                              Service("off", "Скрыта", price=3, active=False)])
    now = utcnow()
    first = new_order(sessions, created_at=now - timedelta(days=2))
    second, other = new_order(sessions, created_at=now), new_order(sessions, user_id=999, created_at=now)
    with sessions.begin() as s:
        dbf.decide(s, first, MANAGER, d.Status.CONFIRMED, now)
    with sessions.begin() as s:
        view = dbf.SessionView(s, dbc.load_catalogue_snapshot(s))
        assert [x.key for x in view.services()] == ["a", "b"]
        assert view.service("off").active is False and view.service("nope") is None
        assert [o.id for o in view.orders_of(CUSTOMER)] == [second, first]
        assert view.order(first).status == d.Status.CONFIRMED and view.order(first).decided_by == MANAGER
        assert view.order(10_000) is None
        assert [o.id for o in view.pending_orders()] == [second, other]
        assert [o.id for o in view.orders_between(now - timedelta(hours=1), now + timedelta(hours=1))] == [second, other]
        assert view.status_counts() == {"pending": 2, "confirmed": 1}
        assert view.order(second).created_at.tzinfo is not None
