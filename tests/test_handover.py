"""One layer down from tests/test_e2e_handover.py and test_e2e_names.py: the pure hand-over
decisions (handover.py), the parser's `reply` kind, the names and hand-over storage
(db_people.py) and the settings."""
from datetime import datetime, timedelta, timezone

import pytest

import db_people
import dialogue as d
import handlers as h
import handover
import messages as msg
import planning
from config import SettingsError, load_settings
from db_models import DialogueRow
from people import Handed, HandOver, ReturnBot
from vk_events import parse_event

UTC = timezone.utc
NOW = datetime(2026, 6, 15, 9, 0, tzinfo=UTC)
CUSTOMER, MANAGER = 100, 200


def ctx(**changes) -> d.Context:
    return d.Context(**{"manager_ids": frozenset({MANAGER}), "scenarios": ("services",), "now": NOW, "group_id": 7,
                        **changes})


def message(text="", payload=None, user=CUSTOMER) -> d.Incoming:
    return d.Incoming(kind="message", event_id="e", user_id=user, peer_id=user, text=text, payload=payload)


def reply(author=None) -> d.Incoming:
    return d.Incoming(kind="reply", event_id="r", user_id=CUSTOMER, peer_id=CUSTOMER, author=author)


HANDED = d.Conversation(d.State.SVC_TASK, {"service": "logo"}, handed_over_at=NOW)


@pytest.mark.parametrize("text", ["менеджер", "Позовите ЧЕЛОВЕК", "оператор?", "живой кто-нибудь"])
def test_whole_words_in_any_case_ask_for_a_person(text):
    outcome = h.route(message(text), d.Conversation(), ctx())
    assert [type(e) for e in outcome.effects] == [HandOver, d.PlanJobs]
    assert outcome.effects[1].plans == (planning.JobPlan(planning.HANDOFF, CUSTOMER, NOW + timedelta(hours=24)),)


@pytest.mark.parametrize("text", ["менеджера", "человеку", "на 12 человек", "оживой"])
def test_other_words_and_counts_do_not(text):
    assert not any(isinstance(e, HandOver) for e in h.route(message(text), d.Conversation(), ctx()).effects)


def test_a_party_of_eight_people_on_the_party_step_is_no_request():
    conversation = d.Conversation(d.State.BK_PARTY, {})
    assert not handover.asks_for_person(message("восемь человек"), conversation)


def test_a_manager_asking_for_a_person_is_not_handed_over():
    assert not any(isinstance(e, HandOver) for e in h.route(message("менеджер", user=MANAGER), d.Conversation(),
                                                            ctx()).effects)


def test_while_handed_over_the_bot_says_nothing_but_start_and_menu_bring_it_back():
    assert h.route(message("Сколько стоит?"), HANDED, ctx()) == d.Outcome()
    assert h.route(message("", {"cmd": msg.CMD_ORDERS}), HANDED, ctx()) == d.Outcome()
    for way_back in (message("меню"), message("", {"command": "start"})):
        outcome = h.route(way_back, HANDED, ctx())
        assert outcome.effects == (ReturnBot(CUSTOMER),) and outcome.state == d.State.MENU


def test_the_card_says_what_the_customer_was_doing():
    effect = h.route(message("оператор"), d.Conversation(d.State.SVC_TASK, {"service": "logo"}), ctx()).effects[0]
    assert effect == HandOver(CUSTOMER, None, "оформлял заказ (svc_task); service: logo")
    follow = handover.after_hand_over(effect, Handed(True), message("оператор"), ctx())
    told, card = follow.replies
    assert told.peer_id == CUSTOMER and "10:00-19:00" in told.text
    assert card.peer_id == MANAGER and "https://vk.com/gim7?sel=100" in card.text
    assert "https://vk.com/id100" in card.text
    assert handover.after_hand_over(effect, Handed(False), message("оператор"), ctx()) == d.Outcome()


def test_replies_from_the_community():
    assert h.route(reply(), d.Conversation(), ctx()) == d.Outcome()  # the bot's own
    outcome = h.route(reply(MANAGER), d.Conversation(), ctx())
    assert outcome.effects[0] == HandOver(CUSTOMER, MANAGER, msg.HANDOVER_IN_MENU)


def test_only_a_manager_brings_the_bot_back():
    press = d.Incoming(kind="callback", event_id="c", user_id=CUSTOMER, peer_id=CUSTOMER, callback_id="x",
                       payload={"cmd": msg.CMD_BOT_BACK, msg.ARG_USER: CUSTOMER})
    assert not h.route(press, d.Conversation(), ctx()).effects
    by_manager = d.Incoming(**{**press.__dict__, "user_id": MANAGER, "peer_id": MANAGER})
    assert h.route(by_manager, d.Conversation(), ctx()).effects == (ReturnBot(CUSTOMER, MANAGER),)


def test_the_parser_reads_replies_and_the_communitys_own_new_messages():
    base = {"peer_id": CUSTOMER, "from_id": -1, "out": 1, "text": "Привет"}
    mine = parse_event({"type": "message_reply", "event_id": "a" * 40, "object": base})
    assert mine.kind == "reply" and mine.user_id == CUSTOMER and mine.author is None
    theirs = parse_event({"type": "message_reply", "event_id": "b" * 40, "object": {**base, "admin_author_id": 200}})
    assert theirs.author == 200
    out = parse_event({"type": "message_new", "event_id": "c" * 40, "object": {"message": base}})
    assert out.kind == "reply" and out.author is None


def test_hand_over_and_back_in_the_database(sessions):
    with sessions.begin() as s:
        assert db_people._hand_over(s, HandOver(CUSTOMER, None, ""), None, NOW) == Handed(True)
        assert db_people._hand_over(s, HandOver(CUSTOMER, MANAGER, ""), None, NOW) == Handed(False)
        assert db_people.handed_over(s, CUSTOMER) == NOW
        assert db_people._return_bot(s, ReturnBot(CUSTOMER), None, NOW) == Handed(True)
        assert db_people._return_bot(s, ReturnBot(CUSTOMER, MANAGER), None, NOW) == Handed(False)
        assert s.get(DialogueRow, CUSTOMER).handed_over_at is None


def test_names_are_wanted_until_fresh_and_cached(sessions):
    with sessions.begin() as s:
        s.add(DialogueRow(user_id=CUSTOMER, state="menu", data={}))
        s.flush()
        assert db_people.names_wanted(s, NOW, [MANAGER], 10) == [CUSTOMER, MANAGER]
        db_people.save_names(s, [CUSTOMER, MANAGER], {CUSTOMER: ("Анна", "Смирнова")}, NOW)
        assert db_people.names_wanted(s, NOW - timedelta(days=7), [MANAGER], 10) == []
        assert db_people.names_of(s, [CUSTOMER, MANAGER, 5]) == {CUSTOMER: "Анна Смирнова"}
        assert db_people.names_wanted(s, NOW + timedelta(seconds=1), [], 10) == [CUSTOMER]


def test_a_failing_lookup_waits_before_asking_again(sessions):
    asked = []

    def lookup(ids):
        asked.append(list(ids))
        raise RuntimeError("VK is away")

    sweep = db_people.NamesSweep(lookup)

    def run(now):
        with sessions.begin() as s:
            wanted = sweep.prepare(s, ctx(now=now))
        if wanted is not None:
            answer = sweep.outside(wanted, ctx(now=now))
            with sessions.begin() as s:
                assert sweep.finish(s, ctx(now=now), wanted, answer) == []

    run(NOW)
    assert asked == [[MANAGER]]
    run(NOW + timedelta(minutes=5))
    assert len(asked) == 1
    run(NOW + timedelta(minutes=11))
    assert len(asked) == 2


def test_the_settings():
    base = {"VK_TOKEN": "test-token-123", "VK_GROUP_ID": "1", "MANAGER_IDS": "2"}
    timing = load_settings(env=base, dotenv_path=None).timing
    assert (timing.handoff, timing.working_hours, timing.names_refresh) == (timedelta(hours=24), "10:00-19:00",
                                                                            timedelta(days=7))
    timing = load_settings(env={**base, "HANDOFF_HOURS": "3", "WORKING_HOURS": "9:00-18:00",
                                "NAMES_REFRESH_DAYS": "1"}, dotenv_path=None).timing
    assert (timing.handoff, timing.working_hours, timing.names_refresh) == (timedelta(hours=3), "9:00-18:00",
                                                                            timedelta(days=1))
    with pytest.raises(SettingsError):
        load_settings(env={**base, "WORKING_HOURS": "all day"}, dotenv_path=None)


class FakeClient:
    group_id = 1

    def __init__(self, events):
        self.events = events

    def call(self, method, params=None, **kwargs):
        return {"is_enabled": 1, "api_version": "5.199", "events": self.events}


def test_the_start_up_check_warns_when_message_reply_is_off(caplog):
    from vk_functions import check_longpoll

    on = {"message_new": 1, "message_event": 1, "message_allow": 1, "message_deny": 1}
    check_longpoll(FakeClient({**on, "message_reply": 1}))
    assert "message_reply" not in caplog.text
    check_longpoll(FakeClient(on))
    assert "message_reply is off" in caplog.text and "will not be noticed" in caplog.text


def test_a_draft_handed_over_is_neither_nudged_nor_dropped(sessions):
    import db_functions as dbf

    old = NOW - timedelta(days=3)
    with sessions.begin() as s:
        s.add_all([DialogueRow(user_id=CUSTOMER, state="svc_task", data={}, updated_at=old, handed_over_at=old),
                   DialogueRow(user_id=101, state="svc_task", data={}, updated_at=old)])
        s.flush()
        assert [row[0] for row in dbf.stale_dialogues(s, NOW, NOW, [], 10)] == [101]
