"""Names instead of ids (issue 13, point 3), end to end on both databases: the job runner's sweep
asks users.get (batched) and caches names; cards and decisions use them; a failed lookup leaves
the link and never holds a card back."""
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

import messages as msg
from db_models import VkUser
from support import CUSTOMER_ID, MANAGER_IDS, Clock, Person, card_of
from test_e2e_services import order_a_service

UTC = timezone.utc
NOW = datetime(2026, 6, 15, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock():
    return Clock(NOW)


def names_calls(emu) -> list[set[int]]:
    return [{int(i) for i in c.params["user_ids"].split(",")} for c in emu.calls if c.method == "users.get"]


def test_cards_name_the_customer_and_decisions_the_manager(emu, running, clock):
    runner = running(clock=clock, SCENARIOS="services")
    anna = Person(emu, runner, CUSTOMER_ID)
    others = [Person(emu, runner, user_id) for user_id in (101, 102)]
    for person in (anna, *others):
        person.says("Привет")
    runner.run_jobs()  # the sweep: the customers seen and the managers, batched
    calls = names_calls(emu)
    assert set().union(*calls) == {CUSTOMER_ID, 101, 102, *MANAGER_IDS}
    assert len(calls) <= 2 and max(map(len, calls)) >= 3  # the start-up cycle may have asked the managers
    order_id = order_a_service(anna)
    card = card_of(emu, MANAGER_IDS[0], order_id)
    assert f"Клиент: Анна Иванова (https://vk.com/id{CUSTOMER_ID})" in card.text
    Person(emu, runner, MANAGER_IDS[0]).presses(msg.BTN_CONFIRM)
    assert "✅ Подтвердил Олег Менеджер, " in card_of(emu, MANAGER_IDS[1], order_id).text
    asked = len(names_calls(emu))
    runner.run_jobs()
    assert len(names_calls(emu)) == asked  # cached: not asked again
    clock.now = NOW + timedelta(days=7, minutes=1)
    runner.run_jobs()
    assert len(names_calls(emu)) == asked + 1  # NAMES_REFRESH_DAYS passed: refreshed


def test_a_failed_lookup_falls_back_to_the_link_and_the_card_still_arrives(emu, running, clock):
    emu.fail_next("users.get", times=100)
    runner = running(clock=clock, SCENARIOS="services")
    anna = Person(emu, runner, CUSTOMER_ID)
    anna.says("Привет")
    runner.run_jobs()
    order_id = order_a_service(anna)
    card = card_of(emu, MANAGER_IDS[0], order_id)
    assert f"Клиент: https://vk.com/id{CUSTOMER_ID}\n" in card.text
    Person(emu, runner, MANAGER_IDS[0]).presses(msg.BTN_CONFIRM)
    assert f"✅ Подтвердил менеджер https://vk.com/id{MANAGER_IDS[0]}, " in card_of(emu, MANAGER_IDS[1], order_id).text
    with runner.bot.sessions.begin() as s:
        assert s.scalars(select(VkUser.names_at).where(VkUser.names_at.is_not(None))).all() == []


def test_the_handover_card_names_the_customer(emu, running, clock):
    runner = running(clock=clock, SCENARIOS="services")
    anna = Person(emu, runner, CUSTOMER_ID)
    anna.says("Привет")
    runner.run_jobs()
    anna.presses(msg.BTN_HANDOVER)
    [card] = [m for m in emu.messages(MANAGER_IDS[0]) if m.text.startswith("🙋")]
    assert card.text.startswith(f"🙋 Анна Иванова (https://vk.com/id{CUSTOMER_ID})")
