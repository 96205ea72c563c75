"""A person when asked (issue 13, point 2), end to end: the real bot and vk_api against the
emulator, on SQLite and PostgreSQL; time moved on the bot's clock, never slept."""
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

import messages as msg
from db_models import DialogueRow, ProcessedEvent
from support import CUSTOMER_ID, MANAGER_IDS, Clock, Person, labels

UTC = timezone.utc
NOW = datetime(2026, 6, 15, 9, 0, tzinfo=UTC)
LINK = f"https://vk.com/gim1?sel={CUSTOMER_ID}"
TOLD = msg.HANDOVER_TOLD.split("{")[0]


@pytest.fixture
def clock():
    return Clock(NOW)


@pytest.fixture
def replies_on(emu):
    emu.longpoll_events["message_reply"] = 1  # the bot's own sends come back too


@pytest.fixture
def runner(running, clock, replies_on):
    return running(clock=clock, SCENARIOS="services", WORKING_HOURS="09:00-18:00")


@pytest.fixture
def anna(emu, runner):
    return Person(emu, runner, CUSTOMER_ID)


def cards(emu, manager_id: int, start: str = "🙋") -> list:
    return [m for m in emu.messages(manager_id) if m.text.startswith(start)]


def handed_over(runner) -> datetime | None:
    with runner.bot.sessions.begin() as s:
        return s.scalar(select(DialogueRow.handed_over_at).where(DialogueRow.user_id == CUSTOMER_ID))


def assert_silent_and_kept(emu, anna, runner) -> None:
    """The customer's messages get no answer while handed over, yet each is applied (stored)."""
    update = emu.send_text(CUSTOMER_ID, "Мне нужен логотип, когда сможете ответить?")
    before = len(emu.messages(CUSTOMER_ID))
    runner.settle(update)
    assert len(emu.messages(CUSTOMER_ID)) == before
    with runner.bot.sessions.begin() as s:
        assert s.get(ProcessedEvent, update["event_id"]) is not None


def assert_bot_answers(anna) -> None:
    assert anna.says("Помощь"), "the bot should answer again"


def test_the_menu_button_hands_over_with_a_card_for_every_manager(emu, anna, runner):
    assert msg.BTN_HANDOVER in labels(anna.says("Привет")[0])
    [told] = anna.presses(msg.BTN_HANDOVER)
    assert told.text.startswith(TOLD) and "09:00-18:00" in told.text  # WORKING_HOURS
    for manager_id in MANAGER_IDS:
        [card] = cards(emu, manager_id)
        assert LINK in card.text and msg.HANDOVER_IN_MENU in card.text
        assert labels(card) == [msg.BTN_BOT_BACK]
    assert handed_over(runner) == NOW
    assert_silent_and_kept(emu, anna, runner)


def test_with_booking_on_the_customer_is_told_the_cafes_hours_of_today(emu, running, clock):
    anna = Person(emu, running(clock=clock, SCENARIOS="booking"), CUSTOMER_ID)
    [told] = anna.says("Позовите живой голос, пожалуйста")
    assert "12:00-23:00" in told.text  # the example café's Monday


def test_a_typed_word_hands_over_and_the_card_says_what_the_customer_was_doing(emu, anna, runner):
    anna.says("Меню")
    anna.presses(msg.BTN_SERVICES)
    [told] = anna.says("Можно ОПЕРАТОР?")
    assert told.text.startswith(TOLD)
    [card] = cards(emu, MANAGER_IDS[0])
    assert "оформлял заказ (svc_choose)" in card.text
    assert_silent_and_kept(emu, anna, runner)
    assert cards(emu, MANAGER_IDS[0]) == [card]  # silence sends no second card either


def test_twelve_people_is_a_party_size_not_a_request_for_a_person(emu, anna, runner):
    anna.says("Меню")
    assert not anna.says("на 12 человек")[0].text.startswith(TOLD)
    assert handed_over(runner) is None


def test_a_managers_press_brings_the_bot_back(emu, anna, runner):
    anna.says("Привет")
    anna.presses(msg.BTN_HANDOVER)
    manager = Person(emu, runner, MANAGER_IDS[0])
    manager.presses(msg.BTN_BOT_BACK)
    assert emu.snackbars(MANAGER_IDS[0])
    assert anna.text == msg.BOT_BACK and msg.BTN_HANDOVER in anna.buttons
    assert handed_over(runner) is None
    assert_bot_answers(anna)


@pytest.mark.parametrize("way_back", ["меню", "Начать"])
def test_the_customers_start_or_menu_brings_the_bot_back(emu, anna, runner, way_back):
    anna.says("Привет")
    anna.presses(msg.BTN_HANDOVER)
    [back] = anna.says(way_back, payload={"command": "start"} if way_back == "Начать" else None)
    assert back.text == msg.BOT_BACK and labels(back)
    assert handed_over(runner) is None
    assert_bot_answers(anna)


def test_the_bot_comes_back_after_handoff_hours_with_no_manager_message(emu, anna, runner, clock):
    anna.says("Привет")
    anna.presses(msg.BTN_HANDOVER)
    clock.now = NOW + timedelta(hours=23)
    runner.run_jobs()
    assert anna.text.startswith(TOLD)
    assert_silent_and_kept(emu, anna, runner)
    clock.now = NOW + timedelta(hours=24, minutes=1)
    runner.run_jobs()
    assert anna.text == msg.BOT_BACK
    assert_bot_answers(anna)


def test_a_managers_reply_from_the_community_hands_over_and_extends(emu, anna, runner, clock):
    anna.says("Привет")
    runner.settle(emu.community_reply(CUSTOMER_ID, "Здравствуйте! Я Олег, помогу вам.", MANAGER_IDS[0]))
    assert handed_over(runner) == NOW
    for manager_id in MANAGER_IDS:
        [card] = cards(emu, manager_id, "💬")
        assert LINK in card.text and labels(card) == [msg.BTN_BOT_BACK]
    assert not [m for m in emu.messages(CUSTOMER_ID) if m.text.startswith(TOLD)]  # the manager is talking already
    assert_silent_and_kept(emu, anna, runner)
    clock.now = NOW + timedelta(hours=20)
    runner.settle(emu.community_reply(CUSTOMER_ID, "Макет будет завтра.", MANAGER_IDS[1]))
    assert len(cards(emu, MANAGER_IDS[0], "💬")) == 1  # extended, not handed over again
    clock.now = NOW + timedelta(hours=25)
    runner.run_jobs()
    assert_silent_and_kept(emu, anna, runner)  # the timer moved to 20 h + 24 h
    clock.now = NOW + timedelta(hours=44, minutes=1)
    runner.run_jobs()
    assert anna.text == msg.BOT_BACK


def test_the_bot_never_reacts_to_its_own_messages(emu, anna, runner):
    anna.says("Привет")  # its answer comes back as message_reply
    before = len(emu.messages(CUSTOMER_ID))
    runner.settle(emu.push_update("message_new", {"message": {
        "id": 999, "date": 0, "from_id": -emu.group_id, "peer_id": CUSTOMER_ID, "out": 1, "text": "Меню",
        "conversation_message_id": 999, "random_id": 0}}))
    assert emu.wait_for(lambda: sum(e["type"] == "message_reply" for e in emu.events) >= 1)
    assert len(emu.messages(CUSTOMER_ID)) == before  # its own «Меню» (out=1) is not a customer's
    assert handed_over(runner) is None
    assert all(not cards(emu, m) and not cards(emu, m, "💬") for m in MANAGER_IDS)
    assert_bot_answers(anna)
