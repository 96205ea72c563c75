"""The handler chain on its own: no network, no database."""
import json

import pytest

import handlers as h
import messages as msg

CTX = h.Context(manager_ids=frozenset({200}), scenarios=("services", "booking"))


def message(text="", payload=None, **kw):
    return h.Incoming(kind="message", event_id="e1", user_id=100, peer_id=100, text=text, payload=payload, **kw)


def labels(reply):
    keyboard = json.loads(reply.keyboard)
    return [b["action"]["label"] for row in keyboard["buttons"] for b in row]


def test_every_state_has_a_step():
    assert set(h.STEPS) == set(h.State)


def test_new_user_is_greeted_with_the_menu():
    out = h.dispatch(message("какой-то текст"), h.Dialogue(is_new=True), CTX)
    assert out.replies[0].text == msg.GREETING
    assert msg.BTN_HELP in labels(out.replies[0])
    assert out.state == h.State.MENU


@pytest.mark.parametrize("text", ["Привет", "привет!", "Начать", "start", "  НАЧАТЬ  "])
def test_greeting_words(text):
    out = h.dispatch(message(text), h.Dialogue(), CTX)
    assert out.replies[0].text == msg.GREETING


def test_vk_start_button_payload():
    out = h.dispatch(message("Начать", payload={"command": "start"}), h.Dialogue(), CTX)
    assert out.replies[0].text == msg.GREETING


@pytest.mark.parametrize("text, expected", [("Меню", msg.MENU), ("помощь", msg.HELP), ("Отмена", msg.NOTHING_TO_CANCEL)])
def test_typed_commands(text, expected):
    assert h.dispatch(message(text), h.Dialogue(), CTX).replies[0].text == expected


def test_button_payload_beats_text():
    out = h.dispatch(message("что угодно", payload={"cmd": msg.CMD_HELP}), h.Dialogue(), CTX)
    assert out.replies[0].text == msg.HELP


@pytest.mark.parametrize(
    "event",
    [
        message(""), message("x" * 10_000), message("", attachments=("sticker",)), message("", attachments=("photo",)),
        message("{oops", payload=None, payload_malformed=True), message("ok", payload={"cmd": 42}),
        message("ok", payload={"cmd": "no-such-command"}),
    ],
)
def test_anything_else_gets_a_polite_hint_with_the_menu(event):
    out = h.dispatch(event, h.Dialogue(), CTX)
    assert out.replies[0].text == msg.NOT_UNDERSTOOD
    assert msg.BTN_HELP in labels(out.replies[0])


def test_group_chats_and_other_events_are_silent():
    chat = message("Привет", from_chat=True)
    other = h.Incoming(kind="other", event_id="e", user_id=0, peer_id=0)
    assert h.dispatch(chat, h.Dialogue(), CTX) == h.Outcome()
    assert h.dispatch(other, h.Dialogue(), CTX) == h.Outcome()


def test_unknown_callback_gets_a_snackbar():
    press = h.Incoming(kind="callback", event_id="e", user_id=100, peer_id=100, payload={"cmd": "zzz"}, callback_id="cb")
    out = h.dispatch(press, h.Dialogue(), CTX)
    assert out.replies[0].kind == "answer" and out.replies[0].callback_id == "cb"
    assert len(out.replies[0].text) <= 90


def test_apology_fits_a_snackbar_for_callbacks():
    press = h.Incoming(kind="callback", event_id="e", user_id=1, peer_id=1, callback_id="cb")
    assert h.apology(press).kind == "answer" and len(h.apology(press).text) <= 90
    assert h.apology(message("x")).text == msg.APOLOGY


def test_outcome_then_merges():
    first = h.Outcome(replies=(h.Reply.send(1, "a"),), state=h.State.MENU, data={"x": 1})
    merged = first.then(h.Outcome(replies=(h.Reply.send(1, "b"),), data={"y": 2}))
    assert [r.text for r in merged.replies] == ["a", "b"]
    assert merged.state == h.State.MENU and merged.data == {"y": 2}
