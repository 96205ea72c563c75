"""The foundation end to end: the real loop and the real vk_api client against the emulator,
on SQLite and PostgreSQL. Every call the bot makes is checked against VK's schema when the
`emu` fixture closes."""
import dataclasses
import logging

import pytest

import handlers
import messages as msg
from dialogue import State
from support import CUSTOMER_ID, Person, labels



def test_greeting_with_the_menu(customer):
    replies = customer.says("Привет")
    assert [r.text for r in replies] == [msg.GREETING]
    assert msg.BTN_HELP in labels(replies[0])


def test_vk_start_button(customer, emu):
    replies = customer._act(emu.send_text(CUSTOMER_ID, "Начать", payload='{"command":"start"}'))
    assert replies[0].text == msg.GREETING


def test_new_user_writing_anything_is_greeted(customer):
    assert customer.says("сколько стоит?")[0].text == msg.GREETING


def test_help_button_and_typed_menu(customer):
    customer.says("Привет")
    assert customer.presses(msg.BTN_HELP)[0].text == msg.HELP
    assert customer.says("меню")[0].text == msg.MENU


@pytest.mark.parametrize("kind", ["sticker", "photo", "empty", "long", "bad_payload"])
def test_anything_not_understood_gets_a_hint_with_the_menu(customer, emu, kind):
    customer.says("Привет")
    if kind == "sticker":
        replies = customer.sends_sticker()
    elif kind == "photo":
        replies = customer.says("", attachments=[{"type": "photo", "photo": {"id": 1, "owner_id": CUSTOMER_ID}}])
    elif kind == "empty":
        replies = customer.says("")
    elif kind == "long":
        replies = customer.says("я" * 10_000)
    else:
        replies = customer.says("кнопка", payload="{not json")
    assert [r.text for r in replies] == [msg.NOT_UNDERSTOOD]
    assert msg.BTN_HELP in labels(replies[0])


def test_group_chat_messages_get_silence(customer, emu):
    event = emu.send_text(CUSTOMER_ID, "Привет", peer_id=2_000_000_001)
    customer.runner.settle(event)
    assert emu.messages(2_000_000_001) == [] and emu.messages(CUSTOMER_ID) == []


def test_redelivered_update_is_applied_once(customer, emu):
    customer.says("Привет")
    emu.redeliver(1)
    replies = customer.says("Помощь")
    assert [r.text for r in replies] == [msg.HELP]


def test_the_dialogue_survives_a_restart(customer, bot):
    customer.says("Привет")
    bot.restart()
    # A known user is not greeted again: the database remembered them.
    assert customer.says("что-то непонятное")[0].text == msg.NOT_UNDERSTOOD


def test_events_sent_while_the_bot_is_down_are_not_lost(customer, bot, emu):
    customer.says("Привет")
    bot.stop()
    event = emu.send_text(CUSTOMER_ID, "Помощь")
    bot.start()
    bot.settle(event)
    assert customer.last.text == msg.HELP


def test_a_failing_handler_apologises_and_the_loop_goes_on(customer, monkeypatch, caplog):
    customer.says("Привет")

    def broken(event, draft, ctx):
        raise RuntimeError("boom")

    row = handlers.FLOW[State.MENU]
    monkeypatch.setitem(handlers.FLOW, State.MENU, dataclasses.replace(row, step=broken))
    with caplog.at_level(logging.ERROR):
        assert customer.says("непонятное")[0].text == msg.APOLOGY
    assert any("failed" in r.getMessage() and r.exc_info for r in caplog.records)
    monkeypatch.undo()
    assert customer.says("Помощь")[0].text == msg.HELP


@pytest.mark.parametrize("kind", ["http500", "http502", "drop", "not_json", "timeout"])
def test_send_faults_are_retried_and_the_reply_arrives_once(customer, emu, kind):
    emu.fail_next("messages.send", kind=kind, delay=0.5 if kind == "timeout" else None, executed=kind == "timeout")
    customer.runner.bot.client.vk.http.timeout = 0.3
    customer.says("Привет")
    assert emu.wait_for(lambda: len(emu.messages(CUSTOMER_ID)) >= 1, 5)
    customer.runner.settle(emu.events[-1])
    assert [m.text for m in emu.messages(CUSTOMER_ID)] == [msg.GREETING]


@pytest.mark.parametrize("code", [6, 10])  # 9 waits longer: test_real_vk_delivery.test_flood_control_...
def test_send_errors_are_retried(customer, emu, code):
    emu.fail_next("messages.send", kind="error", code=code, times=2)
    customer.says("Привет")
    assert emu.wait_for(lambda: len(emu.messages(CUSTOMER_ID)) == 1, 5)
    assert emu.messages(CUSTOMER_ID)[0].text == msg.GREETING


def test_forbidden_user_is_not_retried_forever(customer, emu):
    emu.fail_next("messages.send", kind="error", code=901, times=1)
    customer.says("Привет")
    sends = [c for c in emu.calls if c.method == "messages.send"]
    assert len(sends) == 1 and emu.messages(CUSTOMER_ID) == []
    assert customer.says("Помощь")[0].text == msg.HELP


@pytest.mark.parametrize("code", [1, 2, 3])
def test_long_poll_failures_are_recovered(customer, emu, code):
    customer.says("Привет")
    emu.longpoll_fail(code)
    event = emu.send_text(CUSTOMER_ID, "Помощь")
    assert emu.wait_for(lambda: emu.last_message(CUSTOMER_ID).text == msg.HELP, 10)
    assert customer.runner.bot.wait_processed(event["event_id"], 5)


def test_long_poll_server_errors_are_waited_out(customer, emu):
    customer.says("Привет")
    emu.fail_next("groups.getLongPollServer", kind="error", code=10, times=3)
    emu.longpoll_fail(2)  # forces a new key, whose request fails three times
    event = emu.send_text(CUSTOMER_ID, "Помощь")
    customer.runner.settle(event)
    assert customer.last.text == msg.HELP


def test_a_hung_poll_is_noticed_and_replaced(customer, emu):
    customer.says("Привет")
    customer.runner.bot.poller.poll.margin = 0.5
    emu.hang_polls(30)
    event = emu.send_text(CUSTOMER_ID, "Помощь")
    customer.runner.settle(event, timeout=15)
    assert customer.last.text == msg.HELP


def test_managers_are_separate_people(emu, bot):
    manager = Person(emu, bot, 200)
    assert manager.says("Привет")[0].text == msg.GREETING
