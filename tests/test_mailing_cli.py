"""`python main.py --mailing FILE [--at ...]`: the file and the time checked (one line, exit 2),
the progress bar and the totals, quiet hours said; and as a process against a running bot (the
real bot in a thread, vk_api and the emulator, both databases): it creates the mailing, shows the
bar while the bot delivers it, prints the totals; Ctrl-C leaves a waiting mailing going."""
import io
import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

import db_mailings as dbm
import mailing_cli as cli
from config import load_settings
from db_models import MailingRow, utcnow
from support import CUSTOMER_ID, MANAGER_IDS, Person

ROOT = Path(__file__).resolve().parents[1]
UTC = timezone.utc
MSK = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # 12:00 in Moscow
TEXT = "Новогоднее меню уже готово 🎄"


# --- The pure parts --------------------------------------------------------------------------------
def test_at_is_local_time_and_must_be_ahead():
    assert cli.parse_at("2026-12-24 12:00", NOW, MSK) == datetime(2026, 12, 24, 9, 0, tzinfo=UTC)
    for bad, words in (("24.12.2026 12:00", "must look like"), ("2026-12-24", "must look like"),
                       ("2026-12-01 11:59", "has passed"), ("2026-02-30 10:00", "must look like")):
        with pytest.raises(cli.MailingInputError, match=words):
            cli.parse_at(bad, NOW, MSK)


def test_the_file_must_have_a_text(tmp_path):
    (tmp_path / "empty.txt").write_text("  \n\n", encoding="utf-8")
    (tmp_path / "long.txt").write_text("я" * (cli.MAX_TEXT + 1), encoding="utf-8")
    (tmp_path / "ok.txt").write_text(f"\n{TEXT}\n", encoding="utf-8")
    for name, words in (("empty.txt", "is empty"), ("missing.txt", "cannot read"), ("long.txt", "at most")):
        with pytest.raises(cli.MailingInputError, match=words):
            cli.read_text(str(tmp_path / name))
    assert cli.read_text(str(tmp_path / "ok.txt")) == TEXT


def test_the_bar_and_the_totals():
    totals = dbm.Totals(pending=50, sent=48, not_allowed=1, failed=1)
    assert cli.bar(totals, width=10) == "[#####-----]  50/100  delivered 48, not allowed 1, unsubscribed 0, failed 1"
    assert cli.bar(dbm.Totals(), width=4) == "[####] 0/0  delivered 0, not allowed 0, unsubscribed 0, failed 0"
    mailing = dbm.Mailing(7, None, TEXT, None, dbm.DONE, NOW, NOW, NOW, NOW, dbm.Totals(sent=3, unsubscribed=1))
    assert cli.totals_line(mailing) == ("mailing #7 done: delivered 3, not allowed 0, unsubscribed since 1, "
                                        "failed 0 (of 4)")


def test_a_mailing_made_in_quiet_hours_says_when_it_goes(tmp_path):
    settings = settings_for_test(tmp_path)
    late = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)  # 23:00
    assert cli.when_line(3, 10, late, late, settings).endswith(
        "the running bot sends it at 2026-12-02 09:00 (quiet hours 22:00-09:00)")
    assert cli.when_line(3, 10, NOW, NOW, settings).endswith("the running bot sends it now")
    waiting = dbm.Mailing(3, None, TEXT, None, dbm.SCHEDULED, late, late, None, None)
    assert cli.status_line(waiting, late, settings) == "waiting: mailing #3 starts at 2026-12-02 09:00"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_line_is_redrawn_in_place_elsewhere_a_line_per_change():
    for stream, expected in ((Terminal(), "\rabc\rab \n"), (io.StringIO(), "abc\nab\n")):
        progress = cli.Progress(stream)
        for line in ("abc", "abc", "ab"):
            progress.show(line)
        progress.end()
        assert stream.getvalue() == expected


def settings_for_test(tmp_path, **extra):
    env = {"VK_TOKEN": "test-token-123", "VK_GROUP_ID": "1", "MANAGER_IDS": "200",
           "DATABASE_URL": f"sqlite:///{tmp_path}/x.db", **extra}
    return load_settings(env=env, dotenv_path=None)


# --- As a process, against a running bot ---------------------------------------------------------
def run_env(emu, db_url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VK_", "MANAGER", "DATABASE", "LOG_", "QUIET"))}
    env.update({"VK_TOKEN": emu.token, "VK_GROUP_ID": str(emu.group_id), "MANAGER_IDS": ",".join(map(str, MANAGER_IDS)),
                "VK_API_URL": emu.api_url, "DATABASE_URL": db_url, "QUIET_HOURS": "off"})
    return env


def mailing_main(env: dict, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "main.py", "--mailing", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture
def live(running):
    return running(QUIET_HOURS="off")  # the real clock: the shell's "now" and the bot's are the same


def mailings(runner) -> list[dbm.Mailing]:
    with runner.bot.sessions.begin() as s:
        return dbm.last_mailings(s, 10)


def test_the_shell_mailing_is_sent_by_the_running_bot_with_a_bar_and_the_totals(emu, db_url, live, tmp_path):
    for user_id in (CUSTOMER_ID, 301):
        Person(emu, live, user_id).says("Привет")
    Person(emu, live, MANAGER_IDS[0]).says("Привет")
    (tmp_path / "news.txt").write_text(TEXT + "\n", encoding="utf-8")
    result = mailing_main(run_env(emu, db_url), str(tmp_path / "news.txt"))
    assert result.returncode == 0, result.stderr
    [made] = mailings(live)
    assert made.author_id is None and made.status == dbm.DONE
    lines = result.stderr.splitlines()
    assert lines[0] == f"mailing #{made.id} created: 2 recipients now (they are taken when it starts); the running " \
                       "bot sends it now"
    assert lines[-1].startswith("[" + "#" * cli.BAR_WIDTH + "] 2/2  delivered 2")
    assert result.stdout.strip() == (f"mailing #{made.id} done: delivered 2, not allowed 0, unsubscribed since 0, "
                                     "failed 0 (of 2)")
    assert [len([m for m in emu.messages(u) if m.text == TEXT]) for u in (CUSTOMER_ID, 301, *MANAGER_IDS)] == \
        [1, 1, 0, 0]
    assert not any(m.text.startswith("📬") for m in emu.messages(MANAGER_IDS[0]))  # no author, no report


@pytest.mark.parametrize("make_file, at, words", [
    (True, "2020-01-01 10:00", "has passed"), (True, "завтра", "must look like"), (False, None, "is empty"),
])
def test_a_bad_time_or_an_empty_file_is_one_line_and_exit_2(emu, db_url, live, tmp_path, make_file, at, words):
    (tmp_path / "news.txt").write_text(TEXT if make_file else "\n", encoding="utf-8")
    result = mailing_main(run_env(emu, db_url), str(tmp_path / "news.txt"), *(("--at", at) if at else ()))
    assert result.returncode == 2 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ") and words in line
    with live.bot.sessions.begin() as s:
        assert s.scalar(select(func.count()).select_from(MailingRow)) == 0


def test_ctrl_c_stops_the_watching_and_leaves_the_mailing_going(emu, db_url, live, tmp_path):
    Person(emu, live, CUSTOMER_ID).says("Привет")
    (tmp_path / "news.txt").write_text(TEXT, encoding="utf-8")
    at = (utcnow() + timedelta(days=1)).astimezone(MSK).strftime(cli.AT_FORMAT)
    proc = subprocess.Popen([sys.executable, "main.py", "--mailing", str(tmp_path / "news.txt"), "--at", at],
                            cwd=ROOT, env=run_env(emu, db_url), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert "created" in proc.stderr.readline()
        assert proc.stderr.readline().startswith(f"waiting: mailing #{mailings(live)[0].id} starts at {at}")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0 and out == ""
    assert "is not stopped: the running bot goes on sending it" in err and "Traceback" not in err
    [made] = mailings(live)
    assert made.status == dbm.SCHEDULED and made.due_at.astimezone(MSK).strftime(cli.AT_FORMAT) == at


def test_at_without_a_mailing_is_a_usage_error():
    result = subprocess.run([sys.executable, "main.py", "--at", "2026-12-24 12:00"], cwd=ROOT, capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 2 and "--at goes with --mailing" in result.stderr
