"""The edges of the dialogue end to end (issue 17): ids beyond 64 bits, a task longer than a VK
message, thirty orders to page through and cancel, dates as people write them, presses repeated or
left over from an earlier step, names in another Unicode form. The real bot loop and vk_api client
against the emulator, on SQLite and PostgreSQL."""
import re
from datetime import datetime, timezone

from sqlalchemy import func, select

import db_functions as dbf
import dialogue as d
import messages as msg
import services
from db_models import Booking, Order, utcnow
from support import CUSTOMER_ID, MANAGER_IDS, Person, card_of

UTC = timezone.utc
BEYOND = 2**63  # 9223372036854775808: one past the largest id the database holds
SENT = re.compile(r"Заказ №(\d+) отправлен")
BOOKED = re.compile(r"Бронь №(\d+) отправлена")
LOGO = {"service": "logo", "title": "Дизайн логотипа", "price": 5000, "price_from": True, "task": "Логотип",
        "attachments": [], "deadline": "asap", "contact": "vk"}


def at(moment: datetime):
    return lambda: moment


def seed_orders(runner, count: int, user_id: int = CUSTOMER_ID) -> list[int]:
    """`count` pending service orders of `user_id`, stored as the bot stores them."""
    event = d.Incoming(kind="message", event_id="seed", user_id=user_id, peer_id=user_id)
    with runner.bot.sessions.begin() as s:
        return [dbf.store(s, d.CreateOrder(d.OrderKind.SERVICE, LOGO), event, utcnow()).order.id
                for _ in range(count)]


def order_count(runner) -> int:
    with runner.bot.sessions.begin() as s:
        return s.scalar(select(func.count()).select_from(Order))


def to_service_summary(customer, task="Логотип для кофейни") -> None:
    customer.says("Привет")
    customer.presses(msg.BTN_SERVICES)
    customer.presses("Дизайн логотипа")
    customer.says(task)
    customer.presses(msg.BTN_ASAP)
    customer.presses(msg.BTN_CONTACT_VK)
    assert customer.text.startswith("Проверьте, пожалуйста, заказ"), customer.text


# --- Point 2: an id beyond 64 bits is an unknown id ----------------------------------------------
def test_a_customers_cancel_press_with_an_id_beyond_64_bits_is_an_unknown_order(customer, emu, bot):
    seed_orders(bot, 1)
    for payload in ({"cmd": "ocancel", "o": BEYOND}, {"cmd": "ocancel", "o": BEYOND, "y": 1}):
        replies = customer._act(emu.send_text(CUSTOMER_ID, "x", payload=payload))
        assert [r.text for r in replies] == [msg.ORDER_NOT_FOUND]
    assert customer.says("Отменить №9223372036854775808")[0].text == msg.ORDER_NOT_FOUND
    assert customer.says("Привет")[0].text == msg.GREETING  # the bot goes on


def test_a_managers_decision_with_an_id_beyond_64_bits_is_refused_like_an_unknown_order(customer, managers,
                                                                                         emu, bot):
    (order_id,) = seed_orders(bot, 1)
    bot.settle(emu.press_callback(MANAGER_IDS[0], {"cmd": "decide", "o": BEYOND, "d": "ok"}))
    assert [s.get("text") for s in emu.snackbars(MANAGER_IDS[0])] == [msg.SNACKBAR_OUTDATED]
    with bot.bot.sessions.begin() as s:
        assert s.get(Order, order_id).status == "pending"
    assert managers[0].says("Заявки")[0].text.startswith("Ждут решения (1):")


# --- Point 3: a long task --------------------------------------------------------------------------
def test_a_10238_character_task_is_kept_to_the_limit_at_a_word_said_and_marked(customer, managers, emu, bot):
    long_task = " ".join(f"пункт{i}" for i in range(1500))[:10_238]
    to_service_summary(customer, long_task)
    summary = customer.text
    assert summary.endswith(msg.TASK_CUT_NOTE.format(limit=services.MAX_TASK)) and len(summary) <= 4096
    order_id = int(SENT.search(customer.presses(msg.BTN_SEND)[0].text).group(1))
    with bot.bot.sessions.begin() as s:
        task = s.get(Order, order_id).details["task"]
    assert services.MAX_TASK - 10 < len(task) <= services.MAX_TASK and long_task[len(task)] == " "
    for manager_id in MANAGER_IDS:
        card = card_of(emu, manager_id, order_id)
        assert f"Задача: {task}{msg.TASK_CUT_MARK}" in card.text and len(card.text) <= 4096
    managers[0].presses(msg.BTN_REJECT)
    managers[0].says("п" * 1000)  # the longest reason the card keeps: the edited card still fits
    card = card_of(emu, MANAGER_IDS[0], order_id)
    assert "Причина: " + "п" * 1000 in card.text and msg.TASK_CUT_MARK in card.text and len(card.text) <= 4096


# --- Point 5: thirty orders -----------------------------------------------------------------------
def test_cancel_the_25th_of_30_orders_by_button_and_by_typing(customer, managers, emu, bot):
    ids = seed_orders(bot, 30)
    listing = customer.says("Мои заказы")[0]
    assert f"№{ids[29]} ·" in listing.text and f"Отменить №{ids[24]}" in customer.buttons
    assert customer.presses(f"Отменить №{ids[24]}")[0].text == f"Отменить заказ №{ids[24]} «Дизайн логотипа»?"
    assert customer.presses(f"Да, отменить №{ids[24]}")[0].text == msg.ORDER_CANCELLED.format(id=ids[24])
    assert customer.says(f"Отменить №{ids[23]}")[0].text == f"Отменить заказ №{ids[23]} «Дизайн логотипа»?"
    assert customer.presses(f"Да, отменить №{ids[23]}")[0].text == msg.ORDER_CANCELLED.format(id=ids[23])
    # The 25th newest is on the last page, with its button.
    customer.says("Мои заказы")
    for _ in range(3):
        customer.presses(msg.BTN_NEXT)
    assert "(стр. 4)" in customer.text and f"Отменить №{ids[5]}" in customer.buttons
    customer.presses(f"Отменить №{ids[5]}")
    customer.presses(f"Да, отменить №{ids[5]}")
    with bot.bot.sessions.begin() as s:
        cancelled = s.scalars(select(Order.id).where(Order.status == "cancelled").order_by(Order.id)).all()
    assert cancelled == [ids[5], ids[23], ids[24]]
    assert emu.last_message(MANAGER_IDS[0]).text.startswith(f"🚫 Клиент отменил заказ №{ids[5]}")


def test_managers_page_through_every_pending_order(managers, emu, bot):
    ids = seed_orders(bot, 45)
    first = managers[0].says("Заявки")[0]
    assert first.text.startswith("Ждут решения (45), стр. 1 из 3:") and managers[0].buttons == [msg.BTN_NEXT]
    seen = [int(n) for n in re.findall(r"^№(\d+) ·", first.text, re.M)]
    seen += [int(n) for n in re.findall(r"^№(\d+) ·", managers[0].presses(msg.BTN_NEXT)[0].text, re.M)]
    last = managers[0].presses(msg.BTN_NEXT)[0]
    seen += [int(n) for n in re.findall(r"^№(\d+) ·", last.text, re.M)]
    assert seen == ids and managers[0].buttons == [msg.BTN_PREV]
    assert managers[0].presses(msg.BTN_PREV)[0].text.startswith("Ждут решения (45), стр. 2 из 3:")


# --- Point 6: «31 декабря» ---------------------------------------------------------------------------
def at_the_date_step(running, emu, now: datetime) -> tuple:
    """The example café at `now` (its clock), and Anna on its date step for two in the main hall."""
    cafe = running(clock=at(now))
    anna = Person(emu, cafe, CUSTOMER_ID)
    anna.says("Привет")
    anna.presses(msg.BTN_BOOK)
    anna.presses("2")
    anna.presses("Основной зал")
    return cafe, anna


def at_the_name_step(running, emu):
    """Anna on the name step of a table on Wednesday 17.06.2026 at 13:00."""
    cafe, anna = at_the_date_step(running, emu, datetime(2026, 6, 15, 9, 0, tzinfo=UTC))  # a Monday
    anna.presses("Ср 17.06")
    anna.presses("13:00")
    return anna


def test_31_december_typed_is_booked(running, emu):
    cafe, anna = at_the_date_step(running, emu, datetime(2025, 12, 29, 9, 0, tzinfo=UTC))  # a Monday
    assert anna.says("31 декабря")[0].text.startswith("Ср, 31.12.2025")
    anna.says("19:00")
    anna.says("Анна")
    assert "Когда: ср, 31.12.2025, 19:00–21:00" in anna.says("+7 912 345 67 89")[0].text
    order_id = int(BOOKED.search(anna.presses(msg.BTN_SEND)[0].text).group(1))
    with cafe.bot.sessions.begin() as s:
        booking = s.scalar(select(Booking).where(Booking.order_id == order_id))
        assert booking.starts_at.replace(tzinfo=UTC) == datetime(2025, 12, 31, 16, 0, tzinfo=UTC)


# --- Point 7: presses repeated or left over ---------------------------------------------------------
def test_a_second_send_says_the_order_was_sent_already(customer, emu, bot):
    to_service_summary(customer)
    order_id = int(SENT.search(customer.presses(msg.BTN_SEND)[0].text).group(1))
    again = customer.presses(msg.BTN_SEND)  # the summary's Send, pressed again
    assert again[0].text.startswith(f"Это уже отправлено ✅ №{order_id} «Дизайн логотипа» — ждёт ответа менеджера.")
    assert order_count(bot) == 1 and len(emu.messages(MANAGER_IDS[0])) == 1  # one order, one card


def test_a_time_button_pressed_on_the_phone_step_says_the_time_is_chosen(running, emu):
    anna = at_the_name_step(running, emu)
    anna.says("Анна")
    replies = anna.presses("14:00")  # another time button of the message before
    assert [r.text for r in replies] == [f"{msg.STEP_DONE[msg.CMD_SLOT]}\n\n{msg.ASK_BOOKING_PHONE}"]
    assert "Когда: ср, 17.06.2026, 13:00–15:00" in anna.says("+7 912 345 67 89")[0].text


# --- Point 10: names as people write them -------------------------------------------------------------
def test_a_decomposed_name_is_accepted_and_a_very_long_one_is_too_long(running, emu):
    anna = at_the_name_step(running, emu)
    assert anna.says("я" * 10_000)[0].text == msg.NAME_TOO_LONG.format(max=50)
    anna.says("И\u0306ван")
    assert "Имя: Йван\n" in anna.says("+7 912 345 67 89")[0].text
