"""Delivery as the real VK answers it (issue 10, points 1, 2, 5 and 7; issue 17's error 5):
errors sorted by meaning and retries bounded, random_id unique by construction, a sender that
outlives any answer, and the emulator following VK (the 24-hour edit window, random_id over
the whole history, the execute entry at the end of execute_errors, a peer_ids error as text).

The sender is driven pass by pass (deliver_due) with a zero backoff, so nothing sleeps."""
from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
import vk_api
from sqlalchemy import delete, select, update

import db_functions as dbf
import db_outbox as dbo
import messages as msg
import vk_schema
from db_models import BotMeta, Outbox, utcnow
from dialogue import Reply
from outbox import OutboxSender, random_id_of
from support import CUSTOMER_ID, MANAGER_IDS, Person, card_of, settings_for
from test_e2e_services import order_a_service
from vk_functions import (Backoff, DeliveryStatus, Pacer, VkClient, VkHttpSession, _send_result, deliver_batch,
                          error_status)

NOW = Backoff(first=0.0, cap=0.0)  # a retry is due at once: the next pass tries again


def client_for(emu, db_url, **extra) -> VkClient:
    client = VkClient(settings_for(emu, db_url, **extra), attempts=1)
    client.vk.pacer = Pacer(10_000)  # the emulator's limit is raised where a test needs speed
    return client


def sender_for(emu, sessions, db_url, **kwargs) -> OutboxSender:
    return OutboxSender(client_for(emu, db_url), sessions, retry=NOW, retry_later=NOW, **kwargs)


def enqueue(sessions, *replies) -> list[int]:
    with sessions.begin() as s:
        return [row.id for row in dbf.enqueue(s, replies)]


def rows(sessions, ids) -> list[Outbox]:
    with sessions.begin() as s:
        found = {r.id: r for r in s.scalars(select(Outbox).where(Outbox.id.in_(ids)))}
        s.expunge_all()
    return [found[i] for i in ids]


def given_up_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "given up" in r.getMessage()]


# --- random_id: unique by construction ---------------------------------------------------
@pytest.mark.parametrize("base", [0, 1, 12345, 2**31 - 2, 2**31 - 1])
def test_random_id_is_in_vk_range_distinct_and_fixed(base):
    ids = [random_id_of(base, row_id) for row_id in range(1, 20_001)]
    assert all(1 <= r <= 2**31 - 1 for r in ids)  # int32, and never 0 (0 switches VK's check off)
    assert len(set(ids)) == len(ids)
    assert random_id_of(base, 7) == random_id_of(base, 7)
    assert random_id_of(base, 1) != random_id_of(base, 2**31 - 1)  # distinct over a whole span ...
    assert random_id_of(base, 1) == random_id_of(base, 2**31)  # ... of 2**31 - 1 rows


def test_new_rows_store_no_random_id_and_the_base_is_kept(sessions):
    with sessions.begin() as s:
        first = dbo.random_base(s)
        row, = dbf.enqueue(s, [Reply.send(1, "hi")])
        assert row.random_id is None
    with sessions.begin() as s:
        assert dbo.random_base(s) == first
        s.execute(delete(BotMeta))  # tables emptied (a test's TRUNCATE, a hand-made database)
    with sessions.begin() as s:
        drawn = dbo.random_base(s)
    with sessions.begin() as s:
        assert dbo.random_base(s) == drawn


def test_ten_thousand_replies_without_a_repeated_random_id(emu, sessions, db_url):
    emu.rate_limit = 10_000
    peers = range(1000, 1100)
    for peer in peers:
        emu.add_user(peer)
    ids = enqueue(sessions, *(Reply.send(peer, f"reply {n}") for n in range(100) for peer in peers))
    sender = sender_for(emu, sessions, db_url)
    while sender.deliver_due():
        pass
    sent = [m for peer in peers for m in emu.messages(peer)]
    assert len(sent) == 10_000  # VK (the emulator) dropped none as a duplicate
    assert len({m.random_id for m in sent}) == 10_000
    with sessions.begin() as s:
        base = dbo.random_base(s)
    assert {m.random_id for m in sent} == {random_id_of(base, i) for i in ids}
    assert {r.status for r in rows(sessions, ids[:50])} == {"sent"}


def test_a_row_stored_with_a_random_id_keeps_it(emu, sessions, db_url):
    with sessions.begin() as s:
        row, = dbf.enqueue(s, [Reply.send(CUSTOMER_ID, "old")])
        s.execute(update(Outbox).where(Outbox.id == row.id).values(random_id=777))  # stored so by an old version
    sender_for(emu, sessions, db_url).deliver_due()
    assert emu.last_message(CUSTOMER_ID).random_id == 777


def test_pruning_keeps_the_newest_row_so_sqlite_never_reuses_its_id(sessions):
    with sessions.begin() as s:
        rows_ = dbf.enqueue(s, [Reply.send(1, "a"), Reply.send(2, "b")])
        dbo.mark_all_sent(s, [r.id for r in rows_])
    with sessions.begin() as s:
        assert dbo.prune_outbox(s, utcnow() + timedelta(seconds=1)) == 1
        newest = max(r.id for r in rows_)
    assert enqueue(sessions, Reply.send(3, "c"))[0] > newest


# --- errors by meaning ---------------------------------------------------------------------
def test_every_error_vk_lists_is_sorted():
    if not vk_schema.available():
        pytest.skip("no VK schema here")
    codes = {e["code"] for e in json.loads((vk_schema.SCHEMA_DIR / "errors.json").read_text())["errors"].values()}
    special = {6: DeliveryStatus.RETRY, 10: DeliveryStatus.RETRY, 9: DeliveryStatus.RETRY_LATER,
               5: DeliveryStatus.AUTH}
    for code in codes | {123_456, None}:
        assert error_status(code) == special.get(code, DeliveryStatus.FAILED), code
    assert {909, 920, 935, 936, 949, 950, 15, 100} <= codes


@pytest.mark.parametrize("answer", [
    None, "1", {"message_id": 1}, [], [7], [None], [{"peer_id": 1, "error": "Can't send messages"}],
    [{"peer_id": 1, "error": {"code": "x"}}], [{"peer_id": 1, "error": None}], 1.5, True,
])
def test_an_answer_of_any_shape_is_sorted_without_raising(answer):
    assert _send_result(answer).status in {DeliveryStatus.RETRY, DeliveryStatus.FAILED}


class ScriptedClient:
    """Answers execute with a given raw answer (to check how the bot reads execute_errors)."""

    def __init__(self, answer):
        self.answer = answer

    def call(self, method, params=None, attempts=None, raw=False):
        return self.answer


def test_execute_errors_are_matched_to_calls_by_method_not_by_position():
    edit = Reply.edit(200, 5, "card")
    send = Reply.send(100, "hi")
    answer = {"response": [False, False], "execute_errors": [
        {"method": "messages.send", "error_code": 10, "error_msg": "Internal server error"},
        {"method": "messages.edit", "error_code": 909, "error_msg": "Can't edit this message"},
        {"method": "execute", "error_code": 909, "error_msg": "Can't edit this message"},
    ]}
    outcomes = deliver_batch(ScriptedClient(answer), [edit, send], [0, 1])
    assert [(o.status, o.code) for o in outcomes] == [(DeliveryStatus.FAILED, 909), (DeliveryStatus.RETRY, 10)]
    # A failed call whose own entry is missing does not take execute's trailing entry.
    alone = {"response": [False], "execute_errors": [{"method": "execute", "error_code": 909, "error_msg": "x"}]}
    assert deliver_batch(ScriptedClient(alone), [send, edit], [1, 0])[0].status == DeliveryStatus.RETRY


def test_a_never_error_gives_up_at_once_in_one_line_and_holds_nothing_back(emu, sessions, db_url, caplog):
    enqueue(sessions, Reply.send(MANAGER_IDS[0], "card"))
    sender = sender_for(emu, sessions, db_url)
    sender.deliver_due()
    emu.age_messages(MANAGER_IDS[0], 25)
    caplog.set_level(logging.INFO)
    edit, after = enqueue(sessions, Reply.edit(MANAGER_IDS[0], 1, "secret card text"),
                          Reply.send(MANAGER_IDS[0], "the next card"))
    sender.deliver_due()
    assert [(r.status, r.attempts) for r in rows(sessions, [edit, after])] == [("failed", 0), ("sent", 0)]
    assert emu.last_message(MANAGER_IDS[0]).text == "the next card"
    lines = given_up_lines(caplog)
    assert len(lines) == 1 and f"reply {edit} to peer {MANAGER_IDS[0]}" in lines[0] and "909" in lines[0]
    assert [r.levelname for r in caplog.records if "given up" in r.getMessage()] == ["WARNING"]
    assert "secret card text" not in caplog.text and emu.token not in caplog.text


def test_a_refused_card_edit_is_replaced_by_its_fallback_message(emu, sessions, db_url):
    enqueue(sessions, Reply.send(MANAGER_IDS[0], "card", card_order_id=3))
    sender = sender_for(emu, sessions, db_url)
    sender.deliver_due()
    for code in (920, 15):
        emu.fail_next("messages.edit", code=code)
        edit, = enqueue(sessions, Reply.edit(MANAGER_IDS[0], 1, "new card", fallback=f"Заказ №3: {code}"))
        while sender.deliver_due():
            pass
        assert rows(sessions, [edit])[0].status == "failed"
        assert emu.last_message(MANAGER_IDS[0]).text == f"Заказ №3: {code}"
    assert [m.text for m in emu.messages(MANAGER_IDS[0])] == ["card", "Заказ №3: 920", "Заказ №3: 15"]


def test_a_retry_soon_error_is_retried_holding_the_peer_back_then_given_up(emu, sessions, db_url, caplog):
    emu.fail_next("messages.send", code=10, times=100)
    first, second = enqueue(sessions, Reply.send(CUSTOMER_ID, "one"), Reply.send(CUSTOMER_ID, "two"))
    sender = sender_for(emu, sessions, db_url, max_attempts=3)
    sender.deliver_due()
    assert [(r.status, r.attempts) for r in rows(sessions, [first, second])] == [("pending", 1), ("pending", 0)]
    sender.deliver_due()
    assert given_up_lines(caplog) == []
    sender.deliver_due()  # the third attempt fails too: given up, and "two" is no longer held back
    assert rows(sessions, [first])[0].status == "failed"
    assert len(given_up_lines(caplog)) == 1 and "VK error 10" in given_up_lines(caplog)[0]
    emu.clear_faults()
    sender.deliver_due()
    assert [m.text for m in emu.messages(CUSTOMER_ID)] == ["two"]
    assert [c.method for c in emu.calls].count("messages.send") == 4


def test_a_retry_is_bounded_by_age_too(emu, sessions, db_url):
    emu.fail_next("messages.send", code=6)
    old, = enqueue(sessions, Reply.send(CUSTOMER_ID, "yesterday's news"))
    with sessions.begin() as s:
        s.execute(update(Outbox).where(Outbox.id == old).values(created_at=utcnow() - timedelta(hours=25)))
    sender_for(emu, sessions, db_url).deliver_due()
    assert rows(sessions, [old])[0].status == "failed"


def test_flood_control_waits_longer_than_a_busy_vk(emu, sessions, db_url):
    emu.fail_next("messages.send", code=9)
    emu.fail_next("messages.edit", code=6)
    flood, busy = enqueue(sessions, Reply.send(CUSTOMER_ID, "hi"), Reply.edit(MANAGER_IDS[0], 1, "card"))
    sender = OutboxSender(client_for(emu, db_url), sessions, retry=Backoff(1.0, 1.0),
                          retry_later=Backoff(600.0, 600.0), batching=False)
    sender.deliver_due()
    flood_row, busy_row = rows(sessions, [flood, busy])
    assert flood_row.status == busy_row.status == "pending"
    assert flood_row.next_try_at - busy_row.next_try_at > timedelta(minutes=5)


# --- error 5: the token is not valid any more ------------------------------------------------
@pytest.mark.parametrize("batching", [True, False])
def test_error_5_keeps_every_reply_pending_and_calls_on_auth_failure_once(emu, sessions, db_url, batching):
    ids = enqueue(sessions, *(Reply.send(peer, "hi") for peer in (CUSTOMER_ID, *MANAGER_IDS)))
    called = []
    sender = OutboxSender(client_for(emu, db_url), sessions, retry=NOW,
                          on_auth_failure=lambda: called.append(1), batching=batching)
    token, emu.token = emu.token, "revoked"  # the community's owner revoked the bot's token
    sender.start()
    sender.wake()
    sender.join(10)
    assert not sender.is_alive() and called == [1] and sender.auth_failed.is_set()
    assert [(r.status, r.attempts) for r in rows(sessions, ids)] == [("pending", 0)] * 3
    assert sender.deliver_due() == 0 and called == [1]
    # After a restart with a valid token the kept replies go out.
    emu.token = token
    while sender_for(emu, sessions, db_url).deliver_due():
        pass
    assert {r.status for r in rows(sessions, ids)} == {"sent"}
    assert all(len(emu.messages(peer)) == 1 for peer in (CUSTOMER_ID, *MANAGER_IDS))


# --- the sender never dies ---------------------------------------------------------------------
def test_the_sender_survives_a_peer_error_given_as_text_and_delivers_the_next_reply(emu, sessions, db_url):
    emu.peer_errors_as_text()
    emu.add_user(MANAGER_IDS[1], allows_messages=False)
    card, = enqueue(sessions, Reply.send(MANAGER_IDS[1], "card", card_order_id=1))
    sender = sender_for(emu, sessions, db_url, idle_wait=0.2)
    sender.start()
    try:
        sender.wake()
        assert emu.wait_for(lambda: rows(sessions, [card])[0].status == "failed", 10)
        enqueue(sessions, Reply.send(CUSTOMER_ID, "next"))
        sender.wake()
        assert emu.wait_for(lambda: emu.messages(CUSTOMER_ID), 10), "the sender died"
        assert sender.is_alive()
    finally:
        sender.stop()
        sender.join(10)


class FailingOnce:
    """The real client, except that its n-th call raises what nobody foresaw."""

    def __init__(self, client, n):
        self.client, self.n, self.calls = client, n, 0

    def call(self, *args, **kwargs):
        self.calls += 1
        if self.calls == self.n:
            raise KeyError("an answer of a shape nobody foresaw")
        return self.client.call(*args, **kwargs)


def test_an_exception_in_a_pass_is_logged_with_the_reply_and_the_pass_goes_on(emu, sessions, db_url, caplog):
    ids = enqueue(sessions, *(Reply.send(peer, "hi") for peer in (CUSTOMER_ID, *MANAGER_IDS)))
    sender = OutboxSender(FailingOnce(client_for(emu, db_url), 2), sessions, retry=NOW, batching=False)
    sender.deliver_due()
    assert [r.status for r in rows(sessions, ids)] == ["sent", "pending", "sent"]
    assert any(str(ids[1]) in line and "KeyError" in line for line in caplog.messages)
    sender.deliver_due()
    assert [r.status for r in rows(sessions, ids)] == ["sent"] * 3


# --- end to end: a late decision on a card past VK's edit window -------------------------------
def test_a_late_decision_on_an_old_card_then_a_new_order_still_reaches_the_manager(emu, bot, customer, managers):
    first = order_a_service(customer)
    for manager in MANAGER_IDS:
        emu.age_messages(manager, 25)  # the cards are two days old: VK answers 909 to an edit
    managers[0].presses(msg.BTN_CONFIRM)
    assert bot.bot.sender.idle.wait(10)
    for manager in MANAGER_IDS:
        card = card_of(emu, manager, first)
        assert not card.edits  # VK refused the edit ...
        fallback = emu.last_message(manager).text  # ... so the decision came as a new message
        assert fallback.startswith(f"Заказ №{first} «Дизайн логотипа»: подтверждён")
        # the manager by name once the names sweep has run, else by link (tests/test_e2e_names.py)
        assert any(who in fallback for who in ("Подтвердил Олег Менеджер",
                                                 f"Подтвердил менеджер https://vk.com/id{MANAGER_IDS[0]}"))
    told = [m for m in emu.messages(CUSTOMER_ID) if m.text.startswith(f"Ваш заказ №{first}")]
    assert len(told) == 1
    second = order_a_service(customer)
    for manager in MANAGER_IDS:
        card_of(emu, manager, second)  # the new card reached every manager
    managers[1].presses(msg.BTN_CONFIRM)
    assert card_of(emu, MANAGER_IDS[0], second).edits  # a fresh card is edited in place
    assert len([m for m in emu.messages(CUSTOMER_ID) if m.text.startswith(f"Ваш заказ №{second}")]) == 1


# --- the emulator follows VK ------------------------------------------------------------------
@pytest.fixture
def vk(emu):
    return vk_api.VkApiGroup(token=emu.token, api_version="5.199", session=VkHttpSession(emu.api_url, 5.0))


def raw_error(call) -> int:
    with pytest.raises(vk_api.ApiError) as error:
        call()
    return error.value.code


def test_emulator_edits_within_24_hours_only(vk, emu):
    vk.method("messages.send", {"peer_id": CUSTOMER_ID, "message": "card", "random_id": 1})
    edit = {"peer_id": CUSTOMER_ID, "cmid": 1, "message": "edited"}
    assert vk.method("messages.edit", edit) == 1
    emu.age_messages(CUSTOMER_ID, 23)
    assert vk.method("messages.edit", edit) == 1
    emu.age_messages(CUSTOMER_ID, 2)
    assert raw_error(lambda: vk.method("messages.edit", edit)) == 909


def test_emulator_random_id_is_unique_over_the_whole_history_of_the_community(vk, emu):
    emu.add_user(303)
    first = vk.method("messages.send", {"peer_id": CUSTOMER_ID, "message": "one", "random_id": 5})
    emu.age_messages(CUSTOMER_ID, 48)  # long after VK's old one-hour window
    assert vk.method("messages.send", {"peer_id": CUSTOMER_ID, "message": "again", "random_id": 5}) == first
    assert vk.method("messages.send", {"peer_id": 303, "message": "other peer", "random_id": 5}) == first
    repeat = vk.method("messages.send", {"peer_ids": "303", "message": "x", "random_id": 5})
    assert repeat[0]["message_id"] == first
    assert [m.text for m in emu.messages(CUSTOMER_ID)] == ["one"] and emu.messages(303) == []


def test_emulator_fail_next_zero_times_injects_nothing_and_counts_faults_inside_execute(vk, emu):
    emu.fail_next("messages.send", code=10, times=0)
    assert vk.method("messages.send", {"peer_id": CUSTOMER_ID, "message": "a", "random_id": 1}) > 0
    emu.fail_next("messages.edit", code=936)
    code = ('return [API.messages.send({"peer_id": %d, "message": "b", "random_id": 2}),'
            ' API.messages.edit({"peer_id": %d, "cmid": 1, "message": "c"})];' % (CUSTOMER_ID, CUSTOMER_ID))
    answer = vk.method("execute", {"code": code}, raw=True)
    assert answer["response"][1] is False and emu.injected["error 936"] == 1
    assert [e["method"] for e in answer["execute_errors"]] == ["messages.edit", "execute"]
    assert answer["execute_errors"][-1]["error_code"] == 936


def test_emulator_gives_peer_errors_as_text_on_demand(vk, emu):
    emu.add_user(303, allows_messages=False)
    params = {"peer_ids": f"{CUSTOMER_ID},303", "message": "x", "random_id": 9}
    assert vk.method("messages.send", params)[1]["error"]["code"] == 901
    emu.peer_errors_as_text()
    answer = vk.method("messages.send", {**params, "random_id": 10})
    assert isinstance(answer[1]["error"], str) and "message_id" not in answer[1]
