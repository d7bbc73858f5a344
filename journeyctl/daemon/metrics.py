"""Prometheus metrics for `/metrics`, in a registry of the daemon's own (not the process-global
one), so two daemons in one test process do not share counters.

Counters the loop updates as things happen (events ingested, messages by outcome, adapter
latency); gauges read from the state when scraped (instances by step, pending work, timer lag),
because those are facts of the store, not of this process's lifetime.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
disable_created_metrics()  # `*_created` series: noise for a long-running daemon's dashboards


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.events = Counter("journeyctl_events_ingested", "Events accepted into the inbox",
                              registry=self.registry)
        self.duplicates = Counter("journeyctl_events_duplicate",
                                  "Events ignored as repeats of a known event_id",
                                  registry=self.registry)
        self.rejected = Counter("journeyctl_events_rejected", "Events refused as invalid",
                                registry=self.registry)
        self.profiles = Counter("journeyctl_profiles_upserted", "Profiles stored (merged)",
                                registry=self.registry)
        self.profiles_rejected = Counter(
            "journeyctl_profiles_rejected",
            "Profiles refused as invalid (a declared attribute of the wrong type, no user_id)",
            registry=self.registry)
        self.profiles_undeclared = Counter(
            "journeyctl_profiles_undeclared",
            "Profiles stored with attributes the catalog does not declare", registry=self.registry)
        self.messages = Counter("journeyctl_messages", "Messages by channel and outcome",
                                ["channel", "outcome"], registry=self.registry)
        self.failures = Counter(
            "journeyctl_retryable_failures",
            "Delivery attempts that failed for a reason worth retrying, by class: http_5xx, "
            "http_429, http_other (408, Twilio 20429), timeout, connection",
            ["channel", "class"], registry=self.registry)
        self.degraded = Gauge(
            "journeyctl_channel_degraded",
            "1 while most recent delivery attempts on the channel fail (see /healthz)",
            ["channel"], registry=self.registry)
        self.latency = Histogram(
            "journeyctl_adapter_latency_seconds", "Time a provider took to answer a delivery",
            ["channel"], registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.timer_lag = Histogram(
            "journeyctl_timer_lag_seconds", "How late a timer fired after its due time",
            registry=self.registry, buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 60))
        self.expression_failures = Counter(
            "journeyctl_expression_failures",
            "Conditions that failed at run time and counted as false, by reason (error: it "
            "raised; over_budget: not run, too costly for the data)",
            ["journey", "where", "reason"], registry=self.registry)
        self.pruned = Counter(
            "journeyctl_pruned",
            "Rows deleted past the project's retention: events (processed inbox rows), "
            "messages (finished outbox rows)", ["kind"], registry=self.registry)
        for kind in ("events", "messages"):  # shown from the start, at 0
            self.pruned.labels(kind)
        # the live report's counts (`journeyctl report`), as the engine's batches commit
        self.entries = Counter("journeyctl_journey_entries", "Instances started, by journey",
                               ["journey"], registry=self.registry)
        self.conversions = Counter("journeyctl_journey_conversions",
                                   "Goals reached (conversions), by journey", ["journey"],
                                   registry=self.registry)
        self.suppressions = Counter(
            "journeyctl_journey_suppressions",
            "Messages not sent, by journey and reason (unreachable, no_consent, suppressed_list, "
            "quiet_hours, cap:<channel>/<max>/<per>, holdout, ...)", ["journey", "reason"],
            registry=self.registry)
        self._state: dict[str, Any] = {}
        self.registry.register(StateGauges(lambda: self._state))

    def message(self, channel: str, outcome: str) -> None:
        self.messages.labels(channel, outcome).inc()

    def expression_failed(self, failure: Any) -> None:
        """An `ExpressionFailed` effect the engine emitted (in a committed batch)."""
        self.expression_failures.labels(failure.journey, failure.where, failure.reason).inc()

    def journey_counts(self, counts: Mapping[tuple[str, ...], int]) -> None:
        """A committed batch's entries, conversions and suppressions (`Tally.observed`)."""
        for key, n in counts.items():
            if key[0] == "entries":
                self.entries.labels(key[1]).inc(n)
            elif key[0] == "conversions":
                self.conversions.labels(key[1]).inc(n)
            else:
                self.suppressions.labels(key[1], key[2]).inc(n)

    def retryable_failure(self, channel: str, kind: str) -> None:
        self.failures.labels(channel, kind).inc()

    def channel_degraded(self, channel: str, degraded: bool) -> None:
        self.degraded.labels(channel).set(1 if degraded else 0)

    def adapter_latency(self, channel: str, seconds: float) -> None:
        self.latency.labels(channel).observe(seconds)

    def render(self, state: dict[str, Any]) -> bytes:
        """The text exposition, with the gauges taken from `state` (read from the store by the
        caller, on the core thread: see `StateGauges`)."""
        self._state = state
        return generate_latest(self.registry)


class StateGauges(Collector):
    """Instances by journey/version/step and the work waiting in the store, read when scraped."""

    def __init__(self, snapshot: Callable[[], dict[str, Any]]) -> None:
        self.snapshot = snapshot

    def collect(self) -> Any:
        data = self.snapshot()
        instances = GaugeMetricFamily("journeyctl_instances_active",
                                      "Instances in a journey, by the step they are at",
                                      labels=["journey", "version", "step"])
        for journey, versions in sorted(data.get("live", {}).items()):
            for version, steps in sorted(versions.items()):
                for step, count in sorted(steps.items()):
                    instances.add_metric([journey, version, step], count)
        yield instances
        pending = GaugeMetricFamily("journeyctl_pending", "Work waiting in the store",
                                    labels=["kind"])
        for kind in ("events", "timers", "timers_due", "messages", "set_aside"):
            pending.add_metric([kind], data.get(kind, 0))
        yield pending
        applied = GaugeMetricFamily("journeyctl_applied_serial",
                                    "The state serial of the journeys being run")
        applied.add_metric([], data.get("serial", 0))
        yield applied
        held = data.get("held")
        if held is not None:
            count = GaugeMetricFamily("journeyctl_partitions_held",
                                      "How many of the users' partitions this daemon runs")
            count.add_metric([], len(held.parts))
            yield count
            each = GaugeMetricFamily("journeyctl_partition_held",
                                     "1 for each partition this daemon runs",
                                     labels=["partition"])
            for part in held.parts:
                each.add_metric([str(part)], 1)
            yield each

    def describe(self) -> Any:
        return []
