"""Prometheus text exposition (format 0.0.4) without a client library: counters,
gauges and histograms with labels, rendered on ``GET /metrics``."""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable

Labels = tuple[tuple[str, str], ...]

DEFAULT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


def _labels(labels: Labels, extra: tuple[tuple[str, str], ...] = ()) -> str:
    items = labels + extra
    if not items:
        return ""
    body = ",".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in items
    )
    return "{" + body + "}"


def _num(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


class Metric:
    def __init__(self, name: str, help_text: str, kind: str) -> None:
        self.name, self.help, self.kind = name, help_text, kind

    def render(self) -> list[str]:
        raise NotImplementedError


class Counter(Metric):
    def __init__(self, name: str, help_text: str) -> None:
        super().__init__(name, help_text, "counter")
        self.values: dict[Labels, float] = {}

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        self.values[key] = self.values.get(key, 0.0) + amount

    def get(self, **labels: str) -> float:
        return self.values.get(tuple(sorted(labels.items())), 0.0)

    def render(self) -> list[str]:
        return [f"{self.name}{_labels(k)} {_num(v)}" for k, v in sorted(self.values.items())]


class Gauge(Metric):
    """A gauge whose values come from a callback at render time."""

    def __init__(
        self, name: str, help_text: str, source: Callable[[], dict[Labels, float]]
    ) -> None:
        super().__init__(name, help_text, "gauge")
        self.source = source

    def render(self) -> list[str]:
        return [f"{self.name}{_labels(k)} {_num(v)}" for k, v in sorted(self.source().items())]


class Histogram(Metric):
    def __init__(
        self, name: str, help_text: str, buckets: tuple[float, ...] = DEFAULT_BUCKETS
    ) -> None:
        super().__init__(name, help_text, "histogram")
        self.buckets = buckets
        self.series: dict[Labels, list[float]] = {}  # bucket counts..., sum, count

    def observe(self, value: float, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        s = self.series.get(key)
        if s is None:
            s = self.series[key] = [0.0] * (len(self.buckets) + 2)
        index = bisect.bisect_left(self.buckets, value)
        if index < len(self.buckets):
            s[index] += 1
        s[-2] += value
        s[-1] += 1

    def render(self) -> list[str]:
        out = []
        for key, s in sorted(self.series.items()):
            running = 0.0
            for bound, count in zip(self.buckets, s, strict=False):
                running += count
                out.append(
                    f"{self.name}_bucket{_labels(key, (('le', _num(bound)),))} {_num(running)}"
                )
            out.append(f"{self.name}_bucket{_labels(key, (('le', '+Inf'),))} {_num(s[-1])}")
            out.append(f"{self.name}_sum{_labels(key)} {_num(s[-2])}")
            out.append(f"{self.name}_count{_labels(key)} {_num(s[-1])}")
        return out


class Registry:
    def __init__(self) -> None:
        self.metrics: list[Metric] = []

    def add(self, metric: Metric) -> Metric:
        self.metrics.append(metric)
        return metric

    def counter(self, name: str, help_text: str) -> Counter:
        c = Counter(name, help_text)
        self.add(c)
        return c

    def histogram(self, name: str, help_text: str) -> Histogram:
        h = Histogram(name, help_text)
        self.add(h)
        return h

    def gauge(self, name: str, help_text: str, source: Callable[[], dict[Labels, float]]) -> Gauge:
        g = Gauge(name, help_text, source)
        self.add(g)
        return g

    def render(self) -> str:
        lines: list[str] = []
        for m in self.metrics:
            lines.append(f"# HELP {m.name} {m.help}")
            lines.append(f"# TYPE {m.name} {m.kind}")
            lines.extend(m.render())
        return "\n".join(lines) + "\n"


class ServiceMetrics:
    """Every metric the service exports."""

    def __init__(self) -> None:
        r = self.registry = Registry()
        self.http_requests = r.counter(
            "coproc_http_requests_total", "HTTP requests by route and status code"
        )
        self.http_latency = r.histogram(
            "coproc_http_request_seconds", "HTTP request handling time by route"
        )
        self.rate_limited = r.counter("coproc_rate_limited_total", "Requests refused (429) by key")
        self.stage_seconds = r.histogram("coproc_stage_seconds", "Job stage duration by stage")
        self.stage_errors = r.counter(
            "coproc_stage_errors_total", "Stage failures by stage and kind (retry|fatal)"
        )
        self.jobs_finished = r.counter(
            "coproc_jobs_finished_total", "Jobs that reached done/failed"
        )
        self.reorgs = r.counter(
            "coproc_reorgs_total", "Jobs re-indexed because their block was reorged"
        )
        self.samples = r.counter(
            "coproc_sampling_total", "Proof-of-sampling re-proofs by outcome (match|mismatch|error)"
        )
        self.challenges = r.counter(
            "coproc_challenges_total", "Challenge requests produced (filed: sent on-chain or not)"
        )
        self.posts = r.counter("coproc_posts_total", "On-chain posts by destination and result")
        self.feed_events = r.counter("coproc_feed_events_total", "SSE events sent")

    def render(self) -> str:
        return self.registry.render()
