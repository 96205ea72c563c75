"""Moving a booking, one layer down: the handler chain over a café in memory (tests/chat.py),
from My orders' «Перенести» through the date, the time and the summary to Send and its
follow-up; what the database says is handed in as the store's result."""
from __future__ import annotations

from datetime import datetime, timedelta

import dialogue as d
import messages as msg
import planning
from test_handlers_booking import CUSTOMER, MANAGER, NOW, OTHER_MANAGER, Chat, booking_order, cafe_view, msk

MOVE = msg.BTN_MOVE_ORDER.format(id=31)


def chat_with(*orders, busy=()) -> Chat:
    """A chat over these orders; each active booking holds its table (all are on Зал 2, id 2)."""
    view = cafe_view(orders=list(orders))
    held = [(2, datetime.fromisoformat(o.details["start"])) for o in orders if o.status in d.CANCELLABLE]
    for table_id, start in [*held, *busy]:
        view.take(table_id, start)
    return Chat(view)


def at_move_summary(chat: Chat, day="Чт 18.06", time="20:00") -> Chat:
    chat.says("Мои заказы")
    chat.presses(MOVE)
    assert chat.state == d.State.RS_DATE, chat.text
    chat.presses(day)
    assert chat.state == d.State.RS_TIME, chat.text
    chat.says(time)
    assert chat.state == d.State.RS_CONFIRM, chat.text
    return chat


def test_my_orders_offers_to_move_an_upcoming_booking_only():
    past = booking_order(1, start=NOW - timedelta(days=1))
    cancelled = booking_order(2, status=d.Status.CANCELLED)
    chat = chat_with(past, cancelled, booking_order(31, status=d.Status.CONFIRMED))
    out = chat.says("Мои заказы")
    assert msg.MY_ORDERS_CAN_MOVE.strip() in out.replies[0].text
    assert chat.buttons == ["Перенести №31", "Отменить №31"]


def test_a_move_goes_through_date_time_and_a_summary_of_old_and_new():
    chat = at_move_summary(chat_with(booking_order(31, status=d.Status.CONFIRMED)))
    assert "Было: ср, 17.06.2026, 19:00–21:00" in chat.text
    assert "Станет: чт, 18.06.2026, 20:00–22:00" in chat.text
    assert chat.buttons == [msg.BTN_SEND, msg.BTN_BACK, msg.BTN_CANCEL]
    out = chat.presses(msg.BTN_SEND)
    (effect,) = out.effects
    assert isinstance(effect, d.Reschedule)
    assert (effect.order_id, effect.user_id, effect.start) == (31, CUSTOMER, msk(18, 20))
    assert effect.details["when"] == "чт, 18.06.2026, 20:00–22:00" and effect.details["party"] == 4
    # the jobs move with it: planned for the new start, from now
    assert effect.plans == planning.order_plans(31, NOW, msk(18, 20), chat.ctx.timing, chat.ctx.tz)


def test_the_own_booking_does_not_block_a_move_by_half_an_hour():
    """Zal 2 is the only 4-seat hall table left free: the own booking at 19:00 on it is not taken."""
    chat = chat_with(booking_order(31), busy=[(3, msk(17, 18))])
    chat.says("Мои заказы")
    chat.presses(MOVE)
    chat.presses("Ср 17.06")
    chat.says("19:30")
    assert chat.state == d.State.RS_CONFIRM, chat.text
    out = chat.presses(msg.BTN_SEND)
    assert out.effects[0].start == msk(17, 19, 30)


def test_the_same_time_again_is_no_move():
    chat = chat_with(booking_order(31))
    chat.says("Мои заказы")
    chat.presses(MOVE)
    chat.presses("Ср 17.06")
    chat.says("19:00")
    assert chat.state == d.State.RS_TIME and msg.MOVE_SAME_TIME in chat.text


def test_only_the_owner_may_move_and_not_a_cancelled_or_past_booking():
    other = d.OrderInfo(id=40, user_id=999, kind="booking", status=d.Status.PENDING,
                        details=booking_order().details, created_at=NOW)
    chat = chat_with(other, booking_order(41, status=d.Status.CANCELLED),
                     booking_order(42, start=NOW - timedelta(hours=1)))
    press = lambda order: chat.says("", {"cmd": msg.CMD_MOVE, msg.ARG_ORDER: order})  # noqa: E731
    assert press(40).replies[0].text == msg.ORDER_NOT_FOUND
    assert press(41).replies[0].text == msg.MOVE_NOT_POSSIBLE.format(id=41, status="отменена")
    assert press(42).replies[0].text == msg.MOVE_PAST.format(id=42)
    assert press(2**70).replies[0].text == msg.ORDER_NOT_FOUND
    assert chat.state == d.State.MENU


def test_a_time_taken_before_send_offers_the_nearest_and_keeps_the_booking():
    chat = at_move_summary(chat_with(booking_order(31)))
    for table_id in (1, 2, 3):  # every hall table at 20:00 taken meanwhile
        chat.view.take(table_id, msk(18, 20))
    out = chat.presses(msg.BTN_SEND)
    assert not out.effects and chat.state == d.State.RS_TIME
    assert msg.MOVE_TAKEN in chat.text and "18:00" in chat.buttons and "20:00" not in chat.buttons


def test_the_follow_up_of_a_refused_move_offers_other_times():
    chat = at_move_summary(chat_with(booking_order(31)))
    chat.presses(msg.BTN_SEND)
    for table_id in (1, 2, 3):
        chat.view.take(table_id, msk(18, 20))
    out = chat.stored(d.Booked(None))
    assert chat.state == d.State.RS_TIME and msg.MOVE_TAKEN in out.replies[-1].text
    assert not any(r.peer_id in (MANAGER, OTHER_MANAGER) for r in out.replies)


def test_the_follow_up_of_a_move_tells_everyone():
    chat = at_move_summary(chat_with(booking_order(31, status=d.Status.CONFIRMED)))
    chat.presses(msg.BTN_SEND)
    moved = booking_order(31, start=msk(18, 20), when="чт, 18.06.2026, 20:00–22:00", table="Зал 3")
    out = chat.stored(d.Booked(d.OrderChange(True, moved, {MANAGER: 7, OTHER_MANAGER: 8})))
    told, *rest = out.replies
    assert told.peer_id == CUSTOMER and "перенесена на чт, 18.06.2026, 20:00–22:00" in told.text
    edits = [r for r in rest if r.kind == d.ReplyKind.EDIT]
    cards = [r for r in rest if r.kind == d.ReplyKind.SEND]
    assert [(e.peer_id, e.cmid) for e in edits] == [(MANAGER, 7), (OTHER_MANAGER, 8)]
    assert all("ср, 17.06.2026, 19:00–21:00" in e.text and "чт, 18.06.2026" in e.text and e.keyboard is None
               for e in edits)
    assert [c.peer_id for c in cards] == [MANAGER, OTHER_MANAGER]
    assert all(c.card_order_id == 31 and "Подтвердить" in (c.keyboard or "") for c in cards)
    assert chat.state == d.State.MENU


def test_a_move_too_late_says_so():
    chat = at_move_summary(chat_with(booking_order(31)))
    chat.presses(msg.BTN_SEND)
    out = chat.stored(d.Booked(d.OrderChange(False, booking_order(31, status=d.Status.CANCELLED))))
    assert out.replies[-1].text.startswith(msg.MOVE_TOO_LATE.format(id=31, status="отменена"))
    assert chat.state == d.State.MENU


def test_back_and_restart_inside_a_move():
    chat = at_move_summary(chat_with(booking_order(31)))
    chat.presses(msg.BTN_BACK)
    assert chat.state == d.State.RS_TIME
    chat.says("", {"cmd": msg.CMD_RESTART})
    assert chat.state == d.State.RS_DATE and chat.dialogue.data["order"] == 31
    assert "start" not in chat.dialogue.data
