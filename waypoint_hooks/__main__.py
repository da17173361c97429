"""``python -m waypoint_hooks``: the launcher."""

from .cli import main

main()
