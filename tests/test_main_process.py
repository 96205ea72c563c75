"""`python main.py` as the operator runs it: exit codes, one-line errors, graceful stop."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import main
from support import MANAGER_IDS, settings_for
from vk_emulator import VKEmulator
from vk_functions import StartupProblem, VkClient, check_longpoll, check_token

ROOT = Path(__file__).resolve().parents[1]
SECRET = "vk1.a.very-secret-token-for-tests"


def run_main(env_extra: dict, timeout: float = 30) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VK_", "MANAGER", "DATABASE", "LOG_"))}
    env.update(env_extra)
    return subprocess.run([sys.executable, "main.py"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def live_env(emu: VKEmulator, tmp_path, token: str) -> dict:
    return {"VK_TOKEN": token, "VK_GROUP_ID": str(emu.group_id), "MANAGER_IDS": "200", "VK_API_URL": emu.api_url,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.sqlite3'}", "LONGPOLL_WAIT": "1", "LOG_LEVEL": "DEBUG"}


def test_missing_setting_exits_2_with_one_line(tmp_path):
    result = run_main({"VK_TOKEN": "", "VK_GROUP_ID": "", "MANAGER_IDS": ""})
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "VK_TOKEN" in result.stderr


def test_wrong_token_exits_2_with_one_line_and_no_secret(tmp_path):
    with VKEmulator(token="the-right-token") as emu:
        result = run_main(live_env(emu, tmp_path, SECRET))
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "VK_TOKEN" in lines[0]
    assert SECRET not in result.stderr + result.stdout


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_gracefully_with_exit_0(tmp_path, sig):
    with VKEmulator(token=SECRET) as emu:
        emu.add_user(200, "Олег", "Менеджер")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VK_", "MANAGER", "DATABASE"))}
        env.update(live_env(emu, tmp_path, SECRET))
        proc = subprocess.Popen([sys.executable, "main.py"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            assert emu.wait_for(lambda: any(
                c.method == "groups.getLongPollServer" for c in emu.calls), 15)
            event = emu.send_text(100, "Привет")
            assert emu.wait_for(lambda: emu.messages(100), 15), "the bot did not answer"
            proc.send_signal(sig)
            out, err = proc.communicate(timeout=20)
        finally:
            proc.kill()
    assert proc.returncode == 0
    assert "stopped" in err
    assert SECRET not in out + err  # DEBUG logging included
    assert event["event_id"]


def test_startup_checks_say_what_to_switch_on(tmp_path):
    with VKEmulator() as emu:
        client = VkClient(settings_for(emu, f"sqlite:///{tmp_path / 'x.sqlite3'}"))
        check_token(client)
        check_longpoll(client)
        emu.longpoll_enabled = False
        with pytest.raises(StartupProblem, match="Long Poll API is off"):
            check_longpoll(client)
        emu.longpoll_enabled = True
        emu.longpoll_api_version = "5.80"
        with pytest.raises(StartupProblem, match="5.199"):
            check_longpoll(client)
        emu.longpoll_api_version = "5.199"
        emu.longpoll_events["message_event"] = 0
        with pytest.raises(StartupProblem, match="message_event"):
            check_longpoll(client)


def test_manager_who_never_wrote_is_reported(tmp_path, caplog):
    with VKEmulator() as emu:
        emu.add_user(MANAGER_IDS[0], "Олег", "Менеджер")
        emu.add_user(MANAGER_IDS[1], "Ира", "Менеджер", allows_messages=False)
        settings = settings_for(emu, f"sqlite:///{tmp_path / 'x.sqlite3'}")
        main.startup_checks(VkClient(settings), settings)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(str(MANAGER_IDS[1]) in w and "write to the community" in w for w in warnings)
    assert not any(str(MANAGER_IDS[0]) in w for w in warnings)


def test_unreachable_database_is_one_line(tmp_path):
    with VKEmulator(token=SECRET) as emu:
        env = live_env(emu, tmp_path, SECRET)
        env["DATABASE_URL"] = "postgresql+psycopg2://nobody:pw-secret@127.0.0.1:1/none"
        result = run_main(env)
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 1 and len(lines) == 1 and "DATABASE_URL" in lines[0]
    assert "Traceback" not in result.stderr and "pw-secret" not in result.stderr


def test_a_token_revoked_while_running_exits_2_and_keeps_the_replies(tmp_path):
    """VK error 5 mid-run: one ERROR line, exit 2 (systemd's unit does not restart that), the
    reply kept; the next start with a new token sends it, once."""
    with VKEmulator(token=SECRET) as emu:
        emu.add_user(200, "Олег", "Менеджер")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VK_", "MANAGER", "DATABASE", "LOG_"))}
        env.update(live_env(emu, tmp_path, SECRET))
        proc = subprocess.Popen([sys.executable, "main.py"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            assert emu.wait_for(lambda: any(c.method == "groups.getLongPollServer" for c in emu.calls), 15)
            emu.send_text(100, "Привет")
            assert emu.wait_for(lambda: len(emu.messages(100)) == 1, 15), "the bot did not answer"
            emu.token = "a-new-token"  # the operator revoked the old one in the community's settings
            emu.send_text(100, "меню")
            _, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
        assert proc.returncode == 2
        errors = [line for line in err.splitlines() if " ERROR " in line]
        assert len(errors) == 1 and "error 5" in errors[0] and "new" in errors[0]
        assert SECRET not in err and len(emu.messages(100)) == 1
        env["VK_TOKEN"] = "a-new-token"
        proc = subprocess.Popen([sys.executable, "main.py"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            assert emu.wait_for(lambda: len(emu.messages(100)) == 2, 20), "the kept reply was not sent"
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=20)
        finally:
            proc.kill()
        assert [m.text for m in emu.messages(100)][1] == "Главное меню. Чем могу помочь?"
