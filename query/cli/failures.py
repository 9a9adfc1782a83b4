"""The command line's one error handler: a failure is one line on stderr, ``provledger:
<message>``, and the exit code of README's table ("Exit codes"); with ``--json`` it is also
a JSON document on stdout. Click's own usage errors keep click's message and exit 2.

Click and the standard library only: the root group imports this for every command.
"""

from __future__ import annotations

import errno
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import click

from provenance_ledger.query.cli.output import JSON_ASKED, JSON_PRINTED, print_json
from provenance_ledger.schemas.errors import (
    INTERRUPTED,
    Finding,
    ProvledgerError,
    UsageProblem,
    error_document,
)

# An AI coding tool runs `provledger hook` after every edit and may treat a non-zero exit as
# the edit failing: the hook reports its problems and exits 0 whatever happens.
ALWAYS_EXIT_ZERO = frozenset({"hook"})
# The contract's CI gate: `check` exits 0 compliant, 1 violation, 2 for anything else (an
# unknown commit, an API that is down): pipelines written against it key on those three.
GATE_COMMANDS = frozenset({"check"})
GATE_ERROR = 2


class Interrupted(ProvledgerError):
    exit_code = INTERRUPTED
    kind = "interrupted"


@contextmanager
def handled(ctx: click.Context) -> Iterator[None]:
    """Around the root group's invoke: turns whatever a command raises into its exit code."""
    try:
        yield
    except (click.exceptions.Exit, click.Abort):
        raise
    except click.UsageError as error:
        if ctx.invoked_subcommand not in ALWAYS_EXIT_ZERO:
            raise  # click prints the usage line and the problem, and exits 2
        error.show()
        raise click.exceptions.Exit(0) from None
    except click.ClickException as error:
        fail(ctx, _from_click(error))
    except ProvledgerError as error:
        fail(ctx, error)
    except KeyboardInterrupt:
        fail(ctx, Interrupted("interrupted"))
    except OSError as error:
        if error.errno == errno.EPIPE:
            raise  # `provledger … | head`: click exits quietly
        fail(ctx, _bug(ctx, error))
    except Exception as error:
        fail(ctx, _bug(ctx, error))


def fail(ctx: click.Context, error: ProvledgerError) -> NoReturn:
    click.echo(f"provledger: {error.message}", err=True)
    if ctx.meta.get(JSON_ASKED) and not ctx.meta.get(JSON_PRINTED):
        print_json(error_document(error))
    raise click.exceptions.Exit(exit_code_for(ctx.invoked_subcommand, error))


def exit_code_for(command: str | None, error: ProvledgerError) -> int:
    if command in ALWAYS_EXIT_ZERO:
        return 0
    if command in GATE_COMMANDS and error.exit_code != Finding.exit_code:
        return GATE_ERROR
    return error.exit_code


def _from_click(error: click.ClickException) -> ProvledgerError:
    """A ClickException raised by click itself (a --file it cannot open) is about what the
    user passed. Its default code, 1, would read as a finding: it exits 2 instead."""
    converted = UsageProblem(error.format_message())
    if error.exit_code != 1:
        converted.exit_code = error.exit_code
    return converted


def _bug(ctx: click.Context, error: Exception) -> ProvledgerError:
    """An exception nobody classified is a bug: one line, and the traceback under -v."""
    verbose = ctx.find_root().params.get("verbose", 0)
    if verbose:
        traceback.print_exception(error)
    hint = "" if verbose else " (run with -v for the traceback)"
    return ProvledgerError(f"internal error: {type(error).__name__}: {error}{hint}")
