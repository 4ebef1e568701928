"""What differs between the SQL catalogs' statements (SQLite, PostgreSQL), so that the code they share writes each
statement once.

A shared statement is written with ``?`` for each parameter (and holds no other ``?`` and no ``%``); ``sql``
turns it into the dialect's own. A list of values is bound by ``any_of``: SQLite spells out one parameter per
value (at most ``batch`` at once), PostgreSQL binds the list as one array.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from pixlens.errors import CatalogError

T = TypeVar("T")


class Connection(Protocol):
    """A connection of either catalog: sqlite3's or psycopg's."""

    def execute(self, sql: str, params: Any = ..., /) -> Any: ...

    def cursor(self) -> Any: ...


@dataclass(frozen=True)
class Dialect:
    """One SQL catalog's way of writing what the shared statements need."""

    mark: str  # a parameter's placeholder
    analysed: str  # the condition of an analysed image (the universe)
    batch: int | None  # values bound at most by one ``any_of`` (None: any number, as one array)
    json_field: str  # a JSON column's top-level field as text: a template of {column} and {field}
    for_update: str  # what a SELECT ends with to lock its rows until the commit (SQLite locks the whole file)
    binary: str  # what an ORDER BY of text ends with to sort by code point, as Python does

    def sql(self, statement: str) -> str:
        """A shared statement (``?`` marks) in this dialect."""
        return statement if self.mark == "?" else statement.replace("?", self.mark)

    def json_text(self, column: str, field: str) -> str:
        """The expression of the text of the top-level ``field`` of the JSON in ``column``."""
        return self.json_field.format(column=column, field=field)

    def any_of(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        """The condition "``column`` is one of ``values``" in this dialect, and its parameters."""
        if self.batch is None:
            return f"{column} = ANY({self.mark})", [list(values)]
        return f"{column} IN ({','.join([self.mark] * len(values))})", list(values)

    def batches(self, values: Sequence[T]) -> Iterator[Sequence[T]]:
        """``values`` in pieces that ``any_of`` can bind (one piece where the dialect takes any number)."""
        if not values:
            return
        if self.batch is None:
            yield values
            return
        for start in range(0, len(values), self.batch):
            yield values[start : start + self.batch]


SQLITE = Dialect(
    mark="?",
    analysed="has_analysis = 1",
    batch=500,
    json_field="json_extract({column}, '$.{field}')",
    for_update="",
    binary="",
)
POSTGRES = Dialect(
    mark="%s",
    analysed="has_analysis",
    batch=None,
    json_field="{column}->>'{field}'",
    for_update=" FOR UPDATE",
    binary=' COLLATE "C"',
)


def one(conn: Connection, sql: str, params: Any = ()) -> Any:
    """The one row a statement returns (an aggregate, a RETURNING of a row that must exist)."""
    row = conn.execute(sql, params).fetchone()
    if row is None:
        raise CatalogError(f"the catalog returned no row for: {' '.join(sql.split())[:80]}")
    return row
