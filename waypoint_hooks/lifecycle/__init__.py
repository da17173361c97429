"""Deploy, release, destroy and prune: every version tracked from intent to destroy."""
