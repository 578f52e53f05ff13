"""Alembic environment: runs migrations against the application's own engine and metadata."""

import logging
from contextlib import contextmanager
from logging.config import fileConfig

from alembic import context
from flask import current_app

from grants.models.base import UTCDateTime

config = context.config
fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")

target_db = current_app.extensions["migrate"].db


def get_engine():
    return target_db.engine


config.set_main_option(
    "sqlalchemy.url", get_engine().url.render_as_string(hide_password=False).replace("%", "%%")
)


def render_item(type_, obj, autogen_context):
    """Write the project's UTC timestamp type as the plain column type it stores."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def include_name(name, type_, parent_names):
    """Leave the hub's search index out of comparisons: its tables are no model's (SQLite's
    FTS5 adds shadow tables of its own), and ``grants.domain.hub_search`` keeps them."""
    return not (type_ == "table" and name is not None and name.startswith("hub_search_"))


def run_migrations_offline():
    """Emit the migrations as SQL, without a database connection."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_db.metadata,
        literal_binds=True,
        render_item=render_item,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    """Run the migrations on a connection from the application's engine."""

    def process_revision_directives(context, revision, directives):
        """Write no empty migration when autogenerate finds no change."""
        if getattr(config.cmd_opts, "autogenerate", False):
            script = directives[0]
            if script.upgrade_ops.is_empty():
                directives[:] = []
                logger.info("No changes in schema detected.")

    conf_args = dict(current_app.extensions["migrate"].configure_args)
    conf_args.setdefault("process_revision_directives", process_revision_directives)
    conf_args.setdefault("render_item", render_item)
    conf_args.setdefault("include_name", include_name)

    with get_engine().connect() as connection:
        context.configure(connection=connection, target_metadata=target_db.metadata, **conf_args)
        with foreign_keys_checked_at_the_end(connection):
            with context.begin_transaction():
                context.run_migrations()
                check_foreign_keys(connection)


@contextmanager
def foreign_keys_checked_at_the_end(connection):
    """On SQLite, switch foreign key enforcement off for the run, as SQLite's own procedure
    for changing a table asks: a batch operation copies a table into a new one and drops the
    old, which the rows referring to it would otherwise refuse. :func:`check_foreign_keys`
    checks every reference before the run commits, and enforcement is on again afterwards.
    The pragma is set on the driver's connection, outside any transaction (inside one, SQLite
    ignores it)."""
    if connection.dialect.name != "sqlite":
        yield
        return
    driver = connection.connection.driver_connection
    driver.execute("PRAGMA foreign_keys = OFF")
    try:
        yield
    finally:
        driver.execute("PRAGMA foreign_keys = ON")


def check_foreign_keys(connection):
    """On SQLite, refuse to commit a run that left a reference to a row that is not there."""
    if connection.dialect.name != "sqlite":
        return
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"the migration left references to missing rows: {broken[:5]}")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
