"""Plugins shipped with waypoint-hooks, registered through the same entry points as any other."""
