"""The emotion_ros pipeline: face_detector -> au_estimator -> emotion (-> care_speaker).

    ros2 launch emotion_ros pipeline.launch.py image:=/camera/color/image_raw
    ros2 launch emotion_ros pipeline.launch.py image:=/camera/color/image_raw compressed:=true \
        au_backend:=openvino au_device:=NPU namespace:=robot behaviour:=true
    ros2 launch emotion_ros pipeline.launch.py composed:=true use_sim_time:=true log_level:=debug
    ros2 launch emotion_ros pipeline.launch.py hri:=true   # ROS4HRI output (hri_publisher)
    ros2 launch emotion_ros pipeline.launch.py profile:=robot   # the robot budget mode
    ros2 launch emotion_ros pipeline.launch.py saliency_view:=true   # debug: faces/saliency

Parameters come from config/pipeline.yaml (`params_file` to use your own);
profile:=NAME adds the package's config/NAME.yaml over it (robot: the robot
budget mode, config/robot.yaml; pepper); the launch arguments override the
few that differ between robots, and an empty one leaves the params file's value. composed:=true runs the same nodes
in one process (the `pipeline` executable, faster: see pipeline.py) with the
same parameters and remappings; respawn:=true restarts a process that exits.
"""
import os

# What this file starts and reads; test_launch.py checks them against setup.py
# and the package's files without needing `launch` installed.
PACKAGE = 'emotion_ros'
EXECUTABLES = ('face_detector', 'au_estimator', 'emotion', 'care_speaker', 'hri_publisher',
               'saliency_view', 'pipeline')
CONFIG_DIR = 'config'
CONFIG_FILE = os.path.join(CONFIG_DIR, 'pipeline.yaml')

# name -> (default, description); '' = as in params_file.
ARGUMENTS = {
    'image': ('image', 'input image topic (raw; the detector subscribes <image>/compressed when '
                       'input_compressed is true)'),
    'compressed': ('', "true: subscribe <image>/compressed (sensor_msgs/CompressedImage); "
                       "'' = input_compressed as in params_file"),
    'au_backend': ('', "AU model backend: tensorflow or openvino ('' = as in params_file)"),
    'au_device': ('', "AU model device: CPU, or GPU / NPU / MYRIAD / AUTO with openvino "
                      "('' = as in params_file)"),
    'namespace': ('', 'namespace of the nodes and their relative topics'),
    'behaviour': ('false', 'also start the care_speaker example behaviour node'),
    'hri': ('false', 'also start hri_publisher: ROS4HRI topics under /humans/faces (needs '
                     'hri_msgs)'),
    'saliency_view': ('false', 'also start saliency_view (its own process, TensorFlow): where the '
                               'AU model looked, on faces/saliency, only while subscribed'),
    'use_sim_time': ('false', 'follow /clock (replaying a bag with `ros2 bag play --clock`)'),
    'log_level': ('info', 'debug, info, warn, error or fatal (or <logger>:=<level>)'),
    'respawn': ('false', 'restart a node process that exits'),
    'respawn_delay': ('2.0', 's to wait before a restart'),
    'composed': ('false', 'run the nodes in one process (the pipeline executable)'),
    'profile': ('', "parameters over params_file from the package's config/<profile>.yaml: robot "
                    "(the robot budget mode: AUs of a face 5 times a second), pepper; '' = none"),
}


def _flag(text: str) -> bool:
    return text.strip().lower() in ('true', '1', 'yes', 'on')


def node_specs(args: dict) -> list[dict]:
    """Keyword arguments of each launch_ros Node to start, from the launch arguments' values
    (ARGUMENTS, params_file, and config_dir: the installed package's config directory).

    Plain data, so that test_launch.py checks it where `launch` is not installed.
    """
    params_files = [args['params_file']]
    if args.get('profile', '').strip():
        profile_file = os.path.join(args['config_dir'], args['profile'].strip() + '.yaml')
        if not os.path.isfile(profile_file):
            raise ValueError(f"profile:={args['profile']}: {profile_file} is not installed")
        params_files.append(profile_file)
    image = args['image'].rstrip('/') or 'image'
    # The detector subscribes `image` or `image/compressed` as input_compressed says (the
    # argument, or else the params file): remapping both follows either.
    remappings = [('image', image), ('image/compressed', image + '/compressed')]
    sim_time = {'use_sim_time': _flag(args['use_sim_time'])}
    detector = dict(sim_time)
    if args['compressed'].strip():
        detector['input_compressed'] = _flag(args['compressed'])
    au = {name: args[argument] for name, argument in
          (('backend', 'au_backend'), ('device', 'au_device')) if args[argument]}
    common = {'package': PACKAGE, 'namespace': args['namespace'], 'output': 'screen',
              'ros_arguments': ['--log-level', args['log_level']],
              'respawn': _flag(args['respawn']), 'respawn_delay': float(args['respawn_delay'])}
    behaviour = _flag(args['behaviour'])
    hri = _flag(args.get('hri', 'false'))
    # Its own process in either mode: the gradients never run in the pipeline's.
    debug = [dict(common, executable='saliency_view', name='saliency_view',
                  parameters=[*params_files, sim_time])] \
        if _flag(args.get('saliency_view', 'false')) else []
    if _flag(args['composed']):
        # One process: overrides in the dict reach every node in it, so the AU model's
        # backend and device go through the runner's options (the detector has a `device` too).
        options = ['--behaviour'] if behaviour else []
        options += ['--hri'] if hri else []
        for name, value in au.items():
            options += [f'--au-{name}', value]
        return [dict(common, executable='pipeline', arguments=options, remappings=remappings,
                     parameters=[*params_files, detector]), *debug]
    specs = [
        dict(common, executable='face_detector', name='face_detector', remappings=remappings,
             parameters=[*params_files, detector]),
        dict(common, executable='au_estimator', name='au_estimator',
             parameters=[*params_files, {**sim_time, **au}]),
        dict(common, executable='emotion', name='emotion', parameters=[*params_files, sim_time]),
    ]
    if behaviour:
        specs.append(dict(common, executable='care_speaker', name='care_speaker',
                          parameters=[*params_files, sim_time]))
    if hri:
        specs.append(dict(common, executable='hri_publisher', name='hri_publisher',
                          parameters=[*params_files, sim_time]))
    return specs + debug


def _nodes(context):
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import Node

    from ament_index_python.packages import get_package_share_directory

    values = {name: context.perform_substitution(LaunchConfiguration(name))
              for name in (*ARGUMENTS, 'params_file')}
    values['config_dir'] = os.path.join(get_package_share_directory(PACKAGE), CONFIG_DIR)
    return [Node(**spec) for spec in node_specs(values)]


def generate_launch_description():
    from ament_index_python.packages import get_package_share_directory
    from launch import LaunchDescription
    from launch.actions import DeclareLaunchArgument, OpaqueFunction

    default_params = os.path.join(get_package_share_directory(PACKAGE), CONFIG_FILE)
    return LaunchDescription([
        *(DeclareLaunchArgument(name, default_value=default, description=description)
          for name, (default, description) in ARGUMENTS.items()),
        DeclareLaunchArgument('params_file', default_value=default_params,
                              description='YAML with a section per node'),
        OpaqueFunction(function=_nodes),
    ])
