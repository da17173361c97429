"""The report model: health, reports, aggregation, the wire codec, limits, redaction,
durations and names. It imports nothing else of the package but its errors."""
