"""Recorders with one table of their own beside a service's events, written in the same
transaction as the events of a recording (the plan's worklist index, the due-at table).

A recording passes the table's rows under the recorder's `kwarg` (`application.save(...,
**{kwarg: rows})`); the recorder writes them with the events (`_write`), so the table never
disagrees with the aggregates. Outside a recording, `write` and `execute` change the table in
a transaction of their own. Statements name the table `{t}` (and any further table the
recorder keeps, by the names `tables` gives) and use PostgreSQL's placeholders (`%s`) on both
databases.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresProcessRecorder
from eventsourcing.sqlite import SQLiteProcessRecorder
from psycopg.sql import SQL, Composed, Identifier


class SideTable:
    """What both databases' side-table recorders do alike."""

    kwarg: ClassVar[str]
    side_statements: ClassVar[tuple[str, ...]]

    if TYPE_CHECKING:
        datastore: Any

        def sql(self, statement: str) -> Any: ...

    def tables(self) -> dict[str, str]:
        """The tables statements name: `{t}` the side table, a subclass may add more."""
        return {"t": getattr(self, "side_table")}  # noqa: B009 - set by each database's class

    def _write(self, c: Any, rows: Any) -> None:
        raise NotImplementedError

    def _record_side(self, c: Any, kwargs: dict[str, Any]) -> None:
        """Write what a recording passed for the side tables, in its transaction."""
        if rows := kwargs.get(self.kwarg):
            self._write(c, rows)

    def write(self, rows: Any) -> None:
        with self.datastore.transaction(commit=True) as c:
            self._write(c, rows)

    def many(self, c: Any, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        c.executemany(self.sql(statement), rows)

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[Any]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self.sql(statement), params)
            return list(c.fetchall())

    def execute(self, statement: str, params: Sequence[Any] = ()) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(self.sql(statement), params)


class SQLiteSideTable(SideTable, SQLiteProcessRecorder):
    """SQLite: the table named `side_table`."""

    side_table: ClassVar[str]

    def sql(self, statement: str) -> str:
        return statement.format(**self.tables()).replace("%s", "?")

    def construct_create_table_statements(self) -> list[str]:
        statements = [self.sql(s) for s in self.side_statements]
        return [*super().construct_create_table_statements(), *statements]

    def _insert_events(self, c: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Any:
        returning = super()._insert_events(c, stored_events, **kwargs)
        self._record_side(c, kwargs)
        return returning


class PostgresSideTable(SideTable, PostgresProcessRecorder):
    """PostgreSQL: the table `<app><side_suffix>` beside `<app>_events` (`{i}` in a statement:
    `<table><index_suffix>`, its index's name)."""

    side_suffix: ClassVar[str]
    index_suffix: ClassVar[str]

    def __init__(self, datastore: Any, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.side_table = self.events_table_name.removesuffix("_events") + self.side_suffix
        self.check_identifier_length(self.side_table)
        self.sql_create_statements.extend(self.sql(s) for s in self.side_statements)

    def sql(self, statement: str) -> Composed:
        schema = Identifier(self.datastore.schema)
        tables = {
            name: SQL("{s}.{t}").format(s=schema, t=Identifier(table))
            for name, table in self.tables().items()
        }
        return SQL(statement).format(i=Identifier(self.side_table + self.index_suffix), **tables)

    def _insert_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        super()._insert_events(curs, stored_events, **kwargs)
        self._record_side(curs, kwargs)
