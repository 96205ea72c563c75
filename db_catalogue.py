"""The catalogue in the database: the file's services, the café's settings, table types and
tables synced in (never deleted: orders and bookings refer to them), the version every sync
bumps, and the frozen snapshot a running bot keeps while that version stays current. Like
db_functions, every function takes the session and never commits."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

import catalogue
import slots
from db import dialect_insert
from db_models import CatalogueState, DiningTable, RestaurantRow, ServiceRow, TableTypeRow, utcnow

CATALOGUE_ROW = 1  # the one row of catalogue_state
RESTAURANT_ID = 1  # the one row of the café's settings


# --- What a running bot keeps ----------------------------------------------------------------
@dataclass(frozen=True)
class CatalogueSnapshot:
    """The catalogue as plain frozen values, read in one go (load_catalogue_snapshot) at one
    catalogue version: the event loop keeps it for as long as that version stays current."""

    version: int | None  # None: no catalogue was synced yet, so nothing to compare with
    services: tuple[catalogue.Service, ...] = ()  # inactive ones too, in menu order
    restaurant: catalogue.Restaurant | None = None
    table_types: tuple[catalogue.TableType, ...] = ()  # active ones, in screen order
    tables: tuple[slots.Table, ...] = ()  # active ones


def load_catalogue_snapshot(session: Session, version: int | None = None) -> CatalogueSnapshot:
    """Services, the restaurant, table types and tables: one statement each."""
    services = tuple(service_info(row) for row in session.scalars(
        select(ServiceRow).order_by(ServiceRow.position, ServiceRow.id)))
    restaurant = session.get(RestaurantRow, RESTAURANT_ID)
    types = tuple(catalogue.TableType(r.key, r.title, r.description, r.position) for r in session.scalars(
        select(TableTypeRow).where(TableTypeRow.active.is_(True)).order_by(TableTypeRow.position, TableTypeRow.id)))
    return CatalogueSnapshot(version, services, restaurant_info(restaurant) if restaurant else None, types,
                             tuple(active_tables(session)))


def catalogue_at(session: Session, version: int | None, kept: CatalogueSnapshot | None) -> CatalogueSnapshot:
    """The snapshot for this catalogue version: `kept` if it was read at that version, else read
    afresh (every time when there is no version: nothing synced yet)."""
    if kept is not None and version is not None and kept.version == version:
        return kept
    return load_catalogue_snapshot(session, version)


# --- Services ------------------------------------------------------------------------------
def catalogue_version(session: Session) -> int | None:
    """The version the last sync left (None: no catalogue synced yet). An event reads it joined
    to its dialogue (db_functions.load_event_state); the job runner reads it alone."""
    return session.scalar(select(CatalogueState.version).where(CatalogueState.id == CATALOGUE_ROW))


def bump_catalogue_version(session: Session) -> None:
    """Tell running bots that the catalogue changed (they read a new CatalogueSnapshot)."""
    statement = dialect_insert(session, CatalogueState).values(id=CATALOGUE_ROW, version=1)
    session.execute(statement.on_conflict_do_update(
        index_elements=["id"], set_={"version": CatalogueState.__table__.c.version + 1}))


SERVICE_FIELDS = tuple(f.name for f in fields(catalogue.Service) if f.name != "key")


def service_info(row: ServiceRow) -> catalogue.Service:
    return catalogue.Service(key=row.key, **{name: getattr(row, name) for name in SERVICE_FIELDS})


@dataclass(frozen=True)
class SyncSummary:
    added: int
    updated: int
    deactivated: int
    active: int
    tables: int | None = None  # active tables for booking, when booking is enabled


def sync_services(session: Session, services: Sequence[catalogue.Service]) -> SyncSummary:
    """Make the services table say what the catalogue file says: update in place by key, add the
    new ones, deactivate the ones the file no longer lists (never delete: orders refer to them)."""
    rows = {row.key: row for row in session.scalars(select(ServiceRow))}
    added = updated = 0
    for service in services:
        row = rows.pop(service.key, None)
        if row is None:
            session.add(ServiceRow(key=service.key, **{n: getattr(service, n) for n in SERVICE_FIELDS}))
            added += 1
        elif _update_row(row, service):
            updated += 1
    gone = [row for row in rows.values() if row.active]
    for row in gone:
        row.active, row.updated_at = False, utcnow()
    session.flush()
    return SyncSummary(added, updated, len(gone), sum(1 for s in services if s.active))


def _update_row(row: ServiceRow, service: catalogue.Service) -> bool:
    changed = {n: getattr(service, n) for n in SERVICE_FIELDS if getattr(row, n) != getattr(service, n)}
    for name, value in changed.items():
        setattr(row, name, value)
    if changed:
        row.updated_at = utcnow()
    return bool(changed)


# --- The café: settings, table types, tables ------------------------------------------------
def active_tables(session: Session) -> list[slots.Table]:
    query = select(DiningTable).where(DiningTable.active.is_(True)).order_by(DiningTable.id)
    return [slots.Table(id=r.id, type_key=r.type_key, seats=r.seats, label=r.label) for r in session.scalars(query)]


def restaurant_info(row: RestaurantRow) -> catalogue.Restaurant:
    return catalogue.Restaurant(
        name=row.name, phone=row.phone, hours=slots.parse_hours(row.hours),
        closed_dates=frozenset(date.fromisoformat(d) for d in row.closed_dates or []),
        slot_minutes=row.slot_minutes, booking_minutes=row.booking_minutes, days_ahead=row.days_ahead,
        lead_minutes=row.lead_minutes, max_party=row.max_party)


def hours_text(hours: slots.OpeningHours) -> dict[str, str]:
    """Opening hours as the file writes them; parse_hours reads them back to the same hours."""
    def one(day):
        return slots.CLOSED_WORD if day is None else f"{day[0]:%H:%M}-{day[1]:%H:%M}"
    return {key: one(day) for key, day in zip(slots.WEEKDAY_KEYS, hours.days)}


def sync_restaurant(session: Session, loaded: catalogue.Catalogue) -> int:
    """Make the booking tables say what the file says: the settings row replaced; table types and
    tables updated in place by key and label, new ones added, missing ones deactivated (never
    deleted: bookings refer to them). Returns the number of active tables."""
    cafe = loaded.restaurant
    values = dict(name=cafe.name, phone=cafe.phone, hours=hours_text(cafe.hours),
                  closed_dates=sorted(d.isoformat() for d in cafe.closed_dates), slot_minutes=cafe.slot_minutes,
                  booking_minutes=cafe.booking_minutes, days_ahead=cafe.days_ahead, lead_minutes=cafe.lead_minutes,
                  max_party=cafe.max_party, updated_at=utcnow())
    row = session.get(RestaurantRow, RESTAURANT_ID)
    if row is None:
        session.add(RestaurantRow(id=RESTAURANT_ID, **values))
    else:
        for name, value in values.items():
            setattr(row, name, value)
    _sync_rows(session, TableTypeRow, "key", {t.key: dict(title=t.title, description=t.description,
                                                          position=t.position) for t in loaded.table_types})
    session.flush()  # the types first: tables refer to them
    tables = {t.label: dict(type_key=t.type_key, seats=t.seats) for t in loaded.tables}
    _sync_rows(session, DiningTable, "label", tables)
    session.flush()
    return len(loaded.tables)


def _sync_rows(session: Session, model, key: str, wanted: Mapping[str, dict]) -> None:
    rows = {getattr(row, key): row for row in session.scalars(select(model))}
    for name, values in wanted.items():
        row = rows.pop(name, None)
        if row is None:
            session.add(model(**{key: name}, **values, active=True))
            continue
        changed = {k: v for k, v in {**values, "active": True}.items() if getattr(row, k) != v}
        for attr, value in changed.items():
            setattr(row, attr, value)
        if changed:
            row.updated_at = utcnow()
    for row in rows.values():
        if row.active:
            row.active, row.updated_at = False, utcnow()
