"""Attachments in an order, and the words and buttons of what the customer is told, end to end:
the real bot loop and vk_api client against the emulator, on SQLite and PostgreSQL. The manager's
card forwards the customer's own messages (the emulator records exactly which ones)."""
import json

import pytest

import messages as msg
from support import CUSTOMER_ID, MANAGER_IDS, Person, card_of, labels
from test_e2e_booking import MONDAY, book
from test_e2e_services import SENT
from vk_emulator import audio_message, doc, forwarded, photo

STRANGER = 555


def cmid_of(update: dict) -> int:
    return update["object"]["message"]["conversation_message_id"]


def start_task(customer) -> None:
    customer.says("Привет")
    customer.presses(msg.BTN_SERVICES)
    customer.presses("Дизайн логотипа")


def finish(customer) -> int:
    customer.presses(msg.BTN_ASAP)
    customer.presses(msg.BTN_CONTACT_VK)
    return int(SENT.search(customer.presses(msg.BTN_SEND)[0].text).group(1))


def send(customer, emu, text="", **kwargs) -> int:
    """The customer writes; returns the message's cmid in their dialogue."""
    update = emu.send_text(CUSTOMER_ID, text, **kwargs)
    customer.runner.settle(update)
    return cmid_of(update)


def test_the_card_forwards_exactly_the_customers_photos_and_forwarded_message(customer, managers, emu, bot):
    start_task(customer)
    photos = send(customer, emu, attachments=[photo(CUSTOMER_ID, 1), photo(CUSTOMER_ID, 2)])
    assert customer.text.startswith("Получил: 2 фото 👍")
    fwd = send(customer, emu, fwd_messages=[forwarded(STRANGER, "Вот пример, который нравится")])
    assert customer.text.startswith("Получил: 2 фото, 1 пересланное 👍")
    customer.says("Логотип как на фото")
    order_id = finish(customer)
    for manager_id in MANAGER_IDS:
        card = card_of(emu, manager_id, order_id)
        assert (card.forwarded_from, card.forwarded) == (CUSTOMER_ID, (photos, fwd))
        assert "Вложения: 2 фото, 1 пересланное\n" in card.text and "в диалоге" not in card.text
        assert labels(card) == [msg.BTN_CONFIRM, msg.BTN_REJECT]
    sent = [c for c in emu.calls if c.method in ("messages.send", "execute") and "forward" in json.dumps(c.params)]
    assert sent, "the card went without forward"
    managers[0].presses(msg.BTN_CONFIRM)  # the forwarded card is still the one decisions edit
    assert card_of(emu, MANAGER_IDS[1], order_id).edits


def test_a_sticker_gets_the_note_and_a_voice_and_a_document_are_kept(customer, managers, emu, bot):
    start_task(customer)
    customer.sends_sticker()
    assert customer.text == msg.HINT_TASK
    voice = send(customer, emu, attachments=[audio_message(CUSTOMER_ID)])
    paper = send(customer, emu, "ТЗ во вложении", attachments=[doc(CUSTOMER_ID)])
    order_id = finish(customer)
    card = card_of(emu, MANAGER_IDS[0], order_id)
    assert card.forwarded == (voice, paper) and "Вложения: 1 голосовое, 1 документ" in card.text


def test_a_forward_vk_refuses_still_gives_a_card_that_says_where_the_attachments_are(customer, managers, emu, bot):
    emu.refuse_forwards()
    start_task(customer)
    send(customer, emu, "Логотип, примеры на фото", attachments=[photo(CUSTOMER_ID, 1), photo(CUSTOMER_ID, 2)])
    order_id = finish(customer)
    for manager in managers:
        card = card_of(emu, manager.user_id, order_id)
        assert card.forwarded == () and "Вложения: 2 фото — в диалоге с клиентом" in card.text
        assert labels(card) == [msg.BTN_CONFIRM, msg.BTN_REJECT]
    managers[0].presses(msg.BTN_CONFIRM)
    assert card_of(emu, MANAGER_IDS[1], order_id).edits  # the stand-in is the card: decisions edit it


def test_every_notification_carries_the_main_menu(customer, managers, emu, bot):
    first = finish_plain(customer)
    managers[0].presses(msg.BTN_CONFIRM)
    assert customer.text.startswith(f"Ваш заказ №{first}") and msg.BTN_MY_ORDERS in labels(customer.last)
    second = finish_plain(customer)
    managers[0].presses(msg.BTN_REJECT)
    assert customer.text.startswith(f"К сожалению, заказ №{second}") and msg.BTN_MY_ORDERS in labels(customer.last)
    managers[0].says("Нет свободных дизайнеров")
    assert customer.text == f"Комментарий менеджера к заказу №{second}: Нет свободных дизайнеров"
    assert msg.BTN_MY_ORDERS in labels(customer.last)


def finish_plain(customer) -> int:
    start_task(customer)
    customer.says("Логотип для кофейни")
    return finish(customer)


@pytest.fixture
def cafe(running):
    return running(clock=lambda: MONDAY)


def test_a_bookings_card_and_notices_say_bron_with_the_menu(cafe, emu):
    anna, manager = Person(emu, cafe, CUSTOMER_ID), Person(emu, cafe, MANAGER_IDS[0])
    order_id = book(anna)
    assert card_of(emu, MANAGER_IDS[0], order_id).text.startswith(f"🆕 Бронь №{order_id}\n")
    manager.presses(msg.BTN_REJECT)
    assert anna.text.startswith(f"К сожалению, бронь №{order_id}") and msg.BTN_BOOK in labels(anna.last)
    manager.says("В этот вечер зал закрыт")
    assert anna.text == f"Комментарий менеджера к брони №{order_id}: В этот вечер зал закрыт"
    assert msg.BTN_BOOK in labels(anna.last)
