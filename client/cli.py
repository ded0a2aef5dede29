"""`cortexrnn-client`: the scientist's command line (the commands: cortexrnn.client.commands).

Every failure ends with one `error: ...` line on stderr (plus one line per invalid field) and
a documented exit code (cortexrnn.client.errors.EXIT_CODES); never a traceback, unless
CORTEXRNN_CLIENT_DEBUG=1 asks for one.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import typer
from typer.core import TyperGroup

from cortexrnn.client.commands import (
    account,
    datasets,
    experiments,
    findings,
    queue,
    replication,
    results,
    spec,
)
from cortexrnn.client.commands.common import CLIENT_OPTIONS
from cortexrnn.client.config import resolve
from cortexrnn.client.errors import EXIT_CODES, ClientError

__all__ = ["CLIENT_OPTIONS", "app"]


class _ClientGroup(TyperGroup):
    """Turns every ClientError into its one-line message and exit code."""

    def invoke(self, ctx: Any) -> Any:  # a click Context (typer vendors click)
        try:
            return super().invoke(ctx)
        except ClientError as exc:
            lines = list(exc.lines())
            note = _address_note(ctx)
            if note and not any(note in line for line in lines):
                lines.append(f"note: {note}")
            for line in lines:
                typer.echo(line, err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            typer.echo("interrupted; the experiment keeps running on the server", err=True)
            ctx.exit(130)
        except BrokenPipeError:
            # The reader went away (`| head`): what it read is all it wanted. Point stdout at
            # devnull so the interpreter's final flush does not raise again, and exit as a
            # shell reports a writer stopped by SIGPIPE.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            ctx.exit(141)
        except (typer.exceptions.TyperException, typer.Exit, typer.Abort, SystemExit):
            raise  # usage errors, --help, declined confirmations: the framework reports them
        except Exception as exc:
            if os.environ.get("CORTEXRNN_CLIENT_DEBUG") == "1" or _is_framework_exception(exc):
                raise
            typer.echo(
                f"error: unexpected {type(exc).__name__}: {exc} "
                "(rerun with CORTEXRNN_CLIENT_DEBUG=1 for details and report it)",
                err=True,
            )
            ctx.exit(7)


def _address_note(ctx: Any) -> str | None:
    """Why the address may be wrong (a recorded server that has stopped), said with any
    failure, since the failure a wrong address causes can be a refused token as well as a
    refused connection."""
    obj = ctx.obj or {}
    try:
        return resolve(obj.get("url"), obj.get("token")).note
    except ClientError:
        return None


def _is_framework_exception(exc: Exception) -> bool:
    # Typer vendors click; its exceptions (bad option, Abort, Exit) live in its own module.
    return type(exc).__module__.startswith(("typer.", "click."))


EPILOG = "Exit codes: " + "; ".join(
    f"{code} {what.split(':')[0]}" for code, what in EXIT_CODES.items()
)

app = typer.Typer(
    name="cortexrnn-client",
    help="Submit CortexRNN experiments, watch them and fetch their results.",
    epilog=EPILOG,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=_ClientGroup,
    rich_markup_mode=None,
)
app.add_typer(datasets.app, name="datasets")
app.add_typer(spec.app, name="spec")
for group in (account, experiments, results, queue, replication, findings):
    group.register(app)


@app.callback()
def main(
    ctx: typer.Context,
    url: str = typer.Option(
        None,
        "--url",
        help="Server address (default: CORTEXRNN_URL, the login file, "
        "then the embedded server on 127.0.0.1:8765).",
        show_default=False,
    ),
    token: str = typer.Option(
        None,
        "--token",
        help="API token (default: CORTEXRNN_TOKEN, the login file, "
        "then the embedded server's local token).",
        show_default=False,
    ),
) -> None:
    ctx.obj = {"url": url, "token": token}


if __name__ == "__main__":
    app()
