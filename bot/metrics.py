"""Prometheus metrics: counts and timings only — never message text or user data."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("chonai_requests", "HTTP requests handled",
                                ["route", "status"], registry=self.registry)
        self.events = Counter("chonai_events_appended", "Events appended to the log",
                              registry=self.registry)
        self.handler_seconds = Histogram(
            "chonai_handler_seconds", "Time to handle one incoming request after its ack",
            ["kind"], registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self.outbox_backlog = Gauge("chonai_outbox_backlog", "Posts waiting to be delivered",
                                    registry=self.registry)
        self.refused = Counter("chonai_refused", "Requests refused, by reason (cross-site, "
                               "host, signature, poison input, identity…)", ["reason"],
                               registry=self.registry)
        self.pii_blocks = Counter("chonai_pii_blocks", "Prompts blocked by the PII guard",
                                  ["type"], registry=self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)
