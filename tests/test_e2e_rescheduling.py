"""Moving a booking, end to end: the real bot and vk_api against the emulator, on SQLite and
PostgreSQL, the example café (Зал 3 seats four, Зал 4 six). The bot's clock is fixed (Monday 12:00),
never slept."""
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

import messages as msg
from db_models import Booking, Job, Order
from support import MANAGER_IDS, card_of
from test_e2e_booking import anna, book, boris, cafe, managers  # noqa: F401 (the café's fixtures)

UTC = timezone.utc
THURSDAY_8PM = datetime(2026, 6, 18, 17, 0, tzinfo=UTC)  # 20:00 in Moscow
SECOND_CUSTOMER = 101  # boris


def held(cafe, order_id: int) -> tuple:
    with cafe.bot.sessions.begin() as s:
        order = s.get(Order, order_id)
        row = s.scalars(select(Booking).where(Booking.order_id == order_id)).one()
        return order.status, order.details["table"], row.id, row.table_id, row.starts_at, row.active


def jobs_of(cafe, order_id: int) -> dict:
    with cafe.bot.sessions.begin() as s:
        return {j.kind: j.due_at for j in s.scalars(select(Job).where(Job.subject == order_id, Job.done_at.is_(None)))}


def to_move_summary(anna, order_id: int, day="Чт 18.06", time="20:00") -> None:
    anna.says("Мои заказы")
    anna.presses(msg.BTN_MOVE_ORDER.format(id=order_id))
    anna.presses(day)
    anna.says(time)
    assert anna.text.startswith(f"Перенести бронь №{order_id}?"), anna.text


def test_a_move_frees_the_old_table_returns_to_pending_with_new_cards_and_moves_the_jobs(anna, boris, managers,
                                                                                          emu, cafe):
    order_id = book(anna)  # Wed 17.06 19:00, four guests: Зал 3
    managers[0].presses(msg.BTN_CONFIRM)
    before = held(cafe, order_id)
    assert before[:2] == ("confirmed", "Зал 3")
    old_reminder = jobs_of(cafe, order_id)["remind_120m"]
    to_move_summary(anna, order_id)
    assert "Было: ср, 17.06.2026, 19:00–21:00" in anna.text and "Станет: чт, 18.06.2026, 20:00–22:00" in anna.text
    replies = anna.presses(msg.BTN_SEND)
    assert f"Бронь №{order_id} перенесена на чт, 18.06.2026, 20:00–22:00" in replies[0].text
    status, table, booking_id, _, starts_at, active = held(cafe, order_id)
    assert (status, booking_id, starts_at, active) == ("pending", before[2], THURSDAY_8PM, True)
    for manager in MANAGER_IDS:
        card = card_of(emu, manager, order_id)  # the new card (the old one now says it moved)
        assert "чт, 18.06.2026, 20:00–22:00" in card.text and msg.BTN_CONFIRM in str(card.keyboard)
        moved = [m for m in emu.messages(manager) if m.text.startswith(f"🔁 Бронь №{order_id}")]
        assert len(moved) == 1 and "ср, 17.06.2026, 19:00–21:00" in moved[0].text and not moved[0].keyboard
    jobs = jobs_of(cafe, order_id)
    assert jobs["remind_120m"] == THURSDAY_8PM - timedelta(hours=2) != old_reminder
    assert jobs["visit"] == THURSDAY_8PM + timedelta(minutes=30)
    managers[1].presses(msg.BTN_CONFIRM)  # the new card decides
    assert held(cafe, order_id)[0] == "confirmed"
    assert "✅ Подтвердил" in card_of(emu, MANAGER_IDS[0], order_id).text  # the new card is the one edited
    assert book(boris) and held(cafe, order_id + 1)[1] == "Зал 3"  # the old slot's table is free again


def test_a_move_that_finds_the_new_time_taken_keeps_the_old_booking(anna, boris, emu, cafe):
    order_id = book(anna)
    before = held(cafe, order_id)
    to_move_summary(anna, order_id)
    book(boris, day="Чт 18.06", time="20:00")  # Зал 3
    book(boris, day="Чт 18.06", time="20:00")  # Зал 4: no table for four is left at 20:00
    replies = anna.presses(msg.BTN_SEND)
    assert replies[0].text.startswith(msg.MOVE_TAKEN) and "20:00" not in anna.buttons and anna.buttons
    assert held(cafe, order_id) == before
    anna.presses(anna.buttons[0])  # one of the nearest free times
    assert anna.text.startswith(f"Перенести бронь №{order_id}?")


def test_only_the_owner_moves_and_not_a_cancelled_booking(anna, boris, emu, cafe):
    order_id = book(anna)
    other = emu.send_text(SECOND_CUSTOMER, "", payload={"cmd": msg.CMD_MOVE, msg.ARG_ORDER: order_id})
    cafe.settle(other)
    assert boris.text == msg.ORDER_NOT_FOUND
    anna.says(f"Отменить №{order_id}")
    anna.presses(msg.BTN_SURE_CANCEL.format(id=order_id))
    anna.says("Мои заказы")
    assert msg.BTN_MOVE_ORDER.format(id=order_id) not in anna.buttons
