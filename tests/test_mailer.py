"""The mailer's pure parts (random ids, outcomes, one request's chunks, the report) and one mailing
request through the real vk_api client against the emulator (vk_functions.send_to_peers)."""
from __future__ import annotations

import json
from datetime import datetime, time, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

import db_functions as dbf
import db_mailings as dbm
import mailer
import messages as msg
import vk_schema
from db_models import Outbox
from outbox import RANDOM_ID_SPAN, random_id_of
from planning import QuietHours
from support import labels, payload_of, buttons_of, settings_for
from vk_functions import Backoff, Delivery, DeliveryStatus, PeerSend, VkClient, peer_results, send_to_peers

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


def chunk(mailing_id: int, number: int, users=range(1, 101), text="Новость") -> dbm.Chunk:
    return dbm.Chunk(mailing_id, number, text, None, tuple(users))


@pytest.mark.parametrize("base", [1, 12345, RANDOM_ID_SPAN - 1])
def test_chunk_random_ids_are_fixed_distinct_and_never_an_outbox_one(base):
    chunks = {mailer.chunk_random_id(base, m, c) for m in (1, 2, 3) for c in range(0, 3000, 7)}
    assert len(chunks) == 3 * len(range(0, 3000, 7))
    assert all(1 <= r <= RANDOM_ID_SPAN for r in chunks)
    replies = {random_id_of(base, row_id) for row_id in range(1, 200_000)}
    assert not chunks & replies
    assert mailer.chunk_random_id(base, 2, 5) == mailer.chunk_random_id(base, 2, 5)


@pytest.mark.parametrize("delivery, expected", [
    (Delivery(DeliveryStatus.SENT), (dbm.SENT, None)),
    (Delivery(DeliveryStatus.FAILED, error="VK error 901: x", code=901), (dbm.NOT_ALLOWED, "VK error 901: x")),
    (Delivery(DeliveryStatus.FAILED, error="VK error 902: x", code=902), (dbm.FAILED, "VK error 902: x")),
    (Delivery(DeliveryStatus.RETRY, error="HTTP 500"), (dbm.PENDING, "HTTP 500")),
    (Delivery(DeliveryStatus.RETRY_LATER, error="VK error 9", code=9), (dbm.PENDING, "VK error 9")),
    (Delivery(DeliveryStatus.AUTH, code=5), None),
])
def test_each_answer_for_a_recipient_has_its_meaning(delivery, expected):
    assert mailer.outcome(delivery) == expected


def test_one_request_takes_up_to_25_chunks_within_the_code_size():
    chunks = [chunk(1, n) for n in range(30)]
    sends = mailer.request_of(chunks, base=7)
    assert len(sends) == 25 and sends[0].peer_ids == tuple(range(1, 101))
    assert len({s.random_id for s in sends}) == 25
    assert labels(sends[0].keyboard) == [msg.BTN_UNSUBSCRIBE]
    action = buttons_of(sends[0].keyboard)[0]
    assert action["type"] == "text" and payload_of(action) == {"cmd": msg.CMD_UNSUBSCRIBE}
    long_text = [chunk(1, n, text="я" * 4000) for n in range(30)]
    assert 5 <= len(mailer.request_of(long_text, base=7)) < 25  # 60,000 characters of code at most
    assert len(mailer.request_of([chunk(1, 0, text="я" * 70_000)], base=7)) == 1  # one goes, whatever its size


def test_the_report_gives_the_totals_to_the_author_only():
    totals = dbm.Totals(sent=7, not_allowed=2, unsubscribed=1, failed=0)
    done = dbm.Mailing(3, 200, "Новость", None, dbm.DONE, T0, T0, T0, T0, totals)
    [reply] = mailer.report(done, menu="{}")
    assert reply.peer_id == 200 and reply.keyboard == "{}"
    assert reply.text == msg.MAILING_REPORT.format(id=3, sent=7, not_allowed=2, unsubscribed=1, failed=0)
    assert mailer.report(dbm.Mailing(4, None, "x", None, dbm.DONE, T0, T0, T0, T0, totals)) == []


# --- One request against the emulator ----------------------------------------------------------
@pytest.fixture
def client(emu, tmp_path):
    return VkClient(settings_for(emu, f"sqlite:///{tmp_path / 'x.sqlite3'}"))


def test_a_901_in_the_middle_of_a_batch_marks_only_that_peer(emu, client):
    for user in range(1000, 1250):
        emu.add_user(user, allows_messages=user != 1120)
    sends = [PeerSend(tuple(range(first, first + 100 if first < 1200 else 1250)), "Новость", 900 + first // 100,
                      mailer.request_of([chunk(1, 0)], 1)[0].keyboard, "photo1_2_abc")
             for first in (1000, 1100, 1200)]
    results = send_to_peers(client, sends)
    assert [len(r) for r in results] == [100, 100, 50]
    assert results[1][1120].status == DeliveryStatus.FAILED and results[1][1120].code == 901
    sent = {peer for by_peer in results for peer, d in by_peer.items() if d.status == DeliveryStatus.SENT}
    assert sent == set(range(1000, 1250)) - {1120}
    assert emu.message_counts(range(1000, 1250)) == [int(u != 1120) for u in range(1000, 1250)]
    assert emu.last_message(1001).attachment == "photo1_2_abc"
    assert [c.method for c in emu.calls if not c.via_execute] == ["execute"]
    inner = [c for c in emu.calls if c.via_execute]
    assert [c.params["peer_ids"].count(",") + 1 for c in inner] == [100, 100, 50]
    # Sent again with the same random_ids (a crash before the record): VK sends nothing, answers as then.
    again = send_to_peers(client, sends)
    assert all(again[0][p].status == DeliveryStatus.SENT for p in range(1000, 1100))
    assert emu.message_counts(range(1000, 1250)) == [int(u != 1120) for u in range(1000, 1250)]


def test_a_request_vk_could_not_take_is_every_peers_retry_and_an_inner_error_is_its_calls(emu, client):
    for user in (1, 2, 3):
        emu.add_user(user)
    emu.fail_next("execute", kind="http502")
    sends = [PeerSend((1, 2), "a", 11), PeerSend((3,), "b", 12)]
    assert {d.status for r in send_to_peers(client, sends) for d in r.values()} == {DeliveryStatus.RETRY}
    emu.fail_next("messages.send", code=10)  # the first call inside the execute
    first, second = send_to_peers(client, sends)
    assert {d.status for d in first.values()} == {DeliveryStatus.RETRY} and second[3].status == DeliveryStatus.SENT
    assert emu.message_counts((1, 2, 3)) == [0, 0, 1]


def test_the_emulators_peer_ids_answer_is_vks(emu, client):
    """Each entry as VK's schema has it (messages_send_user_ids_response_item); a failed one has no
    message_id, as VK answers (the schema's required flag is wrong there: VKCOM/vk-api-schema#208)."""
    if not vk_schema.available():
        pytest.skip("VK's schema is not beside the checkout")
    emu.add_user(1)
    emu.add_user(2, allows_messages=False)
    answer = client.call("execute", {"code": 'return [API.messages.send({"peer_ids": "1,2", "message": "x", '
                                             '"random_id": 77})];'}, raw=True)["response"][0]
    definitions = json.loads((vk_schema.SCHEMA_DIR / "messages" / "objects.json").read_text())["definitions"]
    item = definitions["messages_send_user_ids_response_item"]["properties"]
    assert all(set(entry) <= set(item) for entry in answer)
    assert set(answer[0]) == {"peer_id", "message_id", "conversation_message_id"}
    assert set(answer[1]) == {"peer_id", "error"} and set(answer[1]["error"]) == {"code", "description"}


def test_while_customers_are_answered_a_request_carries_few_chunks(emu, client, sessions):
    """The mailer by itself (the sender says whether replies went out lately): busy, 2 chunks a
    request; otherwise up to 25; then done, and nothing more to do."""
    users = range(1000, 1500)
    for user in users:
        emu.add_user(user)
    with sessions.begin() as s:
        for user in users:
            dbf.note_user(s, user, messages_allowed=True)
        mailing_id = dbm.create(s, None, "Новость", None, T0, T0)
    sender = mailer.Mailer(client, sessions, tz=ZoneInfo("Europe/Moscow"), quiet=None, clock=lambda: T0)
    assert sender.work(busy=True) == mailer.Work.REQUEST
    assert len([c for c in emu.calls if c.via_execute]) == 2
    assert sender.work() == mailer.Work.REQUEST
    assert len([c for c in emu.calls if c.via_execute]) == 5
    assert sender.work() == mailer.Work.IDLE and sender.wait() is None
    assert (sender.requests, sender.delivered) == (2, 500) and emu.message_counts(users) == [1] * 500
    with sessions.begin() as s:
        assert dbm.get(s, mailing_id).status == dbm.DONE


def test_quiet_hours_hold_a_due_mailing_and_say_how_long(emu, client, sessions):
    emu.add_user(1000)
    with sessions.begin() as s:
        dbf.note_user(s, 1000, messages_allowed=True)
        dbm.create(s, None, "Новость", None, T0, T0)
    night = datetime(2026, 12, 1, 20, 0, tzinfo=timezone.utc)  # 23:00 in Moscow
    sender = mailer.Mailer(client, sessions, tz=ZoneInfo("Europe/Moscow"), clock=lambda: night,
                           quiet=QuietHours(time(22, 0), time(9, 0)))
    assert sender.work() == mailer.Work.IDLE and emu.calls == []
    assert sender.wait() == 10 * 3600  # until 09:00
    with sessions.begin() as s:
        assert dbm.due_to_start(s, night) != []  # not even started: its recipients are taken at 09:00


def test_a_chunk_whose_recipients_all_left_since_the_start_is_passed_over(emu, client, sessions):
    users = range(1000, 1300)
    for user in users:
        emu.add_user(user)
    with sessions.begin() as s:
        for user in users:
            dbf.note_user(s, user, messages_allowed=True)
        mailing_id = dbm.create(s, None, "Новость", None, T0, T0)
        assert dbm.start(s, mailing_id, (), T0) == 300
        for user in range(1000, 1100):  # the whole first chunk unsubscribed meanwhile
            dbm.subscribe(s, user, False, T0)
    sender = mailer.Mailer(client, sessions, tz=ZoneInfo("Europe/Moscow"), quiet=None, clock=lambda: T0)
    assert sender.work(busy=True) == mailer.Work.REQUEST
    assert [c.params["peer_ids"].split(",")[0] for c in emu.calls if c.via_execute] == ["1100", "1200"]
    assert sender.work() == mailer.Work.IDLE
    with sessions.begin() as s:
        assert dbm.get(s, mailing_id).totals == dbm.Totals(sent=200, unsubscribed=100)


def test_a_peers_own_error_is_final_whatever_its_code_and_a_missing_peer_is_retried():
    """Sent again with the chunk's random_id, VK would drop the peer's message as a repeat."""
    send = PeerSend((1, 2, 3), "x", 5)
    answer = [{"peer_id": 1, "message_id": 7, "conversation_message_id": 1},
              {"peer_id": 2, "error": {"code": 10, "description": "Internal server error"}}]
    by_peer = peer_results(send, answer, {})
    assert [by_peer[p].status for p in (1, 2, 3)] == [DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.RETRY]
    assert by_peer[2].code == 10 and mailer.outcome(by_peer[2]) == (dbm.FAILED, by_peer[2].error)


def test_a_request_carried_out_whose_answer_was_lost_is_sent_again_and_nobody_gets_it_twice(emu, client, sessions):
    users = range(1000, 1300)
    for user in users:
        emu.add_user(user)
    with sessions.begin() as s:
        for user in users:
            dbf.note_user(s, user, messages_allowed=True)
        mailing_id = dbm.create(s, 200, "Новость", None, T0, T0)
    emu.fail_next("execute", kind="http502", executed=True)  # VK sent it all; the answer never came
    sender = mailer.Mailer(client, sessions, tz=ZoneInfo("Europe/Moscow"), quiet=None, clock=lambda: T0,
                           retry=Backoff(first=0.0, cap=0.0))
    assert sender.work() == mailer.Work.REQUEST and sender.delivered == 0
    with sessions.begin() as s:
        assert dbm.totals(s, mailing_id) == dbm.Totals(pending=300)
    assert sender.work() == mailer.Work.REQUEST  # the same random_ids: VK sends nothing, answers as then
    assert emu.message_counts(users) == [1] * 300 and sender.delivered == 300
    with sessions.begin() as s:
        assert dbm.get(s, mailing_id).totals == dbm.Totals(sent=300)
        assert s.scalars(select(Outbox.text).where(Outbox.peer_id == 200)).all() == [
            msg.MAILING_REPORT.format(id=mailing_id, sent=300, not_allowed=0, unsubscribed=0, failed=0)]
