"""Alembic's environment: how a migration reaches the database.

The bot runs migrations itself (db.migrate), handing in its connection, inside the transaction
that also holds the migration lock. A developer's `alembic` command (revision --autogenerate,
upgrade, history) connects to DATABASE_URL instead. SQLite runs in batch mode, which rebuilds a
table for the changes SQLite's ALTER TABLE cannot make.
"""
from __future__ import annotations

import logging.config

from alembic import context
from sqlalchemy import Connection

import db
from config import database_url
from db_models import Base


def run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True,
                      render_as_batch=connection.dialect.name == "sqlite",
                      version_table_schema=config.attributes.get("schema"))  # db._schema: the community's
    with context.begin_transaction():
        context.run_migrations()


config = context.config
shared = config.attributes.get("connection")
if shared is not None:
    run(shared)
else:
    if config.config_file_name:
        logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)
    engine = db.make_engine(database_url())
    with engine.connect() as connection:
        run(connection)
    engine.dispose()
