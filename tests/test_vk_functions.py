"""The pure parts of vk_functions: event parsing, reply parameters, error sorting."""
import json

import pytest
import requests
from vk_api.exceptions import ApiError

import dialogue as d
from vk_events import parse_event
from vk_functions import Backoff, is_retriable, reply_params


def message_new(**message):
    base = {"from_id": 5, "peer_id": 5, "text": "hi", "conversation_message_id": 3}
    return {"type": "message_new", "event_id": "abc", "group_id": 1, "v": "5.199",
            "object": {"message": {**base, **message}, "client_info": {}}}


def test_message_payload_is_a_json_string():
    event = parse_event(message_new(payload='{"cmd":"menu"}'))
    assert event.kind == "message" and event.payload == {"cmd": "menu"} and event.user_id == 5


@pytest.mark.parametrize("payload", ["{broken", "[1,2]", "42", '"str"'])
def test_malformed_payload_is_flagged_not_raised(payload):
    event = parse_event(message_new(payload=payload))
    assert event.payload is None and event.payload_malformed


def test_callback_payload_is_an_object():
    raw = {"type": "message_event", "event_id": "e2", "group_id": 1, "v": "5.199",
           "object": {"user_id": 7, "peer_id": 7, "event_id": "cb1", "payload": {"cmd": "x"},
                      "conversation_message_id": 9}}
    event = parse_event(raw)
    assert (event.kind, event.callback_id, event.payload, event.cmid) == ("callback", "cb1", {"cmd": "x"}, 9)


@pytest.mark.parametrize("raw", [{}, {"type": "message_new"}, {"type": "message_new", "object": []},
                                 {"type": "wall_post_new", "object": {}}, {"type": "message_event", "object": None}])
def test_odd_updates_do_not_raise(raw):
    assert parse_event(raw).kind in ("other", "callback")


def test_chat_messages_are_marked():
    assert parse_event(message_new(peer_id=2_000_000_001)).from_chat
    assert parse_event(message_new(attachments=[{"type": "sticker"}])).attachments == ("sticker",)


def test_reply_params():
    method, params = reply_params(d.Reply.send(5, "hi", '{"buttons":[]}'), 77)
    assert method == "messages.send" and params["peer_id"] == 5 and params["random_id"] == 77
    method, params = reply_params(d.Reply.send(5, "card", card_order_id=3), 78)
    assert params["peer_ids"] == "5" and "peer_id" not in params
    method, params = reply_params(d.Reply("edit", 5, "new", cmid=4), 1)
    assert method == "messages.edit" and params["cmid"] == 4 and "random_id" not in params
    event = d.Incoming(kind="callback", event_id="e", user_id=5, peer_id=5, callback_id="cb")
    method, params = reply_params(d.Reply.snackbar(event, "ok"), 1)
    assert method == "messages.sendMessageEventAnswer"
    assert json.loads(params["event_data"]) == {"type": "show_snackbar", "text": "ok"}


def test_retriable_errors():
    def api_error(code):
        return ApiError(None, "m", {}, False, {"error_code": code, "error_msg": "x"})

    assert is_retriable(api_error(6)) and is_retriable(api_error(10))
    assert not is_retriable(api_error(901)) and not is_retriable(api_error(5))
    assert is_retriable(requests.ConnectionError()) and is_retriable(requests.Timeout())


def test_backoff_grows_and_is_capped():
    backoff = Backoff(first=1, cap=10)
    assert backoff.delay(0) < backoff.delay(2) <= 12
    assert backoff.delay(50) <= 12


def test_control_characters_are_dropped_from_text():
    assert parse_event(message_new(text="a\x00b\x07c\nd\te")).text == "abc\nd\te"


@pytest.mark.parametrize("event_id", [None, 42, {"a": 1}, "x" * 65, "bad id!"])
def test_malformed_event_ids_are_no_ids(event_id):
    raw = message_new()
    raw["event_id"] = event_id
    assert parse_event(raw).event_id == ""
