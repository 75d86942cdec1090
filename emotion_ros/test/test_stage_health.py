"""The ROS-free parts of a stage's health and parameters: statistics, levels, checks."""
from emotion_ros.parameter_checks import Param, at_least, between, greater_than, one_of
from emotion_ros.stage_statistics import ERROR, OK, WARN, HealthThresholds, StageStatistics


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class Stage:
    """Statistics on a fake clock, with the node's running error counts beside them."""

    def __init__(self):
        self.clock = FakeClock()
        self.statistics = StageStatistics(self.clock)
        self.error_counts = {'size_mismatch': 0}


def one_period(stage, received, dropped, latencies, errors=0, seconds=1.0):
    """A period's input; `errors` new ones are added to the running error counts."""
    stats = stage.statistics
    for _ in range(received):
        stats.on_received()
    stats.on_dropped('superseded', dropped)
    for latency in latencies:
        stats.on_processed(latency, faces=2)
    stage.error_counts['size_mismatch'] += errors
    stage.clock.now += seconds
    return stats.assess(HealthThresholds(), active=True, errors=dict(stage.error_counts))


def test_rates_latency_and_drops_of_a_period():
    stage = Stage()
    health = one_period(stage, 30, 10, [0.02] * 19 + [0.3])
    values = health.values
    assert values['input rate [Hz]'] == 30 and values['processing rate [Hz]'] == 20
    assert values['frames dropped'] == 10 and values['dropped: superseded'] == 10
    assert abs(values['latency p50 [ms]'] - 20) < 1e-6 and 20 < values['latency p95 [ms]'] < 40
    assert values['faces'] == 2 and values['errors: size_mismatch'] == 0
    assert (health.level, health.message) == (OK, 'ok')


def test_levels_follow_the_thresholds():
    stage = Stage()
    assert one_period(stage, 10, 0, [0.3] * 10).level == WARN       # p95 300 ms > 200
    error = one_period(stage, 10, 0, [1.5] * 10)
    assert error.level == ERROR and 'latency p95 1500 ms > 1000 ms' in error.message
    dropping = one_period(stage, 10, 8, [0.01] * 2)
    assert dropping.level == WARN and 'dropping 80% of the input' in dropping.message
    failing = one_period(stage, 10, 0, [0.01] * 9, errors=1)
    assert failing.level == WARN and '1 error(s)' in failing.message
    assert failing.values['errors: size_mismatch'] == 1
    # Totals stay over the node's life; rates are per period.
    assert failing.values['frames received'] == 40 and failing.values['frames dropped'] == 8
    silent = one_period(stage, 0, 0, [], seconds=3.0)
    assert silent.level == WARN and 'no input for 4 s' in silent.message   # last input 1 + 3 s ago
    assert stage.statistics.assess(HealthThresholds(), active=False,
                                   errors=stage.error_counts).message == 'inactive'


def test_parameter_checks_give_the_reason():
    assert between(0.0, 1.0)(1.5) == 'must be in [0.0, 1.0]' and between(0.0, 1.0)(0.5) is None
    assert at_least(0.0)(-1) == 'must be >= 0.0' and at_least(0.0)(0.0) is None
    assert greater_than(0.0)(0.0) == 'must be > 0.0'
    assert one_of('openvino', 'tensorflow')('torch') == 'must be one of openvino, tensorflow'
    assert Param(0.5, between(0.0, 1.0)).problem(float('nan')) == 'must be in [0.0, 1.0]'
    assert Param('anything').problem('x') is None


def test_whole_numbers_count_as_floats_and_other_types_are_refused():
    timeout = Param(1.0, greater_than(0.0), 's without AUs after which a face is dropped')
    assert timeout.problem(2) is None and timeout.accepted(2) == 2.0
    assert isinstance(timeout.accepted(2), float)
    assert timeout.problem('2') == 'must be a number' and timeout.problem(True) == 'must be a number'
    assert Param(10, at_least(1)).problem(2.5) == 'must be a whole number'
    assert Param(True).problem(1) == 'must be true or false'
    assert Param(['sad']).problem(['fear', 'pain']) is None
    assert Param(['sad']).problem([1]) == 'must be a list of str'


def test_a_range_check_gives_the_descriptor_its_range():
    assert (between(0.0, 1.0).low, between(0.0, 1.0).high) == (0.0, 1.0)
    assert Param(0.5, at_least(0.0)).range == at_least(0.0) and Param(0.5, at_least(0.0)).constraint == ''
    # The descriptor's range includes its bounds: "> 0" is said in words beside it.
    assert Param(1.0, greater_than(0.0)).constraint == '> 0.0'
    assert Param('blazeface', one_of('blazeface', 'haar')).range is None
    assert Param('blazeface', one_of('blazeface', 'haar')).constraint == 'one of blazeface, haar'
