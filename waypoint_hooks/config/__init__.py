"""Reading ``waypoint.hcl``: the readers, the attrs schema of a project, plugin settings."""
