"""Mailings delivered end to end: the real bot (the mailer in its sender's thread) and vk_api against
the emulator, on SQLite and PostgreSQL. The mailings are made with db_mailings.create (the managers'
command is tests of its own); the recipients allowed messages (a vk_users row, as message_allow
leaves it) or wrote to the community. Time is the bot's clock, moved, never slept."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

import db
import db_mailings as dbm
import messages as msg
from db_models import DialogueRow, MailingRecipient, ProcessedEvent, VkUser
from support import CUSTOMER_ID, MANAGER_IDS, Clock, Person, labels, payload_of, buttons_of

ROOT = Path(__file__).resolve().parents[1]
UTC = timezone.utc
NOON = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # 12:00 in Moscow (the default TIMEZONE)
BEFORE_QUIET = datetime(2026, 12, 1, 18, 59, tzinfo=UTC)  # 21:59 in Moscow; QUIET_HOURS 22:00-09:00
QUIET = datetime(2026, 12, 1, 19, 0, tzinfo=UTC)
MORNING = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)  # 09:00 in Moscow: quiet hours over
TEXT = "🎄 Скидка 20% на все услуги до конца недели!"
AUTHOR = MANAGER_IDS[0]


def allow(emu, sessions, user_ids, refuse_in_vk=()) -> None:
    """Users who allowed the community's messages, as the bot stored it; `refuse_in_vk` took it
    back without the bot knowing (no message_deny), so VK answers them 901."""
    for user_id in user_ids:
        emu.add_user(user_id, allows_messages=user_id not in refuse_in_vk)
    with sessions.begin() as s:
        s.execute(insert(VkUser), [{"user_id": u, "messages_allowed": True, "updated_at": NOON} for u in user_ids])


def mail(runner, clock_now: datetime, author: int | None = AUTHOR, text: str = TEXT) -> int:
    with runner.bot.sessions.begin() as s:
        mailing_id = dbm.create(s, author, text, None, clock_now, clock_now)
    return mailing_id


def deliver(runner, timeout: float = 30.0) -> None:
    """One wake of the sender, and every mailing request it has to make now made."""
    runner.bot.sender.wake()
    assert runner.bot.sender.idle.wait(timeout), "the sender did not finish in time"


def mailing_messages(emu, user_id: int, text: str = TEXT) -> list:
    return [m for m in emu.messages(user_id) if m.text == text]


def states(runner, mailing_id: int) -> dict[int, str]:
    with runner.bot.sessions.begin() as s:
        return dict(s.execute(select(MailingRecipient.user_id, MailingRecipient.status)
                              .where(MailingRecipient.mailing_id == mailing_id)).all())


def mailing_calls(emu) -> list:
    return [c for c in emu.calls if c.via_execute and c.method == "messages.send" and "peer_ids" in c.params
            and c.params.get("message") == TEXT]


def requests_of(emu) -> list[int]:
    """Where each top-level execute carrying the mailing is in the call log."""
    calls = emu.calls
    return [i for i, c in enumerate(calls) if not c.via_execute and c.method == "execute"
            and any(inner.via_execute and inner.params.get("message") == TEXT for inner in calls[i + 1:i + 2])]


@pytest.fixture
def clock():
    return Clock(NOON)


@pytest.fixture
def bot(running, clock):
    return running(clock=clock)


def test_a_mailing_goes_in_chunks_of_100_to_each_recipient_once_with_unsubscribe(emu, bot, clock):
    users = range(1000, 1250)
    allow(emu, bot.bot.sessions, users)
    Person(emu, bot, CUSTOMER_ID).says("Привет")  # wrote to the community: a recipient
    Person(emu, bot, MANAGER_IDS[1]).says("Привет")  # a manager: never a recipient
    with bot.bot.sessions.begin() as s:
        dbm.subscribe(s, 1249, False, clock.now)  # unsubscribed before: not taken
    mailing_id = mail(bot, clock.now)
    deliver(bot)
    recipients = [*users[:-1], CUSTOMER_ID]
    assert [len(mailing_messages(emu, u)) for u in recipients] == [1] * len(recipients)
    assert mailing_messages(emu, 1249) == [] and all(mailing_messages(emu, m) == [] for m in MANAGER_IDS)
    sent = mailing_messages(emu, 1000)[0]
    assert labels(sent.keyboard) == [msg.BTN_UNSUBSCRIBE]
    assert payload_of(buttons_of(sent.keyboard)[0]) == {"cmd": msg.CMD_UNSUBSCRIBE}
    calls = mailing_calls(emu)
    assert [c.params["peer_ids"].count(",") + 1 for c in calls] == [100, 100, 50]
    assert len({c.params["random_id"] for c in calls}) == 3 and 1 <= len(requests_of(emu)) <= 2  # 2: while busy
    assert set(states(bot, mailing_id).values()) == {dbm.SENT}
    report = msg.MAILING_REPORT.format(id=mailing_id, sent=250, not_allowed=0, unsubscribed=0, failed=0)
    assert [m.text for m in emu.messages(AUTHOR)].count(report) == 1
    deliver(bot)  # nothing more: done is done
    assert len(mailing_calls(emu)) == 3 and [m.text for m in emu.messages(AUTHOR)].count(report) == 1


def test_a_901_in_the_middle_of_a_batch_marks_only_that_recipient(emu, bot, clock):
    users = range(1000, 1300)
    allow(emu, bot.bot.sessions, users, refuse_in_vk={1150})
    mailing_id = mail(bot, clock.now)
    deliver(bot)
    assert emu.message_counts(users) == [int(u != 1150) for u in users]
    found = states(bot, mailing_id)
    assert found.pop(1150) == dbm.NOT_ALLOWED and set(found.values()) == {dbm.SENT}
    with bot.bot.sessions.begin() as s:
        assert s.get(VkUser, 1150).messages_allowed is False  # remembered, as a message_deny
        assert dbm.count_recipients(s, MANAGER_IDS) == 299
    report = msg.MAILING_REPORT.format(id=mailing_id, sent=299, not_allowed=1, unsubscribed=0, failed=0)
    assert emu.messages(AUTHOR)[-1].text == report


def test_the_mailings_own_messages_coming_back_cost_no_transaction(emu, bot, clock):
    """With message_reply on (as the hand-over asks), each mailing message comes back through the
    long poll; the bot skips them before any transaction, so live customers do not wait behind them."""
    emu.longpoll_events["message_reply"] = 1
    users = range(1000, 1300)
    allow(emu, bot.bot.sessions, users)
    mail(bot, clock.now)
    deliver(bot)
    echoes = [e["event_id"] for e in emu.events if e["type"] == "message_reply"]
    assert len(echoes) == 300 + 1  # and the report
    assert bot.bot.wait_processed(echoes[-1], 10)
    with bot.bot.sessions.begin() as s:
        claimed = select(func.count()).select_from(ProcessedEvent).where(ProcessedEvent.event_id.in_(echoes))
        assert s.scalar(claimed) == 0
        assert s.scalar(select(func.count()).select_from(DialogueRow)) == 0  # nobody "wrote" by being written to


class QuietAfterFirstRequest(Clock):
    """The clock strikes 22:00 as soon as VK has received the mailing's first request."""

    def __init__(self, emu, now: datetime, then: datetime):
        super().__init__(now)
        self.emu, self.then, self.struck = emu, then, False

    def __call__(self) -> datetime:
        if not self.struck and any(c.method == "execute" for c in self.emu.calls):
            self.now, self.struck = self.then, True
        return self.now


def test_a_mailing_in_progress_pauses_when_quiet_hours_begin_and_goes_on_at_their_end(emu, running):
    clock = QuietAfterFirstRequest(emu, BEFORE_QUIET, QUIET)
    bot = running(clock=clock)
    users = range(10_000, 13_000)  # 30 chunks: two requests of 25 and 5
    allow(emu, bot.bot.sessions, users)
    mailing_id = mail(bot, BEFORE_QUIET)
    deliver(bot)
    assert clock.struck and len(requests_of(emu)) == 1
    assert sum(emu.message_counts(users)) == 2500
    assert list(states(bot, mailing_id).values()).count(dbm.PENDING) == 500
    emu.longpoll_events["message_deny"] = 1
    bot.settle(emu.set_allows_messages(12998, False))  # two who were still to get it leave meanwhile
    Person(emu, bot, 12999).says(msg.BTN_UNSUBSCRIBE)
    clock.now = datetime(2026, 12, 2, 5, 59, tzinfo=UTC)  # 08:59: still quiet
    deliver(bot)
    assert sum(emu.message_counts(users[:2500])) == 2500 and len(requests_of(emu)) == 1
    clock.now = MORNING
    deliver(bot)
    assert [len(mailing_messages(emu, u)) for u in users] == [1] * 2998 + [0, 0]
    assert len(mailing_calls(emu)) == 30  # each chunk once (12999's answer may make the rest go 2 a request)
    assert states(bot, mailing_id)[12998] == dbm.NOT_ALLOWED and states(bot, mailing_id)[12999] == dbm.UNSUBSCRIBED
    report = msg.MAILING_REPORT.format(id=mailing_id, sent=2998, not_allowed=1, unsubscribed=1, failed=0)
    assert emu.messages(AUTHOR)[-1].text == report


def test_a_live_reply_goes_before_the_mailings_next_request(emu, bot, clock):
    """A customer writes while the mailing's first request is in VK's hands (answered two seconds
    later): their reply is sent before the second request, not after the whole mailing."""
    users = range(10_000, 12_600)  # 26 chunks: two requests
    allow(emu, bot.bot.sessions, users)
    emu.set_slow("execute", 2.0)
    mail(bot, clock.now)
    bot.bot.sender.wake()
    assert emu.wait_for(lambda: len(requests_of(emu)) == 1, 10)
    replies = Person(emu, bot, CUSTOMER_ID).says("Привет")  # returns once everything is delivered
    assert replies and emu.message_counts(users) == [1] * len(users)
    calls = emu.calls
    answer = next(i for i, c in enumerate(calls) if CUSTOMER_ID in peers_of(c) and c.method == "messages.send")
    first, second = requests_of(emu)
    assert first < answer < second


def peers_of(call) -> set[int]:
    raw = call.params.get("peer_id") or call.params.get("peer_ids") or ""
    return {int(p) for p in raw.split(",") if p.strip().lstrip("-").isdigit()}


# --- A real `python main.py` killed with SIGKILL mid-mailing, then started again ----------------
def start_process(emu, db_url: str, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VK_", "MANAGER", "DATABASE", "LOG_", "QUIET"))}
    env.update({"VK_TOKEN": emu.token, "VK_GROUP_ID": str(emu.group_id), "MANAGER_IDS": ",".join(map(str, MANAGER_IDS)),
                "VK_API_URL": emu.api_url, "DATABASE_URL": db_url, "LONGPOLL_WAIT": "1", "LOG_LEVEL": "INFO",
                "QUIET_HOURS": "off"})  # the real clock: whatever the hour the test runs at
    with open(log, "a") as stream:
        return subprocess.Popen([sys.executable, "main.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                stderr=stream)


def test_sigkill_mid_mailing_then_a_restart_gives_each_recipient_the_mailing_once(emu, db_url, tmp_path):
    """VK has carried out the mailing's first request (2,500 messages) but its answer is late when
    the process is killed: nothing of it was recorded. The restart sends those chunks again with
    the same random_ids (VK sends nothing and answers as then), then the rest."""
    users = range(10_000, 13_000)
    engine = db.make_engine(db_url)
    db.migrate(engine)
    sessions = db.make_session_factory(engine)
    allow(emu, sessions, users)
    with sessions.begin() as s:
        mailing_id = dbm.create(s, AUTHOR, TEXT, None, NOON, NOON)  # due long ago: goes at the start
    emu.set_slow("execute", 30.0)
    log = tmp_path / "bot.log"
    proc = start_process(emu, db_url, log)
    try:
        assert emu.wait_for(lambda: sum(emu.message_counts(users)) == 2500, 60), log.read_text()[-3000:]
        proc.kill()
        proc.wait(10)
        assert list(states_of(sessions, mailing_id).values()).count(dbm.PENDING) == 3000  # nothing recorded
        emu.set_slow("execute", 0)
        proc = start_process(emu, db_url, log)
        assert emu.wait_for(lambda: dbm.DONE == status_of(sessions, mailing_id), 60), log.read_text()[-3000:]
        assert emu.wait_for(lambda: any(m.text.startswith("📬") for m in emu.messages(AUTHOR)), 30)
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    finally:
        proc.kill()
        proc.wait(10)
    assert emu.message_counts(users) == [1] * len(users)
    assert set(states_of(sessions, mailing_id).values()) == {dbm.SENT}
    requests = [c for c in emu.calls if c.method == "execute" and not c.via_execute]
    assert len(requests) == 3  # the first twice (the same random_ids), then the rest
    report = msg.MAILING_REPORT.format(id=mailing_id, sent=3000, not_allowed=0, unsubscribed=0, failed=0)
    assert [m.text for m in emu.messages(AUTHOR)] == [report]
    engine.dispose()


def states_of(sessions, mailing_id: int) -> dict[int, str]:
    with sessions.begin() as s:
        return dict(s.execute(select(MailingRecipient.user_id, MailingRecipient.status)
                              .where(MailingRecipient.mailing_id == mailing_id)).all())


def status_of(sessions, mailing_id: int) -> str:
    with sessions.begin() as s:
        return dbm.get(s, mailing_id).status
