"""Status checks: an app's live targets → the runner → their reports → the store (with the
alerts they raise) → delivery; and what was found, as the status documents."""
