"""The VK emulator, driven by the real vk_api client over HTTP."""
from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
import vk_api
from hypothesis import given, settings
from hypothesis import strategies as st
from vk_api.bot_longpoll import VkBotEventType, VkBotLongPoll
from vk_api.exceptions import ApiError, ApiHttpError

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vk_emulator import VKEmulator, parse_execute, parse_keyboard  # noqa: E402
from vk_emulator import ApiError as EmulatorApiError  # noqa: E402

VK_METHOD_URL = "https://api.vk.ru/method/"
TOKEN = "test-token"
GROUP = 7
CUSTOMER = 101
STRANGER = 202


class EmulatorSession(requests.Session):
    """A requests session that sends vk_api's calls to the emulator, with a short timeout."""

    def __init__(self, api_url: str, timeout: float = 3.0):
        super().__init__()
        self.api_url = api_url
        self.timeout = timeout

    def request(self, method, url, *args, **kwargs):  # type: ignore[override]
        if url.startswith(VK_METHOD_URL):
            url = self.api_url + url[len(VK_METHOD_URL):]
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, *args, **kwargs)


@pytest.fixture
def emu():
    with VKEmulator(token=TOKEN, group_id=GROUP) as emulator:
        emulator.add_user(CUSTOMER, "Анна", "Иванова")
        yield emulator


def make_vk(emu: VKEmulator, token: str = TOKEN, timeout: float = 3.0) -> vk_api.VkApiGroup:
    return vk_api.VkApiGroup(token=token, api_version="5.199",
                             session=EmulatorSession(emu.api_url, timeout))


@pytest.fixture
def vk(emu):
    return make_vk(emu)


def raw_call(emu: VKEmulator, method: str, **params) -> dict:
    """One call without vk_api's retries and pacing."""
    params.setdefault("access_token", TOKEN)
    params.setdefault("v", "5.199")
    return requests.post(emu.api_url + method, data=params, timeout=3).json()


def send(vk, peer_id=CUSTOMER, text="hi", random_id=0, **extra):
    return vk.method("messages.send", {"peer_id": peer_id, "message": text,
                                       "random_id": random_id, **extra})


def keyboard(*labels: str, inline: bool = False, callback: bool = False, one_time: bool = False) -> str:
    kind = "callback" if callback else "text"
    buttons = [[{"action": {"type": kind, "label": label, "payload": json.dumps({"cmd": label})}}]
               for label in labels]
    return json.dumps({"inline": inline, "one_time": one_time, "buttons": buttons})


def api_error(call) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call()
    return caught.value


# ---------------------------------------------------------------- envelopes and errors

def test_groups_get_by_id_has_the_5_199_shape(vk):
    answer = vk.method("groups.getById", {"group_id": GROUP})
    assert answer["profiles"] == []
    group = answer["groups"][0]
    assert group["id"] == GROUP and group["type"] == "group" and group["is_closed"] == 0
    assert {"name", "screen_name", "photo_50", "photo_100", "photo_200"} <= group.keys()


def test_wrong_token_is_error_5_and_the_token_is_never_echoed(emu):
    body = raw_call(emu, "groups.getById", access_token="stolen-secret-token", group_id=GROUP)
    assert body["error"]["error_code"] == 5
    assert body["error"]["error_msg"] == "User authorization failed: invalid access_token (4)."
    keys = [item["key"] for item in body["error"]["request_params"]]
    assert keys[:3] == ["method", "oauth", "v"] and "access_token" not in keys
    assert "stolen-secret-token" not in json.dumps(body)
    assert all("access_token" not in call.params for call in emu.calls)
    assert api_error(lambda: make_vk(emu, token="wrong-token").method("users.get")).code == 5


def test_missing_version_is_error_8_and_unknown_method_is_error_3(emu):
    body = requests.post(emu.api_url + "users.get", data={"access_token": TOKEN}, timeout=3).json()
    assert body["error"] == {"error_code": 8, "error_msg": "Invalid request: v is required",
                             "request_params": [{"key": "method", "value": "users.get"},
                                                {"key": "oauth", "value": "1"}]}
    assert raw_call(emu, "messages.fly")["error"]["error_code"] == 3


def test_get_requests_work_like_post(emu):
    answer = requests.get(emu.api_url + "users.get", timeout=3,
                          params={"access_token": TOKEN, "v": "5.199", "user_ids": CUSTOMER}).json()
    assert answer["response"][0]["first_name"] == "Анна"


def test_more_than_rate_limit_calls_per_second_is_error_6(emu):
    emu.rate_limit = 3
    codes = [raw_call(emu, "users.get").get("error", {}).get("error_code") for _ in range(4)]
    assert codes == [None, None, None, 6]
    time.sleep(1.05)
    assert "response" in raw_call(emu, "users.get")


def test_missing_random_id_is_error_100(vk):
    error = api_error(lambda: vk.method("messages.send", {"peer_id": CUSTOMER, "message": "x"}))
    assert error.code == 100 and "random_id" in error.error["error_msg"]


def test_missing_target_and_missing_text_are_error_100(vk):
    assert api_error(lambda: vk.method("messages.send", {"message": "x", "random_id": 0})).code == 100
    assert api_error(lambda: send(vk, text="")).code == 100


@pytest.mark.parametrize("bad", [
    "not json",
    json.dumps({"buttons": "nope"}),
    json.dumps({"buttons": [[{"action": {"type": "teleport", "label": "x"}}]]}),
    json.dumps({"buttons": [[{"action": {"type": "text", "label": "x" * 41}}]]}),
    json.dumps({"buttons": [[{"action": {"type": "text"}}]]}),
    json.dumps({"buttons": [[{"action": {"type": "text", "label": "a", "payload": "{" * 10}}]]}),
    json.dumps({"buttons": [[{"action": {"type": "text", "label": "a",
                                         "payload": json.dumps({"k": "v" * 260})}}]]}),
    json.dumps({"buttons": [[{"action": {"type": "text", "label": "a"}}] * 6]}),
    json.dumps({"buttons": [[{"action": {"type": "text", "label": "a"}}]] * 11}),
    json.dumps({"inline": True, "buttons": [[{"action": {"type": "text", "label": "a"}}]] * 7}),
    json.dumps({"inline": True, "buttons": [[{"action": {"type": "text", "label": "a"}}] * 4] * 3}),
    json.dumps({"inline": True, "one_time": True, "buttons": [[{"action": {"type": "text", "label": "a"}}]]}),
    json.dumps({"inline": True, "buttons": []}),
    json.dumps({"buttons": [[{"action": {"type": "text", "label": "a"}, "color": "purple"}]]}),
])
def test_bad_keyboards_are_error_911(vk, bad):
    assert api_error(lambda: send(vk, keyboard=bad)).code == 911


def test_keyboard_at_the_limits_is_accepted():
    row = [{"action": {"type": "text", "label": "x" * 40, "payload": json.dumps({"p": "y" * 240})}}] * 5
    assert parse_keyboard(json.dumps({"buttons": [row] * 8}))["buttons"][0][0]["action"]["label"]
    assert parse_keyboard(json.dumps({"inline": True, "buttons": [row, row]}))["inline"] is True
    assert parse_keyboard(json.dumps({"one_time": True, "buttons": []}))["buttons"] == []


def test_message_longer_than_9000_is_error_914(vk, emu):
    assert send(vk, text="я" * 9000) > 0
    assert api_error(lambda: send(vk, text="я" * 9001)).code == 914
    assert len(emu.messages(CUSTOMER)) == 1


def test_user_who_did_not_allow_messages_is_error_901_until_they_write(vk, emu):
    assert api_error(lambda: send(vk, peer_id=STRANGER)).code == 901
    assert vk.method("messages.isMessagesFromGroupAllowed",
                     {"group_id": GROUP, "user_id": STRANGER}) == {"is_allowed": 0}
    emu.send_text(STRANGER, "hello")
    assert send(vk, peer_id=STRANGER) > 0
    emu.set_allows_messages(STRANGER, False)
    assert api_error(lambda: send(vk, peer_id=STRANGER, user_id=STRANGER)).code == 901


def test_users_get_knows_added_users_and_invents_the_rest(vk):
    users = vk.method("users.get", {"user_ids": f"{CUSTOMER},555", "fields": "photo_100", "name_case": "gen"})
    assert [u["id"] for u in users] == [CUSTOMER, 555]
    assert users[0]["first_name"] == "Анна" and users[0]["last_name"] == "Иванова"
    assert users[1]["first_name"] and users[1]["can_access_closed"] is True
    assert api_error(lambda: vk.method("users.get", {"user_ids": "no such!"})).code == 113


# ---------------------------------------------------------------- messages

def test_random_id_repeats_return_the_original_and_send_nothing(vk, emu):
    first = send(vk, text="once", random_id=42)
    assert send(vk, text="once again", random_id=42) == first
    assert send(vk, text="other", random_id=43) != first
    send(vk, text="zero", random_id=0)
    send(vk, text="zero", random_id=0)
    assert [m.text for m in emu.messages(CUSTOMER)] == ["once", "other", "zero", "zero"]


def test_peer_ids_answers_per_peer_with_an_error_for_forbidden_ones(vk, emu):
    emu.add_user(303)
    answer = vk.method("messages.send", {"peer_ids": f"{CUSTOMER},{STRANGER},303",
                                         "message": "news", "random_id": 9})
    assert [item["peer_id"] for item in answer] == [CUSTOMER, STRANGER, 303]
    assert answer[1]["error"]["code"] == 901 and "message_id" not in answer[1]
    assert answer[0]["message_id"] != answer[2]["message_id"]
    assert answer[2]["conversation_message_id"] == 1
    assert emu.last_message(303).text == "news" and emu.messages(STRANGER) == []
    too_many = ",".join(str(i) for i in range(1, 102))
    assert api_error(lambda: vk.method("messages.send", {"peer_ids": too_many, "message": "x",
                                                         "random_id": 1})).code == 100


def test_conversation_message_ids_are_shared_with_the_customer(vk, emu):
    update = emu.send_text(CUSTOMER, "first")
    assert update["object"]["message"]["conversation_message_id"] == 1
    send(vk, text="reply")
    emu.send_text(CUSTOMER, "second")
    send(vk, text="reply 2")
    assert [m.conversation_message_id for m in emu.messages(CUSTOMER)] == [2, 4]
    assert len({m.message_id for m in emu.messages(CUSTOMER)}) == 2


def test_edit_by_cmid_changes_text_and_keyboard_and_keeps_history(vk, emu):
    send(vk, text="pick", keyboard=keyboard("A", inline=True))
    cmid = emu.last_message(CUSTOMER).conversation_message_id
    assert vk.method("messages.edit", {"peer_id": CUSTOMER, "cmid": cmid, "message": "picked",
                                       "keyboard": keyboard("B", inline=True)}) == 1
    message = emu.last_message(CUSTOMER)
    assert message.text == "picked" and message.keyboard["buttons"][0][0]["action"]["label"] == "B"
    assert message.edits[0][0] == "pick" and message.edits[0][1]["buttons"][0][0]["action"]["label"] == "A"
    assert vk.method("messages.edit", {"peer_id": CUSTOMER, "message_id": message.message_id,
                                       "message": "done"}) == 1
    assert emu.last_message(CUSTOMER).keyboard is None
    assert api_error(lambda: vk.method("messages.edit", {"peer_id": CUSTOMER, "cmid": 99,
                                                         "message": "x"})).code == 100
    assert api_error(lambda: vk.method("messages.edit", {"peer_id": CUSTOMER, "cmid": cmid,
                                                         "message": "x", "keyboard": "{"})).code == 911


def test_event_answer_is_recorded_once(vk, emu):
    send(vk, text="menu", keyboard=keyboard("Go", inline=True, callback=True))
    event = emu.press(CUSTOMER, "Go")["object"]
    answer = {"event_id": event["event_id"], "user_id": CUSTOMER, "peer_id": CUSTOMER,
              "event_data": json.dumps({"type": "show_snackbar", "text": "Готово"})}
    too_long = dict(answer, event_data=json.dumps({"type": "show_snackbar", "text": "x" * 91}))
    assert api_error(lambda: vk.method("messages.sendMessageEventAnswer", too_long)).code == 100
    assert vk.method("messages.sendMessageEventAnswer", answer) == 1
    assert api_error(lambda: vk.method("messages.sendMessageEventAnswer", answer)).code == 100
    assert api_error(lambda: vk.method("messages.sendMessageEventAnswer",
                                       dict(answer, event_id="feedc0ffee00"))).code == 100
    assert emu.snackbars(CUSTOMER) == [{"type": "show_snackbar", "text": "Готово"}]
    assert [a.event_id for a in emu.answers] == [event["event_id"]]


# ---------------------------------------------------------------- long poll

def test_long_poll_delivers_message_new_with_a_payload_string(vk, emu):
    longpoll = VkBotLongPoll(vk, GROUP, wait=1)
    emu.send_text(CUSTOMER, "Привет", payload={"cmd": "start"})
    events = longpoll.check()
    assert len(events) == 1 and events[0].type == VkBotEventType.MESSAGE_NEW
    message = events[0].message
    assert message.text == "Привет" and message.from_id == CUSTOMER and message.out == 0
    assert json.loads(message.payload) == {"cmd": "start"}
    assert "callback" in events[0].client_info.button_actions
    assert len(events[0].raw["event_id"]) == 40 and events[0].raw["v"] == "5.199"
    assert emu.delivered_count() == 1


def test_long_poll_delivers_message_event_with_a_payload_object(vk, emu):
    longpoll = VkBotLongPoll(vk, GROUP, wait=1)
    emu.press_callback(CUSTOMER, {"cmd": "confirm", "order": 5}, conversation_message_id=3)
    [event] = longpoll.check()
    assert event.type == VkBotEventType.MESSAGE_EVENT
    assert event.object.payload == {"cmd": "confirm", "order": 5}
    assert event.object.conversation_message_id == 3 and event.object.user_id == CUSTOMER
    assert isinstance(event.object.event_id, str)


def test_long_poll_waits_then_answers_empty_with_string_ts(vk, emu):
    server = vk.method("groups.getLongPollServer", {"group_id": GROUP})
    started = time.monotonic()
    answer = requests.get(server["server"], timeout=3, params={
        "act": "a_check", "key": server["key"], "ts": server["ts"], "wait": 1}).json()
    assert answer == {"ts": server["ts"], "updates": []}
    assert 0.9 <= time.monotonic() - started < 2


def test_long_poll_wakes_up_when_an_event_arrives(vk, emu):
    longpoll = VkBotLongPoll(vk, GROUP, wait=5)
    threading.Timer(0.2, emu.send_text, (CUSTOMER, "late")).start()
    started = time.monotonic()
    events = longpoll.check()
    assert [e.message.text for e in events] == ["late"] and time.monotonic() - started < 2


def poll(server: dict, ts: str | int | None = None, key: str | None = None) -> dict:
    return requests.get(server["server"], timeout=3, params={
        "act": "a_check", "key": key or server["key"], "ts": server["ts"] if ts is None else ts,
        "wait": 0}).json()


def test_long_poll_failures_1_2_3(vk, emu):
    emu2 = VKEmulator(token=TOKEN, group_id=GROUP, history_size=2)
    with emu2:
        vk2 = make_vk(emu2)
        server = vk2.method("groups.getLongPollServer", {"group_id": GROUP})
        for text in "abc":
            emu2.send_text(CUSTOMER, text)
        # ts 0 fell out of a 2-update history: go on from the oldest update still kept
        assert poll(server) == {"failed": 1, "ts": "1"}
        assert poll(server, ts=1)["updates"][0]["object"]["message"]["text"] == "b"
        assert poll(server, ts=99)["failed"] == 1
        newer = vk2.method("groups.getLongPollServer", {"group_id": GROUP})
        assert poll(server, ts=3) == {"failed": 2}  # the old key is retired
        assert poll(newer, ts=3)["updates"] == []
        emu2.longpoll_fail(3)
        assert poll(newer) == {"failed": 3}
        assert poll(newer) == {"failed": 2}  # after failed 3 the key is gone


def test_vk_api_recovers_from_injected_failures(vk, emu):
    longpoll = VkBotLongPoll(vk, GROUP, wait=1)
    first_key = longpoll.key
    emu.longpoll_fail(2)
    assert longpoll.check() == [] and longpoll.key != first_key
    emu.longpoll_fail(1)
    emu.send_text(CUSTOMER, "kept")
    # failed 1 hands back the oldest ts still in the history, so nothing kept is skipped
    assert longpoll.check() == [] and longpoll.ts == "0"
    assert [e.message.text for e in longpoll.check()] == ["kept"]
    emu.longpoll_fail(3)
    assert longpoll.check() == []
    emu.send_text(CUSTOMER, "after")
    assert [e.message.text for e in longpoll.check()] == ["after"]


def test_disabled_events_and_settings_are_visible(vk, emu):
    emu.longpoll_events["message_new"] = 0
    emu.longpoll_api_version = "5.131"
    settings_answer = vk.method("groups.getLongPollSettings", {"group_id": GROUP})
    assert settings_answer["is_enabled"] is True and settings_answer["api_version"] == "5.131"
    assert settings_answer["events"]["message_new"] == 0 and settings_answer["events"]["message_event"] == 1
    server = vk.method("groups.getLongPollServer", {"group_id": GROUP})
    emu.send_text(CUSTOMER, "unseen")
    assert poll(server)["updates"] == [] and len(emu.events) == 1
    emu.longpoll_enabled = False
    assert api_error(lambda: vk.method("groups.getLongPollServer", {"group_id": GROUP})).code == 100
    assert api_error(lambda: vk.method("groups.getLongPollServer", {"group_id": GROUP + 1})).code == 100


def test_old_longpoll_version_sends_the_bare_message(emu):
    emu.longpoll_api_version = "5.80"
    update = emu.send_text(CUSTOMER, "old style")
    assert update["object"]["text"] == "old style" and update["v"] == "5.80"


def test_message_reply_events_when_enabled(vk, emu):
    emu.longpoll_events["message_reply"] = 1
    server = vk.method("groups.getLongPollServer", {"group_id": GROUP})
    send(vk, text="echo")
    [update] = poll(server)["updates"]
    assert update["type"] == "message_reply" and update["object"]["out"] == 1
    assert update["object"]["from_id"] == -GROUP


# ---------------------------------------------------------------- press()

def test_press_text_button_sends_label_and_payload_string(vk, emu):
    longpoll = VkBotLongPoll(vk, GROUP, wait=1)
    send(vk, text="menu", keyboard=keyboard("Каталог", "Отмена"))
    emu.press(CUSTOMER, "Каталог")
    [event] = longpoll.check()
    assert event.message.text == "Каталог" and json.loads(event.message.payload) == {"cmd": "Каталог"}


def test_press_callback_button_sends_message_event_for_that_message(vk, emu):
    send(vk, text="card", keyboard=keyboard("Подтвердить", inline=True, callback=True))
    send(vk, text="later, no keyboard")
    update = emu.press(CUSTOMER, "Подтвердить")
    assert update["type"] == "message_event"
    assert update["object"]["payload"] == {"cmd": "Подтвердить"}
    assert update["object"]["conversation_message_id"] == 1


def test_press_sees_only_visible_buttons_after_edits_and_replacements(vk, emu):
    send(vk, text="old menu", keyboard=keyboard("Old"))
    send(vk, text="new menu", keyboard=keyboard("New", one_time=True))
    with pytest.raises(AssertionError, match="New"):
        emu.press(CUSTOMER, "Old")  # a newer non-inline keyboard replaced it
    emu.press(CUSTOMER, "New")
    with pytest.raises(AssertionError):
        emu.press(CUSTOMER, "New")  # one_time keyboards hide after use
    send(vk, text="card", keyboard=keyboard("Yes", inline=True))
    vk.method("messages.edit", {"peer_id": CUSTOMER, "cmid": 4, "message": "card",
                                "keyboard": keyboard("Sure", inline=True)})
    assert emu.press(CUSTOMER, "Sure")["object"]["message"]["text"] == "Sure"
    with pytest.raises(AssertionError, match="Sure"):
        emu.press(CUSTOMER, "Yes")


def test_send_sticker_has_empty_text_and_a_sticker(emu):
    message = emu.send_sticker(CUSTOMER, sticker_id=9)["object"]["message"]
    assert message["text"] == "" and message["attachments"][0]["sticker"]["sticker_id"] == 9
    assert "payload" not in message


# ---------------------------------------------------------------- execute

def sends_code(count: int, peer: int = CUSTOMER) -> str:
    calls = ", ".join(f'API.messages.send({{"peer_id": {peer}, "message": "n{i}", "random_id": {i + 1}}})'
                      for i in range(count))
    return f"return [{calls}];"


def test_execute_runs_25_sends_as_one_request(vk, emu):
    emu.rate_limit = 2
    ids = vk.method("execute", {"code": sends_code(25)})
    assert len(ids) == 25 and len(set(ids)) == 25
    assert len(emu.messages(CUSTOMER)) == 25
    assert api_error(lambda: vk.method("execute", {"code": sends_code(26)})).code == 13
    assert [c.via_execute for c in emu.calls].count(True) == 25


def test_execute_reports_failed_calls(vk, emu):
    code = ('return [API.messages.send({"peer_id": %d, "message": "ok", "random_id": 1}),'
            ' API.messages.send({"peer_id": %d, "message": "no", "random_id": 2})];' % (CUSTOMER, STRANGER))
    answer = vk.method("execute", {"code": code}, raw=True)
    assert answer["response"][0] > 0 and answer["response"][1] is False
    failed = {"method": "messages.send", "error_code": 901,
              "error_msg": "Can't send messages for users without permission"}
    assert answer["execute_errors"] == [failed, {**failed, "method": "execute"}]  # real VK's trailing entry
    assert api_error(lambda: vk.method("execute", {"code": "var x = 1; return x;"})).code == 12


@settings(max_examples=30, deadline=None)
@given(st.lists(st.dictionaries(st.text("abcdefgh_", min_size=1, max_size=8),
                                st.one_of(st.integers(), st.text(max_size=20), st.booleans()),
                                max_size=4), max_size=5))
def test_execute_parser_reads_back_any_json_arguments(argument_lists):
    code = "return [" + ", ".join(f"API.users.get({json.dumps(a, ensure_ascii=False)})"
                                  for a in argument_lists) + "];"
    calls, as_list = parse_execute(code)
    assert as_list and calls == [("users.get", a) for a in argument_lists]


def test_execute_parser_rejects_javascript():
    with pytest.raises(EmulatorApiError):
        parse_execute("return [API.users.get({user_ids: 1})];")


# ---------------------------------------------------------------- faults

@pytest.mark.parametrize("kind,status", [("http500", 500), ("http502", 502)])
def test_http_errors(vk, emu, kind, status):
    emu.fail_next("messages.send", kind=kind)
    with pytest.raises(ApiHttpError) as caught:
        send(vk)
    assert caught.value.response.status_code == status and emu.messages(CUSTOMER) == []
    assert send(vk) > 0


def test_error_fault_with_vk_code(vk, emu):
    emu.fail_next("messages.send", kind="error", code=9, times=2)
    assert api_error(lambda: send(vk)).code == 9
    assert api_error(lambda: send(vk)).error["error_msg"] == "Flood control"
    assert send(vk) > 0


def test_error_6_is_retried_by_vk_api(vk, emu):
    emu.fail_next("*", kind="error", code=6)
    assert send(vk, random_id=5) > 0
    assert [c.method for c in emu.calls] == ["messages.send", "messages.send"]


def test_timeout_fault_without_and_with_execution(emu):
    vk = make_vk(emu, timeout=0.3)
    emu.fail_next("messages.send", kind="timeout", delay=1)
    with pytest.raises(requests.exceptions.Timeout):
        send(vk, random_id=77)
    assert emu.messages(CUSTOMER) == []
    emu.fail_next("messages.send", kind="timeout", delay=1, executed=True)
    with pytest.raises(requests.exceptions.Timeout):
        send(vk, random_id=77)
    [sent] = emu.messages(CUSTOMER)
    assert send(vk, random_id=77) == sent.message_id  # the retry is de-duplicated
    assert len(emu.messages(CUSTOMER)) == 1


def test_drop_and_not_json(vk, emu):
    emu.fail_next("users.get", kind="drop")
    with pytest.raises(requests.exceptions.ConnectionError):
        vk.method("users.get", {"user_ids": CUSTOMER})
    emu.fail_next("users.get", kind="not_json")
    with pytest.raises(requests.exceptions.JSONDecodeError):
        vk.method("users.get", {"user_ids": CUSTOMER})
    assert vk.method("users.get", {"user_ids": CUSTOMER})[0]["id"] == CUSTOMER


def test_fault_kind_is_checked():
    with pytest.raises(ValueError):
        VKEmulator().fail_next(kind="meteor")


def outcomes(emu: VKEmulator, count: int) -> list[str]:
    results = []
    for _ in range(count):
        response = requests.post(emu.api_url + "users.get", timeout=3,
                                 data={"access_token": TOKEN, "v": "5.199"})
        results.append(str(response.status_code) + (":" + str(response.json().get("error", {}).get(
            "error_code")) if response.headers["Content-Type"].startswith("application/json") else ""))
    return results


def test_fail_rate_is_seeded_and_clearable(emu):
    emu.rate_limit = 1000
    emu.fail_rate(0.5, kinds=["http500", "error"], seed=3)
    first = outcomes(emu, 20)
    emu.fail_rate(0.5, kinds=["http500", "error"], seed=3)
    assert outcomes(emu, 20) == first
    assert {"200:None"} < set(first) and len(set(first)) > 2
    emu.fail_rate(0)
    assert set(outcomes(emu, 10)) == {"200:None"}


def test_hang_polls_leaves_the_client_waiting(vk, emu):
    server = vk.method("groups.getLongPollServer", {"group_id": GROUP})
    emu.hang_polls(2)
    with pytest.raises(requests.exceptions.Timeout):
        requests.get(server["server"], timeout=0.3, params={
            "act": "a_check", "key": server["key"], "ts": server["ts"], "wait": 0})
    assert poll(server) == {"ts": "0", "updates": []}


def test_silenced_key_gets_nothing_while_methods_work(vk, emu):
    longpoll = VkBotLongPoll(vk, GROUP, wait=1)
    emu.silence_key()
    emu.send_text(CUSTOMER, "into the void")
    assert longpoll.check() == [] and longpoll.ts == "0"
    assert send(vk) > 0
    longpoll.update_longpoll_server(update_ts=False)  # a watchdog reconnecting keeps its ts
    assert [e.message.text for e in longpoll.check()] == ["into the void"]


def test_redeliver_repeats_old_updates(vk, emu):
    longpoll = VkBotLongPoll(vk, GROUP, wait=1)
    emu.send_text(CUSTOMER, "one")
    emu.send_text(CUSTOMER, "two")
    assert len(longpoll.check()) == 2
    emu.redeliver(1)
    emu.send_text(CUSTOMER, "three")
    assert [e.message.text for e in longpoll.check()] == ["two", "three"]
    assert emu.delivered_count() == 4


def test_slow_method_answers_after_the_client_gave_up(emu):
    vk = make_vk(emu, timeout=0.3)
    emu.set_slow("messages.send", 1)
    with pytest.raises(requests.exceptions.Timeout):
        send(vk, random_id=8)
    assert len(emu.messages(CUSTOMER)) == 1  # executed, only the answer was late
    emu.clear_faults()
    assert send(vk, random_id=8) == emu.last_message(CUSTOMER).message_id


def test_clear_faults_removes_everything(vk, emu):
    emu.fail_next("*", kind="http500", times=5)
    emu.longpoll_fail(2, times=3)
    emu.clear_faults()
    assert send(vk) > 0
    server = vk.method("groups.getLongPollServer", {"group_id": GROUP})
    assert "updates" in poll(server)


def _post_ignoring_errors(emu: VKEmulator) -> None:
    try:
        requests.post(emu.api_url + "users.get", timeout=5, data={"access_token": TOKEN, "v": "5.199"})
    except requests.RequestException:
        pass


def test_stop_ends_pending_delays_quickly():
    emu = VKEmulator().start()
    emu.fail_next("users.get", kind="timeout", delay=30)
    threading.Thread(target=_post_ignoring_errors, args=(emu,), daemon=True).start()
    assert emu.wait_for(lambda: len(emu.calls) == 1, timeout=2)
    started = time.monotonic()
    emu.stop()
    assert time.monotonic() - started < 2


def test_restart_keeps_the_port_and_the_state(vk, emu):
    send(vk, text="before")
    url = emu.api_url
    emu.stop()
    with pytest.raises(requests.exceptions.ConnectionError):
        send(vk, text="during")
    emu.start()
    assert emu.api_url == url and send(vk, text="after") > 0
    assert [m.text for m in emu.messages(CUSTOMER)] == ["before", "after"]


def test_wait_for_reports_true_at_once_and_false_after_timeout(emu):
    threading.Timer(0.1, emu.send_text, (CUSTOMER, "ping")).start()
    assert emu.wait_for(lambda: len(emu.events) == 1, timeout=2)
    started = time.monotonic()
    assert not emu.wait_for(lambda: False, timeout=0.2)
    assert 0.15 < time.monotonic() - started < 1


# ---------------------------------------------------------------- what VK does that bots get wrong

def test_after_failed_3_only_a_new_ts_is_accepted(vk, emu):
    server = vk.method("groups.getLongPollServer", {"group_id": GROUP})
    emu.send_text(CUSTOMER, "lost")
    emu.longpoll_fail(3)
    assert poll(server) == {"failed": 3}
    newer = vk.method("groups.getLongPollServer", {"group_id": GROUP})
    assert newer["ts"] == "1"
    assert poll(newer, ts=server["ts"]) == {"failed": 3}  # the old ts is gone with the history
    emu.send_text(CUSTOMER, "after")
    assert [u["object"]["message"]["text"] for u in poll(newer)["updates"]] == ["after"]


def test_a_client_without_callback_buttons_sends_not_supported_button(vk, emu):
    emu.add_user(STRANGER, callbacks=False)
    update = emu.send_text(STRANGER, "hi")
    assert "callback" not in update["object"]["client_info"]["button_actions"]
    assert "callback" in emu.send_text(CUSTOMER, "hi")["object"]["client_info"]["button_actions"]
    send(vk, peer_id=STRANGER, text="card", keyboard=keyboard("Go", inline=True, callback=True))
    pressed = emu.press(STRANGER, "Go")
    assert pressed["type"] == "message_new"
    message = pressed["object"]["message"]
    assert message["text"] == "Go" and json.loads(message["payload"]) == {
        "command": "not_supported_button", "button_type": "callback", "payload": json.dumps({"cmd": "Go"})}


def test_allowing_and_denying_messages_are_events_when_switched_on(vk, emu):
    server = vk.method("groups.getLongPollServer", {"group_id": GROUP})
    emu.set_allows_messages(CUSTOMER, False)  # message_deny is off by default: not delivered
    assert poll(server)["updates"] == []
    emu.longpoll_events.update(message_allow=1, message_deny=1)
    deny = emu.set_allows_messages(CUSTOMER, False)
    allow = emu.set_allows_messages(CUSTOMER, True)
    assert [(u["type"], u["object"]["user_id"]) for u in poll(server)["updates"]] == [
        ("message_deny", CUSTOMER), ("message_allow", CUSTOMER)]
    assert deny["object"] == {"user_id": CUSTOMER} and "key" in allow["object"]
    assert emu.set_allows_messages(CUSTOMER, False, notify=False) is None


def test_an_update_can_be_served_as_raw_text_or_for_another_group(vk, emu):
    server = vk.method("groups.getLongPollServer", {"group_id": GROUP})
    deep = '{"a":' * 5000 + "1" + "}" * 5000
    event_id = emu.push_raw_update("message_event", deep)
    emu.push_update("message_new", {"message": {"text": "x"}}, group_id=99)
    body = requests.get(server["server"], timeout=3, params={
        "act": "a_check", "key": server["key"], "ts": server["ts"], "wait": 0}).text
    assert deep in body and event_id in body
    with pytest.raises(RecursionError):
        json.loads(body)
    assert body.endswith('"group_id": 99, "event_id": "%s", "v": "5.199"}]}' % emu.events[-1]["event_id"])
