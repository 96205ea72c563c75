"""The token never reaches a log line, even at DEBUG and inside exception traces."""
import io
import logging

import pytest

import main
from support import settings_for
from vk_emulator import VKEmulator
from vk_functions import VkClient, check_token

SECRET = "vk1.a.this-is-the-secret-token"


@pytest.fixture(autouse=True)
def restore_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def capture(settings) -> io.StringIO:
    main.setup_logging(settings)
    stream = io.StringIO()
    logging.getLogger().handlers[0].setStream(stream)
    return stream


def test_secret_masked_in_messages_and_tracebacks(tmp_path):
    with VKEmulator(token=SECRET) as emu:
        settings = settings_for(emu, f"sqlite:///{tmp_path / 'x.sqlite3'}")
        stream = capture(settings)
        log = logging.getLogger("test")
        log.debug("token is %s", settings.vk_token)
        try:
            raise RuntimeError(f"boom with {settings.vk_token} inside")
        except RuntimeError:
            log.exception("handler failed")
    text = stream.getvalue()
    assert "RuntimeError: boom with *** inside" in text and "token is ***" in text
    assert SECRET not in text


def test_debug_log_of_real_calls_and_errors_has_no_token(tmp_path):
    with VKEmulator(token=SECRET) as emu:
        settings = settings_for(emu, f"sqlite:///{tmp_path / 'x.sqlite3'}")
        stream = capture(settings)
        client = VkClient(settings)
        emu.fail_next("groups.getById", kind="error", code=10)
        emu.fail_next("groups.getById", kind="http500")
        check_token(client)  # retried through both faults, urllib3 logging at DEBUG
        emu.token = "another"
        try:
            check_token(client)
        except Exception as exc:  # noqa: BLE001
            logging.getLogger("test").exception("start-up failed: %s", exc)
    text = stream.getvalue()
    assert "groups.getById" in text and "start-up failed" in text
    assert SECRET not in text
