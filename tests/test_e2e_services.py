"""Service orders end to end: the real bot loop and vk_api client against the emulator, with
the example catalogue, on SQLite and PostgreSQL. The customer says and presses; managers press
Confirm and Reject on their cards; the tests read what each of them sees."""
import logging
import re

import pytest
from sqlalchemy import func, select

import main
import messages as msg
from support import CUSTOMER_ID, MANAGER_IDS, Person, card_of, labels, settings_for
from db_models import Order

SENT = re.compile(r"Заказ №(\d+) отправлен")


def order_a_service(customer, service="Дизайн логотипа", task="Логотип для кофейни «Зерно»") -> int:
    customer.says("Привет")
    customer.presses(msg.BTN_SERVICES)
    card = customer.presses(service)
    assert "Стоимость:" in card[0].text
    customer.says(task)
    customer.presses(msg.BTN_ASAP)
    customer.presses(msg.BTN_CONTACT_VK)
    assert "Проверьте, пожалуйста, заказ" in customer.last.text
    replies = customer.presses(msg.BTN_SEND)
    match = SENT.search(replies[0].text)
    assert match, replies[0].text
    return int(match.group(1))




def order_row(runner, order_id: int) -> Order:
    with runner.bot.sessions.begin() as s:
        return s.get(Order, order_id)


def snackbar_texts(emu, user_id: int) -> list[str]:
    return [s.get("text") for s in emu.snackbars(user_id)]


def test_full_order_confirmed(customer, managers, emu, bot):
    order_id = order_a_service(customer)
    assert order_row(bot, order_id).status == "pending"
    for manager in managers:
        card = card_of(emu, manager.user_id, order_id)
        assert labels(card) == [msg.BTN_CONFIRM, msg.BTN_REJECT]
        assert "Дизайн логотипа — от 5 000 ₽" in card.text and "Логотип для кофейни «Зерно»" in card.text
        assert "как можно скорее" in card.text and "https://vk.com/id100" in card.text
    managers[0].presses(msg.BTN_CONFIRM)
    assert snackbar_texts(emu, MANAGER_IDS[0]) == [f"Заказ №{order_id} подтверждён, клиент получил сообщение"]
    for manager in managers:
        card = card_of(emu, manager.user_id, order_id)
        assert card.edits and labels(card) == []
        named = ("✅ Подтвердил Олег Менеджер", f"✅ Подтвердил менеджер https://vk.com/id{MANAGER_IDS[0]}")
        assert any(line in card.text for line in named)  # a name once the runner's sweep has it
    assert customer.last.text.startswith(f"Ваш заказ №{order_id} «Дизайн логотипа» подтверждён")
    row = order_row(bot, order_id)
    assert (row.status, row.decided_by, row.details["service"]) == ("confirmed", MANAGER_IDS[0], "logo")


def test_only_send_creates_the_order_and_a_lost_answer_never_doubles_the_card(customer, managers, emu, bot):
    customer.says("Привет")
    customer.presses(msg.BTN_SERVICES)
    customer.presses("Консультация")
    customer.says("вопрос")
    customer.presses(msg.BTN_ASAP)
    customer.presses(msg.BTN_CONTACT_VK)
    with bot.bot.sessions.begin() as s:
        assert s.scalar(select(func.count()).select_from(Order)) == 0
    emu.fail_next("*", kind="http500", times=2, executed=True)  # VK stored them, the answers were lost
    order_id = int(SENT.search(customer.presses(msg.BTN_SEND)[0].text).group(1))
    assert [m.text for m in emu.messages(CUSTOMER_ID)].count(customer.last.text) == 1
    cards = {m: card_of(emu, m, order_id) for m in MANAGER_IDS}  # exactly one each
    with bot.bot.sessions.begin() as s:
        assert s.scalar(select(func.count()).select_from(Order)) == 1
    managers[1].presses(msg.BTN_CONFIRM)  # the stored cmids are the real ones: both cards are edited
    assert all(card_of(emu, m, order_id).edits for m in cards)


def test_rejection_with_a_reason(customer, managers, emu, bot):
    order_id = order_a_service(customer)
    replies = managers[1].presses(msg.BTN_REJECT)
    assert replies[-1].text.startswith(f"Заказ №{order_id} отклонён, клиент уже знает")
    assert customer.last.text.startswith(f"К сожалению, заказ №{order_id}")
    assert "❌ Отклонил" in card_of(emu, MANAGER_IDS[0], order_id).text
    replies = managers[1].says("Сейчас нет свободных дизайнеров")
    assert replies[0].text == f"Передал причину клиенту по заказу №{order_id} 👍"
    assert customer.last.text == f"Комментарий менеджера к заказу №{order_id}: Сейчас нет свободных дизайнеров"
    for manager_id in MANAGER_IDS:
        assert "Причина: Сейчас нет свободных дизайнеров" in card_of(emu, manager_id, order_id).text
    assert order_row(bot, order_id).reject_reason == "Сейчас нет свободных дизайнеров"
    # The manager is back in the menu: the next text is not a reason.
    assert managers[1].says("ещё текст")[0].text == msg.NOT_UNDERSTOOD


def test_rejection_without_a_reason(customer, managers, emu, bot):
    order_id = order_a_service(customer)
    managers[0].presses(msg.BTN_REJECT)
    assert managers[0].presses(msg.BTN_NO_REASON)[0].text == msg.NO_REASON_OK
    assert order_row(bot, order_id).reject_reason is None
    assert customer.last.text.startswith(f"К сожалению, заказ №{order_id}")


@pytest.mark.parametrize("confirmed_first", [False, True])
def test_customer_cancels_before_and_after_confirmation(customer, managers, emu, bot, confirmed_first):
    order_id = order_a_service(customer)
    if confirmed_first:
        managers[0].presses(msg.BTN_CONFIRM)
    listing = customer.presses(msg.BTN_MY_ORDERS)[0]
    status = "подтверждён" if confirmed_first else "ждёт ответа менеджера"
    assert f"№{order_id} · Дизайн логотипа · " in listing.text and status in listing.text
    assert customer.presses(f"Отменить №{order_id}")[0].text == f"Отменить заказ №{order_id} «Дизайн логотипа»?"
    assert customer.presses(f"Да, отменить №{order_id}")[0].text == msg.ORDER_CANCELLED.format(id=order_id)
    for manager_id in MANAGER_IDS:
        assert emu.last_message(manager_id).text.startswith(f"🚫 Клиент отменил заказ №{order_id}")
        card = card_of(emu, manager_id, order_id)
        assert "🚫 Клиент отменил заказ" in card.text and labels(card) == []
    assert order_row(bot, order_id).status == "cancelled"
    # A press on the card the customer cancelled (e.g. a card still showing its buttons) changes nothing.
    event = emu.press_callback(MANAGER_IDS[1], {"cmd": "decide", "o": order_id, "d": "ok"},
                               card_of(emu, MANAGER_IDS[1], order_id).conversation_message_id)
    bot.settle(event)
    assert snackbar_texts(emu, MANAGER_IDS[1])[-1] == f"Клиент уже отменил заказ №{order_id}"
    assert order_row(bot, order_id).status == "cancelled"
    # Cancelling again says it is too late.
    assert customer.says("Мои заказы")[0].text.count("отменён") == 1
    again = customer._act(emu.send_text(CUSTOMER_ID, "x", payload={"cmd": "ocancel", "o": order_id, "y": 1}))
    assert again[0].text == f"Заказ №{order_id} уже нельзя отменить: он отменён."


def test_two_managers_decide_at_once(customer, managers, emu, bot):
    order_id = order_a_service(customer)
    first = emu.press(MANAGER_IDS[0], msg.BTN_CONFIRM)
    second = emu.press(MANAGER_IDS[1], msg.BTN_REJECT)
    bot.settle(first)
    bot.settle(second)
    answers = {m: snackbar_texts(emu, m) for m in MANAGER_IDS}
    assert answers[MANAGER_IDS[0]] == [f"Заказ №{order_id} подтверждён, клиент получил сообщение"]
    # the manager by name once the names sweep has run, else by link (tests/test_e2e_names.py)
    assert answers[MANAGER_IDS[1]] in ([f"Заказ №{order_id} уже подтверждён: Олег Менеджер"],
                                       [f"Заказ №{order_id} уже подтверждён: менеджер https://vk.com/id{MANAGER_IDS[0]}"])
    customer_news = [m.text for m in emu.messages(CUSTOMER_ID) if f"№{order_id}" in m.text]
    assert len(customer_news) == 2 and "подтверждён" in customer_news[-1]  # "sent", then one decision
    assert order_row(bot, order_id).status == "confirmed"
    # Pressing again changes nothing and says why.
    managers[0].runner.settle(emu.press_callback(MANAGER_IDS[0], {"cmd": "decide", "o": order_id, "d": "no"}))
    assert snackbar_texts(emu, MANAGER_IDS[0])[-1] == f"Вы уже подтвердили заказ №{order_id}"
    assert order_row(bot, order_id).status == "confirmed"


@pytest.mark.parametrize("payload", [
    {"cmd": "decide", "o": "ORDER", "d": "ok"},  # forged by the customer (not a manager)
    "{not json", {"cmd": "decide", "o": "x", "d": "ok"}, {"cmd": "decide", "o": 999, "d": "ok"},
    {"cmd": "decide", "o": "ORDER", "d": "yes"}, {"cmd": "nope"}, {},
])
def test_forged_and_garbage_presses_change_nothing(customer, managers, emu, bot, caplog, payload):
    order_id = order_a_service(customer)
    presser = CUSTOMER_ID if payload == {"cmd": "decide", "o": "ORDER", "d": "ok"} else MANAGER_IDS[0]
    if isinstance(payload, dict) and payload.get("o") == "ORDER":
        payload = {**payload, "o": order_id}
    with caplog.at_level(logging.WARNING):
        bot.settle(emu.press_callback(presser, payload))
    assert snackbar_texts(emu, presser) == [msg.SNACKBAR_OUTDATED]
    assert order_row(bot, order_id).status == "pending" and order_row(bot, order_id).decided_by is None
    assert all(not card_of(emu, m, order_id).edits for m in MANAGER_IDS)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"user {presser}" in w and "refused press" in w for w in warnings), warnings
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_back_and_edit_from_every_step(customer, emu):
    customer.says("Привет")
    customer.presses(msg.BTN_SERVICES)
    assert customer.presses(msg.BTN_BACK)[0].text == msg.MENU  # the list's Back: the main menu
    customer.presses(msg.BTN_SERVICES)
    customer.presses("Консультация")
    assert customer.presses(msg.BTN_BACK)[0].text.startswith("Наши услуги")
    customer.presses("Консультация")
    customer.says("Нужна консультация по договору аренды")
    assert "Сейчас указано: Нужна консультация" in customer.presses(msg.BTN_BACK)[0].text
    customer.presses(msg.BTN_KEEP)
    customer.presses(msg.BTN_MONTH)
    assert "Сейчас указано: в течение месяца" in customer.presses(msg.BTN_BACK)[0].text
    customer.presses(msg.BTN_KEEP)
    customer.presses(msg.BTN_CONTACT_PHONE)
    assert customer.presses(msg.BTN_BACK)[0].text.startswith(msg.ASK_CONTACT)
    customer.presses(msg.BTN_CONTACT_PHONE)
    customer.says("8 (912) 345-67-89")
    assert customer.presses(msg.BTN_BACK)[0].text.startswith(msg.ASK_CONTACT)
    customer.presses(msg.BTN_KEEP)
    summary = customer.last.text
    assert "телефон +79123456789" in summary and "в течение месяца" in summary
    customer.presses(msg.BTN_EDIT)
    assert customer.presses(msg.BTN_BACK)[0].text.startswith("Проверьте")
    for field, answer in [(msg.BTN_FIELD_SERVICE, ("press", "Репетиторство")),
                          (msg.BTN_FIELD_TASK, ("say", "Подготовка к ЕГЭ по физике")),
                          (msg.BTN_FIELD_DEADLINE, ("say", "31.12")),
                          (msg.BTN_FIELD_CONTACT, ("press", msg.BTN_CONTACT_VK))]:
        customer.presses(msg.BTN_EDIT)
        customer.presses(field)
        kind, value = answer
        replies = customer.presses(value) if kind == "press" else customer.says(value)
        assert replies[0].text.startswith("Проверьте"), (field, replies[0].text)
    summary = customer.last.text
    assert "Репетиторство — 1 500 ₽" in summary and "Подготовка к ЕГЭ по физике" in summary
    assert "к 31.12." in summary and "сообщения ВКонтакте" in summary
    customer.presses(msg.BTN_EDIT)
    customer.presses(msg.BTN_FIELD_DEADLINE)
    assert customer.presses(msg.BTN_BACK)[0].text == msg.ASK_FIELD  # Back from a field: the fields
    assert customer.presses(msg.BTN_CANCEL)[0].text == msg.CANCELLED


STEPS_WITH_BUTTONS = [
    ("list of services", []),
    ("service card", ["Дизайн логотипа"]),
    ("deadline", ["Дизайн логотипа", "task"]),
    ("contact", ["Дизайн логотипа", "task", msg.BTN_ASAP]),
    ("phone", ["Дизайн логотипа", "task", msg.BTN_ASAP, msg.BTN_CONTACT_PHONE]),
    ("summary", ["Дизайн логотипа", "task", msg.BTN_ASAP, msg.BTN_CONTACT_VK]),
    ("fields", ["Дизайн логотипа", "task", msg.BTN_ASAP, msg.BTN_CONTACT_VK, msg.BTN_EDIT]),
]


@pytest.mark.parametrize("step, path", STEPS_WITH_BUTTONS, ids=[s for s, _ in STEPS_WITH_BUTTONS])
def test_stickers_and_free_text_where_buttons_are_expected(customer, emu, step, path):
    customer.says("Привет")
    customer.presses(msg.BTN_SERVICES)
    for action in path:
        customer.says("Логотип для кофейни") if action == "task" else customer.presses(action)
    screen = customer.last
    for attempt in ("sticker", "text"):
        if attempt == "text" and step == "service card":
            continue  # free text is the task here
        replies = customer.sends_sticker() if attempt == "sticker" else customer.says("ну не знаю")
        assert len(replies) == 1 and replies[0].text != msg.APOLOGY
        assert replies[0].text != msg.NOT_UNDERSTOOD and labels(replies[0]) == labels(screen), step
    if step == "summary":  # the place is kept: the order can still be sent
        assert SENT.search(customer.presses(msg.BTN_SEND)[0].text)


def test_restart_in_the_middle_continues_where_it_was(customer, emu, bot):
    customer.says("Привет")
    customer.presses(msg.BTN_SERVICES)
    customer.presses("Консультация")
    customer.says("Вопрос по налогам")
    bot.restart()
    customer.presses(msg.BTN_WEEK)  # the button on the message sent before the restart
    customer.says("+7 912 345 67 89")
    summary = customer.last.text
    assert "Консультация" in summary and "Вопрос по налогам" in summary and "на этой неделе" in summary
    bot.restart()
    assert customer.says("Привет")[0].text.startswith(msg.WELCOME_BACK)  # a greeting does not drop the draft
    assert SENT.search(customer.presses(msg.BTN_SEND)[0].text)


def test_paging_through_the_example_catalogue(customer):
    customer.says("Привет")
    first = customer.presses(msg.BTN_SERVICES)[0]
    assert labels(first)[:5] == ["Консультация", "Репетиторство", "Настройка рекламы", "Дизайн логотипа", msg.BTN_NEXT]
    second = customer.presses(msg.BTN_NEXT)[0]
    assert labels(second) == ["Подготовка документов", msg.BTN_PREV, msg.BTN_BACK, msg.BTN_CANCEL]
    assert "SEO-аудит" not in second.text  # inactive in the example
    assert customer.presses(msg.BTN_PREV)[0].text == first.text
    customer.presses(msg.BTN_NEXT)
    assert customer.presses("Подготовка документов")[0].text.startswith("Подготовка документов\n")


def test_catalogue_reload_while_the_bot_runs(emu, db_url, running, tmp_path):
    path = tmp_path / "catalogue.toml"
    path.write_text('[[services]]\nkey = "a"\ntitle = "Старая услуга"\nprice = 100\n'
                    '[[services]]\nkey = "b"\ntitle = "Вторая"\nprice = 200\n', encoding="utf-8")
    runner = running(CATALOGUE_PATH=str(path), SCENARIOS="services")
    customer = Person(emu, runner, CUSTOMER_ID)
    customer.says("Привет")
    assert labels(customer.presses(msg.BTN_SERVICES)[0])[:2] == ["Старая услуга", "Вторая"]
    order_id = order_a_service(customer, service="Старая услуга", task="задача")
    path.write_text('[[services]]\nkey = "b"\ntitle = "Вторая, обновлённая"\nprice = 250\n', encoding="utf-8")
    assert main.load_catalogue(settings_for(emu, db_url, CATALOGUE_PATH=str(path), SCENARIOS="services")) == 0
    listing = customer.presses(msg.BTN_SERVICES)[0]
    assert labels(listing)[:1] == ["Вторая, обновлённая"] and "250 ₽" in listing.text
    assert "Старая услуга" not in listing.text
    assert f"№{order_id} · Старая услуга" in customer.presses(msg.BTN_MY_ORDERS)[0].text  # still known
    path.write_text("[[services]]\nkey = 'b'\ntitle = ", encoding="utf-8")  # broken: nothing changes
    assert main.load_catalogue(settings_for(emu, db_url, CATALOGUE_PATH=str(path), SCENARIOS="services")) == 2
    assert "Вторая, обновлённая" in customer.presses(msg.BTN_SERVICES)[0].text


def test_manager_commands_in_private_messages(customer, managers, emu):
    first = order_a_service(customer)
    second = order_a_service(customer, service="Консультация", task="вопрос")
    managers[0].presses(msg.BTN_CONFIRM)  # the newest card: the consultation
    pending = managers[1].says("Заявки")[0].text
    assert f"№{first} · Дизайн логотипа" in pending and f"№{second}" not in pending
    today = managers[1].says("Сегодня")[0].text
    assert f"№{first}" in today and f"№{second}" in today
    stats = managers[1].says("Сводка")[0].text
    assert "Ждут решения: 1" in stats and "Подтверждены: 1" in stats
    assert customer.says("Сводка")[0].text == msg.NOT_UNDERSTOOD  # not a manager
