"""How a pipeline stage is doing, for /diagnostics: rates, latency, drops, errors.

ROS-free: the node feeds it counts and latencies and turns a `Health`
into a diagnostic_msgs/DiagnosticStatus.
"""
import time
from dataclasses import dataclass, field

import numpy as np

OK, WARN, ERROR = 0, 1, 2


@dataclass
class HealthThresholds:
    latency_warn: float = 0.2     # s, p95 age of this stage's outputs
    latency_error: float = 1.0    # s
    drop_warn: float = 0.5        # fraction of received frames dropped in a period
    input_timeout: float = 2.0    # s without input while active


@dataclass
class Health:
    level: int
    message: str
    values: dict = field(default_factory=dict)


class StageStatistics:
    """Counters over the node's life and over the current diagnostics period.

    Fed and read from the node's callbacks, which run one at a time (its default,
    mutually exclusive callback group, and node_support's stage lock). Its clock is a
    steady one: rates and "no input for N s" are about the machine's real time, also
    under sim time (the nodes drop faces on ROS time, never on this clock).
    """

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self.received = 0
        self.processed = 0
        self.dropped = {}        # kind (superseded, stale) -> count
        self.faces = 0
        self.last_input = None
        self._errors_before = 0       # error total at the start of the period
        self._period_start = clock()
        self._period = self._empty_period()

    @staticmethod
    def _empty_period():
        return {'received': 0, 'processed': 0, 'dropped': 0, 'latencies': []}

    def on_received(self):
        self.received += 1
        self._period['received'] += 1
        self.last_input = self._clock()

    def on_dropped(self, kind: str, count: int = 1):
        if count <= 0:
            return
        self.dropped[kind] = self.dropped.get(kind, 0) + count
        self._period['dropped'] += count

    def on_processed(self, latency: float | None, faces: int | None = None):
        self.processed += 1
        self._period['processed'] += 1
        if latency is not None:
            self._period['latencies'].append(latency)
        if faces is not None:
            self.faces = faces

    def assess(self, thresholds: HealthThresholds, active: bool, errors: dict) -> Health:
        """Close the current period and say how the stage did in it.

        errors: the stage's error counts by kind so far (node_common.ErrorLog.counts).
        """
        now = self._clock()
        span = max(now - self._period_start, 1e-6)
        period, self._period = self._period, self._empty_period()
        self._period_start = now
        errors_in_period = sum(errors.values()) - self._errors_before
        self._errors_before += errors_in_period
        latencies = np.asarray(period['latencies'])
        values = {
            'input rate [Hz]': period['received'] / span,
            'processing rate [Hz]': period['processed'] / span,
            'latency p50 [ms]': float(np.percentile(latencies, 50) * 1e3) if latencies.size else None,
            'latency p95 [ms]': float(np.percentile(latencies, 95) * 1e3) if latencies.size else None,
            'frames received': self.received,
            'frames processed': self.processed,
            'frames dropped': sum(self.dropped.values()),
            **{f'dropped: {kind}': count for kind, count in sorted(self.dropped.items())},
            'faces': self.faces,
            **{f'errors: {kind}': count for kind, count in sorted(errors.items())},
        }
        if not active:
            return Health(OK, 'inactive', values)
        problems, level = [], OK
        p95 = values['latency p95 [ms]']
        if p95 is not None and p95 > thresholds.latency_error * 1e3:
            problems.append(f'latency p95 {p95:.0f} ms > {thresholds.latency_error * 1e3:.0f} ms')
            level = ERROR
        elif p95 is not None and p95 > thresholds.latency_warn * 1e3:
            problems.append(f'latency p95 {p95:.0f} ms > {thresholds.latency_warn * 1e3:.0f} ms')
            level = WARN
        if period['received'] and period['dropped'] / period['received'] > thresholds.drop_warn:
            problems.append(f"dropping {period['dropped'] / period['received']:.0%} of the input")
            level = max(level, WARN)
        if errors_in_period:
            problems.append(f'{errors_in_period} error(s)')
            level = max(level, WARN)
        silent = now - self.last_input if self.last_input is not None else None
        if silent is None or silent > thresholds.input_timeout:
            problems.append('no input yet' if silent is None else f'no input for {silent:.0f} s')
            level = max(level, WARN)
        return Health(level, '; '.join(problems) or 'ok', values)
