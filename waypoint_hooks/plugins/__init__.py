"""Plugins: the hook specifications' table, discovery and loading, and the one call path
(requests, callers, the runner, isolated workers)."""
