"""The mailings' dialogues one layer down (mailing.py through the pure handler chain, a fake
view): a manager's «Рассылка» (text, photo, preview, send, schedule, cancel, every bad input),
the customers' «Отписаться» / «Подписаться», «Сводка» with the last mailings, the typed times,
and the photo strings the parser keeps. End to end: tests/test_e2e_mailing.py."""
import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

import dialogue as d
import handlers as h
import mailing
import messages as msg
import planning
from chat import Chat, FakeView
from db_mailings import Mailing, Totals
from mail import CancelMailing, Cancelled, CreateMailing, Subscribe
from support import labels
from vk_emulator import photo
from vk_events import parse_event

UTC = timezone.utc
MSK = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # Tuesday, 12:00 in Moscow
CUSTOMER, MANAGER = 100, 200
PHOTO = "photo200_5_abc"


class MailView(FakeView):
    def __init__(self, audience=3, unsubscribed=(), mailings=(), **kw):
        super().__init__(**kw)
        self.audience, self.unsubscribed, self.mailings = audience, set(unsubscribed), list(mailings)
        self.asked_without = None

    def mailing_audience(self, exclude):
        self.asked_without = set(exclude)
        return self.audience

    def subscribed(self, user_id):
        return user_id not in self.unsubscribed

    def last_mailings(self, limit=5):
        return self.mailings[:limit]


def manager(view=None, now=NOW) -> Chat:
    return Chat(view or MailView(), MANAGER, frozenset({MANAGER}), now, MSK, scenarios=("services",))


def customer(view=None) -> Chat:
    return Chat(view or MailView(), CUSTOMER, frozenset({MANAGER}), NOW, MSK, scenarios=("services",))


def at_preview(chat: Chat, text="Скидка 20% до пятницы!") -> Chat:
    chat.says("Рассылка")
    chat.says(text)
    assert chat.state == d.State.MGR_MAIL_PREVIEW
    return chat


# --- The text and the photo ----------------------------------------------------------------------
def test_the_menu_button_and_the_typed_word_ask_for_the_text():
    chat = manager()
    assert msg.BTN_MAILING in chat.says("Меню").replies[0].keyboard
    chat.presses(msg.BTN_MAILING)
    assert chat.state == d.State.MGR_MAIL_TEXT and chat.text == msg.MAIL_ASK
    assert manager().says("рассылка").replies[-1].text == msg.MAIL_ASK


def test_a_customer_typing_the_word_starts_nothing():
    chat = customer()
    chat.says("Рассылка")
    assert chat.state == d.State.MENU and chat.text == msg.NOT_UNDERSTOOD


def test_the_preview_shows_the_text_as_sent_and_how_many_get_it_without_the_managers():
    view = MailView(audience=42)
    chat = at_preview(manager(view))
    assert chat.text == msg.MAIL_PREVIEW.format(text="Скидка 20% до пятницы!", photo="", count=42)
    assert "Получат: 42" in chat.text and view.asked_without == {MANAGER}
    assert chat.buttons == [msg.BTN_SEND, msg.BTN_MAIL_LATER, msg.BTN_BACK, msg.BTN_CANCEL]


@pytest.mark.parametrize("bad", [dict(text=""), dict(text="   "), dict(attachments=("sticker",)),
                                 dict(attachments=("gift",)), dict(text="x", payload={"cmd": "nonsense"})])
def test_an_empty_text_a_sticker_or_a_stray_button_is_asked_again(bad):
    chat = manager()
    chat.says("Рассылка")
    out = chat.says(**bad)
    assert chat.state == d.State.MGR_MAIL_TEXT and out.replies[-1].text == msg.MAIL_HINT
    assert out.effects == ()


def test_a_photo_alone_is_kept_and_the_text_asked_then_the_preview_forwards_it():
    chat = manager()
    chat.says("Рассылка")
    out = chat.says("", photos=(PHOTO,), attachments=("photo",), cmid=9)
    assert chat.state == d.State.MGR_MAIL_TEXT and out.replies[-1].text == msg.MAIL_PHOTO_KEPT
    assert chat.dialogue.data == {"photo": PHOTO, "photo_cmid": 9}
    chat.says("Новое меню!")
    [shown] = chat.out.replies
    assert msg.MAIL_WITH_PHOTO in shown.text
    assert json.loads(shown.forward) == {"peer_id": MANAGER, "conversation_message_ids": [9], "is_reply": False}
    chat.presses(msg.BTN_SEND)
    assert chat.out.effects[0] == CreateMailing(MANAGER, "Новое меню!", PHOTO, NOW)


def test_with_several_photos_the_first_is_taken_and_the_manager_told():
    chat = manager()
    chat.says("Рассылка")
    chat.says("Фото недели", photos=(PHOTO, "photo200_6"), attachments=("photo", "photo"), cmid=3)
    assert chat.state == d.State.MGR_MAIL_PREVIEW and chat.text.startswith(msg.MAIL_ONE_PHOTO)
    assert chat.dialogue.data["photo"] == PHOTO


def test_other_attachments_are_not_passed_on_and_the_manager_is_told():
    chat = manager()
    chat.says("Рассылка")
    out = chat.says("", attachments=("doc",))
    assert chat.state == d.State.MGR_MAIL_TEXT and out.replies[-1].text == msg.MAIL_ONE_PHOTO
    chat.says("Прайс на декабрь", attachments=("doc", "fwd"))
    assert chat.state == d.State.MGR_MAIL_PREVIEW and chat.text.startswith(msg.MAIL_ONE_PHOTO)
    assert "photo" not in chat.dialogue.data


def test_too_long_a_text_is_asked_again_keeping_its_photo():
    chat = manager()
    chat.says("Рассылка")
    out = chat.says("слово " * 700, photos=(PHOTO,), attachments=("photo",), cmid=4)
    assert out.replies[-1].text == msg.MAIL_TOO_LONG.format(limit=mailing.MAX_TEXT)
    assert chat.state == d.State.MGR_MAIL_TEXT and chat.dialogue.data["photo"] == PHOTO
    chat.says("Коротко")
    assert chat.state == d.State.MGR_MAIL_PREVIEW and chat.dialogue.data["photo"] == PHOTO


def test_back_from_the_preview_shows_the_text_and_keep_returns_to_the_preview():
    chat = at_preview(manager())
    chat.presses(msg.BTN_BACK)
    assert chat.state == d.State.MGR_MAIL_TEXT and "Скидка 20%" in chat.text and msg.BTN_KEEP in chat.buttons
    chat.presses(msg.BTN_KEEP)
    assert chat.state == d.State.MGR_MAIL_PREVIEW and chat.dialogue.data["text"] == "Скидка 20% до пятницы!"


# --- The preview's choices ------------------------------------------------------------------------
def test_send_creates_the_mailing_due_now_and_says_it_went():
    chat = at_preview(manager())
    out = chat.presses(msg.BTN_SEND)
    assert out.effects == (CreateMailing(MANAGER, "Скидка 20% до пятницы!", None, NOW),) and chat.state == d.State.MENU
    chat.stored(12)
    assert chat.text == msg.MAIL_STARTED.format(id=12) and chat.state == d.State.MENU
    assert chat.buttons == ["Отменить №12"]


def test_a_typed_send_is_the_button_and_a_typed_word_is_asked_again_with_the_draft_kept():
    chat = at_preview(manager())
    out = chat.says("может, завтра?")
    assert out.replies[-1].text == msg.MAIL_HINT_PREVIEW and out.effects == ()
    assert chat.state == d.State.MGR_MAIL_PREVIEW and chat.dialogue.data["text"] == "Скидка 20% до пятницы!"
    assert chat.says("Отправить").effects[0].due_at == NOW


def test_an_order_summary_send_pressed_on_the_preview_creates_nothing():
    chat = at_preview(manager())
    out = chat.says("Отправить", payload={"cmd": msg.CMD_SEND})
    assert out.effects == () and chat.state == d.State.MGR_MAIL_PREVIEW


def test_cancel_drops_the_draft_and_creates_nothing():
    chat = at_preview(manager())
    out = chat.presses(msg.BTN_CANCEL)
    assert out.effects == () and chat.state == d.State.MENU and chat.text == msg.CANCELLED


def test_the_preview_buttons_pressed_again_after_sending_create_nothing_more():
    chat = at_preview(manager())
    old = chat.out
    chat.presses(msg.BTN_SEND)
    chat.stored(1)
    chat.out = old
    out = chat.presses(msg.BTN_SEND)
    assert out.effects == () and out.replies[-1].text == msg.BUTTON_OUTDATED
    assert chat.says("запланировать").replies[-1].text == msg.NOT_UNDERSTOOD  # typed in the menu


def test_in_quiet_hours_send_says_when_it_will_go():
    late = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)  # 23:00 in Moscow
    chat = at_preview(manager(now=late))
    chat.presses(msg.BTN_SEND)
    chat.stored(3)
    assert chat.text == (msg.MAIL_SCHEDULED.format(id=3, at="02.12.2026 09:00")
                         + msg.MAIL_QUIET.format(at="01.12.2026 23:00", hours="22:00–09:00"))


# --- Scheduling -----------------------------------------------------------------------------------
def test_schedule_asks_the_time_and_creates_the_mailing_due_then():
    chat = at_preview(manager())
    chat.presses(msg.BTN_MAIL_LATER)
    assert chat.state == d.State.MGR_MAIL_WHEN and chat.text == msg.MAIL_ASK_WHEN
    out = chat.says("24.12 12:00")
    assert out.effects[0].due_at == datetime(2026, 12, 24, 9, 0, tzinfo=UTC)
    chat.stored(5)
    assert chat.text == msg.MAIL_SCHEDULED.format(id=5, at="24.12.2026 12:00") and chat.state == d.State.MENU


@pytest.mark.parametrize("typed, moment", [
    ("завтра 10:00", datetime(2026, 12, 2, 10, 0)), ("завтра в 10:00", datetime(2026, 12, 2, 10, 0)),
    ("2026-12-24 12:00", datetime(2026, 12, 24, 12, 0)), ("24.12.2026 9:05", datetime(2026, 12, 24, 9, 5)),
    ("31 декабря в 18:30", datetime(2026, 12, 31, 18, 30)), ("в пятницу 18.30", datetime(2026, 12, 4, 18, 30)),
    ("15:00", datetime(2026, 12, 1, 15, 0)), ("10.01 12:00", datetime(2027, 1, 10, 12, 0)),
])
def test_typed_dates_and_times_are_local(typed, moment):
    assert mailing.typed_when(typed, manager().ctx) == moment.replace(tzinfo=MSK).astimezone(UTC)


@pytest.mark.parametrize("typed", ["завтра", "12.12", "25:00", "завтра 10:61", "когда-нибудь", "31.02 10:00", ""])
def test_what_is_no_date_and_time(typed):
    assert mailing.typed_when(typed, manager().ctx) is None


@pytest.mark.parametrize("typed, hint", [("завтра", msg.MAIL_HINT_WHEN), ("11:00", msg.MAIL_WHEN_PAST),
                                         ("01.12.2026 12:00", msg.MAIL_WHEN_PAST)])
def test_a_bad_or_past_time_is_asked_again_and_the_draft_kept(typed, hint):
    chat = at_preview(manager())
    chat.presses(msg.BTN_MAIL_LATER)
    out = chat.says(typed)
    assert out.replies[-1].text == hint and out.effects == () and chat.state == d.State.MGR_MAIL_WHEN
    assert chat.dialogue.data["text"] == "Скидка 20% до пятницы!"
    chat.presses(msg.BTN_BACK)
    assert chat.state == d.State.MGR_MAIL_PREVIEW


def test_a_sticker_on_the_time_step_is_asked_again():
    chat = at_preview(manager())
    chat.presses(msg.BTN_MAIL_LATER)
    assert chat.says(attachments=("sticker",)).replies[-1].text == msg.MAIL_HINT_WHEN


def test_scheduled_into_quiet_hours_says_it_goes_at_their_end():
    chat = at_preview(manager())
    chat.presses(msg.BTN_MAIL_LATER)
    chat.says("24.12 23:30")
    chat.stored(8)
    assert chat.text == (msg.MAIL_SCHEDULED.format(id=8, at="25.12.2026 09:00")
                         + msg.MAIL_QUIET.format(at="24.12.2026 23:30", hours="22:00–09:00"))


def test_without_quiet_hours_nothing_is_said_of_them():
    outcome = mailing.after_create(CreateMailing(MANAGER, "x", None, NOW.replace(hour=20)), 4,
                                   d.Incoming("message", "e", MANAGER, MANAGER),
                                   d.Context(frozenset({MANAGER}), now=NOW, timing=planning.Timing(quiet=None)))
    assert outcome.replies[0].text == msg.MAIL_SCHEDULED.format(id=4, at="01.12.2026 23:00")


def test_someone_not_a_manager_found_in_a_mailing_step_creates_nothing():
    for state in (d.State.MGR_MAIL_TEXT, d.State.MGR_MAIL_PREVIEW, d.State.MGR_MAIL_WHEN):
        chat = customer()
        chat.dialogue = d.Conversation(state, {"text": "Спам"})
        out = chat.says("Отправить")
        assert out.effects == () and chat.state == d.State.MENU


def test_cancel_under_the_confirmation_cancels_that_mailing():
    chat = at_preview(manager())
    chat.presses(msg.BTN_MAIL_LATER)
    chat.says("24.12 12:00")
    chat.stored(5)
    out = chat.presses("Отменить №5")
    assert out.effects == (CancelMailing(5),)
    chat.stored(Cancelled(True, "cancelled"))
    assert chat.text == msg.MAIL_CANCELLED.format(id=5) and msg.BTN_MAILING in chat.out.replies[-1].keyboard
    for result, text in ((Cancelled(False, "done"), msg.MAIL_NOT_CANCELLED.format(id=5, status="завершена")),
                         (Cancelled(False, None), msg.BUTTON_OUTDATED)):
        assert mailing.after_cancel(CancelMailing(5), result, chat.event(), chat.ctx).replies[0].text == text


def test_a_forged_cancel_creates_nothing():
    for payload in ({"cmd": msg.CMD_MAIL_CANCEL}, {"cmd": msg.CMD_MAIL_CANCEL, "v": "5"},
                    {"cmd": msg.CMD_MAIL_CANCEL, "v": -1}):
        out = manager().says("Отменить", payload=payload)
        assert out.effects == () and out.replies[-1].text == msg.BUTTON_OUTDATED
    assert customer().says("Отменить №5", payload={"cmd": msg.CMD_MAIL_CANCEL, "v": 5}).effects == ()


def test_the_mailing_states_are_dropped_never_nudged_when_left():
    import drafts
    assert {d.State.MGR_MAIL_TEXT, d.State.MGR_MAIL_PREVIEW, d.State.MGR_MAIL_WHEN} <= drafts.MANAGER_STATES


# --- Customers: «Отписаться» and «Подписаться» ----------------------------------------------------
def test_unsubscribe_typed_or_pressed_changes_only_the_subscription_mid_dialogue():
    conversation = d.Conversation(d.State.SVC_TASK, {"service": "logo"})
    for event in (d.Incoming("message", "e", CUSTOMER, CUSTOMER, text="Отписаться"),
                  d.Incoming("message", "e", CUSTOMER, CUSTOMER, text="Отписаться", payload={"cmd": "unsubscribe"})):
        out = h.dispatch(event, conversation, customer().ctx)
        assert out.effects == (Subscribe(CUSTOMER, False),)
        assert out.state is None and out.data is None  # the step and the draft stay
        assert [r.text for r in out.replies] == [msg.UNSUBSCRIBED] and out.replies[0].keyboard is None


def test_unsubscribe_works_while_a_manager_has_the_dialogue():
    handed = d.Conversation(d.State.MENU, {}, handed_over_at=NOW)
    out = h.dispatch(d.Incoming("message", "e", CUSTOMER, CUSTOMER, text="отписаться"), handed, customer().ctx)
    assert out.effects == (Subscribe(CUSTOMER, False),)


def test_the_help_screen_offers_unsubscribe_or_subscribe_and_managers_neither():
    assert msg.BTN_UNSUBSCRIBE in labels(customer().says("Помощь").replies[0])
    chat = customer(MailView(unsubscribed={CUSTOMER}))
    assert labels(chat.says("Помощь").replies[0])[-2:] == [msg.BTN_HELP, msg.BTN_SUBSCRIBE]
    out = chat.presses(msg.BTN_SUBSCRIBE)
    assert out.effects == (Subscribe(CUSTOMER, True),) and out.replies[0].text == msg.SUBSCRIBED
    assert labels(out.replies[0])[-1] == msg.BTN_HELP  # the menu again
    manager_help = labels(manager().says("Помощь").replies[0])
    assert msg.BTN_SUBSCRIBE not in manager_help and msg.BTN_UNSUBSCRIBE not in manager_help


def test_the_help_text_stays_as_it_was():
    assert customer().says("Помощь").replies[0].text == (msg.HELP_START + msg.HELP_SERVICES + msg.HELP_ORDERS)


# --- «Сводка» -------------------------------------------------------------------------------------
def sent(id, status="done", **totals):
    return Mailing(id, MANAGER, "Текст", None, status, NOW, NOW, NOW + timedelta(minutes=1), None, Totals(**totals))


def test_stats_list_the_last_mailings_with_their_totals():
    view = MailView(mailings=[sent(2, "sending", sent=40, pending=10), sent(1, sent=98, not_allowed=1, failed=1)])
    text = manager(view).says("Сводка").replies[0].text
    assert text.startswith("Заказы по статусам:")
    assert msg.MAILING_LINE.format(id=2, at="01.12.2026 12:01", status="идёт", sent=40, na=0, un=0, failed=0) in text
    assert msg.MAILING_LINE.format(id=1, at="01.12.2026 12:01", status="завершена", sent=98, na=1, un=0,
                                   failed=1) in text


def test_stats_without_mailings_are_the_orders_alone():
    assert msg.STATS_MAILINGS.split("{")[0] not in manager().says("Сводка").replies[0].text


# --- The parser keeps the photos as attachment strings ------------------------------------------
def test_the_parser_gives_each_photo_as_messages_send_takes_it():
    first, second = photo(200, 5), photo(-7, 6)
    del second["photo"]["access_key"]
    raw = {"type": "message_new", "event_id": "e1", "group_id": 1, "object": {"message": {
        "from_id": 200, "peer_id": 200, "text": "", "conversation_message_id": 3,
        "attachments": [first, {"type": "sticker", "sticker": {}}, second, {"type": "photo", "photo": "odd"}]}}}
    event = parse_event(raw)
    assert event.photos == (f"photo200_5_{first['photo']['access_key']}", "photo-7_6")
    assert event.attachments == ("photo", "sticker", "photo", "photo")
