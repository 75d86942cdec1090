"""Calls to a node's parameter and lifecycle services, as `ros2 param` and `ros2 lifecycle` make them."""
import time

from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rcl_interfaces.srv import DescribeParameters, GetParameters, SetParameters
from rclpy.parameter import Parameter


# s after which a request without a response is sent again. A service answers a client it
# has not discovered yet into the void (DDS drops the response: the server's response writer
# does not know the client's reader), which happens to the first call to a node just started
# on a loaded machine; a second request, after discovery, is answered.
RESEND_AFTER = 5.0


def call_service(test_node, service_type, service, request, timeout):
    """The response of `service`, answered within `timeout` s; the request is sent again every
    RESEND_AFTER s without a response. Only for requests that may be applied twice (queries,
    setting a parameter to a value); `transition` handles its own."""
    client = test_node.node.create_client(service_type, service)
    assert client.wait_for_service(timeout_sec=10)
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        future = client.call_async(request)
        if test_node.spin_until(future.done, min(RESEND_AFTER, left)):
            return future.result()
        client.remove_pending_request(future)
    raise AssertionError(f'{service} did not answer within {timeout} s')


def set_parameter(test_node, node_name, name, value):
    """The SetParametersResult of `ros2 param set node_name name value`."""
    return call_service(test_node, SetParameters, f'{node_name}/set_parameters',
                        SetParameters.Request(parameters=[Parameter(name, value=value)
                                                          .to_parameter_msg()]), 10).results[0]


def get_parameter(test_node, node_name, name):
    """The ParameterValue message `ros2 param get` shows."""
    return call_service(test_node, GetParameters, f'{node_name}/get_parameters',
                        GetParameters.Request(names=[name]), 10).values[0]


def describe_parameters(test_node, node_name, names) -> dict:
    """{name: ParameterDescriptor}, as `ros2 param describe` gets them."""
    response = call_service(test_node, DescribeParameters, f'{node_name}/describe_parameters',
                            DescribeParameters.Request(names=list(names)), 10)
    return dict(zip(names, response.descriptors))


def state(test_node, node_name) -> int:
    return call_service(test_node, GetState, f'{node_name}/get_state', GetState.Request(),
                        30).current_state.id


# The state each lifecycle transition leads to when it succeeds.
TRANSITION_GOALS = {Transition.TRANSITION_CONFIGURE: State.PRIMARY_STATE_INACTIVE,
                    Transition.TRANSITION_ACTIVATE: State.PRIMARY_STATE_ACTIVE,
                    Transition.TRANSITION_DEACTIVATE: State.PRIMARY_STATE_INACTIVE,
                    Transition.TRANSITION_CLEANUP: State.PRIMARY_STATE_UNCONFIGURED}


def transition(test_node, node_name, transition_id) -> bool:
    """Whether `ros2 lifecycle set node_name <transition>` succeeded.

    A transition is requested again only when it was not made: when its response does not
    come within RESEND_AFTER s, the node's state (get_state, answered by the same executor, so
    after any transition it was running) says whether it was made (then whether it reached
    its goal is the answer) or the request was lost (then it is sent again)."""
    before = state(test_node, node_name)
    client = test_node.node.create_client(ChangeState, f'{node_name}/change_state')
    assert client.wait_for_service(timeout_sec=10)
    request = ChangeState.Request(transition=Transition(id=transition_id))
    for _ in range(6):
        future = client.call_async(request)
        if test_node.spin_until(future.done, RESEND_AFTER):
            return future.result().success
        client.remove_pending_request(future)
        now = state(test_node, node_name)
        if now != before:
            return now == TRANSITION_GOALS.get(transition_id)
    raise AssertionError(f'{node_name}/change_state did not answer')


def reconfigure(test_node, node_name):
    """Deactivate, clean up, configure and activate an active node."""
    for transition_id in (Transition.TRANSITION_DEACTIVATE, Transition.TRANSITION_CLEANUP,
                          Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE):
        assert transition(test_node, node_name, transition_id), transition_id
