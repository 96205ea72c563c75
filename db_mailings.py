"""Mailings in the database: who gets one (users who wrote to the community or allowed its
messages, minus those who denied them or unsubscribed, minus the managers), the mailing's rows,
and the delivery's queries (start a due one, the next pending chunks, each recipient's result,
the finish). Like db_functions, every function takes the session and never commits."""
from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, case, func, insert, literal, select, union, update
from sqlalchemy.orm import Session

from db import dialect_insert
from db_models import DialogueRow, MailingRecipient, MailingRow, VkUser

CHUNK = 100  # recipients per messages.send (VK's limit for peer_ids)
# A mailing's status, and a recipient's.
DRAFT, SCHEDULED, SENDING, DONE, CANCELLED = "draft", "scheduled", "sending", "done", "cancelled"
PENDING, SENT, NOT_ALLOWED, UNSUBSCRIBED, FAILED = "pending", "sent", "not_allowed", "unsubscribed", "failed"
FINAL = (SENT, NOT_ALLOWED, UNSUBSCRIBED, FAILED)


@dataclass(frozen=True)
class Totals:
    """What became of a mailing's recipients so far (all zero before it started)."""

    pending: int = 0
    sent: int = 0
    not_allowed: int = 0
    unsubscribed: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return self.pending + self.sent + self.not_allowed + self.unsubscribed + self.failed

    @property
    def done(self) -> int:
        return self.total - self.pending


@dataclass(frozen=True)
class Mailing:
    """A mailing as the managers' summary and the mailer see it."""

    id: int
    author_id: int | None
    text: str
    attachment: str | None
    status: str
    due_at: datetime
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    totals: Totals = Totals()


@dataclass(frozen=True)
class Chunk:
    """Up to CHUNK pending recipients of one mailing's chunk: one messages.send with peer_ids."""

    mailing_id: int
    chunk: int
    text: str
    attachment: str | None
    user_ids: tuple[int, ...]


# --- Who gets it ---------------------------------------------------------------------------
def _recipients(exclude: Collection[int]):
    """The user ids a mailing goes to now: wrote (a dialogue) or allowed, minus denied (or a
    901), minus unsubscribed, minus `exclude` (the managers)."""
    candidates = union(select(DialogueRow.user_id.label("user_id")),
                       select(VkUser.user_id).where(VkUser.messages_allowed.is_(True))).subquery()
    refused = select(VkUser.user_id).where(VkUser.messages_allowed.is_(False) | VkUser.unsubscribed_at.is_not(None))
    query = select(candidates.c.user_id).where(candidates.c.user_id > 0, candidates.c.user_id.not_in(refused))
    if exclude:
        query = query.where(candidates.c.user_id.not_in(sorted(set(exclude))))
    return query


def count_recipients(session: Session, exclude: Collection[int] = ()) -> int:
    return session.scalar(select(func.count()).select_from(_recipients(exclude).subquery())) or 0


def subscribe(session: Session, user_id: int, subscribed: bool, now: datetime) -> None:
    """«Подписаться» clears unsubscribed_at, «Отписаться» sets it; nothing else of the user changes."""
    values = {"unsubscribed_at": None if subscribed else now}
    statement = dialect_insert(session, VkUser).values(user_id=user_id, updated_at=now, **values)
    session.execute(statement.on_conflict_do_update(index_elements=["user_id"], set_=values))


def is_subscribed(session: Session, user_id: int) -> bool:
    return session.scalar(select(VkUser.unsubscribed_at).where(VkUser.user_id == user_id)) is None


# --- A mailing's rows ------------------------------------------------------------------------
def create(session: Session, author_id: int | None, text: str, attachment: str | None, due_at: datetime,
           now: datetime) -> int:
    """A scheduled mailing; the mailer starts it once due_at has come (outside quiet hours)."""
    row = MailingRow(author_id=author_id, text=text, attachment=attachment, status=SCHEDULED, due_at=due_at,
                     created_at=now)
    session.add(row)
    session.flush()
    return row.id


def cancel(session: Session, mailing_id: int) -> bool:
    """A scheduled mailing, or one being sent (what is sent stays sent), is cancelled; False if
    it was done or cancelled already."""
    result = session.execute(update(MailingRow).where(MailingRow.id == mailing_id,
                                                      MailingRow.status.in_((DRAFT, SCHEDULED, SENDING)))
                             .values(status=CANCELLED))
    return (result.rowcount or 0) > 0


def totals(session: Session, mailing_id: int) -> Totals:
    return _totals_of(session, [mailing_id]).get(mailing_id, Totals())


def _totals_of(session: Session, mailing_ids: Sequence[int]) -> dict[int, Totals]:
    if not mailing_ids:
        return {}
    rows = session.execute(select(MailingRecipient.mailing_id, MailingRecipient.status, func.count())
                           .where(MailingRecipient.mailing_id.in_(list(mailing_ids)))
                           .group_by(MailingRecipient.mailing_id, MailingRecipient.status))
    counts: dict[int, dict[str, int]] = {}
    for mailing_id, status, count in rows:
        counts.setdefault(mailing_id, {})[status] = count
    return {mailing_id: Totals(**{k: v for k, v in by.items() if k in Totals.__dataclass_fields__})
            for mailing_id, by in counts.items()}


def _mailing(row: MailingRow, counted: Totals = Totals()) -> Mailing:
    return Mailing(row.id, row.author_id, row.text, row.attachment, row.status, row.due_at, row.created_at,
                   row.started_at, row.finished_at, counted)


def get(session: Session, mailing_id: int) -> Mailing | None:
    row = session.get(MailingRow, mailing_id, populate_existing=True)
    return _mailing(row, totals(session, mailing_id)) if row is not None else None


def last_mailings(session: Session, limit: int = 5) -> list[Mailing]:
    """The newest mailings first, each with its totals."""
    rows = session.scalars(select(MailingRow).order_by(MailingRow.id.desc()).limit(limit)).all()
    counted = _totals_of(session, [row.id for row in rows])
    return [_mailing(row, counted.get(row.id, Totals())) for row in rows]


# --- Delivery (mailer.py) ---------------------------------------------------------------------
def due_to_start(session: Session, now: datetime) -> list[int]:
    return list(session.scalars(select(MailingRow.id).where(MailingRow.status == SCHEDULED, MailingRow.due_at <= now)
                                .order_by(MailingRow.due_at, MailingRow.id)))


def next_start(session: Session) -> datetime | None:
    """When the next scheduled mailing is due (None: none is)."""
    return session.scalar(select(func.min(MailingRow.due_at)).where(MailingRow.status == SCHEDULED))


def start(session: Session, mailing_id: int, exclude: Collection[int], now: datetime) -> int | None:
    """Scheduled → sending, its recipients taken now, each with its fixed chunk; how many, or
    None if another transaction started (or cancelled) it first."""
    claimed = session.execute(update(MailingRow).where(MailingRow.id == mailing_id, MailingRow.status == SCHEDULED)
                              .values(status=SENDING, started_at=now))
    if not claimed.rowcount:
        return None
    # One INSERT … SELECT: the recipients numbered in user order, each hundred a chunk.
    taken = _recipients(exclude).subquery()
    position = func.row_number().over(order_by=taken.c.user_id) - 1
    rows = select(literal(mailing_id, BigInteger), taken.c.user_id, (position // CHUNK).label("chunk"),
                  literal(PENDING), literal(0))
    result = session.execute(insert(MailingRecipient).from_select(
        ["mailing_id", "user_id", "chunk", "status", "attempts"], rows))
    return result.rowcount


def sending(session: Session) -> list[int]:
    """The mailings being sent, oldest first."""
    return list(session.scalars(select(MailingRow.id).where(MailingRow.status == SENDING).order_by(MailingRow.id)))


def pending_chunks(session: Session, limit: int) -> list[tuple[int, int]]:
    """Up to `limit` (mailing, chunk) pairs with pending recipients, the oldest mailing's first
    chunks first. Chunks go out in order, so each mailing's are found from its lowest pending
    chunk on through the index, never by reading all its pending recipients (a chunk in that
    range whose recipients are all final only makes the request smaller)."""
    keys: list[tuple[int, int]] = []
    for mailing_id in sending(session):
        first = session.scalar(select(func.min(MailingRecipient.chunk)).where(
            MailingRecipient.mailing_id == mailing_id, MailingRecipient.status == PENDING))
        if first is None:
            continue
        found = session.scalars(select(MailingRecipient.chunk).distinct().where(
            MailingRecipient.mailing_id == mailing_id, MailingRecipient.status == PENDING,
            MailingRecipient.chunk >= first, MailingRecipient.chunk < first + limit - len(keys)))
        keys += [(mailing_id, chunk) for chunk in sorted(found)]
        if len(keys) >= limit:
            break
    return keys[:limit]


def _in_chunks(mailing_id: int, chunks: Collection[int]):
    return (MailingRecipient.mailing_id == mailing_id, MailingRecipient.chunk.in_(sorted(chunks)),
            MailingRecipient.status == PENDING)


def _by_mailing(keys: Iterable[tuple[int, int]]) -> dict[int, set[int]]:
    grouped: dict[int, set[int]] = {}
    for mailing_id, chunk in keys:
        grouped.setdefault(mailing_id, set()).add(chunk)
    return grouped


def recheck(session: Session, keys: Iterable[tuple[int, int]], now: datetime) -> int:
    """The pending recipients of these chunks who unsubscribed or denied messages since the
    start are not sent to (unsubscribed, not_allowed)."""
    changed = 0
    for mailing_id, chunks in _by_mailing(keys).items():
        for status, refused in ((UNSUBSCRIBED, VkUser.unsubscribed_at.is_not(None)),
                                (NOT_ALLOWED, VkUser.messages_allowed.is_(False))):
            users = select(VkUser.user_id).where(refused)
            result = session.execute(update(MailingRecipient).where(
                *_in_chunks(mailing_id, chunks), MailingRecipient.user_id.in_(users)).values(status=status, done_at=now))
            changed += result.rowcount or 0
    return changed


def chunks_of(session: Session, keys: Sequence[tuple[int, int]]) -> list[Chunk]:
    """These chunks with their pending recipients (in user order), left out when none is pending."""
    users: dict[tuple[int, int], list[int]] = {key: [] for key in keys}
    texts: dict[int, tuple[str, str | None]] = {}
    for mailing_id, chunks in _by_mailing(keys).items():
        row = session.get(MailingRow, mailing_id)
        texts[mailing_id] = (row.text, row.attachment)
        for chunk, user_id in session.execute(select(MailingRecipient.chunk, MailingRecipient.user_id)
                                              .where(*_in_chunks(mailing_id, chunks))
                                              .order_by(MailingRecipient.user_id)):
            users[(mailing_id, chunk)].append(user_id)
    return [Chunk(m, c, *texts[m], tuple(users[(m, c)])) for m, c in keys if users[(m, c)]]


def next_chunks(session: Session, limit: int, now: datetime | None = None) -> list[Chunk]:
    """The chunks of the next request: up to `limit`, re-checked first when `now` is given."""
    keys = pending_chunks(session, limit)
    if now is not None:
        recheck(session, keys, now)
    return chunks_of(session, keys)


def record(session: Session, mailing_id: int, results: Mapping[int, tuple[str, str | None]], now: datetime,
           max_attempts: int = 5) -> None:
    """Each recipient's result: (a final status, the error), or (PENDING, the error) for a retry
    later, which counts an attempt; the `max_attempts`-th makes it failed. Only pending
    recipients change: a result never undoes a final one."""
    groups: dict[tuple[str, str | None], list[int]] = {}
    for user_id, (status, error) in results.items():
        groups.setdefault((status, (error or None) and error[:255]), []).append(user_id)
    for (status, error), user_ids in groups.items():
        if status == PENDING:
            last = MailingRecipient.attempts + 1 >= max_attempts
            values = {"attempts": MailingRecipient.attempts + 1, "error": error,
                      "status": case((last, FAILED), else_=PENDING), "done_at": case((last, now), else_=None)}
        else:
            values = {"status": status, "error": error, "done_at": now}
        session.execute(update(MailingRecipient).where(
            MailingRecipient.mailing_id == mailing_id, MailingRecipient.status == PENDING,
            MailingRecipient.user_id.in_(sorted(user_ids))).values(**values))


def finish(session: Session, mailing_id: int, now: datetime) -> Mailing | None:
    """Sending → done once no recipient is pending; the finished mailing (for its report), or
    None while some are pending (or another transaction finished it)."""
    pending = select(MailingRecipient.user_id).where(MailingRecipient.mailing_id == mailing_id,
                                                     MailingRecipient.status == PENDING).exists()
    result = session.execute(update(MailingRow).where(MailingRow.id == mailing_id, MailingRow.status == SENDING,
                                                      ~pending).values(status=DONE, finished_at=now))
    return get(session, mailing_id) if result.rowcount else None


def note_denied(session: Session, user_ids: Iterable[int], now: datetime) -> None:
    """VK said these users do not allow messages (901): remembered like a message_deny."""
    for user_id in sorted(set(user_ids)):
        statement = dialect_insert(session, VkUser).values(user_id=user_id, messages_allowed=False, updated_at=now)
        session.execute(statement.on_conflict_do_update(index_elements=["user_id"],
                                                        set_={"messages_allowed": False, "updated_at": now}))
