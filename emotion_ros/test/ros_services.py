"""Calls to a node's parameter and lifecycle services, as `ros2 param` and `ros2 lifecycle` make them."""
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rcl_interfaces.srv import DescribeParameters, GetParameters, SetParameters
from rclpy.parameter import Parameter


def call_service(test_node, service_type, service, request, timeout):
    """The response of `service`, answered within `timeout` s."""
    client = test_node.node.create_client(service_type, service)
    assert client.wait_for_service(timeout_sec=10)
    future = client.call_async(request)
    assert test_node.spin_until(future.done, timeout)
    return future.result()


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


def transition(test_node, node_name, transition_id) -> bool:
    """Whether `ros2 lifecycle set node_name <transition>` succeeded."""
    return call_service(test_node, ChangeState, f'{node_name}/change_state',
                        ChangeState.Request(transition=Transition(id=transition_id)), 30).success


def reconfigure(test_node, node_name):
    """Deactivate, clean up, configure and activate an active node."""
    for transition_id in (Transition.TRANSITION_DEACTIVATE, Transition.TRANSITION_CLEANUP,
                          Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE):
        assert transition(test_node, node_name, transition_id), transition_id
