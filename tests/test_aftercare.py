"""aftercare.py one layer down: what each due job decides, over chat.FakeView (no database)."""
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import aftercare
import dialogue as d
import messages as msg
import planning
from chat import FakeView
from planning import JobPlan
from support import labels

UTC = timezone.utc
MSK = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 6, 15, 9, 0, tzinfo=UTC)  # Monday 12:00 in Moscow
START = datetime(2026, 6, 17, 16, 0, tzinfo=UTC)
MANAGERS = frozenset({200, 201})


def booking(status=d.Status.PENDING, start=START, **extra) -> d.OrderInfo:
    details = {"start": start.isoformat(), "when": "ср, 17.06.2026, 19:00–21:00", "date": "17.06", "time": "19:00",
               "table": "Зал 2", "name": "Анна"}
    return d.OrderInfo(id=7, user_id=100, kind="booking", status=status, details=details, created_at=NOW, **extra)


def ctx(now=NOW, orders=(), **timing) -> d.Context:
    return d.Context(manager_ids=MANAGERS, scenarios=("booking",), now=now, tz=MSK, view=FakeView(orders=orders),
                     timing=planning.Timing(**timing))


def job(kind: str, subject: int = 7) -> JobPlan:
    return JobPlan(kind, subject, NOW)


def test_the_manager_reminder_names_the_order_to_every_manager_while_it_is_pending():
    decision = aftercare.decide(job(planning.MANAGER_REMINDER), booking(), ctx())
    assert decision.result == planning.DONE
    assert sorted(r.peer_id for r in decision.outcome.replies) == sorted(MANAGERS)
    assert all(r.text.startswith("⏰ Бронь №7 «Столик на 17.06 в 19:00» всё ещё ждёт решения")
               for r in decision.outcome.replies)
    for status in (d.Status.CONFIRMED, d.Status.CANCELLED, d.Status.EXPIRED):
        assert aftercare.decide(job(planning.MANAGER_REMINDER), booking(status), ctx()).result == planning.SKIPPED


def test_the_manager_reminder_and_the_digest_wait_for_the_end_of_quiet_hours():
    late = datetime(2026, 6, 15, 20, 0, tzinfo=UTC)  # 23:00 in Moscow
    nine = datetime(2026, 6, 16, 6, 0, tzinfo=UTC)
    for kind, subject in ((planning.MANAGER_REMINDER, 7), (planning.DIGEST, 20260615)):
        decision = aftercare.decide(job(kind, subject), booking(), ctx(now=late))
        assert (decision.result, decision.due_at) == (planning.POSTPONE, nine)
    assert aftercare.decide(job(planning.EXPIRE), booking(), ctx(now=late)).result == planning.DONE  # not bound


def test_the_expiry_asks_to_expire_a_pending_order_and_says_nothing_if_it_was_decided_meanwhile():
    decision = aftercare.decide(job(planning.EXPIRE), booking(), ctx())
    assert decision.outcome.effects == (d.ExpireOrder(7),) and decision.outcome.replies == ()
    event = d.Incoming(kind="other", event_id="job:1", user_id=100, peer_id=100)
    expired = booking(d.Status.EXPIRED)
    told = aftercare.after_expire(d.ExpireOrder(7), d.OrderChange(True, expired, {200: 11}), event, ctx())
    customer, card = told.replies
    assert customer.peer_id == 100 and customer.text.startswith("Простите, по брони №7")
    assert msg.BTN_BOOK in labels(customer) and "⌛ Никто не ответил вовремя: бронь закрыта без ответа, клиент предупреждён" in card.text and card.cmid == 11
    confirmed = booking(d.Status.CONFIRMED)
    assert aftercare.after_expire(d.ExpireOrder(7), d.OrderChange(False, confirmed), event, ctx()).replies == ()


def test_a_guest_reminder_has_its_two_buttons_and_is_dropped_once_the_booking_started():
    kind = planning.guest_reminder_kind(timedelta(hours=2))
    decision = aftercare.decide(job(kind), booking(d.Status.CONFIRMED), ctx())
    [reminder] = decision.outcome.replies
    assert reminder.peer_id == 100 and labels(reminder) == [msg.BTN_COMING, msg.BTN_CANCEL_BOOKING]
    assert aftercare.decide(job(kind), booking(), ctx(now=START)).result == planning.DROPPED
    assert aftercare.decide(job(kind), booking(d.Status.CANCELLED), ctx()).result == planning.SKIPPED


def test_the_visit_question_goes_to_every_manager_for_a_confirmed_booking_not_yet_marked():
    decision = aftercare.decide(job(planning.VISIT), booking(d.Status.CONFIRMED), ctx())
    assert [labels(r) for r in decision.outcome.replies] == [[msg.BTN_CAME, msg.BTN_NO_SHOW]] * 2
    marked = booking(d.Status.CONFIRMED, visit=msg.VISIT_NO_SHOW, visit_by=200)
    assert aftercare.decide(job(planning.VISIT), marked, ctx()).result == planning.SKIPPED
    assert aftercare.decide(job(planning.VISIT), booking(), ctx()).result == planning.SKIPPED


def test_a_second_visit_mark_is_told_who_marked_first():
    press = d.Incoming(kind="callback", event_id="e", user_id=201, peer_id=201, callback_id="cb",
                       payload={"cmd": msg.CMD_VISIT, msg.ARG_ORDER: 7, msg.ARG_VISIT: msg.VISIT_CAME})
    marked = booking(d.Status.CONFIRMED, visit=msg.VISIT_NO_SHOW, visit_by=200)
    out = aftercare.after_visit(d.MarkVisit(7, 201, msg.VISIT_CAME), d.OrderChange(False, marked), press, ctx())
    assert [r.text for r in out.replies] == [msg.SNACK_VISIT_BY_OTHER.format(id=7, manager=200)]
    stranger = d.Incoming(kind="callback", event_id="f", user_id=100, peer_id=100, callback_id="cb",
                          payload=press.payload)
    assert aftercare.on_visit_mark(stranger, d.Conversation(), ctx(orders=[marked])).effects[-1].__class__ is d.Warn


def test_the_digest_lists_what_is_pending_on_its_own_day_and_is_dropped_the_next():
    today = int(NOW.astimezone(MSK).strftime("%Y%m%d"))
    decision = aftercare.decide(job(planning.DIGEST, today), None, ctx(orders=[booking()]))
    assert all("Ждут решения (1)" in r.text and msg.DIGEST_NO_BOOKINGS in r.text for r in decision.outcome.replies)
    assert aftercare.decide(job(planning.DIGEST, today - 1), None, ctx()).result == planning.DROPPED
