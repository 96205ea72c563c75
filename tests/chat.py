"""One layer down: a chat with the pure handler chain (no database, no network), over one fake
view of the database. The vocabulary is the end-to-end driver's (support.Person): `says`,
`presses`, `text`, `buttons`; the conversation is kept between messages the way the bot keeps it.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import dialogue as d
import handlers as h
import slots
from support import labels


class FakeView(d.EmptyView):
    """dialogue.View over lists in memory: services, orders, a café with its tables and what is
    taken, saved contacts and bookings. Whatever a test does not give is empty."""

    def __init__(self, services=(), orders=(), cafe=None, types=(), tables=(), busy=(), contacts=None, bookings=()):
        self.all_services, self.orders = list(services), list(orders)
        self.cafe, self.types, self.all_tables, self.held = cafe, list(types), list(tables), list(busy)
        self.contacts, self.booked = dict(contacts or {}), list(bookings)

    def services(self):
        return [s for s in sorted(self.all_services, key=lambda s: s.position) if s.active]

    def service(self, key):
        return next((s for s in self.all_services if s.key == key), None)

    def orders_of(self, user_id, limit=10, offset=0):
        return [o for o in reversed(self.orders) if o.user_id == user_id][offset:offset + limit]

    def order(self, order_id):
        return next((o for o in self.orders if o.id == order_id), None)

    def pending_orders(self, limit=20, offset=0):
        return [o for o in self.orders if o.status == d.Status.PENDING][offset:offset + limit]

    def orders_between(self, start, end, limit=50):
        return [o for o in self.orders if start <= o.created_at < end][:limit]

    def status_counts(self):
        counts = {}
        for o in self.orders:
            counts[o.status] = counts.get(o.status, 0) + 1
        return counts

    def restaurant(self):
        return self.cafe

    def table_types(self):
        return self.types

    def tables(self):
        return self.all_tables

    def busy(self, start, end):
        return [b for b in self.held if b.start < end and b.end > start]

    def contact(self, user_id):
        return self.contacts.get(user_id)

    def bookings_between(self, start, end, limit=50):
        return sorted((b for b in self.booked if start <= b.starts_at < end), key=lambda b: b.starts_at)[:limit]

    def take(self, table_id: int, start: datetime, hours: int = 2) -> None:
        self.held.append(slots.Busy(table_id, start, start + timedelta(hours=hours)))


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

    def says(self, text="", payload=None, **kw) -> d.Outcome:
        self.out = h.dispatch(self.event(text, payload, **kw), self.dialogue, self.ctx)
        self.keep(self.out)
        return self.out

    def stored(self, result) -> d.Outcome:
        """The bot's second half: the last outcome's effect stored with this result, then its follow-up."""
        effect = self.out.effects[0]
        self.out = self.out.then(h.follow_up(effect, result, self.event(), self.ctx))
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
