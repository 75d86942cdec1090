"""The emotion_ros pipeline: face_detector -> au_estimator -> emotion (-> care_speaker).

    ros2 launch emotion_ros pipeline.launch.py image:=/camera/color/image_raw
    ros2 launch emotion_ros pipeline.launch.py image:=/camera/color/image_raw compressed:=true \
        au_backend:=openvino au_device:=NPU namespace:=robot behaviour:=true

Parameters come from config/pipeline.yaml (`params_file` to use your own);
the launch arguments override the few that differ between robots. The same
nodes run in one process with `ros2 run emotion_ros pipeline`.
"""
import os

# What this file starts and reads; test_launch.py checks them against setup.py
# and the package's files without needing `launch` installed.
PACKAGE = 'emotion_ros'
EXECUTABLES = ('face_detector', 'au_estimator', 'emotion', 'care_speaker')
CONFIG_FILE = os.path.join('config', 'pipeline.yaml')


def _nodes(context):
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import Node

    def arg(name):
        return context.perform_substitution(LaunchConfiguration(name))

    params_file = arg('params_file')
    namespace = arg('namespace')
    compressed = arg('compressed').lower() in ('true', '1', 'yes')
    image = arg('image')
    image_remap = (('image/compressed', image.rstrip('/') + '/compressed') if compressed
                   else ('image', image))
    common = {'package': PACKAGE, 'namespace': namespace, 'output': 'screen'}
    nodes = [
        Node(executable='face_detector', name='face_detector', remappings=[image_remap],
             parameters=[params_file, {'input_compressed': compressed}], **common),
        Node(executable='au_estimator', name='au_estimator',
             parameters=[params_file, {name: value for name, value in (
                 ('backend', arg('au_backend')), ('device', arg('au_device'))) if value}],
             **common),
        Node(executable='emotion', name='emotion', parameters=[params_file], **common),
    ]
    if arg('behaviour').lower() in ('true', '1', 'yes'):
        nodes.append(Node(executable='care_speaker', name='care_speaker',
                          parameters=[params_file], **common))
    return nodes


def generate_launch_description():
    from ament_index_python.packages import get_package_share_directory
    from launch import LaunchDescription
    from launch.actions import DeclareLaunchArgument, OpaqueFunction

    default_params = os.path.join(get_package_share_directory(PACKAGE), CONFIG_FILE)
    return LaunchDescription([
        DeclareLaunchArgument('image', default_value='image',
                              description='input image topic (raw; /compressed is appended '
                                          'when compressed:=true)'),
        DeclareLaunchArgument('compressed', default_value='false',
                              description='subscribe <image>/compressed (sensor_msgs/CompressedImage)'),
        DeclareLaunchArgument('au_backend', default_value='',
                              description="AU model backend: tensorflow or openvino ('' = as in "
                                          'params_file)'),
        DeclareLaunchArgument('au_device', default_value='',
                              description='AU model device: CPU, or GPU / NPU / MYRIAD / AUTO with '
                                          "openvino ('' = as in params_file)"),
        DeclareLaunchArgument('namespace', default_value='',
                              description='namespace of the nodes and their relative topics'),
        DeclareLaunchArgument('behaviour', default_value='false',
                              description='also start the care_speaker example behaviour node'),
        DeclareLaunchArgument('params_file', default_value=default_params,
                              description='YAML with a section per node'),
        OpaqueFunction(function=_nodes),
    ])
