"""The operator's mailing from the shell (main.py's `--mailing FILE [--at "YYYY-MM-DD HH:MM"]`).

It creates the mailing in the database (author NULL, due now or at the given local time in
TIMEZONE) and then only watches: the running bot's mailer delivers it (main.py --mailing starts no
bot and sends nothing itself), while a plain-text progress bar on stderr shows the recipients'
states as the database has them, and the totals go to stdout at the end. Ctrl-C stops the watching
only; the mailing goes on in the bot. A bad file or time is one line and exit status 2."""
from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TextIO

import db
import db_mailings as dbm
import planning
from config import Settings
from db_models import utcnow

EXIT_INPUT = 2
AT_FORMAT = "%Y-%m-%d %H:%M"
MAX_TEXT = 3900  # as a manager's mailing (mailing.MAX_TEXT): within VK's 4096 characters a message
POLL_SECONDS = 0.5  # how often the database is read while watching
BAR_WIDTH = 30


class MailingInputError(ValueError):
    """A mailing file or time the operator must fix (said in one line)."""


# --- Pure parts ------------------------------------------------------------------------------------
def read_text(path: str) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise MailingInputError(f"cannot read the mailing file {path}: {type(exc).__name__}") from None
    if not text:
        raise MailingInputError(f"the mailing file {path} is empty: write the mailing's text in it")
    if len(text) > MAX_TEXT:
        raise MailingInputError(f"the mailing file {path} has {len(text)} characters; at most {MAX_TEXT} go in one "
                                "message")
    return text


def parse_at(text: str, now: datetime, tz) -> datetime:
    """`--at` as local time in TIMEZONE, in UTC; it must be ahead of `now`."""
    try:
        wall = datetime.strptime(text.strip(), AT_FORMAT)
    except ValueError:
        raise MailingInputError(f'--at must look like "2026-12-24 12:00" (local time), not {text!r}') from None
    due = planning.at_local(wall.date(), wall.time(), tz)
    if due <= now:
        raise MailingInputError(f"--at {text} has passed already (now it is {now.astimezone(tz):{AT_FORMAT}})")
    return due


def when_line(mailing_id: int, count: int, due: datetime, now: datetime, settings: Settings) -> str:
    """What was created and when it goes (at the end of quiet hours, if it falls in them)."""
    quiet, tz = settings.timing.quiet, settings.tz
    goes = planning.quiet_end(max(due, now), tz, quiet)
    at = "now" if goes <= now else f"at {goes.astimezone(tz):{AT_FORMAT}}"
    why = f" (quiet hours {quiet.start:%H:%M}-{quiet.end:%H:%M})" if goes != max(due, now) else ""
    return (f"mailing #{mailing_id} created: {count} recipients now (they are taken when it starts); "
            f"the running bot sends it {at}{why}")


def bar(totals: dbm.Totals, width: int = BAR_WIDTH) -> str:
    """`[##########----------]  50/100  delivered 48, not allowed 1, unsubscribed 0, failed 1`."""
    filled = width * totals.done // totals.total if totals.total else width
    return (f"[{'#' * filled}{'-' * (width - filled)}] {totals.done:>{len(str(totals.total))}}/{totals.total}  "
            f"delivered {totals.sent}, not allowed {totals.not_allowed}, unsubscribed {totals.unsubscribed}, "
            f"failed {totals.failed}")


def status_line(mailing: dbm.Mailing, now: datetime, settings: Settings) -> str:
    if mailing.status == dbm.SCHEDULED:
        goes = planning.quiet_end(max(mailing.due_at, now), settings.tz, settings.timing.quiet)
        if goes > now:
            return f"waiting: mailing #{mailing.id} starts at {goes.astimezone(settings.tz):{AT_FORMAT}}"
        return f"waiting for the running bot to start mailing #{mailing.id} (is it running?)"
    return bar(mailing.totals)


def totals_line(mailing: dbm.Mailing) -> str:
    t = mailing.totals
    return (f"mailing #{mailing.id} {mailing.status}: delivered {t.sent}, not allowed {t.not_allowed}, "
            f"unsubscribed since {t.unsubscribed}, failed {t.failed} (of {t.total})")


# --- The command -----------------------------------------------------------------------------------
class Progress:
    """The progress line on stderr: redrawn in place on a terminal, a new line per change otherwise."""

    def __init__(self, err: TextIO):
        self.err, self.shown = err, ""
        self.tty = err.isatty()

    def show(self, line: str) -> None:
        if line == self.shown:
            return
        if self.tty:
            self.err.write("\r" + line.ljust(len(self.shown)))
        else:
            self.err.write(line + "\n")
        self.err.flush()
        self.shown = line

    def end(self) -> None:
        if self.tty and self.shown:
            self.err.write("\n")
            self.err.flush()


def run(settings: Settings, path: str, at: str | None, *, out: TextIO = sys.stdout, err: TextIO = sys.stderr,
        clock: Callable[[], datetime] = utcnow, poll: float = POLL_SECONDS) -> int:
    """Create the mailing, then watch the running bot deliver it; 0 once done (or when the watching
    is stopped with Ctrl-C), 2 for a bad file or time, 1 if it was cancelled meanwhile."""
    now = clock()
    try:
        text = read_text(path)
        due = parse_at(at, now, settings.tz) if at is not None else now
    except MailingInputError as problem:
        print(f"error: {problem}", file=err)
        return EXIT_INPUT
    engine = db.make_engine(settings.database_url, schema=settings.database_schema)
    try:
        db.migrate(engine)
        sessions = db.make_session_factory(engine)
        with sessions.begin() as session:
            count = dbm.count_recipients(session, settings.manager_ids)
            mailing_id = dbm.create(session, None, text, None, due, now)
        print(when_line(mailing_id, count, due, now, settings), file=err)
        return watch(sessions, mailing_id, settings, out, err, clock, poll)
    finally:
        engine.dispose()


def watch(sessions, mailing_id: int, settings: Settings, out: TextIO, err: TextIO,
          clock: Callable[[], datetime], poll: float) -> int:
    progress = Progress(err)
    try:
        while True:
            with sessions.begin() as session:
                mailing = dbm.get(session, mailing_id)
            if mailing is None:
                print(f"error: mailing #{mailing_id} is no longer in the database", file=err)
                return 1
            if mailing.status in (dbm.DONE, dbm.CANCELLED):
                break
            progress.show(status_line(mailing, clock(), settings))
            time.sleep(poll)
    except KeyboardInterrupt:
        progress.end()
        print(f"stopped watching; mailing #{mailing_id} is not stopped: the running bot goes on sending it "
              "(its state is in the database)", file=err)
        return 0
    progress.show(bar(mailing.totals))
    progress.end()
    print(totals_line(mailing), file=out)
    return 0 if mailing.status == dbm.DONE else 1
