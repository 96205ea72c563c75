"""Ordering a service: SVC_CHOOSE → TASK → DEADLINE → CONTACT (→ PHONE) → CONFIRM (⇄ EDIT).

Each step takes the event, the typed draft and the context, and returns where to go
(`go`), or to stay and ask again (`stay`); the chain (handlers.FLOW) draws the screens
defined here.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import wraps

import keyboard as kb
import messages as msg
from catalogue import Service
from dates import parse_date
from dialogue import (Context, Conversation, CreateOrder, Draft, Incoming, OrderKind, Outcome, State, command_of, go,
                      int_arg, is_stray, nfc, normalized, not_understood, page_of, say, stay, str_arg, to_menu, today)

# What a task keeps of a long text: the card holds it with its other lines (~400 characters), the
# decision lines and a reject reason of up to 1000 within VK's 4096 characters a message.
MAX_TASK = 2500
MAX_DAYS_AHEAD = 366
MAX_ATTACHED = 10  # the customer's messages with attachments an order keeps (VK forwards up to 100)
NOT_KEPT = frozenset({"sticker", "gift"})  # nothing for a manager to work from
PHONE_JUNK = re.compile(r"[\s\-().]")
# With +7/7/8 in front any area code; without, only 3xx, 4xx and 9xx, so that an 8-number with a
# digit missing ("8 912 345 67 8") is refused instead of read as the area code 891.
PHONE_RE = re.compile(r"(?:\+7|7|8)([3-9]\d{9})|([349]\d{9})")


@dataclass(frozen=True)
class ServiceDraft(Draft):
    """A service order being put together. `task` "" means attachments only; `contact` is
    msg.CONTACT_VK or a phone; `deadline` a msg.DEADLINE_TEXTS key or an ISO date."""

    LISTS = {"attachments": str, "cmids": int}

    service: str | None = None  # the service's key
    page: int | None = None  # the service list's page
    task: str | None = None
    task_cut: bool = False  # the customer wrote more than MAX_TASK
    attachments: tuple[str, ...] | None = None  # attachment types ("fwd": a forwarded message)
    cmids: tuple[int, ...] | None = None  # the customer's messages that carry them: the card forwards these
    deadline: str | None = None
    contact: str | None = None
    editing: bool = False  # a field is being changed from the summary

    def editing_field(self) -> ServiceDraft:
        return self.but(editing=True)


# --- How a service order reads -------------------------------------------------------------
def price_text(price: int, price_from: bool = False) -> str:
    amount = f"{int(price):,}".replace(",", " ")
    return (msg.PRICE_FROM if price_from else msg.PRICE).format(amount=amount)


def deadline_text(value) -> str:
    if value in msg.DEADLINE_TEXTS:
        return msg.DEADLINE_TEXTS[value]
    try:
        return msg.DEADLINE_DATE.format(date=date.fromisoformat(str(value)).strftime("%d.%m.%Y"))
    except ValueError:
        return "—"


def contact_text(value) -> str:
    return msg.CONTACT_VK_TEXT if value == msg.CONTACT_VK else msg.CONTACT_PHONE_TEXT.format(phone=value)


def plural(n: int, forms: tuple[str, str, str]) -> str:
    """«1 документ», «2 документа», «5 документов»."""
    one, few, many = forms
    form = one if n % 10 == 1 and n % 100 != 11 else few if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14 else many
    return f"{n} {form}"


def attachments_text(kinds: Sequence[str]) -> str:
    """What is attached, counted by kind: «2 фото, 1 документ, 1 пересланное»."""
    counts = Counter(k if k in msg.ATTACHMENT_FORMS else "" for k in kinds)
    return ", ".join(plural(n, msg.ATTACHMENT_FORMS.get(k, msg.ATTACHMENT_OTHER_FORMS)) for k, n in counts.items())


def attachments_line(details: Mapping, in_dialogue: bool = False) -> str:
    """The line naming the attachments; where they are when the card does not carry them."""
    items = attachments_text(details["attachments"])
    if in_dialogue or not details.get("cmids"):
        return msg.LINE_ATTACHMENTS_IN_DIALOGUE.format(items=items)
    return msg.LINE_ATTACHMENTS.format(items=items)


def normalize_phone(text: str) -> str | None:
    """A Russian phone number as +7XXXXXXXXXX, or None: "+7 (912) 345-67-89", "8 912 345 67 89",
    "9123456789" are all "+79123456789"."""
    match = PHONE_RE.fullmatch(PHONE_JUNK.sub("", text))
    return f"+7{match.group(1) or match.group(2)}" if match else None


def order_lines(details: Mapping, in_dialogue: bool = False) -> list[str]:
    """The order's lines on the summary and on the manager's card (`in_dialogue`: a card that
    could not forward the customer's messages says where its attachments are)."""
    lines = [msg.LINE_SERVICE.format(title=details.get("title", ""),
                                     price=price_text(details.get("price", 0), details.get("price_from", False))),
             msg.LINE_TASK.format(task=details.get("task") or msg.NO_TASK_TEXT)
             + (msg.TASK_CUT_MARK if details.get("task_cut") else "")]
    if details.get("attachments"):
        lines.append(attachments_line(details, in_dialogue))
    lines.append(msg.LINE_DEADLINE.format(deadline=deadline_text(details.get("deadline"))))
    lines.append(msg.LINE_CONTACT.format(contact=contact_text(details.get("contact"))))
    return lines


def order_title(details: Mapping) -> str:
    return str(details.get("title", ""))


def order_details(draft: ServiceDraft, service: Service) -> dict:
    """The order's details from the draft; the title and price are kept as they were when ordered."""
    details = {"service": service.key, "title": service.title, "price": service.price,
               "price_from": service.price_from, "task": draft.task or "",
               "attachments": list(draft.attachments or ()), "deadline": draft.deadline, "contact": draft.contact}
    details |= {"cmids": list(draft.cmids)} if draft.cmids else {}
    return {**details, "task_cut": True} if draft.task_cut else details


def service_card(service: Service) -> str:
    text = msg.SERVICE_CARD.format(title=service.title, description=service.description,
                                   price=price_text(service.price, service.price_from))
    return text + (msg.SERVICE_CARD_DURATION.format(duration=service.duration) if service.duration else "")


def chosen_service(draft: ServiceDraft, ctx: Context) -> Service | None:
    return ctx.view.service(draft.service) if draft.service is not None else None


def now_given(given: bool, value: str) -> str:
    return msg.NOW_GIVEN.format(value=value) if given else ""


def has_phone(draft: ServiceDraft) -> bool:
    return str(draft.contact or "").startswith("+")


# --- Moving on -----------------------------------------------------------------------
def advance(draft: ServiceDraft, next_state: State) -> Outcome:
    """After a step: the next one, or straight back to the summary when a field was being edited."""
    if draft.editing:
        return go(State.SVC_CONFIRM, draft.but(editing=False))
    return go(next_state, draft)


Step = Callable[[Incoming, ServiceDraft, Context], Outcome]


def keeps(given: Callable[[ServiceDraft], bool], next_state: State) -> Callable[[Step], Step]:
    """A step that offers "Keep as it is" once its answer is given (the customer came back to it):
    pressing it goes on with the stored answer."""
    def wrap(step: Step) -> Step:
        @wraps(step)
        def run(event: Incoming, draft: ServiceDraft, ctx: Context) -> Outcome:
            if command_of(event) == msg.CMD_KEEP:
                return advance(draft, next_state) if given(draft) else stay()
            return step(event, draft, ctx)
        return run
    return wrap


def first_missing(draft: ServiceDraft, ctx: Context) -> State | None:
    """The first step whose answer the draft lacks (or whose service is gone), if any."""
    service = chosen_service(draft, ctx)
    if service is None or not service.active:
        return State.SVC_CHOOSE
    answers = ((State.SVC_TASK, draft.task), (State.SVC_DEADLINE, draft.deadline), (State.SVC_CONTACT, draft.contact))
    return next((state for state, value in answers if value is None), None)


def on_services(event: Incoming, conversation: Conversation, ctx: Context) -> Outcome:
    if "services" not in ctx.scenarios:
        return not_understood(event, ctx)
    if not ctx.view.services():
        return to_menu(msg.SERVICES_EMPTY)
    return go(State.SVC_CHOOSE, ServiceDraft(page=0))


# --- The service list -----------------------------------------------------------------
def screen_svc_choose(draft: ServiceDraft, ctx: Context) -> tuple[str, str]:
    services = ctx.view.services()
    if not services:
        return msg.SERVICES_EMPTY, kb.service_list([], 0, 1)
    page, pages = page_of(draft.page, len(services), kb.SERVICES_PER_PAGE)
    shown = services[page * kb.SERVICES_PER_PAGE:(page + 1) * kb.SERVICES_PER_PAGE]
    lines = "\n".join(msg.SERVICE_LINE.format(title=s.title, price=price_text(s.price, s.price_from)) for s in shown)
    numbering = msg.SERVICE_LIST_PAGES.format(page=page + 1, pages=pages) if pages > 1 else ""
    text = msg.SERVICE_LIST.format(pages=numbering, lines=lines)
    return text, kb.service_list([(s.key, s.title) for s in shown], page, pages)


def step_svc_choose(event: Incoming, draft: ServiceDraft, ctx: Context) -> Outcome:
    command = command_of(event)
    if command == msg.CMD_PAGE:
        return go(State.SVC_CHOOSE, draft.but(page=int_arg(event, msg.ARG_PAGE) or 0))
    if command == msg.CMD_SERVICE:
        return choose_service(draft, ctx, str_arg(event, msg.ARG_KEY))
    typed = normalized(event.text)
    match = next((s.key for s in ctx.view.services() if normalized(s.title) == typed), None)
    if match and not is_stray(event):
        return choose_service(draft, ctx, match)
    return stay()


def choose_service(draft: ServiceDraft, ctx: Context, key: str | None) -> Outcome:
    service = ctx.view.service(key) if key else None
    if service is None or not service.active:
        return stay(msg.SERVICE_UNAVAILABLE)
    return advance(draft.but(service=service.key), State.SVC_TASK)


# --- The task -------------------------------------------------------------------------------
def screen_svc_task(draft: ServiceDraft, ctx: Context) -> tuple[str, str]:
    service = chosen_service(draft, ctx)
    text = f"{service_card(service)}\n\n{msg.ASK_TASK}" if service else msg.ASK_TASK
    given = draft.task or (attachments_text(draft.attachments) if draft.attachments else "")
    text += now_given(draft.task is not None, given[:300])
    return text, kb.task_step(keep=draft.task is not None)


@keeps(lambda draft: draft.task is not None, State.SVC_DEADLINE)
def step_svc_task(event: Incoming, draft: ServiceDraft, ctx: Context) -> Outcome:
    """Free text goes on to the deadline. Photos, documents, voice and forwarded messages are
    kept (up to MAX_ATTACHED messages' worth) and the manager's card forwards them; a message
    with only those stays here for more. Stickers and gifts are not kept (the hint says so)."""
    if is_stray(event):
        return stay()
    kinds = tuple(a for a in event.attachments if a not in NOT_KEPT)
    task, cut = cut_at_word(nfc(event.text).strip(), MAX_TASK)
    if not task and not kinds:
        return stay()  # the hint: stickers and gifts are not passed on
    full = kinds and len(draft.cmids or ()) >= MAX_ATTACHED
    if kinds and not full:
        draft = draft.but(attachments=(*(draft.attachments or ()), *kinds),
                          cmids=(*(draft.cmids or ()), *((event.cmid,) if event.cmid else ())))
    if task:
        return advance(draft.but(task=task, task_cut=cut), State.SVC_DEADLINE)
    draft = draft.but(task=draft.task or "")
    note = msg.ATTACHMENTS_FULL.format(limit=MAX_ATTACHED) if full else msg.ATTACHED.format(
        items=attachments_text(draft.attachments))
    return Outcome(replies=(say(event, note, kb.task_step(keep=True)),), state=State.SVC_TASK, data=draft)


def cut_at_word(text: str, limit: int) -> tuple[str, bool]:
    """The text as kept and whether it was cut: whole if it fits, else up to `limit` characters
    ending at a word's end (mid-word only when one word fills more than half the room)."""
    if len(text) <= limit:
        return text, False
    boundary = re.search(r"\s\S*$", text[:limit + 1])
    end = boundary.start() if boundary and boundary.start() > limit // 2 else limit
    return text[:end].rstrip(), True


# --- The deadline -----------------------------------------------------------------------------
def screen_svc_deadline(draft: ServiceDraft, ctx: Context) -> tuple[str, str]:
    text = msg.ASK_DEADLINE + now_given(draft.deadline is not None, deadline_text(draft.deadline))
    return text, kb.deadline_choices(keep=draft.deadline is not None)


@keeps(lambda draft: draft.deadline is not None, State.SVC_CONTACT)
def step_svc_deadline(event: Incoming, draft: ServiceDraft, ctx: Context) -> Outcome:
    if command_of(event) == msg.CMD_DEADLINE:
        return set_deadline(draft, str_arg(event, msg.ARG_VALUE))
    if is_stray(event):
        return stay()
    word = msg.DEADLINE_WORDS.get(normalized(event.text))
    if word:
        return set_deadline(draft, word)
    return deadline_by_date(event, draft, ctx)


def set_deadline(draft: ServiceDraft, value: str | None) -> Outcome:
    if value not in msg.DEADLINE_TEXTS:
        return stay()
    return advance(draft.but(deadline=value), State.SVC_CONTACT)


def deadline_by_date(event: Incoming, draft: ServiceDraft, ctx: Context) -> Outcome:
    """A typed date («25.12», «31 декабря», «в пятницу», «завтра»...): not past, within a year."""
    first = today(ctx)
    last = first + timedelta(days=MAX_DAYS_AHEAD)
    day = parse_date(event.text, first, last)
    if day is None:
        return stay()
    if day < first:
        return stay(msg.DATE_PAST)
    if day > last:
        return stay(msg.DATE_TOO_FAR)
    return advance(draft.but(deadline=day.isoformat()), State.SVC_CONTACT)


# --- The contact -------------------------------------------------------------------------------
def screen_svc_contact(draft: ServiceDraft, ctx: Context) -> tuple[str, str]:
    text = msg.ASK_CONTACT + now_given(draft.contact is not None, contact_text(draft.contact))
    return text, kb.contact_choices(keep=draft.contact is not None)


@keeps(lambda draft: draft.contact is not None, State.SVC_CONFIRM)
def step_svc_contact(event: Incoming, draft: ServiceDraft, ctx: Context) -> Outcome:
    """The VK profile (the default), or a phone: a button, or a number typed right here."""
    choice = str_arg(event, msg.ARG_VALUE) if command_of(event) == msg.CMD_CONTACT else None
    if choice == msg.CONTACT_VK:
        return advance(draft.but(contact=msg.CONTACT_VK), State.SVC_CONFIRM)
    if choice == msg.CONTACT_PHONE:
        return go(State.SVC_PHONE, draft)
    phone = None if is_stray(event) else normalize_phone(event.text)
    if phone:
        return advance(draft.but(contact=phone), State.SVC_CONFIRM)
    looks_like_number = not is_stray(event) and re.search(r"\d{3}", event.text)
    return stay(msg.PHONE_INVALID if looks_like_number else "")


def screen_svc_phone(draft: ServiceDraft, ctx: Context) -> tuple[str, str]:
    text = msg.ASK_PHONE + now_given(has_phone(draft), str(draft.contact or ""))
    return text, kb.phone_step(keep=has_phone(draft))


@keeps(has_phone, State.SVC_CONFIRM)
def step_svc_phone(event: Incoming, draft: ServiceDraft, ctx: Context) -> Outcome:
    phone = None if is_stray(event) else normalize_phone(event.text)
    if phone is None:
        return stay(msg.PHONE_INVALID)
    return advance(draft.but(contact=phone), State.SVC_CONFIRM)


# --- The summary: Send creates the order, Edit goes to the list of fields --------------------
def screen_svc_confirm(draft: ServiceDraft, ctx: Context) -> tuple[str, str]:
    service = chosen_service(draft, ctx)
    details = order_details(draft, service) if service else {**draft.stored(), "title": "—"}
    text = msg.SUMMARY.format(details="\n".join(order_lines(details)))
    return text + (msg.TASK_CUT_NOTE.format(limit=MAX_TASK) if draft.task_cut else ""), kb.summary()


def step_svc_confirm(event: Incoming, draft: ServiceDraft, ctx: Context) -> Outcome:
    command = command_of(event)
    if command == msg.CMD_SEND:
        return send_order(draft, ctx)
    if command == msg.CMD_EDIT:
        return go(State.SVC_EDIT, draft)
    return stay()


def send_order(draft: ServiceDraft, ctx: Context) -> Outcome:
    """Only Send creates an order; the customer hears its number once it is stored (orders.after_create)."""
    missing = first_missing(draft, ctx)
    if missing == State.SVC_CHOOSE:
        return go(missing, draft, before=msg.SERVICE_UNAVAILABLE)
    if missing is not None:
        return go(missing, draft, before=msg.DRAFT_INCOMPLETE)
    details = order_details(draft, chosen_service(draft, ctx))
    return Outcome(state=State.MENU, data={}, effects=(CreateOrder(OrderKind.SERVICE, details),))


def screen_svc_edit(draft: ServiceDraft, ctx: Context) -> tuple[str, str]:
    return msg.ASK_FIELD, kb.edit_fields()
