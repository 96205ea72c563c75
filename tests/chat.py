"""A chat with the pure handler chain (no database, no network), for the handler unit tests:
the dialogue is kept between messages the way Bot.apply keeps it."""
from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import dialogue as d
import handlers as h


def labels(reply) -> list[str]:
    return [b["action"]["label"] for row in json.loads(reply.keyboard)["buttons"] for b in row]


class Chat:
    """One person talking to the handlers through `view`, at `now` in `tz`."""

    def __init__(self, view, user_id: int, manager_ids: frozenset[int], now: datetime, tz: ZoneInfo,
                 scenarios=("services", "booking")):
        self.user_id = user_id
        self.view = view
        self.ctx = d.Context(manager_ids=manager_ids, scenarios=scenarios, now=now, tz=tz, view=view)
        self.dialogue = d.Conversation()
        self.out = d.Outcome()

    def event(self, text="", payload=None, **kw):
        return d.Incoming(kind="message", event_id="e", user_id=self.user_id, peer_id=self.user_id, text=text,
                          payload=payload, **kw)

    def context(self) -> d.Context:
        """A context for one event, as the bot makes it."""
        return self.ctx

    def says(self, text="", payload=None, **kw) -> d.Outcome:
        self.out = h.dispatch(self.event(text, payload, **kw), self.dialogue, self.context())
        self.keep(self.out)
        return self.out

    def keep(self, out: d.Outcome) -> None:
        if out.state is not None:
            data = out.stored_data()
            self.dialogue = d.Conversation(out.state, data if data is not None else self.dialogue.data)

    def presses(self, label: str) -> d.Outcome:
        for reply in reversed(self.out.replies):
            for row in json.loads(reply.keyboard or "{}").get("buttons", []):
                for button in row:
                    if button["action"]["label"] == label:
                        return self.says(label, json.loads(button["action"]["payload"]))
        raise AssertionError(f"no button {label!r} in {[labels(r) for r in self.out.replies if r.keyboard]}")

    @property
    def text(self) -> str:
        return self.out.replies[-1].text

    @property
    def buttons(self) -> list[str]:
        return labels(self.out.replies[-1])

    @property
    def state(self) -> d.State:
        return self.dialogue.state
