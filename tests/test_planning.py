"""The planning rules (planning.py) and their settings: quiet hours, durations, daily times,
booking reminders, on ordinary and DST days."""
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

import planning as p
from config import SettingsError, load_settings

MSK, BERLIN = ZoneInfo("Europe/Moscow"), ZoneInfo("Europe/Berlin")
QUIET = p.QuietHours(time(22, 0), time(9, 0))


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


@pytest.mark.parametrize("wall, quiet", [(time(21, 59), False), (time(22, 0), True), (time(3, 0), True),
                                         (time(8, 59), True), (time(9, 0), False), (time(12, 0), False)])
def test_quiet_hours_span_midnight(wall, quiet):
    assert (wall in QUIET) is quiet


def test_quiet_hours_within_a_day():
    lunch = p.QuietHours(time(13, 0), time(14, 0))
    assert time(13, 30) in lunch and time(14, 0) not in lunch and time(3, 0) not in lunch


@pytest.mark.parametrize("text, parsed", [("22:00-09:00", QUIET), ("off", None), ("0:30-6:00",
                                          p.QuietHours(time(0, 30), time(6, 0)))])
def test_parse_quiet_hours(text, parsed):
    assert p.parse_quiet_hours(text) == parsed


@pytest.mark.parametrize("text", ["22:00", "25:00-09:00", "09:00-09:00", "night"])
def test_bad_quiet_hours(text):
    with pytest.raises(ValueError):
        p.parse_quiet_hours(text)


def test_reminders_and_durations():
    assert p.parse_reminders("2h, 24h") == (timedelta(hours=24), timedelta(hours=2))
    assert p.parse_reminders("90m,1d") == (timedelta(days=1), timedelta(minutes=90)) and p.parse_reminders("off") == ()
    for bad in ("", "2x", "0h", "h"):
        with pytest.raises(ValueError):
            p.parse_reminders(bad)


def test_quiet_end_moves_to_the_morning_and_leaves_the_day_alone():
    three_am_msk = utc(2026, 12, 1, 0, 0)  # 03:00 in Moscow
    assert p.quiet_end(three_am_msk, MSK, QUIET) == utc(2026, 12, 1, 6, 0)  # 09:00 Moscow
    eleven_pm = utc(2026, 12, 1, 20, 0)  # 23:00 Moscow: the end is tomorrow morning
    assert p.quiet_end(eleven_pm, MSK, QUIET) == utc(2026, 12, 2, 6, 0)
    noon = utc(2026, 12, 1, 9, 0)
    assert p.quiet_end(noon, MSK, QUIET) == noon and p.quiet_end(three_am_msk, MSK, None) == three_am_msk


def test_quiet_end_on_dst_days():
    # Berlin, 29 March 2026: 02:00 jumps to 03:00; 09:00 local is 07:00 UTC (CEST)
    assert p.quiet_end(utc(2026, 3, 29, 0, 30), BERLIN, QUIET) == utc(2026, 3, 29, 7, 0)
    # 25 October 2026: 03:00 falls back to 02:00; 09:00 local is 08:00 UTC (CET)
    assert p.quiet_end(utc(2026, 10, 25, 0, 30), BERLIN, QUIET) == utc(2026, 10, 25, 8, 0)


def test_a_wall_time_inside_the_spring_gap_is_the_moment_after_it():
    assert p.at_local(datetime(2026, 3, 29).date(), time(2, 30), BERLIN) == utc(2026, 3, 29, 1, 30)


def test_next_daily_is_strictly_after_and_follows_the_wall_clock():
    ten = time(10, 0)
    assert p.next_daily(utc(2026, 12, 1, 6, 59), ten, MSK) == utc(2026, 12, 1, 7, 0)
    assert p.next_daily(utc(2026, 12, 1, 7, 0), ten, MSK) == utc(2026, 12, 2, 7, 0)
    assert p.next_daily(utc(2026, 3, 28, 9, 0), ten, BERLIN) == utc(2026, 3, 29, 8, 0)  # the day clocks go on


def test_a_reminder_in_quiet_hours_goes_at_their_end_if_the_booking_is_still_ahead():
    starts = utc(2026, 12, 2, 9, 0)  # 12:00 Moscow
    assert p.reminder_time(starts, timedelta(hours=24), MSK, QUIET) == utc(2026, 12, 1, 9, 0)  # at its time
    early = utc(2026, 12, 2, 5, 0)  # 08:00 Moscow: 2 h before is 06:00, quiet; 09:00 is after the start
    assert p.reminder_time(early, timedelta(hours=2), MSK, QUIET) == utc(2026, 12, 2, 3, 0)
    late = utc(2026, 12, 2, 7, 0)  # 10:00 Moscow: 2 h before is 08:00, quiet; 09:00 is still ahead
    assert p.reminder_time(late, timedelta(hours=2), MSK, QUIET) == utc(2026, 12, 2, 6, 0)


def env(**extra):
    return {"VK_TOKEN": "token-for-tests", "VK_GROUP_ID": "1", "MANAGER_IDS": "2", **extra}


def test_the_timing_settings_and_their_defaults():
    assert load_settings(env=env(), dotenv_path=None).timing == p.Timing()
    timing = load_settings(env=env(QUIET_HOURS="off", REMINDERS="3h", MANAGER_REMIND_MINUTES="5",
                                   DIGEST_TIME="8:30", NO_SHOW_WARN="0"), dotenv_path=None).timing
    assert (timing.quiet, timing.reminders, timing.manager_remind, timing.digest_at, timing.no_show_warn) == (
        None, (timedelta(hours=3),), timedelta(minutes=5), time(8, 30), 0)


@pytest.mark.parametrize("name, value", [("QUIET_HOURS", "late"), ("REMINDERS", "soon"), ("DIGEST_TIME", "25:00"),
                                         ("PENDING_EXPIRE_HOURS", "0"), ("NO_SHOW_WARN", "-1")])
def test_a_bad_timing_setting_names_itself(name, value):
    with pytest.raises(SettingsError) as err:
        load_settings(env=env(**{name: value}), dotenv_path=None)
    assert err.value.name == name


def test_a_service_order_plans_the_managers_reminder_and_the_expiry():
    sent = utc(2026, 12, 1, 9, 0)
    assert p.order_plans(7, sent, None, p.Timing(), MSK) == (
        p.JobPlan(p.MANAGER_REMINDER, 7, sent + timedelta(minutes=30)), p.JobPlan(p.EXPIRE, 7, sent + timedelta(hours=24)))


def test_a_booking_plans_its_reminders_that_are_still_ahead_and_the_visit():
    sent, starts = utc(2026, 12, 1, 9, 0), utc(2026, 12, 1, 16, 0)  # 19:00 Moscow, booked 7 h ahead
    plans = {plan.kind: plan.due_at for plan in p.order_plans(7, sent, starts, p.Timing(), MSK)}
    assert plans == {p.MANAGER_REMINDER: sent + timedelta(minutes=30), p.EXPIRE: starts,
                     "remind_120m": starts - timedelta(hours=2), p.VISIT: starts + timedelta(minutes=30)}
    early = {plan.kind for plan in p.order_plans(7, sent - timedelta(days=2), starts, p.Timing(), MSK)}
    assert {"remind_1440m", "remind_120m"} <= early
