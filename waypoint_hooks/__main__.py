"""``python -m waypoint_hooks``: the launcher."""

from .cli.commands import main

main()
