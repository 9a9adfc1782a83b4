"""Read-only SQL for SREs over the ledger's own DuckDB instance, while ingestion runs.

Layers, each enough against a different mistake in the others (datasette's recipe):
1. allow-lists decided on DuckDB's own parse of every statement: the statement kind
   (``SELECT`` — which is also how DuckDB parses ``WITH``, ``DESCRIBE``, ``SHOW`` and
   ``SUMMARIZE`` — and ``EXPLAIN`` of a ``SELECT``) and every function the parse tree calls
   (query/sql/functions.py);
2. every query runs in a ``READ ONLY`` transaction that is always rolled back;
3. :func:`lock_down` turns external access (files, network, extensions) off for the whole
   instance and locks the configuration, so no statement can turn it back on;
4. a time limit (``interrupt()`` from a timer), a row cap and a byte cap on the answer.

The API runs this in a worker process bounded in memory and CPU (query/sql/pool.py).
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import duckdb

from provenance_ledger.ledger.rows import single_value
from provenance_ledger.query.sql.functions import ALLOWED_FUNCTIONS
from provenance_ledger.query.sql.values import json_size, jsonable
from provenance_ledger.schemas.errors import UsageProblem

ALLOWED = frozenset({duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN})
LOCK_DOWN = (
    "SET autoinstall_known_extensions = false",
    "SET autoload_known_extensions = false",
    "SET allow_community_extensions = false",
    "SET enable_external_access = false",
    # Last: after this no SET can undo the ones above.
    "SET lock_configuration = true",
)
FETCH_CHUNK = 500


class SqlRefused(ValueError, UsageProblem):
    """The SQL was not run: it is not a read, does not parse, or is malformed."""


class SqlTimeout(RuntimeError, UsageProblem):
    """The query ran past the time limit and was interrupted."""


@dataclass(frozen=True)
class SqlLimits:
    """What one query may cost (each a PROVLEDGER_SQL_* setting, see README)."""

    timeout_s: float = 5.0
    max_rows: int = 10_000
    max_bytes: int = 32 * 1024 * 1024


@dataclass(frozen=True)
class SqlServiceLimits:
    """How the API runs SQL: in worker processes, on a copy of the ledger (query/sql/pool.py)."""

    workers: int = 2  # PROVLEDGER_SQL_WORKERS: queries at a time
    memory_mb: int = 1024  # PROVLEDGER_SQL_MEMORY_MB: address space a worker adds per query
    queue_wait_s: float = 5.0  # PROVLEDGER_SQL_QUEUE_S: wait for a free worker, then 429
    # PROVLEDGER_SQL_FRESHNESS_S: how long a query waits for a copy that has the ledger's
    # latest writes before it is answered from the older copy (its as_of says how old).
    freshness_wait_s: float = 5.0


@dataclass(frozen=True)
class SqlResult:
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool


def lock_down(cursor: duckdb.DuckDBPyConnection) -> None:
    """No file, network or extension access for any cursor of this DuckDB instance, for good.

    Call once, after the ledger has opened (it reads its schema from the package, not
    through DuckDB) and before the API serves. The ledger's own writes (Arrow batches
    registered in-process) are unaffected.
    """
    for statement in LOCK_DOWN:
        cursor.execute(statement)


def _locked(cursor: duckdb.DuckDBPyConnection) -> bool:
    return cursor.execute(
        "SELECT current_setting('lock_configuration') "
        "AND NOT current_setting('enable_external_access')"
    ).fetchall()[0][0]


def ensure_locked_down(cursor: duckdb.DuckDBPyConnection) -> None:
    """:func:`lock_down` unless already done (by the server at start, or a racing request)."""
    if _locked(cursor):
        return
    try:
        lock_down(cursor)
    except duckdb.Error:
        if not _locked(cursor):
            raise


def _texts(query: str) -> list[str]:
    """DuckDB's own tokens of ``query`` as lower-case text, comments dropped."""
    tokens = duckdb.tokenize(query)
    out = []
    for index, (start, kind) in enumerate(tokens):
        end = tokens[index + 1][0] if index + 1 < len(tokens) else len(query)
        if kind != duckdb.token_type.comment:
            out.append(query[start:end].strip().lower())
    return out


def _explained(query: str) -> str:
    """The statement an ``EXPLAIN [ANALYZE] [(options)]`` statement explains."""
    tokens = duckdb.tokenize(query)
    starts = [start for start, kind in tokens if kind != duckdb.token_type.comment]
    texts = _texts(query)
    position, depth = 1, 0  # texts[0] is EXPLAIN
    while position < len(texts):
        text = texts[position]
        if text == "(":
            depth += 1
        elif text == ")":
            depth -= 1
        elif depth == 0 and text not in ("analyze", "analyse"):
            return query[starts[position] :]
        position += 1
    raise SqlRefused("EXPLAIN needs a SELECT to explain")


def called_functions(cursor: duckdb.DuckDBPyConnection, query: str) -> set[str]:
    """The name of every function a SELECT calls, from DuckDB's own parse tree (however the
    name was spelled: quoted, back-quoted, schema-qualified, as a method or an operator)."""
    try:
        tree = json.loads(single_value(cursor.execute("SELECT json_serialize_sql($1)", [query])))
    except (duckdb.Error, RecursionError, ValueError) as exc:
        raise SqlRefused(f"the SQL cannot be checked: {_first_line(exc)}") from exc
    if tree.get("error"):
        raise SqlRefused(f"the SQL cannot be checked: {tree.get('error_message', 'unknown')}")
    names: set[str] = set()
    pending: list[Any] = [tree["statements"]]
    while pending:  # iterative: the tree of a long query is deep
        node = pending.pop()
        if isinstance(node, dict):
            name = node.get("function_name")
            if isinstance(name, str):
                names.add(name.lower())
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return names


def _check_functions(cursor: duckdb.DuckDBPyConnection, query: str) -> None:
    refused = sorted(called_functions(cursor, query) - ALLOWED_FUNCTIONS)
    if refused:
        listed = ", ".join(f"{name}()" for name in refused)
        raise SqlRefused(f"the function(s) {listed} are not allowed in read-only SQL")


def check(cursor: duckdb.DuckDBPyConnection, sql: str) -> list[duckdb.Statement]:
    """Every statement of ``sql`` as DuckDB parses it, or :class:`SqlRefused` naming why."""
    try:
        statements = cursor.extract_statements(sql)
    except (duckdb.Error, ValueError) as exc:
        raise SqlRefused(f"the SQL does not parse: {exc}") from exc
    if not statements:
        raise SqlRefused("no SQL statement given")
    for statement in statements:
        _check_statement(cursor, statement)
    return statements


def _check_statement(cursor: duckdb.DuckDBPyConnection, statement: duckdb.Statement) -> None:
    try:
        kind = statement.type
    except ValueError as exc:  # a statement kind newer than the Python enum: not a read
        raise SqlRefused(f"statements of this kind are not allowed: {exc}") from exc
    if kind not in ALLOWED:
        raise SqlRefused(
            f"{kind.name} statements are not allowed: read-only SQL allows SELECT, WITH, "
            "EXPLAIN, DESCRIBE, SHOW and SUMMARIZE"
        )
    if kind == duckdb.StatementType.SELECT:
        _check_functions(cursor, statement.query)
    else:  # EXPLAIN: its SELECT is checked like any other
        inner = _explained(statement.query)
        inner_statements = check(cursor, inner)
        if len(inner_statements) != 1 or inner_statements[0].type != duckdb.StatementType.SELECT:
            raise SqlRefused("EXPLAIN is allowed only for a SELECT")


def _bind(statement: duckdb.Statement, params: Mapping[str, Any]) -> dict[str, Any] | None:
    names = statement.named_parameters
    missing = sorted(names - params.keys())
    if missing:
        raise SqlRefused(f"no value given for the parameter(s) {', '.join(missing)}")
    return {name: params[name] for name in names} if names else None


def run(
    cursor: duckdb.DuckDBPyConnection,
    sql: str,
    params: Mapping[str, Any] | None = None,
    limits: SqlLimits = SqlLimits(),
) -> SqlResult:
    """Run read-only SQL on ``cursor`` (a cursor of the locked-down ledger instance).

    Several statements run in order in one read-only transaction; the last one answers.
    Named parameters (``$name``) come from ``params``.
    """
    params = dict(params or {})
    ensure_locked_down(cursor)  # never run user SQL on an instance that can reach files
    statements = check(cursor, sql)
    used = set().union(*(statement.named_parameters for statement in statements))
    unused = sorted(params.keys() - used)
    if unused:
        raise SqlRefused(f"parameter(s) {', '.join(unused)} are not used in the SQL")
    bound = [(statement, _bind(statement, params)) for statement in statements]
    timer = threading.Timer(limits.timeout_s, cursor.interrupt)
    cursor.execute("BEGIN TRANSACTION READ ONLY")
    timer.start()
    try:
        for statement, values in bound:
            cursor.execute(statement, values)
        if cursor.description is None:
            return SqlResult([], [], False)
        columns = [column[0] for column in cursor.description]
        rows, truncated = _fetch(cursor, limits)
        return SqlResult(columns, rows, truncated)
    except duckdb.InterruptException as exc:
        raise SqlTimeout(
            f"the query ran longer than {limits.timeout_s:g} s and was interrupted; "
            "narrow it, or raise PROVLEDGER_SQL_TIMEOUT_S on the server"
        ) from exc
    except duckdb.OutOfMemoryException as exc:
        raise SqlRefused(
            f"{_first_line(exc)}: the query needs more memory than SQL may use; narrow it, "
            "or raise PROVLEDGER_SQL_MEMORY_MB on the server"
        ) from exc
    except (duckdb.Error, ValueError, TypeError, OverflowError) as exc:
        raise SqlRefused(_first_line(exc)) from exc
    finally:
        timer.cancel()
        _rollback(cursor)


def _fetch(cursor: duckdb.DuckDBPyConnection, limits: SqlLimits) -> tuple[list[list[Any]], bool]:
    rows: list[list[Any]] = []
    size = 0
    while len(rows) < limits.max_rows:
        chunk = cursor.fetchmany(_chunk_size(len(rows), size, limits))
        if not chunk:
            return rows, False
        for row in chunk:
            converted = [jsonable(value) for value in row]
            size += sum(json_size(value) for value in converted)
            if size > limits.max_bytes:
                return rows, True
            rows.append(converted)
    return rows, cursor.fetchone() is not None


def _chunk_size(rows: int, size: int, limits: SqlLimits) -> int:
    """How many rows to take from DuckDB next: no more than the byte cap has room for at
    the average row size so far, starting from one row. A fixed chunk of wide rows (a
    SELECT of long strings) would be turned into Python objects in full before the cap is
    checked, and could take the server's memory."""
    room = limits.max_rows - rows
    if rows == 0:
        return 1
    average = max(1, size // rows)
    return max(1, min(FETCH_CHUNK, room, (limits.max_bytes - size) // average + 1))


def _rollback(cursor: duckdb.DuckDBPyConnection) -> None:
    with contextlib.suppress(duckdb.Error):  # an interrupted transaction may already be gone
        cursor.execute("ROLLBACK")


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
