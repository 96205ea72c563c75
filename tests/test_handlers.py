"""The handler chain on its own: no network, no database."""
import json

import pytest

import booking
import dialogue as d
import handlers as h
import messages as msg
import services
from support import labels

CTX = d.Context(manager_ids=frozenset({200}), scenarios=("services", "booking"))


def message(text="", payload=None, **kw):
    return d.Incoming(kind="message", event_id="e1", user_id=100, peer_id=100, text=text, payload=payload, **kw)




def test_every_state_has_a_complete_flow_row():
    """One FLOW row per state, each with a step, a screen, a hint, a Back target and a draft type;
    a field on a summary's list points at a summary row."""
    assert set(h.FLOW) == set(d.State)
    for state, row in h.FLOW.items():
        assert callable(row.step) and callable(row.screen), state
        assert isinstance(row.hint, str) and row.hint.strip(), state
        assert row.back in h.FLOW, state
        assert issubclass(row.draft, d.Draft), state
        if row.field is not None:
            assert h.FLOW[row.field.list].summary, state
            assert h.FIELDS[(row.draft, row.field.name)] == state


@pytest.mark.parametrize("state", [s for s in d.State if s != d.State.MENU])
def test_every_screen_draws_from_an_empty_draft(state):
    """Entering any state with nothing collected yet (an old or emptied draft) draws a question
    and a keyboard VK accepts, instead of failing."""
    row = h.FLOW[state]
    text, keyboard = row.screen(row.draft.read({}), CTX)
    assert text.strip()
    assert json.loads(keyboard)["buttons"]


def test_new_user_is_greeted_with_the_menu():
    out = h.dispatch(message("какой-то текст"), d.Conversation(is_new=True), CTX)
    assert out.replies[0].text == msg.GREETING
    assert msg.BTN_HELP in labels(out.replies[0])
    assert out.state == d.State.MENU


@pytest.mark.parametrize("text", ["Привет", "привет!", "Начать", "start", "  НАЧАТЬ  "])
def test_greeting_words(text):
    out = h.dispatch(message(text), d.Conversation(), CTX)
    assert out.replies[0].text == msg.GREETING


def test_vk_start_button_payload():
    out = h.dispatch(message("Начать", payload={"command": "start"}), d.Conversation(), CTX)
    assert out.replies[0].text == msg.GREETING


@pytest.mark.parametrize("text, expected", [("Меню", msg.MENU), ("помощь", msg.HELP), ("Отмена", msg.NOTHING_TO_CANCEL)])
def test_typed_commands(text, expected):
    assert h.dispatch(message(text), d.Conversation(), CTX).replies[0].text == expected


def test_button_payload_beats_text():
    out = h.dispatch(message("что угодно", payload={"cmd": msg.CMD_HELP}), d.Conversation(), CTX)
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
    out = h.dispatch(event, d.Conversation(), CTX)
    assert out.replies[0].text == msg.NOT_UNDERSTOOD
    assert msg.BTN_HELP in labels(out.replies[0])


def test_group_chats_and_other_events_are_silent():
    chat = message("Привет", from_chat=True)
    other = d.Incoming(kind="other", event_id="e", user_id=0, peer_id=0)
    assert h.dispatch(chat, d.Conversation(), CTX) == d.Outcome()
    assert h.dispatch(other, d.Conversation(), CTX) == d.Outcome()


def test_unknown_callback_gets_a_snackbar():
    press = d.Incoming(kind="callback", event_id="e", user_id=100, peer_id=100, payload={"cmd": "zzz"}, callback_id="cb")
    out = h.dispatch(press, d.Conversation(), CTX)
    assert out.replies[0].kind == "answer" and out.replies[0].callback_id == "cb"
    assert len(out.replies[0].text) <= 90


def test_apology_fits_a_snackbar_for_callbacks():
    press = d.Incoming(kind="callback", event_id="e", user_id=1, peer_id=1, callback_id="cb")
    assert h.apology(press).kind == "answer" and len(h.apology(press).text) <= 90
    assert h.apology(message("x")).text == msg.APOLOGY


def test_outcome_then_merges():
    first = d.Outcome(replies=(d.Reply.send(1, "a"),), state=d.State.MENU, data={"x": 1})
    merged = first.then(d.Outcome(replies=(d.Reply.send(1, "b"),), data={"y": 2}))
    assert [r.text for r in merged.replies] == ["a", "b"]
    assert merged.state == d.State.MENU and merged.data == {"y": 2}


@pytest.mark.parametrize("old, new", sorted(msg.LEGACY_COMMANDS.items()))
def test_buttons_sent_by_earlier_versions_mean_the_same(old, new):
    assert old != new
    assert d.command_of(message("x", payload={"cmd": old, "v": "week"})) == new


def test_an_old_deadline_button_still_sets_the_deadline():
    draft = {"service": "logo", "task": "Логотип"}
    out = h.dispatch(message("На неделе", payload={"cmd": "dl", "v": msg.DEADLINE_WEEK}),
                     d.Conversation(d.State.SVC_DEADLINE, draft), CTX)
    assert out.state == d.State.SVC_CONTACT and out.data["deadline"] == msg.DEADLINE_WEEK


def test_a_stored_draft_of_the_wrong_shape_is_read_tolerantly():
    draft = services.ServiceDraft.read({"service": 5, "task": "ok", "attachments": ["photo", 3], "page": True,
                                        "editing": "yes", "unknown": 1})
    assert draft == services.ServiceDraft(task="ok")
    read = booking.BookingDraft.read({"party": 2, "near": [1, 2], "saved": "x"})
    assert read.stored() == {"party": 2, "near": [1, 2]}


def test_every_effect_has_a_store_and_a_follow_up():
    import db_functions as dbf

    import mail
    import people

    effects = {kind for module in (d, people, mail) for kind in vars(module).values()
               if isinstance(kind, type) and issubclass(kind, d.Effect) and kind is not d.Effect}
    assert effects and set(h.FOLLOW_UPS) == effects == set(dbf.STORES)
