"""The bot against what the real VK does and the emulator now does too (issue 10 points 3, 4, 6
and issue 17 points 1, 4, 8, 9): failed 3, clients without callback buttons, message_allow and
message_deny, hostile nesting, another community's updates, the long-poll key kept out of the
log, a decision's audit line, and a token revoked while running. Each through the real vk_api
client and the emulator, on SQLite and PostgreSQL."""
import io
import json
import logging

import pytest

import main
import messages as msg
from db_models import Order, VkUser
from support import CUSTOMER_ID, MANAGER_IDS, Person, RunningBot, buttons_of, card_of, settings_for
from test_e2e_services import order_a_service

MANAGER = MANAGER_IDS[0]


def sends_to(emu, peer_id: int) -> int:
    """messages.send calls VK received for a peer (inside execute too), accepted or not."""
    return sum(1 for call in emu.calls if call.method == "messages.send"
               and str(peer_id) in (call.params.get("peer_id"), call.params.get("peer_ids")))


def status_of(runner, order_id: int) -> str:
    with runner.bot.sessions.begin() as s:
        return s.get(Order, order_id).status


# --- failed 3 ------------------------------------------------------------------------------
def test_after_failed_3_the_bot_polls_from_the_new_ts(emu, bot, customer, caplog):
    caplog.set_level(logging.WARNING, logger="vk")
    customer.says("Привет")
    bot.stop()
    lost = emu.send_text(CUSTOMER_ID, "меню")  # VK loses this one with the history
    emu.longpoll_fail(3)
    bot.start()  # polls from the stored ts: failed 3
    assert emu.wait_for(lambda: any("failed=3" in r.getMessage() for r in caplog.records), timeout=10)
    replies = customer.says("меню")  # with the old ts the emulator, like VK, would answer failed 3 forever
    assert [r.text for r in replies] == [msg.MENU]
    assert not bot.bot.wait_processed(lost["event_id"], timeout=0.1)
    assert any("may have been lost" in r.getMessage() for r in caplog.records)


# --- clients without callback buttons ----------------------------------------------------
def test_a_manager_without_callback_buttons_confirms_by_the_stand_in_press(emu, bot, customer):
    emu.add_user(MANAGER, "Олег", "Менеджер", callbacks=False)  # has not written yet: card has callbacks
    order_id = order_a_service(customer)
    card = card_of(emu, MANAGER, order_id)
    assert {b["type"] for b in buttons_of(card)} == {"callback"}
    replies = Person(emu, bot, MANAGER).presses(msg.BTN_CONFIRM)  # arrives as not_supported_button
    assert status_of(bot, order_id) == "confirmed"
    assert replies and "подтверждён" in replies[0].text  # the snackbar's words, as a message
    assert customer.last.text.startswith(f"Ваш заказ №{order_id}")


def test_a_manager_whose_client_lacks_callbacks_gets_text_buttons(emu, bot, customer):
    emu.add_user(MANAGER, "Олег", "Менеджер", callbacks=False)
    Person(emu, bot, MANAGER).says("Привет")  # client_info: no "callback" in button_actions
    with bot.bot.sessions.begin() as s:
        assert s.get(VkUser, MANAGER).callbacks is False
    order_id = order_a_service(customer)
    card = card_of(emu, MANAGER, order_id)
    assert {b["type"] for b in buttons_of(card)} == {"text"}
    assert {b["type"] for b in buttons_of(card_of(emu, MANAGER_IDS[1], order_id))} == {"callback"}
    Person(emu, bot, MANAGER).presses(msg.BTN_REJECT)
    assert status_of(bot, order_id) == "rejected"


def test_a_forged_stand_in_press_from_a_customer_is_refused(emu, bot, customer):
    order_id = order_a_service(customer)
    decide = next(b for b in buttons_of(card_of(emu, MANAGER, order_id)) if b["label"] == msg.BTN_CONFIRM)
    forged = {"command": "not_supported_button", "button_type": "callback", "payload": decide["payload"]}
    replies = customer.says(msg.BTN_CONFIRM, payload=forged)
    assert status_of(bot, order_id) == "pending"
    assert [r.text for r in replies] == [msg.SNACKBAR_OUTDATED]
    typed = customer.says(msg.BTN_CONFIRM, payload=json.loads(decide["payload"]))  # the text-button form
    assert status_of(bot, order_id) == "pending" and [r.text for r in typed] == [msg.SNACKBAR_OUTDATED]


# --- message_allow / message_deny --------------------------------------------------------------
def consent_events_on(emu) -> None:
    emu.longpoll_events.update(message_allow=1, message_deny=1)


def test_a_user_who_denied_gets_nothing_until_they_allow_again(emu, bot, customer, managers):
    consent_events_on(emu)
    first, second = order_a_service(customer), order_a_service(customer)
    bot.settle(emu.set_allows_messages(CUSTOMER_ID, False))
    before = sends_to(emu, CUSTOMER_ID)
    managers[0].presses(msg.BTN_CONFIRM)  # the newest card: the second order
    assert status_of(bot, second) == "confirmed"
    assert sends_to(emu, CUSTOMER_ID) == before  # not even tried: no 901
    bot.settle(emu.set_allows_messages(CUSTOMER_ID, True))
    event = emu.press_callback(MANAGER, json.loads(next(
        b for b in buttons_of(card_of(emu, MANAGER, first)) if b["label"] == msg.BTN_REJECT)["payload"]),
        card_of(emu, MANAGER, first).conversation_message_id)
    bot.settle(event)
    assert status_of(bot, first) == "rejected"
    assert f"№{first}" in customer.last.text and sends_to(emu, CUSTOMER_ID) == before + 1


def test_without_the_deny_event_one_901_is_enough(emu, bot, customer, managers):
    first, second = order_a_service(customer), order_a_service(customer)
    emu.set_allows_messages(CUSTOMER_ID, False)  # message_deny is off: the bot is not told
    before = sends_to(emu, CUSTOMER_ID)
    managers[0].presses(msg.BTN_CONFIRM)  # the newest card: the second order; VK answers 901
    assert status_of(bot, second) == "confirmed" and sends_to(emu, CUSTOMER_ID) == before + 1
    card = card_of(emu, MANAGER, first)
    reject = next(b for b in buttons_of(card) if b["label"] == msg.BTN_REJECT)
    bot.settle(emu.press_callback(MANAGER, json.loads(reject["payload"]), card.conversation_message_id))
    assert status_of(bot, first) == "rejected" and sends_to(emu, CUSTOMER_ID) == before + 1  # not tried again


def test_writing_again_allows_replies_again(emu, bot, customer):
    consent_events_on(emu)
    customer.says("Привет")
    bot.settle(emu.set_allows_messages(CUSTOMER_ID, False))
    with bot.bot.sessions.begin() as s:
        assert s.get(VkUser, CUSTOMER_ID).messages_allowed is False
    assert [r.text for r in customer.says("меню")] == [msg.MENU]  # VK lets the community answer someone who writes
    with bot.bot.sessions.begin() as s:
        assert s.get(VkUser, CUSTOMER_ID).messages_allowed is True


def test_a_manager_who_denies_is_a_warning_at_once(emu, bot, caplog):
    consent_events_on(emu)
    caplog.set_level(logging.INFO)
    bot.settle(emu.set_allows_messages(MANAGER, False))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"manager {MANAGER} denied messages" in w for w in warnings)


# --- hostile and misrouted updates ------------------------------------------------------------
def test_a_payload_nested_1200_deep_costs_only_itself(emu, bot, customer):
    deep = "[" * 1200 + "]" * 1200
    poison = emu.send_text(CUSTOMER_ID, "привет", payload='{"cmd":' + deep + "}")
    bot.settle(poison)  # handled, as a message with a malformed payload
    assert [r.text for r in customer.says("меню")] == [msg.MENU]
    assert bot.thread.is_alive()


def test_a_long_poll_answer_nested_100000_deep_is_skipped(emu, bot, customer, caplog):
    caplog.set_level(logging.WARNING)
    customer.says("Привет")
    deep = '{"payload":' + '{"a":' * 100_000 + "1" + "}" * 100_000 + ',"user_id":100,"peer_id":100}'
    emu.push_raw_update("message_event", deep)
    assert [r.text for r in customer.says("меню")] == [msg.MENU]
    assert bot.thread.is_alive()
    assert any("cannot be read" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("group", [2, 0])
def test_an_update_for_another_community_is_ignored(emu, bot, customer, caplog, group):
    caplog.set_level(logging.WARNING)
    message = {"date": 0, "from_id": CUSTOMER_ID, "id": 999, "out": 0, "peer_id": CUSTOMER_ID, "text": "Привет",
               "conversation_message_id": 1, "fwd_messages": [], "attachments": [], "important": False,
               "is_hidden": False, "random_id": 0, "version": 1}
    event = emu.push_update("message_new", {"message": message, "client_info": {}}, group_id=group)
    assert [r.text for r in customer.says("меню")] == [msg.MENU]  # the stranger's update got no answer
    assert not bot.bot.wait_processed(event["event_id"], timeout=0.1)
    assert any(f"for community {group}, not 1: ignored" in r.getMessage() for r in caplog.records)


# --- the log ------------------------------------------------------------------------------------
def test_the_long_poll_key_never_reaches_the_log(emu, db_url):
    stream = io.StringIO()
    handler = main.log_handler(settings_for(emu, db_url), stream)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        runner = RunningBot(emu, db_url)
        Person(emu, runner, CUSTOMER_ID).says("Привет")
        runner.stop()
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    logged = stream.getvalue()
    assert "key=***" in logged  # the lines that carried it are there, masked
    assert emu._lp_key not in logged and emu.token not in logged


def test_every_decision_has_an_info_line(emu, bot, customer, managers, caplog):
    caplog.set_level(logging.INFO)
    order_id = order_a_service(customer)
    managers[1].presses(msg.BTN_REJECT)
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any(f"order {order_id} rejected by manager {MANAGER_IDS[1]}" in line for line in lines)


# --- a token revoked while running (the process-level test is in test_main_process.py) ------------
def test_a_token_refused_when_the_poll_renews_its_key_stops_the_bot(emu, bot, customer, caplog):
    caplog.set_level(logging.ERROR)
    customer.says("Привет")
    emu.token = "a-new-token"
    emu.longpoll_fail(2)  # the key expires: asking for a new one meets error 5
    emu.end_polls()
    bot.thread.join(timeout=15)
    assert not bot.thread.is_alive() and bot.bot.rejected.is_set()
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "error 5" in errors[0]
