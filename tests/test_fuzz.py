"""Property-based fuzzing of incoming events at every dialogue state, through the real
parser, handler chain and database layer (Bot.events.apply in a transaction that is rolled back):
never an exception, always a sensible answer, or silence where VK etiquette wants it."""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

import dialogue as d
from support import MANAGER_IDS, settings_for
import messages as msg
from db_functions import load_dialogue, save_dialogue
from db_models import Outbox
from loop import Bot
from main import build_bot
from vk_emulator import VKEmulator
from vk_events import parse_event

USER = 777
OTHER_CUSTOMER = 778
DATA_KEYS = ["service", "page", "task", "attachments", "deadline", "contact", "editing", "order", "party",
             "type", "date", "time", "name", "phone", "week", "slots", "p", "o", "k"]

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                    st.floats(allow_nan=False, allow_infinity=False),
                    st.text(max_size=50), st.sampled_from(["'; DROP TABLE orders; --", "1 OR 1=1", "🎉" * 30]))
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                           max_leaves=12)
payload_objects = st.one_of(
    st.fixed_dictionaries({"cmd": st.one_of(st.sampled_from(
        ["start", "menu", "help", "cancel", "back", "decide", "svc", "page", "dl", "ct", "field", "send", "edit",
         "keep", "orders", "ocancel", "book", "party", "type", "date", "time", "week", "contact", "zzz"]),
        json_values)}, optional={"o": st.integers(-5, 10), "d": st.sampled_from(["ok", "no", "", "x"]),
                                 "k": scalars, "p": scalars, "v": scalars, "f": scalars, "y": scalars}),
    st.dictionaries(st.text(max_size=10), json_values, max_size=5),
    st.just({"command": "start"}),
    st.builds(lambda n: {"cmd": "x" * n}, st.integers(0, 5000)),
)
texts = st.one_of(st.text(max_size=200), st.sampled_from(
    ["Привет", "Начать", "меню", "отмена", "назад", "Заявки", "Сегодня", "Сводка", "25.12", "31.02.2026",
     "+7 (912) 345-67-89", "19:30", "0", "-1", "100", "завтра", "я" * 10_000, "", "🙂🙂🙂", "a\x00b"]))
attachments = st.lists(st.sampled_from([{"type": "sticker", "sticker": {"sticker_id": 1}},
                                        {"type": "photo", "photo": {"id": 1}}, {"type": "doc"}, {"type": "??"}, {}]),
                       max_size=3)


@st.composite
def raw_events(draw, user_id: int):
    kind = draw(st.sampled_from(["message", "message", "callback", "chat", "unknown", "broken"]))
    event_id = draw(st.text(alphabet="0123456789abcdef", min_size=8, max_size=40))
    if kind in ("message", "chat"):
        payload = draw(st.one_of(st.none(), payload_objects.map(json.dumps), st.text(max_size=30)))
        message = {"from_id": user_id, "peer_id": 2_000_000_005 if kind == "chat" else user_id,
                   "text": draw(texts), "attachments": draw(attachments), "conversation_message_id": 5}
        if payload is not None:
            message["payload"] = payload
        return {"type": "message_new", "event_id": event_id, "group_id": 1, "v": "5.199",
                "object": {"message": message, "client_info": {}}}
    if kind == "callback":
        obj = {"user_id": user_id, "peer_id": user_id, "event_id": "cb" + event_id,
               "payload": draw(st.one_of(payload_objects, json_values)), "conversation_message_id": 3}
        return {"type": "message_event", "event_id": event_id, "group_id": 1, "v": "5.199", "object": obj}
    if kind == "unknown":
        return {"type": draw(st.sampled_from(["wall_post_new", "message_typing_state", "x"])), "event_id": event_id,
                "object": draw(json_values), "group_id": 1}
    return draw(st.dictionaries(st.sampled_from(["type", "object", "event_id"]), json_values, max_size=3))


random_data = st.dictionaries(st.sampled_from(DATA_KEYS), json_values, max_size=6)

def next_monday() -> str:
    """A Monday 2 to 8 days ahead: open (12:00-23:00) in the example café whatever today is."""
    today = datetime.now(ZoneInfo("Europe/Moscow")).date()
    ahead = (7 - today.weekday()) % 7 or 7
    return (today + timedelta(days=ahead if ahead >= 2 else ahead + 7)).strftime("%d.%m")


# Walks through real dialogues: the (state, data) the bot itself stores at each step are the
# well-formed dialogues every handler must take any input in. Each step: ("say", text) or
# ("press", label), as a customer does it.
WALKS = [
    [("say", "Привет"), ("press", "Услуги"), ("press", "Следующие »"), ("press", "« Предыдущие"),
     ("press", "Консультация"), ("say", "Нужна консультация"), ("press", "Как можно скорее"),
     ("press", "Оставлю телефон"), ("say", "+7 912 345 67 89"), ("press", "Изменить"), ("press", "Срок")],
    [("say", "Привет"), ("press", "Забронировать столик"), ("press", "2"), ("press", "Основной зал"),
     ("say", next_monday()), ("say", "19:00"), ("say", "Анна"), ("say", "+7 912 345 67 89"), ("press", "Изменить"),
     ("press", "Время")],
    [("say", "Привет"), ("press", "Забронировать столик"), ("press", "2"), ("press", "Основной зал"),  # a move
     ("say", next_monday()), ("say", "19:00"), ("say", "Анна"), ("say", "+7 912 345 67 89"), ("press", "Отправить"),
     ("press", "Мои заказы"), ("press", "Перенести №2"), ("say", next_monday()), ("say", "20:00")],
]


class Walker:
    """Drives Bot.events.apply directly (no VK) the way a customer would, recording each stored state."""

    def __init__(self, bot: Bot, user_id: int):
        self.bot, self.user_id, self.count = bot, user_id, 0

    def step(self, kind: str, value: str) -> tuple[d.State, dict]:
        self.count += 1
        message = {"from_id": self.user_id, "peer_id": self.user_id, "text": value}
        if kind == "press":
            message["payload"] = self._payload_of(value)
        raw = {"type": "message_new", "event_id": f"walk-{self.user_id}-{self.count}", "group_id": 1,
               "object": {"message": message}}
        with self.bot.sessions.begin() as session:
            self.bot.events.apply(session, parse_event(raw))
            dialogue = load_dialogue(session, self.user_id)
        return dialogue.state, dict(dialogue.data)

    def _payload_of(self, label: str) -> str:
        with self.bot.sessions.begin() as session:
            rows = session.scalars(select(Outbox).where(Outbox.peer_id == self.user_id).order_by(Outbox.id.desc()))
            for row in rows:
                for button in (b for line in json.loads(row.keyboard or "{}").get("buttons", []) for b in line):
                    if button["action"].get("label") == label:
                        return button["action"].get("payload", "")
        raise AssertionError(f"no button {label!r} for user {self.user_id}")


# A manager's mailing, up to its time step (nothing is created).
MANAGER_WALK = [("say", "Рассылка"), ("say", "Скидки всю неделю!"), ("press", "Запланировать")]


def walk_samples(bot: Bot) -> list[tuple[d.State, dict]]:
    samples = []
    for number, walk in enumerate(WALKS):
        walker = Walker(bot, 900 + number)
        samples += [walker.step(kind, value) for kind, value in walk]
    manager = Walker(bot, MANAGER_IDS[0])
    return samples + [manager.step(kind, value) for kind, value in MANAGER_WALK]


@pytest.fixture
def fuzz_bot(db_url, tmp_path):
    with VKEmulator() as emu:
        bot = build_bot(settings_for(emu, db_url))
        seed_orders(bot)
        bot.samples = walk_samples(bot)
        yield bot
        bot.sessions.kw["bind"].dispose()


def seed_orders(bot: Bot) -> None:
    """Another customer's order, so forged payloads can point at a real id that is not theirs."""
    walker = Walker(bot, OTHER_CUSTOMER)
    for kind, value in [("say", "Привет"), ("press", "Услуги"), ("press", "Консультация"), ("say", "вопрос"),
                        ("press", "Как можно скорее"), ("press", "Пишите мне во ВКонтакте"), ("press", "Отправить")]:
        walker.step(kind, value)


def replies_of(session, event: d.Incoming) -> list[d.Reply]:
    session.flush()
    rows = session.scalars(select(Outbox).where(Outbox.peer_id == event.peer_id, Outbox.id > MARK[0]))
    return [d.Reply(r.kind, r.peer_id, r.text, r.keyboard, r.cmid, r.callback_id) for r in rows]


MARK = [0]


def apply_in(bot: Bot, user: int, state, data, event: d.Incoming) -> tuple[bool, list[d.Reply]]:
    """Put the user in (state, data), apply the event, read the replies, roll everything back."""
    session = bot.sessions()
    try:
        session.begin()
        MARK[0] = session.scalar(select(func.max(Outbox.id))) or 0
        save_dialogue(session, user, state, data)
        applied = bot.events.apply(session, event)
        return applied, replies_of(session, event) if event.peer_id else []
    finally:
        session.rollback()
        session.close()


FUZZ = settings(max_examples=300, derandomize=True, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def retarget(raw: dict, user: int) -> d.Incoming:
    return parse_event(json.loads(json.dumps(raw).replace(str(USER), str(user))))


@FUZZ
@given(sample=st.integers(0, 10**6), raw=raw_events(USER), as_manager=st.booleans())
def test_any_event_in_any_stored_dialogue_gets_a_sensible_answer(fuzz_bot, sample, raw, as_manager):
    state, data = fuzz_bot.samples[sample % len(fuzz_bot.samples)]
    user = MANAGER_IDS[0] if as_manager else USER
    event = retarget(raw, user)
    applied, replies = apply_in(fuzz_bot, user, state, data, event)
    if event.kind == "other" or event.from_chat or not event.event_id:
        assert not replies, "silence expected for group chats and other events"
        return
    assert applied
    assert replies, f"no answer to {event.kind} in state {state}"
    if event.kind == "callback":
        assert any(r.kind == "answer" for r in replies), "a callback press must be answered"
    for reply in replies:
        assert reply.kind == "answer" or reply.text.strip(), "an empty message"
        assert len(reply.text) <= 9000


def test_walks_cover_every_state_but_the_reject_reason(fuzz_bot):
    covered = {state for state, _ in fuzz_bot.samples}
    assert covered >= set(d.State) - {d.State.MGR_REASON}, set(d.State) - covered


@FUZZ
@given(state=st.sampled_from(list(d.State)), data=random_data)
def test_corrupted_stored_dialogue_never_traps_the_customer(fuzz_bot, state, data):
    """Whatever an old version or a bug left in the dialogue, the customer gets an answer and
    the next message works: Bot.handle apologises and starts the dialogue afresh if need be."""
    with fuzz_bot.sessions.begin() as session:
        save_dialogue(session, USER, state, data)
    for number, text in enumerate(("что-то", "Помощь")):
        MARK[0] = max_outbox_id(fuzz_bot)
        event = {"type": "message_new", "event_id": f"c-{MARK[0]}-{number}", "group_id": 1,
                 "object": {"message": {"from_id": USER, "peer_id": USER, "text": text}}}
        fuzz_bot.handle(event)
    with fuzz_bot.sessions.begin() as session:
        last = session.scalars(select(Outbox).where(Outbox.peer_id == USER).order_by(Outbox.id.desc())).first()
        assert last.text == msg.HELP


def max_outbox_id(bot: Bot) -> int:
    with bot.sessions.begin() as session:
        return session.scalar(select(func.max(Outbox.id))) or 0
