"""A group whose commands of other modules are imported when one of them is used (click's
"Lazily Loading Subcommands", in its advanced patterns), so that each command starts without
the modules of the others.

Until then the group holds a stand-in of each, with the first sentence of its help: ``--help``
lists it, and a mistyped name is told the commands it is close to, as click tells any.
"""

from __future__ import annotations

import importlib

import click


class LazyCommand(click.Command):
    """A command of ``module`` (relative to this package), where it is the attribute of its
    name (``-`` written ``_``), as the group lists it until it is used."""

    def __init__(self, name: str, module: str, sentence: str) -> None:
        # As help, not short help: click cuts it to the width of the listing, as the command's.
        super().__init__(name, help=sentence)
        self.module = module
        self.attribute = name.replace("-", "_")

    def load(self) -> click.Command:
        module = importlib.import_module(self.module, __package__)
        command: click.Command = getattr(module, self.attribute)
        return command


class LazyGroup(click.Group):
    """A group whose :class:`LazyCommand` stand-ins give way to their command when it runs."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if isinstance(command, LazyCommand):
            return name, command.load(), rest
        return name, command, rest

    def add_lazy(self, name: str, module: str, sentence: str) -> None:
        self.add_command(LazyCommand(name, module, sentence))
