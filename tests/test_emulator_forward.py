"""The emulator's `forward` on messages.send and what a customer's message may carry, against VK's schema."""
from __future__ import annotations

import json

import pytest
import vk_api

import vk_schema
from test_emulator import CUSTOMER, GROUP, STRANGER, TOKEN, make_vk  # noqa: F401 - fixtures below
from vk_emulator import VKEmulator, audio_message, doc, forwarded, photo

MANAGER = 303


@pytest.fixture
def emu():
    with VKEmulator(token=TOKEN, group_id=GROUP) as emulator:
        emulator.add_user(CUSTOMER, "Анна", "Иванова")
        emulator.add_user(MANAGER, allows_messages=True)
        yield emulator
    if vk_schema.available():
        problems = [p for call in emulator.calls for p in vk_schema.call_problems(call.method, call.params)]
        assert not problems, problems


def forward_send(vk, cmids, peer=CUSTOMER):
    forward = json.dumps({"peer_id": peer, "conversation_message_ids": cmids, "is_reply": False})
    return vk.method("messages.send", {"peer_id": MANAGER, "message": "card", "random_id": 0, "forward": forward})


def test_forward_records_exactly_the_customers_messages_it_carries(emu):
    vk = make_vk(emu)
    photos = emu.send_text(CUSTOMER, "", attachments=[photo(CUSTOMER, 1), photo(CUSTOMER, 2)])
    emu.send_text(CUSTOMER, "просто текст")
    fwd = emu.send_text(CUSTOMER, "", fwd_messages=[forwarded(STRANGER, "смотри")])
    cmids = [update["object"]["message"]["conversation_message_id"] for update in (photos, fwd)]
    forward_send(vk, cmids)
    sent = emu.last_message(MANAGER)
    assert (sent.forwarded_from, sent.forwarded) == (CUSTOMER, tuple(cmids))


def test_forward_of_messages_that_are_not_there_or_refused_is_error_921(emu):
    vk = make_vk(emu)
    cmid = emu.send_text(CUSTOMER, "", attachments=[doc(CUSTOMER)])["object"]["message"]["conversation_message_id"]
    for cmids, peer in (([cmid + 5], CUSTOMER), ([cmid], STRANGER)):
        with pytest.raises(vk_api.exceptions.ApiError) as error:
            forward_send(vk, cmids, peer)
        assert error.value.code == 921
    emu.refuse_forwards()
    with pytest.raises(vk_api.exceptions.ApiError) as error:
        forward_send(vk, [cmid])
    assert error.value.code == 921 and emu.messages(MANAGER) == []


@pytest.mark.skipif(not vk_schema.available(), reason="VK API schema not found")
def test_the_helpers_attachments_and_forwarded_messages_follow_the_schema():
    for attachment in (photo(CUSTOMER), doc(CUSTOMER), audio_message(CUSTOMER)):
        assert vk_schema.attachment_problems(attachment) == []
    assert vk_schema.foreign_message_problems(forwarded(STRANGER, "hi")) == []
    assert vk_schema.attachment_problems({"type": "photo", "photo": {"idd": 1}})  # the checker can fail
    assert vk_schema.call_problems("messages.send", {"peer_id": "1", "random_id": "0", "message": "x",
                                                     "forward": json.dumps({"peer": 1})})
