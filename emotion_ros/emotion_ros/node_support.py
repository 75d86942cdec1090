"""The managed (lifecycle) pipeline stage with its diagnostics, and its entry point
(node_common has what every node shares: checked parameters, error counting).

A pipeline stage (face_detector, au_estimator, emotion) is a lifecycle node:
    configure   reads and checks the parameters, loads the model, creates the publishers
    activate    subscribes its input
    deactivate  unsubscribes, says what ends with it (finish(): the emotion node's END
                events), then nothing is processed or published
    cleanup     frees the model and the publishers
    shutdown    (also on Ctrl-C or SIGTERM, see run_stage) as deactivate and cleanup
Parameters that apply at configure can be set only while the stage is
unconfigured; the live ones (max_frame_age, diagnostics.*, a stage's own)
apply at once in every state.
It starts active by default (parameter `autostart`), so `ros2 run`, the launch
file and the composed runner need no lifecycle manager; with autostart false
it waits unconfigured for one (e.g. nav2_lifecycle_manager, `ros2 lifecycle set`).

Each stage keeps up with the newest input: before it processes a message it
takes whatever else is already waiting and processes, in order, the newest
and the one before it (a stall of a frame or so is caught up, and /emotions
still answers every frame), counting the older ones as dropped (superseded).
It drops input older than `max_frame_age`,
and reports its health on /diagnostics every `diagnostics.period` s.

In one process (the composed runner) a stage can be fed in-process by its
upstream stage, as rclcpp's intra-process communication does: the upstream
calls it with the message it publishes, with no executor wake-up and no
(de)serialisation between them. The topic is still published for any other
subscriber (rosbag record, rqt); a stage output nobody subscribes to is not
serialised at all. The stages of such a chain share one lock around their
callbacks, so the hand-off is safe under a MultiThreadedExecutor too.
"""
import functools
import threading

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import SetParametersResult
from rclpy.clock import Clock, ClockType
from rclpy.duration import Duration
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.qos import DurabilityPolicy

from .node_common import QOS_OVERRIDES, ErrorLog, declare_checked_parameters, run_node, \
    stop_requested, watch_parameters
from .parameter_checks import Param, at_least, between, greater_than
from .ros_messages import stamp_to_seconds
from .stage_statistics import ERROR, HealthThresholds, StageStatistics

# Parameters every pipeline stage has, beside its own.
STAGE_PARAMETERS = {
    'autostart': Param(True, description='configure and activate at start-up; false = wait '
                       'unconfigured for a lifecycle manager'),
    'max_frame_age': Param(0.5, at_least(0.0), 's: input older than this (by its header stamp) '
                           'is dropped; 0 = no limit. Replaying a bag: use sim time or 0'),
    'diagnostics.period': Param(1.0, greater_than(0.0), 's between /diagnostics reports'),
    'diagnostics.latency_warn': Param(0.2, greater_than(0.0),
                                      's: WARN when the p95 age of this stage\'s outputs is above'),
    'diagnostics.latency_error': Param(1.0, greater_than(0.0),
                                       's: ERROR when the p95 age of the outputs is above'),
    'diagnostics.drop_warn': Param(0.5, between(0.0, 1.0),
                                   'WARN when this fraction of the input was dropped in a period'),
    'diagnostics.input_timeout': Param(2.0, greater_than(0.0), 's without input before WARN'),
}
# Stage parameters that apply at once when set at run time; the others apply at configure and
# can be set only while the stage is unconfigured.
LIVE_STAGE_PARAMETERS = {'max_frame_age', *(n for n in STAGE_PARAMETERS if n.startswith('diag'))}


def one_at_a_time(method):
    """Run a stage callback under the stage's lock, which the stages of one in-process chain
    share: an upstream stage calls its downstream from its own callback (StageOutput), so
    under a MultiThreadedExecutor the downstream's callbacks must not run beside it."""
    @functools.wraps(method)
    def locked(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)
    return locked


class PipelineStage(LifecycleNode):
    """A managed stage: one input topic, of which it keeps up with the newest message.

    Subclasses set PARAMETERS (and LIVE_PARAMETERS, IDLE_PERIOD) and implement
    configure_stage(settings), stage_input() -> (msg type, topic, QoS), process(msg) ->
    number of faces or None (nothing published), release_stage(), and optionally
    idle(), stage_diagnostics() -> dict and input_decoder().
    """

    PARAMETERS = {}
    LIVE_PARAMETERS = set()
    IDLE_PERIOD = None
    # Messages waiting behind the newest that the stage still processes, oldest first: a stall
    # of about a frame (a busy core) costs no answer, and under steady overload the latency
    # stays within two frames' processing.
    CATCH_UP = 1

    def __init__(self, name, upstream: 'PipelineStage | None' = None, **kwargs):
        """upstream: the stage that feeds this one in-process where its output topic is this
        stage's input topic (after remapping); else this stage subscribes over DDS."""
        super().__init__(name, **kwargs)
        self._lock = upstream._lock if upstream is not None else threading.RLock()
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
        watch_parameters(self, self.parameter_specs, self._on_parameter_change)
        self.configure_problem = ''
        self._stage_publishers = []
        self._subscription = None
        self._idle_timer = None
        # Health is reported in every state (also unconfigured, with the reason), on a
        # steady clock: also while a sim clock (a paused bag) stands still.
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10,
                                                      qos_overriding_options=QOS_OVERRIDES)
        self._steady_clock = Clock(clock_type=ClockType.STEADY_TIME)
        self._diagnostics_timer = self._diagnostics_every(self.settings['diagnostics.period'])

    # --- for subclasses -------------------------------------------------------------------
    def configure_stage(self, settings: dict):
        raise NotImplementedError

    def stage_input(self):
        raise NotImplementedError

    def process(self, msg):
        raise NotImplementedError

    def release_stage(self):
        pass

    def finish(self):
        """Called when the active stage stops (deactivate, shutdown) while its outputs can
        still publish: say what ends with it."""

    def stage_diagnostics(self) -> dict:
        return {}

    def input_decoder(self):
        """None (rclpy converts the input), or a function from the serialized input to the
        message process() takes: then the subscription is raw and only the waiting messages
        processed are decoded."""
        return None

    def stage_publisher(self, msg_type, topic, qos=10):
        """An output: a lifecycle publisher (it publishes only while the node is active) that
        also feeds the downstream stages fed in-process from its topic."""
        publisher = StageOutput(self, self.create_lifecycle_publisher(
            msg_type, topic, qos, qos_overriding_options=QOS_OVERRIDES))
        self._stage_publishers.append(publisher)
        return publisher

    def publishes(self, topic: str, msg_type) -> bool:
        """Whether this stage has an output of `msg_type` on the fully qualified `topic`."""
        return any(p.topic_name == topic and p.msg_type is msg_type
                   for p in self._stage_publishers)

    def now_seconds(self) -> float:
        """ROS time: /clock under use_sim_time (it stands still while a bag is paused)."""
        return self.get_clock().now().nanoseconds * 1e-9

    @property
    def state_label(self) -> str:
        return self._state_machine.current_state[1]

    # --- lifecycle --------------------------------------------------------------------------
    @one_at_a_time
    def on_configure(self, state):
        self.settings = {name: param.accepted(self.get_parameter(name).value)
                         for name, param in self.parameter_specs.items()}
        try:
            self.configure_stage(self.settings)
        except Exception as error:  # a bad model path or device must leave the node up
            self.configure_problem = str(error)
            if stop_requested():    # Ctrl-C while loading, turned into the loader's error
                self.get_logger().info('configure interrupted: stopping')
            else:
                self.get_logger().error(f'configure failed: {error}')
            self._release()
            return TransitionCallbackReturn.FAILURE
        self.configure_problem = ''
        return TransitionCallbackReturn.SUCCESS

    @one_at_a_time
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
            self._subscription = self.create_subscription(
                msg_type, topic, self._on_input, qos, raw=self._decode is not None,
                qos_overriding_options=QOS_OVERRIDES)
            self.get_logger().info(f'active: listening on {topic}')
        if self.IDLE_PERIOD:
            # On the node clock (ROS time), as the input's stamps: a paused sim clock pauses it.
            self._idle_timer = self.create_timer(self.IDLE_PERIOD, self._on_idle)
        return super().on_activate(state)

    @one_at_a_time
    def on_deactivate(self, state):
        if self._stop():
            self.finish()
        self.get_logger().info('inactive: not listening, not publishing')
        return super().on_deactivate(state)

    @one_at_a_time
    def on_cleanup(self, state):
        self._release()
        return TransitionCallbackReturn.SUCCESS

    @one_at_a_time
    def on_shutdown(self, state):
        if self._stop():
            self.finish()
            # The process may end right after: let the subscribers have what finish() said.
            for output in self._stage_publishers:
                output.publisher.wait_for_all_acked(Duration(seconds=0.5))
        self._release()
        return TransitionCallbackReturn.SUCCESS

    @one_at_a_time
    def on_error(self, state):
        self._stop()
        self._release()
        return TransitionCallbackReturn.SUCCESS

    @one_at_a_time
    def destroy_node(self):
        self._stop()
        super().destroy_node()

    def _stop(self) -> bool:
        """Stop taking input; whether the stage was taking any (active)."""
        was_active = self._subscription is not None or self._in_process_topic is not None
        self._in_process_topic = None
        if self._subscription is not None:
            self.destroy_subscription(self._subscription)
            self._subscription = None
        if self._idle_timer is not None:
            self.destroy_timer(self._idle_timer)
            self._idle_timer = None
        return was_active

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

    @one_at_a_time
    def _on_input(self, msg):
        """Process the newest of the messages waiting and the CATCH_UP before it, in order;
        count the older ones as dropped."""
        self.statistics.on_received()
        waiting, superseded = [msg], 0
        while (newer := self._take_waiting()) is not None:
            self.statistics.on_received()
            waiting.append(newer)
            if len(waiting) > 1 + self.CATCH_UP:
                waiting.pop(0)
                superseded += 1
        self.statistics.on_dropped('superseded', superseded)
        for msg in waiting:
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
        """Called every IDLE_PERIOD s (ROS time) while active (subclasses that set IDLE_PERIOD)."""

    @one_at_a_time
    def _on_idle(self):
        self.idle()

    # --- parameters and diagnostics ---------------------------------------------------------
    @one_at_a_time
    def _on_parameter_change(self, changes) -> SetParametersResult:
        """Live parameters apply at once; the others are read at configure, so they can be
        changed only while unconfigured (else `param get` would show a value not in use)."""
        live = LIVE_STAGE_PARAMETERS | self.LIVE_PARAMETERS
        later = [c.name for c in changes if c.name in self.parameter_specs and c.name not in live]
        if later and self.state_label != 'unconfigured':
            return SetParametersResult(successful=False, reason=(
                f"{', '.join(later)} applies at configure: deactivate and clean up the node "
                f'first (ros2 lifecycle set {self.get_fully_qualified_name()} cleanup), or set '
                'it while unconfigured'))
        for change in changes:
            if change.name in live:
                self.settings[change.name] = self.parameter_specs[change.name].accepted(change.value)
                if change.name == 'diagnostics.period':
                    self.destroy_timer(self._diagnostics_timer)
                    self._diagnostics_timer = self._diagnostics_every(
                        self.settings[change.name])
        return SetParametersResult(successful=True)

    def _diagnostics_every(self, period: float):
        return self.create_timer(period, self._publish_diagnostics, clock=self._steady_clock)

    @one_at_a_time
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
    some other node subscribes, or will (a transient local topic keeps its
    history for late subscribers): the AU crops of every face need not cross
    DDS when nothing but the in-process stage reads them.
    """

    def __init__(self, stage: PipelineStage, publisher):
        self.stage = stage
        self.publisher = publisher
        self.topic_name = publisher.topic_name
        self.msg_type = publisher.msg_type
        self.keeps_history = publisher.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL

    def publish(self, msg):
        if self.keeps_history or self.publisher.get_subscription_count() > 0:
            self.publisher.publish(msg)
        for downstream in self.stage.downstream:
            downstream.take_in_process(self.topic_name, msg)

    def get_subscription_count(self) -> int:
        """Subscribers over DDS (stages fed in-process do not subscribe)."""
        return self.publisher.get_subscription_count()


class LastFrameAnswers:
    """Per face id, the message a stage had in the last frame and its answer to it.

    In the composed runner the frames between two looks hand on the very same
    face messages; a stage gives such a message its last answer instead of
    working it out again. Messages are compared by identity: a copy (over DDS)
    is worked out anew. `key` holds what else the answer depends on (settings).
    """

    def __init__(self):
        self._last = {}     # face id -> (message, answer, key)

    def seen(self, face_id, message) -> bool:
        """Whether `message` is the very one this stage had for `face_id` in the last frame."""
        last = self._last.get(face_id)
        return last is not None and last[0] is message

    def answer(self, face_id, message, key=None):
        """The last frame's answer to `message` made with the same `key`, else None."""
        last = self._last.get(face_id)
        return last[1] if last is not None and last[0] is message and last[2] == key else None

    def keep(self, answers):
        """This frame's (face id, message, answer, key) replace the last frame's."""
        self._last = {face_id: (message, answer, key) for face_id, message, answer, key in answers}


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
    elif not stop_requested():
        node.get_logger().error('stays unconfigured: fix the problem above, then configure it '
                                '(ros2 lifecycle set <node> configure)')


# The states a lifecycle shutdown can start from (not finalized, not mid-transition).
SHUTDOWN_FROM = ('unconfigured', 'inactive', 'active')


def shut_down(node):
    """The lifecycle shutdown of a stage that is stopped (Ctrl-C, SIGTERM): an active one
    says what ends with it (finish()) first. A stage stopped in the middle of a transition
    (Ctrl-C while it still loads its model) has published nothing to end: it just goes."""
    if isinstance(node, PipelineStage) and node.state_label in SHUTDOWN_FROM:
        node.trigger_shutdown()


def run_stage(node_class, args=None):
    """The entry point of a pipeline stage's executable: run_node, bringing it up and
    shutting it down."""
    run_node(node_class, args, start=bring_up, stop=shut_down)
