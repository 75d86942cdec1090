"""What every emotion_ros node needs, pipeline stage or not: checked parameters with
descriptors, an error log, topics whose QoS a user can override (and the events' QoS),
and the entry point.

Light on purpose: a behaviour node (care_speaker) imports this and the
messages only, not the perception stack (models, OpenCV, rosbags).
"""
import signal
import sys
import time

import rclpy
from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor,
                                SetParametersResult)
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.qos_overriding_options import QoSOverridingOptions
from rclpy.signals import SignalHandlerOptions

from .parameter_checks import Param

# On every publisher and subscription: history, depth and reliability can be set per topic
# (read-only parameters qos_overrides.<topic>.publisher.reliability, ... at start-up).
QOS_OVERRIDES = QoSOverridingOptions.with_default_policies()

# emotion_events, publisher and subscribers: reliable, the last EVENT_HISTORY events kept for
# subscribers that join late (transient local; a volatile subscriber gets new events only).
# A START in that history is followed there by its END if there was one, as KEEP_LAST drops
# the oldest first: a late joiner sees each episode whose START it gets closed or open as it
# is. An open episode whose START is older than the last EVENT_HISTORY events is not seen.
EVENT_HISTORY = 10
EVENTS_QOS = QoSProfile(depth=EVENT_HISTORY, reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.TRANSIENT_LOCAL)

_INT64_MAX = 2 ** 63 - 1


class ErrorLog:
    """Counts errors by kind (for diagnostics) and logs each kind at most once per `period` s."""

    def __init__(self, logger, period: float = 1.0):
        self.logger = logger
        self.period = period
        self.counts = {}
        self._last_logged = {}

    def error(self, kind: str, text: str, throttle: bool = True):
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if not throttle or self._due(kind):
            self.logger.error(f'{text} [{kind}, {self.counts[kind]} so far]')

    def warning(self, kind: str, text: str):
        """A throttled warning that is not an error (e.g. a dropped stale frame)."""
        if self._due(kind):
            self.logger.warning(text)

    def _due(self, kind: str) -> bool:
        # Log throttling is about the reader of the log: a steady clock, also under sim time.
        now = time.monotonic()
        if now - self._last_logged.get(kind, -float('inf')) >= self.period:
            self._last_logged[kind] = now
            return True
        return False


def parameter_descriptor(param: Param, read_only: bool = False) -> ParameterDescriptor:
    """What `ros2 param describe` and rqt_reconfigure show: description, range, constraint.

    A float parameter is dynamically typed so that a whole number (`face_timeout: 2`)
    is accepted; its checks keep other types out.
    """
    descriptor = ParameterDescriptor(description=param.description, read_only=read_only,
                                     additional_constraints=param.constraint,
                                     dynamic_typing=param.is_float)
    bounds = param.range
    if bounds is not None and param.is_float:
        descriptor.floating_point_range = [FloatingPointRange(
            from_value=float(bounds.low), to_value=min(float(bounds.high), sys.float_info.max),
            step=0.0)]
    elif bounds is not None and isinstance(param.default, int) and not isinstance(param.default, bool):
        descriptor.integer_range = [IntegerRange(
            from_value=int(bounds.low),
            to_value=_INT64_MAX if bounds.high == float('inf') else int(bounds.high), step=1)]
    return descriptor


def declare_checked_parameters(node, parameters: dict, errors: ErrorLog) -> dict:
    """Declare each parameter with its descriptor; a value from YAML or the command line
    that fails its check (or has the wrong type) is replaced by the default, with an error line.

    The value given is read first under a typeless, rangeless declaration, then the
    parameter is declared again with its descriptor and the value it will have: rclpy
    would reject a bad value itself, without saying which value.
    """
    values = {}
    for name, param in parameters.items():
        given = node.declare_parameter(name, param.default,
                                       ParameterDescriptor(dynamic_typing=True)).value
        problem = param.problem(given)
        if problem:
            errors.error('bad_parameter', f'parameter {name}={given!r} rejected: {problem}; '
                         f'using the default {param.default!r}', throttle=False)
        value = param.default if problem else param.accepted(given)
        node.undeclare_parameter(name)
        node.declare_parameter(name, value, parameter_descriptor(param), ignore_override=True)
        values[name] = value
    return values


def check_parameter_change(parameters: dict, changes) -> SetParametersResult:
    """An on-set-parameters result: the first change that fails its check, with the reason."""
    for change in changes:
        param = parameters.get(change.name)
        problem = param.problem(change.value) if param else None
        if problem:
            return SetParametersResult(successful=False,
                                       reason=f'{change.name}={change.value!r}: {problem}')
    return SetParametersResult(successful=True)


def watch_parameters(node, parameters: dict, on_change):
    """Check run-time changes of `parameters`, then hand the good ones to
    `on_change(changes) -> SetParametersResult` (which may still refuse them).

    A whole number set for a float parameter is stored as a float where rclpy has
    pre-set callbacks (Iron and later); on Humble it stays an integer parameter,
    and the node uses it as a float (Param.accepted).
    """
    def as_floats(changes):
        return [Parameter(c.name, value=float(c.value))
                if c.name in parameters and parameters[c.name].is_float
                and parameters[c.name].problem(c.value) is None else c
                for c in changes]

    def on_set(changes):
        result = check_parameter_change(parameters, changes)
        if result.successful:
            result = on_change(changes)
        if not result.successful:
            node.get_logger().warning(f'parameter change refused: {result.reason}')
        return result

    if hasattr(node, 'add_pre_set_parameters_callback'):
        node.add_pre_set_parameters_callback(as_floats)
    node.add_on_set_parameters_callback(on_set)


SPIN_PERIOD = 0.5   # s: the longest a stop signal waits for the executor to wake


_stopping = False


def _interrupt(signum, frame):
    """The first stop signal stops the node; later ones are ignored, so that they cannot break
    off its (bounded) stop: Ctrl-C on `ros2 launch` reaches each node twice, from the
    terminal and from launch."""
    global _stopping
    if not _stopping:
        _stopping = True
        raise KeyboardInterrupt


def init_stoppable(args=None):
    """rclpy.init without rclpy's signal handlers, which shut the context down at once: SIGINT
    (Ctrl-C, how ros2 launch stops a node) and SIGTERM (docker stop) raise KeyboardInterrupt
    instead, so that a node can still publish while it stops (the emotion node's END events)."""
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    for signum in (signal.SIGINT, signal.SIGTERM):   # also where SIGINT was ignored (a `cmd &`)
        signal.signal(signum, _interrupt)


def stop_requested() -> bool:
    """Whether a stop signal came. Its KeyboardInterrupt can be lost: raised while native code
    runs (TensorFlow loading a model), it comes back as that code's own error."""
    return _stopping


def spin_until_stopped(executor):
    """Spin until KeyboardInterrupt or shutdown, waking every SPIN_PERIOD s to see a signal."""
    while rclpy.ok():
        if _stopping:   # a stop signal whose KeyboardInterrupt native code swallowed
            raise KeyboardInterrupt
        executor.spin_once(timeout_sec=SPIN_PERIOD)


def make_executor():
    """The executor a node process spins: rclpy's EventsExecutor where rclpy has it
    (rclpy.experimental: Kilted, and Jazzy from rclpy 7.1.4), else the SingleThreadedExecutor
    (Humble).

    The EventsExecutor dispatches from C++ without rebuilding a wait set of every
    subscription, timer and (lifecycle, parameter) service on each wake-up: on the composed
    pipeline at 30 frames/s it took ~2.5 ms of CPU less per frame here (README, CPU at
    camera rate). Callbacks run one at a time on the spinning thread, as before.
    """
    try:
        from rclpy.experimental import EventsExecutor
    except ImportError:     # Humble, older Jazzy
        return SingleThreadedExecutor()
    return EventsExecutor()


def run_node(node_class, args=None, start=None, stop=None):
    """Create the node, call `start(node)` if given, spin until Ctrl-C, SIGTERM or shutdown,
    call `stop(node)` if given (the context still works), clean up."""
    init_stoppable(args)
    executor = make_executor()
    node = None
    try:
        node = node_class()
        executor.add_node(node)
        if start is not None:
            start(node)
        spin_until_stopped(executor)
    except (KeyboardInterrupt, ExternalShutdownException):
        if node is not None and stop is not None and rclpy.ok():
            stop(node)
    finally:
        if node is not None:
            executor.remove_node(node)
            node.destroy_node()
        rclpy.try_shutdown()
