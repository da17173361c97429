"""Arguments and option types that several commands take."""

from __future__ import annotations

from typing import Any

import click

apps_argument = click.argument("apps", nargs=-1, metavar="[APP]...")


class Command(click.Command):
    """A command that says where a global option goes when it is given after the command.

    The group makes its commands of this class; a command defined in a module of its own and
    added with ``main.add_command`` is made with ``@click.command(cls=Command)``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as exc:
            option = _global_option(ctx, exc.option_name)
            if option is None:
                raise
            name = exc.option_name
            value = "" if option.is_flag or option.count else f" {option.metavar}"
            usage = f"{ctx.find_root().info_name} {name}{value} {ctx.info_name}"
            hint = f"{name} is a global option: it goes before the command, as in `{usage}`."
            raise click.NoSuchOption(name, f"{exc.message} {hint}", ctx=ctx) from None


def _global_option(ctx: click.Context, name: str) -> click.Option | None:
    group = ctx.parent.command if ctx.parent is not None else None
    for param in group.params if group is not None else ():
        if isinstance(param, click.Option) and name in (*param.opts, *param.secondary_opts):
            return param
    return None


# click 8.5 made ParamType generic; subscripting it would break the older clicks setup.cfg allows.
class DurationType(click.ParamType):  # type: ignore[type-arg]
    """A duration longer than 0s, as the config file writes it (``30s``, ``1m30s``, ``250ms``),
    or a bare number of seconds: on the command line every value is text, so ``30`` is the
    number 30, as ``timeout = 30`` is in the file. The messages are the config file's."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from ..model.durations import Duration, longer_than_zero

        try:
            duration = Duration(_number(value) if isinstance(value, str) else value)
            longer_than_zero(param.name if param is not None and param.name else "it", duration)
        except (ValueError, TypeError) as exc:
            self.fail(str(exc), param, ctx)
        return duration


def _number(text: str) -> str | float:
    """``text`` as a number when it is a bare one (``30``, ``0.5``), else as it is."""
    digits = text.replace(".", "", 1)
    return float(text) if digits.isascii() and digits.isdigit() else text


DURATION = DurationType()
