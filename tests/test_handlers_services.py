"""The service order dialogue, the manager's decisions and the order lists, one layer down:
the pure handlers with a fake view (no database, no network)."""
import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

import chat
import dialogue as d
import handlers as h
import orders
import services
import messages as msg
from catalogue import Service
from support import labels

UTC = timezone.utc
MSK = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # Monday, 12:00 in Moscow
CUSTOMER, MANAGER, OTHER_MANAGER = 100, 200, 201
SERVICES = [
    Service("consulting", "Консультация", "Час разговора", 2500, False, "1 час", True, 1),
    Service("tutoring", "Репетиторство", "Занятия", 1500, False, "", True, 2),
    Service("ads", "Настройка рекламы", "Таргет", 8000, True, "", True, 3),
    Service("logo", "Дизайн логотипа", "Три варианта", 5000, True, "до 7 дней", True, 4),
    Service("documents", "Подготовка документов", "Договоры", 3000, True, "", True, 5),
    Service("seo", "SEO-аудит", "Скрыта", 12000, False, "", False, 6),
]


BOOKING_DETAILS = {"when": "ср, 25.11.2026, 19:00–21:00", "date": "25.11", "time": "19:00", "party": 2,
                   "table": "Зал 2", "name": "Анна", "start": "2026-11-25T16:00:00+00:00"}


def services_view(services=SERVICES, orders=()):
    return chat.FakeView(services=services, orders=orders)


def order(id=17, user_id=CUSTOMER, status=d.Status.PENDING, **kw):
    details = {"service": "logo", "title": "Дизайн логотипа", "price": 5000, "price_from": True, "task": "Логотип",
               "attachments": [], "deadline": "asap", "contact": "vk"}
    return d.OrderInfo(id=id, user_id=user_id, kind="service", status=status, details=details,
                       created_at=kw.pop("created_at", NOW), **kw)


class Chat(chat.Chat):
    def __init__(self, view=None, user_id=CUSTOMER, scenarios=("services", "booking")):
        super().__init__(view or services_view(), user_id, frozenset({MANAGER, OTHER_MANAGER}), NOW, MSK, scenarios)


def at_summary(chat=None) -> Chat:
    chat = chat or Chat()
    chat.says(msg.BTN_SERVICES)
    chat.presses("Дизайн логотипа")
    chat.says("Нужен логотип для кофейни")
    chat.presses(msg.BTN_ASAP)
    chat.presses(msg.BTN_CONTACT_VK)
    assert chat.state == d.State.SVC_CONFIRM
    return chat


# --- The main menu ---------------------------------------------------------------------------
@pytest.mark.parametrize("scenarios, user, expected", [
    (("services", "booking"), CUSTOMER, [msg.BTN_SERVICES, msg.BTN_BOOK, msg.BTN_MY_ORDERS, msg.BTN_HANDOVER,
                                         msg.BTN_HELP]),
    (("booking",), CUSTOMER, [msg.BTN_BOOK, msg.BTN_MY_ORDERS, msg.BTN_HANDOVER, msg.BTN_HELP]),
    (("services",), MANAGER, [msg.BTN_SERVICES, msg.BTN_MY_ORDERS, msg.BTN_PENDING, msg.BTN_TODAY, msg.BTN_STATS,
                              msg.BTN_MAILING, msg.BTN_HELP]),
])
def test_menu_shows_enabled_scenarios_and_manager_commands(scenarios, user, expected):
    chat = Chat(user_id=user, scenarios=scenarios)
    assert labels(chat.says("Меню").replies[0]) == expected


def test_services_when_the_scenario_is_off_is_not_understood():
    assert Chat(scenarios=("booking",)).says("Услуги").replies[0].text == msg.NOT_UNDERSTOOD


def test_empty_catalogue_is_said_kindly():
    chat = Chat(services_view(services=[SERVICES[-1]]))
    assert chat.says("Услуги").replies[0].text == msg.SERVICES_EMPTY and chat.state == d.State.MENU


# --- The happy path and what it sends -------------------------------------------------------------
def test_full_dialogue_ends_in_one_create_order_effect():
    chat = at_summary()
    assert "Дизайн логотипа — от 5 000 ₽" in chat.text and "как можно скорее" in chat.text
    out = chat.presses(msg.BTN_SEND)
    assert out.replies == () and chat.state == d.State.MENU and chat.dialogue.data == {}
    (effect,) = out.effects
    assert effect == d.CreateOrder("service", {
        "service": "logo", "title": "Дизайн логотипа", "price": 5000, "price_from": True,
        "task": "Нужен логотип для кофейни", "attachments": [], "deadline": "asap", "contact": "vk"})


def test_service_card_shows_description_and_price():
    chat = Chat()
    chat.says("Услуги")
    out = chat.presses("Консультация")
    assert "Час разговора" in out.replies[0].text and "2 500 ₽" in out.replies[0].text
    assert "1 час" in out.replies[0].text and chat.state == d.State.SVC_TASK


def test_typed_service_title_chooses_it():
    chat = Chat()
    chat.says("Услуги")
    chat.says("консультация")
    assert chat.state == d.State.SVC_TASK and chat.dialogue.data["service"] == "consulting"


def test_paging_within_vk_limits():
    chat = Chat()
    first = chat.says("Услуги").replies[0]
    assert labels(first) == ["Консультация", "Репетиторство", "Настройка рекламы", "Дизайн логотипа",
                             msg.BTN_NEXT, msg.BTN_BACK, msg.BTN_CANCEL]
    assert "(стр. 1 из 2)" in first.text
    second = chat.presses(msg.BTN_NEXT).replies[0]
    assert labels(second) == ["Подготовка документов", msg.BTN_PREV, msg.BTN_BACK, msg.BTN_CANCEL]
    assert "SEO-аудит" not in second.text  # inactive
    assert labels(chat.presses(msg.BTN_PREV).replies[0])[0] == "Консультация"
    assert "(стр. 2 из 2)" in chat.says("", {"cmd": msg.CMD_PAGE, "p": 99}).replies[0].text  # clamped


def test_attachments_are_kept_with_their_messages_and_text_may_be_empty():
    chat = Chat()
    chat.says("Услуги")
    chat.presses("Дизайн логотипа")
    out = chat.says("", attachments=("photo", "doc", "photo"), cmid=5)
    assert chat.state == d.State.SVC_TASK and out.replies[0].text.startswith("Получил: 2 фото, 1 документ 👍")
    more = chat.says("", attachments=("fwd",), cmid=6).replies[0]
    assert more.text.startswith("Получил: 2 фото, 1 документ, 1 пересланное")
    assert chat.says("", attachments=("sticker",), cmid=7).replies[0].text == msg.HINT_TASK  # not kept
    chat.presses(msg.BTN_KEEP)
    assert chat.state == d.State.SVC_DEADLINE
    data = chat.dialogue.data
    assert (data["attachments"], data["cmids"], data["task"]) == (["photo", "doc", "photo", "fwd"], [5, 6], "")


def test_a_task_with_attachments_goes_on_and_more_than_ten_messages_are_not_kept():
    chat = Chat()
    chat.says("Услуги")
    chat.presses("Дизайн логотипа")
    for cmid in range(1, 11):
        chat.says("", attachments=("audio_message",), cmid=cmid)
    out = chat.says("", attachments=("photo",), cmid=11)
    assert out.replies[0].text == msg.ATTACHMENTS_FULL.format(limit=10) and len(chat.dialogue.data["cmids"]) == 10
    chat.says("Логотип по этим голосовым", attachments=("photo",), cmid=12)
    assert chat.state == d.State.SVC_DEADLINE and chat.dialogue.data["cmids"] == list(range(1, 11))
    summary = services.order_lines({**chat.dialogue.data, "title": "x"})
    assert "Вложения: 10 голосовых" in summary


def test_what_is_attached_is_counted_in_russian():
    assert services.attachments_text(["photo", "photo", "doc", "audio_message", "fwd"]) == (
        "2 фото, 1 документ, 1 голосовое, 1 пересланное")
    assert services.attachments_text(["doc"] * 5 + ["poll"] * 2) == "5 документов, 2 вложения"


def test_long_task_is_capped():
    chat = Chat()
    chat.says("Услуги")
    chat.presses("Дизайн логотипа")
    chat.says("я" * 10_000)
    assert len(chat.dialogue.data["task"]) == services.MAX_TASK


LONG_TASK = " ".join(f"слово{i}" for i in range(1200))[:10_238]


def test_a_long_task_is_kept_to_the_limit_at_a_word_and_the_cut_is_said_and_marked():
    assert len(LONG_TASK) == 10_238
    chat = Chat()
    chat.says("Услуги")
    chat.presses("Дизайн логотипа")
    chat.says(LONG_TASK)
    task = chat.dialogue.data["task"]
    assert len(task) <= services.MAX_TASK and LONG_TASK.startswith(task) and LONG_TASK[len(task)] == " "
    assert len(task) > services.MAX_TASK - 10 and chat.dialogue.data["task_cut"] is True
    chat.presses(msg.BTN_ASAP)
    chat.presses(msg.BTN_CONTACT_VK)
    assert task + msg.TASK_CUT_MARK in chat.text
    assert chat.text.endswith(msg.TASK_CUT_NOTE.format(limit=services.MAX_TASK)) and len(chat.text) <= 4096
    (effect,) = chat.presses(msg.BTN_SEND).effects
    assert effect.details["task"] == task and effect.details["task_cut"] is True
    # The card, with a decision and the longest reason, still fits one VK message.
    rejected = d.OrderInfo(id=2**63 - 1, user_id=2**31, kind="service", status=d.Status.REJECTED,
                           details={**effect.details, "title": "Т" * 40, "price": 100_000_000,
                                    "attachments": ["photo", "doc", "video", "audio", "audio_message", "link"]},
                           created_at=NOW, decided_by=2**31, decided_at=NOW, reject_reason="п" * 1000)
    card = orders.card_text(rejected, ctx_with())
    assert msg.TASK_CUT_MARK.strip() in card and "п" * 1000 in card and len(card) <= 4096


def test_a_task_that_fits_is_kept_whole_and_not_marked():
    chat = Chat()
    chat.says("Услуги")
    chat.presses("Дизайн логотипа")
    chat.says("а" * services.MAX_TASK)
    assert len(chat.dialogue.data["task"]) == services.MAX_TASK and "task_cut" not in chat.dialogue.data


@pytest.mark.parametrize("text, limit, kept, cut", [
    ("один два три", 20, "один два три", False),
    ("один два три", 12, "один два три", False),
    ("один два три", 11, "один два", True),
    ("один два\nтри", 10, "один два", True),
    ("один длиннющееслово", 12, "один длиннющ", True),  # one word fills the room: cut inside it
    ("а" * 30, 10, "а" * 10, True),
])
def test_cut_at_word(text, limit, kept, cut):
    assert services.cut_at_word(text, limit) == (kept, cut)


def test_a_decomposed_task_is_kept_in_one_unicode_form():
    chat = Chat()
    chat.says("Услуги")
    chat.presses("Дизайн логотипа")
    chat.says("Логотип для кафе «Йод»".replace("Й", "И\u0306"))
    assert chat.dialogue.data["task"] == "Логотип для кафе «Йод»"


# --- Deadlines and phones -------------------------------------------------------------------
@pytest.mark.parametrize("typed, stored", [
    ("25.12", "2026-12-25"), ("25.12.2026", "2026-12-25"), ("2026-12-25", "2026-12-25"), ("завтра", "2026-11-24"),
    ("сегодня", "2026-11-23"), ("01.01", "2027-01-01"), ("срочно", "asap"), ("На этой неделе", "week"),
])
def test_deadline_typed(typed, stored):
    chat = Chat()
    chat.says("Услуги")
    chat.presses("Консультация")
    chat.says("вопрос")
    chat.says(typed)
    assert chat.state == d.State.SVC_CONTACT and chat.dialogue.data["deadline"] == stored


@pytest.mark.parametrize("typed, hint", [
    ("22.11.2026", msg.DATE_PAST), ("2020-01-01", msg.DATE_PAST), ("31.02", msg.HINT_DEADLINE),
    ("30.02.2027", msg.HINT_DEADLINE), ("когда-нибудь", msg.HINT_DEADLINE), ("01.01.2030", msg.DATE_TOO_FAR),
])
def test_past_impossible_and_far_dates_are_refused_kindly(typed, hint):
    chat = Chat()
    chat.says("Услуги")
    chat.presses("Консультация")
    chat.says("вопрос")
    out = chat.says(typed)
    assert out.replies[0].text == hint and chat.state == d.State.SVC_DEADLINE
    assert msg.BTN_ASAP in labels(out.replies[0])


@pytest.mark.parametrize("typed", ["+7 (912) 345-67-89", "8 912 345 67 89", "9123456789", "79123456789",
                                   "+7-912-345-67-89", "8(912)3456789"])
def test_phone_normalised(typed):
    assert services.normalize_phone(typed) == "+79123456789"


@pytest.mark.parametrize("typed", ["12345", "+1 912 345 67 89", "8 912 345 67 8", "8 912 345 67 890", "телефон",
                                   "0123456789", "+8 912 345 67 89", ""])
def test_bad_phone_refused(typed):
    assert services.normalize_phone(typed) is None


def test_landline_with_an_8xx_code_needs_its_prefix():
    assert services.normalize_phone("8 812 123-45-67") == "+78121234567"
    assert services.normalize_phone("812 123-45-67") is None  # ambiguous without +7/8


def test_phone_step_refuses_then_accepts():
    chat = Chat()
    chat.says("Услуги")
    chat.presses("Консультация")
    chat.says("вопрос")
    chat.presses(msg.BTN_ASAP)
    chat.presses(msg.BTN_CONTACT_PHONE)
    assert chat.says("12-34").replies[0].text == msg.PHONE_INVALID and chat.state == d.State.SVC_PHONE
    chat.says("8 912 345 67 89")
    assert chat.state == d.State.SVC_CONFIRM and "+79123456789" in chat.text


def test_phone_typed_at_the_contact_step():
    chat = Chat()
    chat.says("Услуги")
    chat.presses("Консультация")
    chat.says("вопрос")
    chat.presses(msg.BTN_ASAP)
    assert chat.says("8 912 345").replies[0].text == msg.PHONE_INVALID
    chat.says("+7 912 345-67-89")
    assert chat.state == d.State.SVC_CONFIRM and chat.dialogue.data["contact"] == "+79123456789"


# --- Back, Edit, Keep, Cancel ----------------------------------------------------------------------
def walk_to(state: d.State) -> Chat:
    chat = Chat()
    steps = {
        d.State.SVC_CHOOSE: lambda: chat.says("Услуги"),
        d.State.SVC_TASK: lambda: chat.presses("Консультация"),
        d.State.SVC_DEADLINE: lambda: chat.says("вопрос"),
        d.State.SVC_CONTACT: lambda: chat.presses(msg.BTN_ASAP),
        d.State.SVC_PHONE: lambda: chat.presses(msg.BTN_CONTACT_PHONE),
    }
    for step_state, step in steps.items():
        step()
        if step_state == state:
            return chat
    chat.says("+79123456789")
    if state == d.State.SVC_EDIT:
        chat.presses(msg.BTN_EDIT)
    assert chat.state == state
    return chat


@pytest.mark.parametrize("state, previous", [
    (d.State.SVC_CHOOSE, d.State.MENU), (d.State.SVC_TASK, d.State.SVC_CHOOSE),
    (d.State.SVC_DEADLINE, d.State.SVC_TASK), (d.State.SVC_CONTACT, d.State.SVC_DEADLINE),
    (d.State.SVC_PHONE, d.State.SVC_CONTACT), (d.State.SVC_CONFIRM, d.State.SVC_CONTACT),
    (d.State.SVC_EDIT, d.State.SVC_CONFIRM),
])
@pytest.mark.parametrize("how", ["button", "typed"])
def test_back_goes_to_the_previous_step_keeping_the_answers(state, previous, how):
    chat = walk_to(state)
    data = dict(chat.dialogue.data)
    out = chat.presses(msg.BTN_BACK) if how == "button" else chat.says("Назад")
    assert chat.state == previous
    if previous != d.State.MENU:
        assert chat.dialogue.data == data and msg.BTN_CANCEL in labels(out.replies[0])


def test_coming_back_offers_to_keep_the_answer():
    chat = walk_to(d.State.SVC_CONTACT)
    out = chat.presses(msg.BTN_BACK)
    assert msg.BTN_KEEP in labels(out.replies[0]) and "Сейчас указано: как можно скорее" in out.replies[0].text
    chat.presses(msg.BTN_BACK)
    assert "Сейчас указано: вопрос" in chat.text
    chat.presses(msg.BTN_KEEP)
    chat.presses(msg.BTN_KEEP)
    assert chat.state == d.State.SVC_CONTACT


def test_keep_where_nothing_was_given_is_a_catch_all():
    chat = walk_to(d.State.SVC_TASK)
    assert chat.says("", {"cmd": msg.CMD_KEEP}).replies[0].text == msg.HINT_TASK and chat.state == d.State.SVC_TASK


@pytest.mark.parametrize("field_label, step_input, check", [
    (msg.BTN_FIELD_SERVICE, ("press", "Репетиторство"), lambda d: d["service"] == "tutoring"),
    (msg.BTN_FIELD_TASK, ("say", "новая задача"), lambda d: d["task"] == "новая задача"),
    (msg.BTN_FIELD_DEADLINE, ("say", "31.12"), lambda d: d["deadline"] == "2026-12-31"),
    (msg.BTN_FIELD_CONTACT, ("press", msg.BTN_CONTACT_VK), lambda d: d["contact"] == "vk"),
])
def test_edit_a_field_returns_to_the_summary(field_label, step_input, check):
    chat = walk_to(d.State.SVC_EDIT)
    chat.presses(field_label)
    kind, value = step_input
    chat.presses(value) if kind == "press" else chat.says(value)
    assert chat.state == d.State.SVC_CONFIRM and check(chat.dialogue.data) and "editing" not in chat.dialogue.data


def test_edit_contact_to_a_phone_goes_through_the_phone_step():
    chat = walk_to(d.State.SVC_EDIT)
    chat.presses(msg.BTN_FIELD_CONTACT)
    chat.presses(msg.BTN_CONTACT_PHONE)
    chat.says("8 900 111 22 33")
    assert chat.state == d.State.SVC_CONFIRM and chat.dialogue.data["contact"] == "+79001112233"


def test_back_from_a_field_being_edited_returns_to_the_fields():
    chat = walk_to(d.State.SVC_EDIT)
    chat.presses(msg.BTN_FIELD_DEADLINE)
    chat.presses(msg.BTN_BACK)
    assert chat.state == d.State.SVC_EDIT and "editing" not in chat.dialogue.data
    chat.presses(msg.BTN_BACK)
    assert chat.state == d.State.SVC_CONFIRM


SERVICE_STATES = [s for s in d.State if s.name.startswith("SVC_")]


@pytest.mark.parametrize("state", SERVICE_STATES)
def test_cancel_and_menu_work_from_every_step(state):
    chat = walk_to(state)
    assert chat.says("Отмена").replies[0].text == msg.CANCELLED and chat.state == d.State.MENU
    chat = walk_to(state)
    assert chat.says("Меню").replies[0].text == msg.MENU and chat.dialogue.data == {}


def test_a_greeting_mid_order_continues_where_it_was():
    chat = walk_to(d.State.SVC_DEADLINE)
    out = chat.says("Привет")
    assert out.replies[0].text.startswith(msg.WELCOME_BACK) and chat.state == d.State.SVC_DEADLINE
    assert chat.dialogue.data["task"] == "вопрос"


# --- Catch-alls: stickers, stray buttons, free text where buttons are expected ----------------
STRAY = {"cmd": msg.CMD_SERVICE, "k": "consulting"}
STALE_WORDS = (msg.BUTTON_OUTDATED, msg.STEP_DONE_ANY, *msg.STEP_DONE.values())


@pytest.mark.parametrize("state, kind", [
    (state, kind) for state in SERVICE_STATES
    for kind in ("sticker", "text", "stray_button", "garbage_payload", "malformed")
    if not (state == d.State.SVC_TASK and kind == "text")  # free text is the answer there
])
def test_every_step_reasks_politely_and_keeps_its_place(state, kind):
    chat = walk_to(state)
    before = (chat.state, dict(chat.dialogue.data))
    stray = {"cmd": msg.CMD_DEADLINE, "v": "asap"} if state == d.State.SVC_CHOOSE else STRAY
    event = {
        "sticker": dict(attachments=("sticker",)),
        "text": dict(text="абырвалг"),
        "stray_button": dict(text="x", payload=stray),
        "garbage_payload": dict(text="x", payload={"cmd": msg.CMD_FIELD, "f": ["list"], "v": {"x": 1}, "k": 5}),
        "malformed": dict(text="x", payload_malformed=True),
    }[kind]
    out = chat.says(**event)
    assert (chat.state, dict(chat.dialogue.data)) == before
    assert len(out.replies) == 1 and out.effects == ()
    if "payload" in event and event["payload"]["cmd"] not in h.FLOW[state].buttons:  # another step's button
        assert out.replies[0].text.startswith(STALE_WORDS)
    else:
        assert out.replies[0].text in (h.FLOW[state].hint, msg.SERVICE_UNAVAILABLE, msg.PHONE_INVALID)
    assert msg.BTN_CANCEL in labels(out.replies[0])


def test_send_with_a_service_gone_meanwhile_goes_back_to_the_list():
    view = services_view()
    chat = at_summary(Chat(view))
    view.all_services = [replace(s, active=False) if s.key == "logo" else s for s in SERVICES]
    out = chat.presses(msg.BTN_SEND)
    assert out.effects == () and chat.state == d.State.SVC_CHOOSE
    assert out.replies[0].text.startswith(msg.SERVICE_UNAVAILABLE)


def test_send_with_an_incomplete_draft_asks_for_what_is_missing():
    chat = Chat()
    chat.dialogue = d.Conversation(d.State.SVC_CONFIRM, {"service": "logo", "task": "x"})
    chat.out = chat.says("Отправить")
    assert chat.state == d.State.SVC_DEADLINE and chat.out.effects == ()


# --- The manager's decision --------------------------------------------------------------------
def press(payload, user_id=MANAGER):
    return d.Incoming(kind="callback", event_id="e", user_id=user_id, peer_id=user_id, payload=payload,
                      callback_id="cb", cmid=5)


def ctx_with(*orders):
    return d.Context(manager_ids=frozenset({MANAGER, OTHER_MANAGER}), scenarios=("services",), now=NOW, tz=MSK,
                     view=services_view(orders=orders))


def test_manager_press_becomes_a_decide_effect():
    out = h.dispatch(press({"cmd": "decide", "o": 17, "d": "ok"}), d.Conversation(), ctx_with(order()))
    assert out.effects == (d.Decide(17, MANAGER, True),) and out.replies == ()
    out = h.dispatch(press({"cmd": "decide", "o": 17, "d": "no"}), d.Conversation(), ctx_with(order()))
    assert out.effects == (d.Decide(17, MANAGER, False),)


@pytest.mark.parametrize("payload, user", [
    ({"cmd": "decide", "o": 17, "d": "ok"}, CUSTOMER),  # not a manager
    ({"cmd": "decide", "o": 99, "d": "ok"}, MANAGER),  # no such order
    ({"cmd": "decide", "o": "17", "d": "ok"}, MANAGER),
    ({"cmd": "decide", "o": True, "d": "ok"}, MANAGER),
    ({"cmd": "decide", "o": -1, "d": "ok"}, MANAGER),
    ({"cmd": "decide", "o": 17, "d": "maybe"}, MANAGER),
    ({"cmd": "decide", "o": 17, "d": ["ok"]}, MANAGER),
    ({"cmd": "decide", "d": "ok"}, MANAGER),
    ({"cmd": "explode", "o": 17}, MANAGER),
    ({"o": 17, "d": "ok"}, MANAGER),
    (None, MANAGER),
])
def test_forged_or_garbage_press_changes_nothing_is_logged_and_answered_neutrally(payload, user):
    out = h.dispatch(press(payload, user), d.Conversation(), ctx_with(order()))
    assert [r.kind for r in out.replies] == ["answer"] and out.replies[0].text == msg.SNACKBAR_OUTDATED
    assert [type(e) for e in out.effects] == [d.Warn] and str(user) in out.effects[0].text
    assert out.state is None


def test_a_decision_payload_in_a_message_is_a_press_with_the_same_rights_check():
    """A text button standing in for a callback (a client without them) sends the payload as a
    message: a manager's decides, a customer's is refused and logged, answered by a message."""
    forged = Chat(services_view(orders=[order()])).says("Подтвердить", {"cmd": "decide", "o": 17, "d": "ok"})
    assert [(r.kind, r.text) for r in forged.replies] == [("send", msg.SNACKBAR_OUTDATED)]
    assert [type(e) for e in forged.effects] == [d.Warn] and "not a manager" in forged.effects[0].text
    manager = Chat(services_view(orders=[order()]), user_id=MANAGER).says("Подтвердить",
                                                                         {"cmd": "decide", "o": 17, "d": "ok"})
    assert manager.effects == (d.Decide(17, MANAGER, True),)


def change(status, decided_by=MANAGER, changed=True, **kw):
    info = order(status=status, decided_by=decided_by, decided_at=NOW + timedelta(minutes=2), **kw)
    return d.OrderChange(changed, info, {MANAGER: 7, OTHER_MANAGER: 9})


def test_confirm_follow_up_edits_every_card_and_tells_the_customer():
    out = h.follow_up(d.Decide(17, MANAGER, True), change(d.Status.CONFIRMED), press({}), ctx_with())
    answer, *edits, customer = out.replies
    assert answer.kind == "answer" and "подтверждён" in answer.text
    assert [(e.kind, e.peer_id, e.cmid, e.keyboard) for e in edits] == [("edit", MANAGER, 7, None),
                                                                       ("edit", OTHER_MANAGER, 9, None)]
    assert "✅ Подтвердил менеджер https://vk.com/id200, 23.11.2026 12:02" in edits[0].text
    assert customer.peer_id == CUSTOMER and "подтверждён" in customer.text
    assert out.state is None


def test_every_decision_and_reason_notice_carries_the_main_menu():
    confirmed = h.follow_up(d.Decide(17, MANAGER, True), change(d.Status.CONFIRMED), press({}), ctx_with())
    rejected = h.follow_up(d.Decide(17, MANAGER, False), change(d.Status.REJECTED), press({}), ctx_with())
    done = change(d.Status.REJECTED, reject_reason="Нет дизайнеров")
    reason = h.follow_up(d.SetRejectReason(17, MANAGER, "Нет дизайнеров"), done, press({}), ctx_with())
    for out in (confirmed, rejected, reason):
        [notice] = [r for r in out.replies if r.peer_id == CUSTOMER]
        assert msg.BTN_MY_ORDERS in labels(notice) and notice.text.startswith(("Ваш заказ №17", "К сожалению, заказ",
                                                                               "Комментарий менеджера к заказу"))


def test_a_service_orders_card_says_zakaz():
    card = orders.card_text(order(), ctx_with())
    assert card.startswith("🆕 Заказ №17\n")


def test_reject_follow_up_asks_the_manager_for_a_reason():
    out = h.follow_up(d.Decide(17, MANAGER, False), change(d.Status.REJECTED), press({}), ctx_with())
    assert "❌ Отклонил" in out.replies[1].text
    assert out.replies[3].peer_id == CUSTOMER and "не можем" in out.replies[3].text
    assert out.state == d.State.MGR_REASON and out.data == {"order": 17, "kind": "service"}
    assert labels(out.replies[-1]) == [msg.BTN_NO_REASON]
    assert out.replies[-1].text.startswith("Заказ №17 отклонён, клиент уже знает.")


@pytest.mark.parametrize("status, decided_by, expected", [
    (d.Status.CONFIRMED, OTHER_MANAGER, "Заказ №17 уже подтверждён: менеджер https://vk.com/id201"),
    (d.Status.REJECTED, MANAGER, "Вы уже отклонили заказ №17"),
    (d.Status.CANCELLED, None, "Клиент уже отменил заказ №17"),
    (d.Status.EXPIRED, None, "Заказ №17 уже закрыт без ответа, клиент предупреждён"),
])
def test_a_press_too_late_says_why(status, decided_by, expected):
    out = h.follow_up(d.Decide(17, MANAGER, True), change(status, decided_by, changed=False), press({}), ctx_with())
    assert [(r.kind, r.text) for r in out.replies] == [("answer", expected)] and out.state is None


@pytest.mark.parametrize("status, decided_by, expected", [
    (d.Status.CONFIRMED, OTHER_MANAGER, "Бронь №17 уже подтверждена: менеджер https://vk.com/id201"),
    (d.Status.REJECTED, MANAGER, "Вы уже отклонили бронь №17"),
    (d.Status.CANCELLED, None, "Клиент уже отменил бронь №17"),
    (d.Status.EXPIRED, None, "Бронь №17 уже закрыта без ответа, клиент предупреждён"),
])
def test_a_press_too_late_on_a_booking_says_it_in_a_bookings_words(status, decided_by, expected):
    late = d.OrderChange(False, replace(change(status, decided_by).order, kind="booking", details=BOOKING_DETAILS), {})
    out = h.follow_up(d.Decide(17, MANAGER, True), late, press({}), ctx_with())
    assert [(r.kind, r.text) for r in out.replies] == [("answer", expected)]


def test_a_bookings_decision_and_reason_speak_of_a_booking():
    decided = d.OrderChange(True, replace(change(d.Status.REJECTED).order, kind="booking", details=BOOKING_DETAILS),
                            {MANAGER: 7})
    out = h.follow_up(d.Decide(17, MANAGER, False), decided, press({}), ctx_with())
    assert out.replies[0].text == "Бронь №17 отклонена, клиент получил сообщение"
    assert out.data == {"order": 17, "kind": "booking"}
    assert out.replies[-1].text.startswith("Бронь №17 отклонена, клиент уже знает.")
    with_reason = d.OrderChange(True, replace(decided.order, reject_reason="Нет мест"), {MANAGER: 7})
    out = h.follow_up(d.SetRejectReason(17, MANAGER, "Нет мест"), with_reason, press({}), ctx_with())
    assert out.replies[0].text.startswith("Передал причину клиенту по брони №17")
    cancelled = replace(decided.order, status=d.Status.CANCELLED, decided_by=None, decided_at=None)
    assert "🚫 Клиент отменил бронь" in orders.card_text(cancelled, ctx_with())


def test_reason_step():
    manager = Chat(user_id=MANAGER)
    manager.dialogue = d.Conversation(d.State.MGR_REASON, {"order": 17})
    assert manager.says("", attachments=("sticker",)).replies[0].text == msg.HINT_REASON
    out = manager.says("  Нет свободных дизайнеров  ")
    assert out.effects == (d.SetRejectReason(17, MANAGER, "Нет свободных дизайнеров"),)
    assert manager.state == d.State.MENU
    manager.dialogue = d.Conversation(d.State.MGR_REASON, {"order": 17})
    assert manager.says("", {"cmd": msg.CMD_NO_REASON}).replies[0].text == msg.NO_REASON_OK
    assert manager.out.effects == () and manager.state == d.State.MENU
    manager.dialogue = d.Conversation(d.State.MGR_REASON, {"order": 17})
    assert manager.says("Без причины").replies[0].text == msg.NO_REASON_OK and manager.out.effects == ()


def test_a_long_reason_is_cut_at_a_word_marked_and_the_manager_told():
    manager = Chat(user_id=MANAGER)
    manager.dialogue = d.Conversation(d.State.MGR_REASON, {"order": 17})
    out = manager.says("слово " * 400)  # 2,400 characters
    [effect] = out.effects
    assert effect.reason.endswith("слово" + msg.TASK_CUT_MARK) and len(effect.reason) <= 1000 + len(msg.TASK_CUT_MARK)
    assert out.replies[0].text == msg.REASON_CUT.format(limit=1000)


def test_reason_follow_up():
    done = change(d.Status.REJECTED, reject_reason="Нет дизайнеров")
    out = h.follow_up(d.SetRejectReason(17, MANAGER, "Нет дизайнеров"), done, press({}), ctx_with())
    texts = {(r.kind, r.peer_id): r.text for r in out.replies}
    assert texts[("send", CUSTOMER)] == "Комментарий менеджера к заказу №17: Нет дизайнеров"
    assert "Причина: Нет дизайнеров" in texts[("edit", OTHER_MANAGER)]
    assert out.state == d.State.MENU


def test_cards_go_to_every_manager_and_fit_vk():
    long = order()
    long = replace(long, details={**long.details, "task": "я" * services.MAX_TASK, "attachments": ["photo", "doc"]})
    out = h.follow_up(d.CreateOrder("service", long.details), d.OrderChange(True, long), Chat().event(), ctx_with())
    thanks, *cards = out.replies
    assert thanks.peer_id == CUSTOMER and "№17" in thanks.text
    assert [(c.peer_id, c.card_order_id) for c in cards] == [(MANAGER, 17), (OTHER_MANAGER, 17)]
    assert len(cards[0].text) < 9000 and "https://vk.com/id100" in cards[0].text
    assert "Вложения: 1 фото, 1 документ — в диалоге с клиентом" in cards[0].text  # an order kept no cmids
    payloads = [json.loads(b["action"]["payload"]) for b in json.loads(cards[0].keyboard)["buttons"][0]]
    assert payloads == [{"cmd": "decide", "o": 17, "d": "ok"}, {"cmd": "decide", "o": 17, "d": "no"}]
    assert all(b["action"]["type"] == "callback" for b in json.loads(cards[0].keyboard)["buttons"][0])


def test_a_card_with_attachments_forwards_the_customers_messages_and_has_a_stand_in():
    with_files = order()
    with_files = replace(with_files, details={**with_files.details, "attachments": ["photo", "photo", "fwd"],
                                              "cmids": [4, 6]})
    out = h.follow_up(d.CreateOrder("service", with_files.details), d.OrderChange(True, with_files), Chat().event(),
                      ctx_with())
    _, *cards = out.replies
    for card in cards:
        assert json.loads(card.forward) == {"peer_id": CUSTOMER, "conversation_message_ids": [4, 6], "is_reply": False}
        assert "Вложения: 2 фото, 1 пересланное\n" in card.text
        assert "Вложения: 2 фото, 1 пересланное — в диалоге с клиентом" in card.fallback
    plain = h.follow_up(d.CreateOrder("service", order().details), d.OrderChange(True, order()), Chat().event(),
                        ctx_with())
    assert all(r.forward is None and r.fallback is None for r in plain.replies)


# --- My orders and cancelling ---------------------------------------------------------------------
def test_my_orders_lists_and_offers_cancel_for_active_ones():
    orders = [order(1, status=d.Status.REJECTED), order(2, status=d.Status.CONFIRMED), order(3),
              order(4, user_id=999)]
    chat = Chat(services_view(orders=orders))
    out = chat.says("Мои заказы")
    assert "№3 · Дизайн логотипа · 23.11.2026 · ждёт ответа менеджера" in out.replies[0].text
    assert "№1" in out.replies[0].text and "№4" not in out.replies[0].text
    assert labels(out.replies[0]) == ["Отменить №3", "Отменить №2"]
    out = chat.presses("Отменить №2")
    assert out.effects == () and labels(out.replies[0]) == ["Да, отменить №2", msg.BTN_KEEP_ORDER]
    assert chat.presses("Да, отменить №2").effects == (d.CancelOrder(2, CUSTOMER),)


@pytest.mark.parametrize("payload, expected", [
    ({"cmd": "ocancel", "o": 4, "y": 1}, msg.ORDER_NOT_FOUND),  # someone else's
    ({"cmd": "ocancel", "o": 1, "y": 1}, "Заказ №1 уже нельзя отменить: он отклонён."),
    ({"cmd": "ocancel", "o": "x"}, msg.ORDER_NOT_FOUND),
])
def test_cancel_refusals(payload, expected):
    chat = Chat(services_view(orders=[order(1, status=d.Status.REJECTED), order(4, user_id=999)]))
    out = chat.says("x", payload)
    assert out.replies[0].text == expected and out.effects == ()


class SQLiteLikeView(chat.FakeView):
    """Refuses an id beyond 64 bits as SQLite does (OverflowError): nothing may pass one on."""

    def order(self, order_id):
        if not -2**63 <= order_id < 2**63:
            raise OverflowError("Python int too large to convert to SQLite INTEGER")
        return super().order(order_id)


BEYOND = 2**63  # 9223372036854775808


@pytest.mark.parametrize("payload", [
    {"cmd": "ocancel", "o": BEYOND}, {"cmd": "ocancel", "o": BEYOND, "y": 1}, {"cmd": "cancel_order", "o": 10**30},
    {"cmd": "ocancel", "o": 0}, {"cmd": "ocancel", "o": -1}, {"cmd": "ocancel", "o": True},
])
def test_an_order_id_out_of_range_is_an_unknown_order(payload):
    chat = Chat(SQLiteLikeView(services=SERVICES, orders=[order(1)]))
    out = chat.says("x", payload)
    assert out.replies[0].text == msg.ORDER_NOT_FOUND and out.effects == ()


@pytest.mark.parametrize("order_id", [BEYOND, 10**30, 0, -5])
def test_a_decision_with_an_id_out_of_range_is_refused_like_an_unknown_order(order_id):
    ctx = replace(ctx_with(order()), view=SQLiteLikeView(services=SERVICES, orders=[order()]))
    out = h.dispatch(press({"cmd": "decide", "o": order_id, "d": "ok"}), d.Conversation(), ctx)
    assert [r.text for r in out.replies] == [msg.SNACKBAR_OUTDATED] and [type(e) for e in out.effects] == [d.Warn]


def many_orders(count=30, **kw):
    return [order(i, created_at=NOW + timedelta(minutes=i), **kw) for i in range(1, count + 1)]


def test_my_orders_are_paged_and_every_cancellable_one_has_a_button_on_some_page():
    chat = Chat(services_view(orders=many_orders()))
    out = chat.says("Мои заказы")
    assert "(стр. 1)" in chat.text and "№30 ·" in chat.text and "№22 ·" not in chat.text
    assert labels(out.replies[0]) == [f"Отменить №{i}" for i in range(30, 22, -1)] + [msg.BTN_NEXT]
    seen, pages = [], 0
    while True:
        pages += 1
        seen += [int(b.removeprefix("Отменить №")) for b in chat.buttons if b.startswith("Отменить №")]
        if msg.BTN_NEXT not in chat.buttons:
            break
        chat.presses(msg.BTN_NEXT)
    assert sorted(seen) == list(range(1, 31)) and pages == 4
    assert chat.buttons == ["Отменить №6", "Отменить №5", "Отменить №4", "Отменить №3", "Отменить №2",
                            "Отменить №1", msg.BTN_PREV] and msg.MY_ORDERS_MORE not in chat.text
    chat.presses(msg.BTN_PREV)
    assert "(стр. 3)" in chat.text and chat.state == d.State.MENU


def test_my_orders_page_buttons_that_went_stale_show_the_first_page():
    chat = Chat(services_view(orders=many_orders(3)))
    chat.says("x", {"cmd": msg.CMD_ORDERS, "p": 7})
    assert "№3 ·" in chat.text and labels(chat.out.replies[0]) == ["Отменить №3", "Отменить №2", "Отменить №1"]
    chat.says("x", {"cmd": msg.CMD_ORDERS, "p": BEYOND})
    assert "№3 ·" in chat.text


def test_cancel_the_25th_of_30_orders_by_button():
    chat = Chat(services_view(orders=many_orders()))
    chat.says("Мои заказы")
    chat.presses("Отменить №25")
    assert chat.text == "Отменить заказ №25 «Дизайн логотипа»?"
    assert chat.presses("Да, отменить №25").effects == (d.CancelOrder(25, CUSTOMER),)


@pytest.mark.parametrize("typed", ["Отменить №24", "отменить 24", "отмена №24", "Отменить заказ № 24!",
                                   "отмени 24", "отменить #24"])
def test_cancel_an_order_by_typing(typed):
    chat = Chat(services_view(orders=many_orders()))
    out = chat.says(typed)
    assert chat.text == "Отменить заказ №24 «Дизайн логотипа»?" and out.effects == ()
    assert chat.presses("Да, отменить №24").effects == (d.CancelOrder(24, CUSTOMER),)


@pytest.mark.parametrize("typed, expected", [
    ("Отменить №4", msg.ORDER_NOT_FOUND),  # someone else's
    ("отменить 1", "Заказ №1 уже нельзя отменить: он отклонён."),
    ("отменить 99", msg.ORDER_NOT_FOUND),
    ("отменить 9223372036854775808", msg.ORDER_NOT_FOUND),
    ("отменить 0", msg.ORDER_NOT_FOUND),
])
def test_typed_cancel_refusals(typed, expected):
    chat = Chat(SQLiteLikeView(services=SERVICES, orders=[order(1, status=d.Status.REJECTED), order(4, user_id=999)]))
    out = chat.says(typed)
    assert out.replies[0].text == expected and out.effects == ()


def test_typed_cancel_mid_order_keeps_the_draft():
    chat = at_summary(Chat(services_view(orders=[order(3)])))
    chat.says("отменить 3")
    assert chat.text == "Отменить заказ №3 «Дизайн логотипа»?" and chat.state == d.State.SVC_CONFIRM


def test_managers_page_through_every_pending_order():
    view = services_view(orders=many_orders(100, user_id=300))
    chat = Chat(view, user_id=MANAGER)
    chat.says("Заявки")
    assert chat.text.startswith("Ждут решения (100), стр. 1 из 5:") and "…и ещё" not in chat.text
    assert "№1 ·" in chat.text and "№20 ·" in chat.text and "№21 ·" not in chat.text
    assert chat.buttons == [msg.BTN_NEXT]
    seen = []
    for page in range(5):
        seen += [int(line.split(" ·")[0].removeprefix("№")) for line in chat.text.splitlines()[2:]]
        if page < 4:
            chat.presses(msg.BTN_NEXT)
    assert seen == list(range(1, 101)) and chat.buttons == [msg.BTN_PREV]
    assert chat.text.startswith("Ждут решения (100), стр. 5 из 5:")


def test_a_short_pending_list_has_no_pages():
    chat = Chat(services_view(orders=many_orders(3)), user_id=MANAGER)
    chat.says("Заявки")
    assert chat.text.startswith("Ждут решения (3):") and msg.BTN_PENDING in chat.buttons


# --- Repeated and stale presses -----------------------------------------------------------------
def test_a_second_send_says_the_order_was_sent_already():
    view = services_view()
    chat = at_summary(Chat(view))
    chat.presses(msg.BTN_SEND)
    view.orders.append(order(17))  # what storing the effect made
    chat.stored(d.OrderChange(True, order(17)))
    out = chat.says(msg.BTN_SEND, {"cmd": msg.CMD_SEND})
    assert out.effects == () and chat.state == d.State.MENU
    assert out.replies[0].text.startswith("Это уже отправлено ✅ №17 «Дизайн логотипа» — ждёт ответа менеджера.")
    assert labels(out.replies[0])[0] == msg.BTN_SERVICES


def test_send_on_a_stale_summary_with_no_order_sent_says_the_button_is_outdated():
    chat = at_summary()
    chat.says("Отмена")
    out = chat.says(msg.BTN_SEND, {"cmd": msg.CMD_SEND})
    assert out.replies[0].text.startswith(msg.BUTTON_OUTDATED) and out.effects == ()


def test_a_button_of_an_earlier_step_says_that_step_is_done_and_asks_again():
    chat = Chat()
    chat.says("Услуги")
    chat.presses("Консультация")
    chat.says("вопрос")
    out = chat.says("x", {"cmd": msg.CMD_SERVICE, "k": "logo"})  # the service list, pressed again
    assert out.replies[0].text == f"{msg.STEP_DONE[msg.CMD_SERVICE]}\n\n{msg.ASK_DEADLINE}"
    assert chat.state == d.State.SVC_DEADLINE and chat.dialogue.data["service"] == "consulting"
    assert msg.BTN_ASAP in labels(out.replies[0])
    chat.says("x", {"cmd": msg.CMD_DEADLINE, "v": "week"})
    chat.presses(msg.BTN_CONTACT_PHONE)
    out = chat.says("x", {"cmd": msg.CMD_DEADLINE, "v": "asap"})  # on the phone step
    assert out.replies[0].text.startswith(msg.STEP_DONE[msg.CMD_DEADLINE]) and msg.ASK_PHONE in out.replies[0].text
    assert chat.dialogue.data["deadline"] == "week"


def test_typed_words_are_never_stale_presses():
    chat = Chat()
    chat.says("Услуги")
    chat.presses("Консультация")
    chat.says("Отправить")  # a task that happens to be a button's word
    assert chat.state == d.State.SVC_DEADLINE and chat.dialogue.data["task"] == "Отправить"


def test_cancel_follow_up_tells_customer_and_managers():
    out = h.follow_up(d.CancelOrder(17, CUSTOMER), change(d.Status.CANCELLED), Chat().event(), ctx_with())
    by_peer = [(r.kind, r.peer_id) for r in out.replies]
    assert by_peer == [("send", CUSTOMER), ("edit", MANAGER), ("edit", OTHER_MANAGER), ("send", MANAGER),
                       ("send", OTHER_MANAGER)]
    assert "🚫 Клиент отменил заказ" in out.replies[1].text and "✅ Подтвердил" in out.replies[1].text


def test_my_orders_empty():
    assert Chat().says("Мои заказы").replies[0].text == msg.MY_ORDERS_EMPTY


# --- Manager commands -------------------------------------------------------------------------------
def manager_view():
    yesterday = NOW - timedelta(days=1)
    return services_view(orders=[order(1, status=d.Status.CONFIRMED, created_at=yesterday), order(2), order(3),
                            order(4, status=d.Status.CANCELLED)])


def test_manager_commands():
    manager = Chat(manager_view(), user_id=MANAGER)
    pending = manager.says("Заявки").replies[0].text
    assert pending.startswith("Ждут решения (2)") and "№2" in pending and "№1" not in pending
    today = manager.says("сегодня").replies[0].text
    assert "(3)" in today and "№1" not in today
    stats = manager.says("Сводка").replies[0].text
    assert "Ждут решения: 2" in stats and "Подтверждены: 1" in stats and "Отклонены: 0" in stats
    assert manager.presses(msg.BTN_PENDING).replies[0].text == pending


def test_today_is_local_midnight_in_timezone():
    late = datetime(2026, 11, 22, 21, 30, tzinfo=UTC)  # 00:30 on the 23rd in Moscow
    manager = Chat(services_view(orders=[order(5, created_at=late), order(6, created_at=late - timedelta(hours=1))]),
                   user_id=MANAGER)
    text = manager.says("Сегодня").replies[0].text
    assert "№5" in text and "№6" not in text


def test_manager_commands_are_ordinary_text_for_others_and_inside_an_order():
    assert Chat(manager_view()).says("Сводка").replies[0].text == msg.NOT_UNDERSTOOD
    manager = Chat(manager_view(), user_id=MANAGER)
    manager.says("Услуги")
    manager.presses("Консультация")
    manager.says("вопрос")
    manager.says("Сегодня")
    assert manager.state == d.State.SVC_CONTACT and manager.dialogue.data["deadline"] == "2026-11-23"


def test_manager_help_mentions_the_commands():
    assert msg.HELP_MANAGER in Chat(user_id=MANAGER).says("Помощь").replies[0].text
    assert msg.HELP_MANAGER not in Chat().says("Помощь").replies[0].text
