"""The pure parts of reading what VK sends, one layer below tests/test_e2e_real_vk.py: the
stand-in press of a client without callback buttons, message_allow / message_deny, the
client's button_actions, hostile nesting, the text-button form of a keyboard, masking."""
import json

import pytest

import dialogue as d
import keyboard as kb
import main
from vk_events import group_of, parse_event, read_poll_answer

DECIDE = {"cmd": "decide", "o": 7, "d": "ok"}


def message_new(client_info=None, **message):
    base = {"from_id": 5, "peer_id": 5, "text": "Подтвердить", "conversation_message_id": 3}
    return {"type": "message_new", "event_id": "abc", "group_id": 1, "v": "5.199",
            "object": {"message": {**base, **message}, "client_info": client_info or {}}}


def stand_in(inner) -> str:
    return json.dumps({"command": "not_supported_button", "button_type": "callback", "payload": inner})


def test_a_not_supported_button_message_is_the_press_it_stands_for():
    event = parse_event(message_new(payload=stand_in(json.dumps(DECIDE))))
    assert (event.kind, event.payload, event.callback_id, event.callbacks) == ("callback", DECIDE, None, False)
    assert event.user_id == 5 and event.text == ""


@pytest.mark.parametrize("inner", ["{broken", "", "[1]"])
def test_a_stand_in_with_an_unreadable_payload_is_a_malformed_press(inner):
    event = parse_event(message_new(payload=stand_in(inner)))
    assert event.kind == "callback" and event.payload is None and (event.payload_malformed or inner == "")


def test_other_commands_and_button_types_stay_messages():
    other = json.dumps({"command": "not_supported_button", "button_type": "open_app", "payload": "{}"})
    assert parse_event(message_new(payload=other)).kind == "message"
    assert parse_event(message_new(payload='{"command":"start"}')).kind == "message"


@pytest.mark.parametrize("info, shown", [({"button_actions": ["text", "callback"]}, True),
                                         ({"button_actions": ["text"]}, False), ({}, None),
                                         ({"button_actions": "callback"}, None)])
def test_the_client_says_whether_it_shows_callback_buttons(info, shown):
    assert parse_event(message_new(client_info=info)).callbacks is shown


@pytest.mark.parametrize("kind, parsed", [("message_allow", "allow"), ("message_deny", "deny")])
def test_message_allow_and_deny(kind, parsed):
    event = parse_event({"type": kind, "event_id": "e9", "group_id": 1, "object": {"user_id": 42, "key": "k"}})
    assert (event.kind, event.user_id, event.peer_id) == (parsed, 42, 42)
    assert parse_event({"type": kind, "event_id": "e9", "object": {"user_id": "x"}}).kind == "other"


def test_a_payload_nested_too_deep_is_malformed_not_raised():
    event = parse_event(message_new(payload='{"a":' + "[" * 5000 + "]" * 5000 + "}"))
    assert event.kind == "message" and event.payload is None and event.payload_malformed


@pytest.mark.parametrize("raw, group", [({"group_id": 1}, 1), ({"group_id": "1"}, None), ({}, None),
                                        ({"group_id": True}, None), ([], None)])
def test_group_of(raw, group):
    assert group_of(raw) == group


def test_a_poll_answer_nested_too_deep_keeps_every_other_update():
    good = {"type": "message_new", "object": {"message": {"text": 'a "]}, [{" b', "peer_id": 1}}, "event_id": "x"}
    deep = '{"type":"message_event","object":' + '{"a":' * 100_000 + "1" + "}" * 100_000 + "}"
    text = '{"ts":"17","updates":[' + json.dumps(good) + "," + deep + "," + json.dumps(good) + "]}"
    assert read_poll_answer(text) == {"ts": "17", "updates": [good, good]}


@pytest.mark.parametrize("text", ['{"failed":3}', '{"failed":1,"ts":"9"}', '{"ts":"5","updates":[]}'])
def test_ordinary_poll_answers_read_as_they_are(text):
    assert read_poll_answer(text) == json.loads(text)


@pytest.mark.parametrize("text", ["[]", '"x"', "{}", "<html>"])
def test_a_poll_answer_that_is_no_answer_raises_value_error(text):
    with pytest.raises(ValueError):
        read_poll_answer(text)


def test_callback_buttons_become_text_buttons_with_the_same_payload():
    card = kb.build([[kb.Button("Да", DECIDE, callback=True, color="positive"), kb.Button("Меню", {"cmd": "m"})]],
                    inline=True)
    text = json.loads(kb.without_callbacks(card))
    actions = [b["action"] for row in text["buttons"] for b in row]
    assert [a["type"] for a in actions] == ["text", "text"]
    assert [json.loads(a["payload"]) for a in actions] == [DECIDE, {"cmd": "m"}]
    assert text["buttons"][0][0]["color"] == "positive" and text["inline"] is True
    plain = kb.build([[kb.Button("Меню", {"cmd": "m"})]])
    assert kb.without_callbacks(plain) == plain and kb.without_callbacks("not json") == "not json"


def test_a_stand_in_press_is_answered_by_a_message_not_a_snackbar():
    press = d.Incoming(kind="callback", event_id="e", user_id=5, peer_id=5, callback_id=None)
    assert d.Reply.snackbar(press, "Готово") == d.Reply.send(5, "Готово")
    real = d.Incoming(kind="callback", event_id="e", user_id=5, peer_id=5, callback_id="cb")
    assert d.Reply.snackbar(real, "Готово").kind == d.ReplyKind.ANSWER


@pytest.mark.parametrize("line", ['GET /lp/1?act=a_check&key=abc123def&ts=5&wait=25 HTTP/1.1',
                                  "{'key': 'abc123def', 'server': 'https://lp.vk.com/wh1', 'ts': '5'}",
                                  '{"key": "abc123def", "server": "https://lp.vk.com/wh1"}'])
def test_the_long_poll_key_is_masked(line):
    masked = main.SecretFilter("tok")._mask(line)
    assert "abc123def" not in masked and "***" in masked
    assert masked.replace("***", "abc123def") == line  # only the key is hidden


def test_attachments_forwarded_messages_and_a_reply_are_kinds_with_the_messages_cmid():
    event = parse_event(message_new(conversation_message_id=9, attachments=[{"type": "photo"}, {"type": "doc"}, "x"],
                                    fwd_messages=[{"text": "a"}, {"text": "b"}], reply_message={"text": "c"}))
    assert event.attachments == ("photo", "doc", "fwd", "fwd", "fwd") and event.cmid == 9
    odd = parse_event(message_new(attachments={"type": "photo"}, fwd_messages="x", reply_message=[1]))
    assert odd.attachments == ()
