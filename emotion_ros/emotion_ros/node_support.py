"""What every emotion_ros node shares: checked parameters, error counting, the
managed (lifecycle) pipeline stage with its diagnostics, and the entry point.

A pipeline stage (face_detector, au_estimator, emotion) is a lifecycle node:
    configure   reads and checks the parameters, loads the model, creates the publishers
    activate    subscribes its input
    deactivate  unsubscribes: nothing is processed or published
    cleanup     frees the model and the publishers
It starts active by default (parameter `autostart`), so `ros2 run`, the launch
file and the composed runner need no lifecycle manager; with autostart false
it waits unconfigured for one (e.g. nav2_lifecycle_manager, `ros2 lifecycle set`).

Each stage works on the newest input only: before it processes a message it
takes whatever else is already waiting and keeps the newest, counting the
others as dropped (superseded). It drops input older than `max_frame_age`,
and reports its health on /diagnostics every `diagnostics.period` s.

In one process (the composed runner) a stage can be fed in-process by its
upstream stage, as rclcpp's intra-process communication does: the upstream
calls it with the message it publishes, with no executor wake-up and no
(de)serialisation between them. The topic is still published for any other
subscriber (rosbag record, rqt); a stage output nobody subscribes to is not
serialised at all.
"""
import time

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import SetParametersResult
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.executors import ExternalShutdownException
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.parameter import Parameter

from .parameter_checks import Param, at_least, between, greater_than
from .ros_messages import stamp_to_seconds
from .stage_statistics import ERROR, HealthThresholds, StageStatistics

# Parameters every pipeline stage has, beside its own.
STAGE_PARAMETERS = {
    'autostart': Param(True),                        # configure and activate at start-up
    'max_frame_age': Param(0.5, at_least(0.0)),      # s, older input is dropped; 0 = no limit
    'diagnostics.period': Param(1.0, greater_than(0.0)),       # s between /diagnostics reports
    'diagnostics.latency_warn': Param(0.2, greater_than(0.0)),   # s, p95 output age for WARN
    'diagnostics.latency_error': Param(1.0, greater_than(0.0)),  # s, ... for ERROR
    'diagnostics.drop_warn': Param(0.5, between(0.0, 1.0)),     # dropped fraction for WARN
    'diagnostics.input_timeout': Param(2.0, greater_than(0.0)),  # s without input for WARN
}
# Stage parameters that apply at once when set at run time; the others at the next configure.
LIVE_STAGE_PARAMETERS = {'max_frame_age', *(n for n in STAGE_PARAMETERS if n.startswith('diag'))}


def defaults(parameters: dict) -> dict:
    return {name: param.default for name, param in parameters.items()}


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
        now = time.monotonic()
        if now - self._last_logged.get(kind, -float('inf')) >= self.period:
            self._last_logged[kind] = now
            return True
        return False


def declare_checked_parameters(node, parameters: dict, errors: ErrorLog) -> dict:
    """Declare each parameter; a value from YAML or the command line that fails its
    check (or has the wrong type) is replaced by the default, with an error line."""
    values = {}
    for name, param in parameters.items():
        try:
            value = node.declare_parameter(name, param.default).value
            problem = param.problem(value)
        except (InvalidParameterTypeException, InvalidParameterValueException) as error:
            node.declare_parameter(name, param.default, ignore_override=True)
            value, problem = None, str(error).splitlines()[0]
        if problem:
            errors.error('bad_parameter', f'parameter {name}={value!r} rejected: {problem}; '
                         f'using the default {param.default!r}', throttle=False)
            node.set_parameters([Parameter(name, value=param.default)])
            value = param.default
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


class PipelineStage(LifecycleNode):
    """A managed stage: one input topic, of which it processes the newest message.

    Subclasses set PARAMETERS (and LIVE_PARAMETERS, IDLE_PERIOD) and implement
    configure_stage(settings), stage_input() -> (msg type, topic, QoS), process(msg) ->
    number of faces or None (nothing published), release_stage(), and optionally
    idle(), stage_diagnostics() -> dict and input_decoder().
    """

    PARAMETERS = {}
    LIVE_PARAMETERS = set()
    IDLE_PERIOD = None

    def __init__(self, name, upstream: 'PipelineStage | None' = None, **kwargs):
        """upstream: the stage that feeds this one in-process where its output topic is this
        stage's input topic (after remapping); else this stage subscribes over DDS."""
        super().__init__(name, **kwargs)
        self.upstream = upstream
        self.downstream = []            # stages this one may feed in-process
        if upstream is not None:
            upstream.downstream.append(self)
        self._in_process_topic = None   # input topic while fed in-process
        self._decode = None             # input_decoder() while subscribed raw
        self.statistics = StageStatistics()
        self.errors = ErrorLog(self.get_logger())
        self.parameter_specs = {**self.PARAMETERS, **STAGE_PARAMETERS}
        self.settings = declare_checked_parameters(self, self.parameter_specs, self.errors)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.configure_problem = ''
        self._stage_publishers = []
        self._subscription = None
        self._idle_timer = None
        # Health is reported in every state (also unconfigured, with the reason).
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._diagnostics_timer = self.create_timer(self.settings['diagnostics.period'],
                                                    self._publish_diagnostics)

    # --- for subclasses -------------------------------------------------------------------
    def configure_stage(self, settings: dict):
        raise NotImplementedError

    def stage_input(self):
        raise NotImplementedError

    def process(self, msg):
        raise NotImplementedError

    def release_stage(self):
        pass

    def stage_diagnostics(self) -> dict:
        return {}

    def input_decoder(self):
        """None (rclpy converts the input), or a function from the serialized input to the
        message process() takes: then the subscription is raw and only the newest of the
        waiting messages is decoded."""
        return None

    def stage_publisher(self, msg_type, topic, qos=10):
        """An output: a lifecycle publisher (it publishes only while the node is active) that
        also feeds the downstream stages fed in-process from its topic."""
        publisher = StageOutput(self, self.create_lifecycle_publisher(msg_type, topic, qos))
        self._stage_publishers.append(publisher)
        return publisher

    def publishes(self, topic: str, msg_type) -> bool:
        """Whether this stage has an output of `msg_type` on the fully qualified `topic`."""
        return any(p.topic_name == topic and p.msg_type is msg_type
                   for p in self._stage_publishers)

    def now_seconds(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    @property
    def state_label(self) -> str:
        return self._state_machine.current_state[1]

    # --- lifecycle --------------------------------------------------------------------------
    def on_configure(self, state):
        self.settings = {name: self.get_parameter(name).value for name in self.parameter_specs}
        try:
            self.configure_stage(self.settings)
        except Exception as error:  # a bad model path or device must leave the node up
            self.configure_problem = str(error)
            self.get_logger().error(f'configure failed: {error}')
            self._release()
            return TransitionCallbackReturn.FAILURE
        self.configure_problem = ''
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state):
        msg_type, topic, qos = self.stage_input()
        self._input_type = msg_type
        topic = self.resolve_topic_name(topic)
        if self.upstream is not None and self.upstream.publishes(topic, msg_type):
            self._in_process_topic = topic
            self.get_logger().info(f'active: fed in-process by {self.upstream.get_name()} '
                                   f'on {topic}')
        else:
            self._decode = self.input_decoder()
            self._subscription = self.create_subscription(msg_type, topic, self._on_input, qos,
                                                          raw=self._decode is not None)
            self.get_logger().info(f'active: listening on {topic}')
        if self.IDLE_PERIOD:
            self._idle_timer = self.create_timer(self.IDLE_PERIOD, self.idle)
        return super().on_activate(state)

    def on_deactivate(self, state):
        self._stop()
        self.get_logger().info('inactive: not listening, not publishing')
        return super().on_deactivate(state)

    def on_cleanup(self, state):
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state):
        self._stop()
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state):
        self._stop()
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def destroy_node(self):
        self._stop()
        super().destroy_node()

    def _stop(self):
        self._in_process_topic = None
        if self._subscription is not None:
            self.destroy_subscription(self._subscription)
            self._subscription = None
        if self._idle_timer is not None:
            self.destroy_timer(self._idle_timer)
            self._idle_timer = None

    def _release(self):
        for publisher in self._stage_publishers:
            self.destroy_lifecycle_publisher(publisher.publisher)
        self._stage_publishers = []
        self.release_stage()

    # --- input ---------------------------------------------------------------------------
    def _take_waiting(self):
        """The next message already waiting on the input, or None (rclpy's executor takes the same way)."""
        with self._subscription.handle:
            taken = self._subscription.handle.take_message(self._input_type,
                                                            self._decode is not None)
        return taken[0] if taken else None

    def _on_input(self, msg):
        """Keep the newest of the messages waiting; count the rest as dropped."""
        self.statistics.on_received()
        superseded = 0
        while (newer := self._take_waiting()) is not None:
            self.statistics.on_received()
            msg, superseded = newer, superseded + 1
        self.statistics.on_dropped('superseded', superseded)
        self._process_safely(msg, self._decode)

    def take_in_process(self, topic: str, msg):
        """A message an upstream stage published on `topic`: processed at once if this stage
        is fed in-process from that topic (and so active)."""
        if topic == self._in_process_topic:
            self.statistics.on_received()
            self._process_safely(msg)

    def _process_safely(self, msg, decode=None):
        try:
            self._work(decode(msg) if decode else msg)
        except Exception as error:  # noqa: BLE001 - one bad message must not stop the stage
            self.errors.error('processing', f'processing failed: {error!r}')

    def too_old(self, stamp: float) -> bool:
        """Whether input stamped `stamp` is past max_frame_age (then it is counted and logged)."""
        max_age = self.settings['max_frame_age']
        age = self.now_seconds() - stamp
        # An unstamped message (0) has no age to check.
        if max_age <= 0 or stamp <= 0 or age <= max_age:
            return False
        self.statistics.on_dropped('stale')
        self.errors.warning('stale', f'dropping input {age:.3f} s old (> max_frame_age {max_age} s).'
                            ' Replaying a bag? Use sim time (ros2 bag play --clock, use_sim_time '
                            'true) or max_frame_age 0')
        return True

    def _work(self, msg):
        stamp = stamp_to_seconds(msg.header.stamp)
        if self.too_old(stamp):
            return
        faces = self.process(msg)
        if faces is not None:
            self.statistics.on_processed(self.now_seconds() - stamp if stamp > 0 else None, faces)

    def idle(self):
        """Called every IDLE_PERIOD s while active (subclasses that set IDLE_PERIOD)."""

    # --- parameters and diagnostics ---------------------------------------------------------
    def _on_set_parameters(self, changes):
        result = check_parameter_change(self.parameter_specs, changes)
        if result.successful:
            for change in changes:
                if change.name in LIVE_STAGE_PARAMETERS | self.LIVE_PARAMETERS:
                    self.settings[change.name] = change.value
                    if change.name == 'diagnostics.period':
                        self.destroy_timer(self._diagnostics_timer)
                        self._diagnostics_timer = self.create_timer(change.value,
                                                                    self._publish_diagnostics)
                elif change.name in self.parameter_specs and self.state_label != 'unconfigured':
                    self.get_logger().info(f'{change.name} set to {change.value!r}: it applies at '
                                           'the next configure')
        else:
            self.get_logger().warning(f'parameter change rejected: {result.reason}')
        return result

    def _publish_diagnostics(self):
        label = self.state_label
        thresholds = HealthThresholds(
            *(self.settings[f'diagnostics.{name}']
              for name in ('latency_warn', 'latency_error', 'drop_warn', 'input_timeout')))
        health = self.statistics.assess(thresholds, label == 'active', dict(self.errors.counts))
        level, message = health.level, health.message
        if label == 'unconfigured' and self.configure_problem:
            level, message = ERROR, f'configure failed: {self.configure_problem}'
        values = {'state': label, **self.stage_diagnostics(), **health.values}
        status = DiagnosticStatus(
            level=bytes([level]), name=f'emotion_ros: {self.get_fully_qualified_name()}',
            message=f'{label}: {message}' if message != label else label,
            hardware_id=str(values.get('device', 'cpu')),
            values=[KeyValue(key=key, value=_diagnostic_value(value))
                    for key, value in values.items()])
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self._diagnostics_pub.publish(array)


class StageOutput:
    """A stage's output topic: its lifecycle publisher, and the stages fed in-process from it.

    publish() hands the message to those stages and serialises it only when
    some other node subscribes: the AU crops of every face need not cross
    DDS when nothing but the in-process stage reads them.
    """

    def __init__(self, stage: PipelineStage, publisher):
        self.stage = stage
        self.publisher = publisher
        self.topic_name = publisher.topic_name
        self.msg_type = publisher.msg_type

    def publish(self, msg):
        if self.publisher.get_subscription_count() > 0:
            self.publisher.publish(msg)
        for downstream in self.stage.downstream:
            downstream.take_in_process(self.topic_name, msg)

    def get_subscription_count(self) -> int:
        """Subscribers over DDS (stages fed in-process do not subscribe)."""
        return self.publisher.get_subscription_count()


def _diagnostic_value(value) -> str:
    if value is None:
        return ''
    if isinstance(value, float):
        return f'{value:.3g}'
    return str(value)


def bring_up(node):
    """Configure and activate a pipeline stage whose `autostart` is true."""
    if not isinstance(node, PipelineStage) or not node.settings['autostart']:
        return
    node.trigger_configure()
    if node.state_label == 'inactive':
        node.trigger_activate()
    else:
        node.get_logger().error('stays unconfigured: fix the problem above, then configure it '
                                '(ros2 lifecycle set <node> configure)')


def run_node(node_class, args=None):
    """Create the node, bring it up, spin it until Ctrl-C or shutdown, and clean up."""
    rclpy.init(args=args)
    node = None
    try:
        node = node_class()
        bring_up(node)
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
