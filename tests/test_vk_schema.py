"""The schema checker itself must be able to fail."""
import pytest

import vk_schema

pytestmark = pytest.mark.skipif(not vk_schema.available(), reason=f"VK API schema not found at {vk_schema.SCHEMA_DIR}")


def test_known_call_passes():
    params = {"peer_id": "1", "random_id": "5", "message": "hi", "v": "5.199"}
    assert vk_schema.call_problems("messages.send", params) == []


def test_unknown_method_parameter_and_missing_required():
    assert vk_schema.call_problems("messages.teleport", {})
    assert vk_schema.call_problems("messages.send", {"peer": "1"})
    assert vk_schema.call_problems("messages.sendMessageEventAnswer", {"event_id": "x"})


def test_execute_needs_code():
    assert vk_schema.call_problems("execute", {"code": "return 1;"}) == []
    assert vk_schema.call_problems("execute", {})
