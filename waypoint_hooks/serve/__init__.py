"""The status service: the scheduler, the web routes, the page, the metrics."""
