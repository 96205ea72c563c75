"""Delivery of stored replies: pacing, execute batches, per-reply outcomes."""
import json

import pytest
from types import SimpleNamespace

from support import settings_for
from vk_emulator import VKEmulator
from vk_functions import Pacer, VkClient, deliver_batch, execute_code, take_batch


def row(peer_id, text="hi", random_id=None, kind="send"):
    return SimpleNamespace(kind=kind, peer_id=peer_id, text=text, keyboard=None, cmid=None, callback_id=None,
                           card_order_id=None, random_id=random_id or peer_id * 10)


def send_batch(client, rows):
    return deliver_batch(client, rows, [r.random_id for r in rows])


def test_pacer_spaces_request_starts():
    now = [0.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    pacer = Pacer(20, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        pacer.wait()
    assert slept == pytest.approx([0.05, 0.05, 0.05, 0.05])
    now[0] += 1.0  # after a pause, no sleep is owed
    pacer.wait()
    assert len(slept) == 4


def test_take_batch_one_per_peer_and_capped():
    rows = [row(1), row(1, "second"), row(2)] + [row(p) for p in range(3, 40)]
    batch = take_batch(rows)
    assert len(batch) == 25
    assert [r.peer_id for r in batch][:2] == [1, 2]
    assert len({r.peer_id for r in batch}) == 25


def test_execute_code_is_vkscript_with_json_arguments():
    code = execute_code([("messages.send", {"peer_id": 1, "message": "привет \"мир\""})])
    assert code.startswith("return [API.messages.send(") and code.endswith(")];")
    assert json.loads(code[len("return [API.messages.send("):-3]) == {"peer_id": 1, "message": "привет \"мир\""}


def test_batch_keeps_each_reply_outcome(tmp_path):
    with VKEmulator() as emu:
        for user in (1, 2, 3):
            emu.add_user(user, "A", "B", allows_messages=user != 2)
        client = VkClient(settings_for(emu, f"sqlite:///{tmp_path / 'x.sqlite3'}"))
        outcomes = send_batch(client, [row(1), row(2), row(3)])
        assert [o.status for o in outcomes] == ["sent", "failed", "sent"]
        assert outcomes[1].code == 901
        assert [m.text for m in emu.messages(1)] == ["hi"] and [m.text for m in emu.messages(3)] == ["hi"]
        # The same batch again: VK drops the duplicates by random_id, nobody gets a second copy.
        send_batch(client, [row(1), row(3)])
        assert len(emu.messages(1)) == 1 and len(emu.messages(3)) == 1
        assert [c.method for c in emu.calls if not c.via_execute] == ["execute", "execute"]


def test_batch_retries_everything_when_the_request_fails(tmp_path):
    with VKEmulator() as emu:
        emu.add_user(1, "A", "B")
        emu.add_user(2, "A", "B")
        client = VkClient(settings_for(emu, f"sqlite:///{tmp_path / 'x.sqlite3'}"), attempts=1)
        emu.fail_next("execute", kind="http502")
        assert [o.status for o in send_batch(client, [row(1), row(2)])] == ["retry", "retry"]


def test_a_burst_is_answered_in_batches(emu, running):
    bot = running()
    events = [emu.send_text(1000 + i, "Привет") for i in range(60)]
    for event in events:
        assert bot.bot.wait_processed(event["event_id"], 20)
    assert bot.bot.sender.idle.wait(20)
    assert all(len(emu.messages(1000 + i)) == 1 for i in range(60))
    top_level = [c.method for c in emu.calls if not c.via_execute]
    assert "execute" in top_level
    assert top_level.count("execute") + top_level.count("messages.send") < 60
