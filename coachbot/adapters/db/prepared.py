"""Core statements compiled once for a dialect and run straight on the driver's cursor.

Why: on the answer path SQLAlchemy's per-execution machinery (the compiled-cache lookup, an execution
context, parameter construction, a result object) cost about eight times what SQLite spends running
the statement, and it runs six times per answer. A `Prepared` keeps what that machinery works out
for a statement the first time, the SQL text, the order of its parameters and SQLAlchemy's own type
conversions for each of them and for each result column, and applies only that on each execution.
Values are therefore stored exactly as SQLAlchemy stores them (the same bind and result processors),
and the statements stay ordinary Core statements that the rest of the code can run normally.

Only for statements without "expanding" parameters (an IN list of plain values): list their values
as bound expressions instead (`column.in_([literal(v) for v in values])`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import exc
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler

Processor = Callable[[Any], Any] | None


class Prepared:
    """One statement for one dialect: `run` it on a DBAPI cursor with a mapping of its parameters."""

    __slots__ = ("_columns", "_dialect", "_readers", "_slots", "sql")

    def __init__(self, statement: Executable, dialect: Dialect, *,
                 columns: Sequence[str] | None = None) -> None:
        """`columns`: for an INSERT or UPDATE, the columns it sets (the keys each `run` passes)."""
        assert isinstance(statement, ClauseElement)
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect,
                                                       column_keys=list(columns) if columns else None))
        if not compiled.positional or compiled.positiontup is None:
            raise ValueError(f"{dialect.name}: only positional parameter styles are supported")
        if compiled.post_compile_params:
            raise ValueError("an expanding IN parameter: list its values as bound expressions instead")
        self.sql: str = compiled.string
        self._dialect = dialect
        slots: list[tuple[str | None, Any, Processor]] = []
        for name in compiled.positiontup:
            bind = compiled.binds[name]
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if bind.required:  # the caller's parameter
                slots.append((bind.key, None, process))
            else:  # a value fixed in the statement (a literal)
                value = bind.effective_value
                slots.append((None, process(value) if process else value, None))
        self._slots = tuple(slots)
        self._columns = [column.type for column in getattr(statement, "exported_columns", ())]
        self._readers: tuple[Processor, ...] | None = None

    def parameters(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        """The positional parameters for `values`, converted as SQLAlchemy converts them."""
        out = []
        for key, fixed, process in self._slots:
            if key is None:
                out.append(fixed)
            else:
                value = values[key]
                out.append(value if process is None else process(value))
        return tuple(out)

    def run(self, cursor: Any, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Execute once; the rows (converted) of a SELECT or RETURNING, else []. A driver error is
        raised as SQLAlchemy's (a duplicate key as `sqlalchemy.exc.IntegrityError`)."""
        parameters = self.parameters(values)
        try:
            cursor.execute(self.sql, parameters)
            if cursor.description is None:
                return []
            rows = cursor.fetchall()
        except self._dialect.loaded_dbapi.Error as error:
            raise as_sqlalchemy_error(error, self._dialect, self.sql) from error
        return self._converted(cursor.description, rows)

    def run_many(self, cursor: Any, rows: Sequence[Mapping[str, Any]]) -> None:
        """Execute once per mapping, for statements that return nothing."""
        try:
            cursor.executemany(self.sql, [self.parameters(values) for values in rows])
        except self._dialect.loaded_dbapi.Error as error:
            raise as_sqlalchemy_error(error, self._dialect, self.sql) from error

    def _converted(self, description: Sequence[Any], rows: list[Any]) -> list[tuple[Any, ...]]:
        readers = self._readers
        if readers is None:  # result processors may depend on the driver's column type codes
            readers = self._readers = tuple(
                type_.dialect_impl(self._dialect).result_processor(self._dialect, column[1])
                for type_, column in zip(self._columns, description, strict=True))
        if not any(readers):
            return [tuple(row) for row in rows]
        return [tuple(value if read is None or value is None else read(value)
                      for read, value in zip(readers, row, strict=True)) for row in rows]


def as_sqlalchemy_error(error: Exception, dialect: Dialect, sql: str | None = None, *,
                       lost: bool = False) -> exc.StatementError:
    """The driver's error as SQLAlchemy would raise it, so callers catch one family of errors
    (`lost`: the connection was found gone and invalidated). The parameters are left out: they may be
    health data. A driver's error gives a DBAPIError; anything else a plain StatementError."""
    return exc.DBAPIError.instance(sql, None, error, dialect.loaded_dbapi.Error, hide_parameters=True,
                                   connection_invalidated=lost, dialect=dialect)
