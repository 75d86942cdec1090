"""What every emotion_ros node shares: error counting and the process entry point."""
import time

import rclpy
from rclpy.executors import ExternalShutdownException


class ErrorLog:
    """Counts errors by kind (for diagnostics) and logs each kind at most once per `period` s."""

    def __init__(self, logger, period: float = 1.0):
        self.logger = logger
        self.period = period
        self.counts = {}
        self._last_logged = {}

    def error(self, kind: str, text: str):
        self.counts[kind] = self.counts.get(kind, 0) + 1
        now = time.monotonic()
        if now - self._last_logged.get(kind, -float('inf')) >= self.period:
            self._last_logged[kind] = now
            self.logger.error(f'{text} [{kind}, {self.counts[kind]} so far]')


def declare_parameters(node, defaults: dict) -> dict:
    """Declare each parameter with its default; return their values (YAML or command line wins)."""
    for name, default in defaults.items():
        node.declare_parameter(name, default)
    return {name: node.get_parameter(name).value for name in defaults}


def run_node(node_class, args=None):
    """Create the node, spin it until Ctrl-C or shutdown, and clean up."""
    rclpy.init(args=args)
    node = None
    try:
        node = node_class()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
