"""Operations: structured logs with request ids, Prometheus metrics and their scrape view."""
