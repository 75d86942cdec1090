from glob import glob

from setuptools import find_packages, setup

package_name = 'emotion_ros'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    package_data={package_name: ['models/*.xml', 'models/*.bin', 'models/*.npz', 'models/*.md',
                                 'models/*.json', 'models/LICENSE*', 'models/au_model/*']},
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        ('share/' + package_name + '/launch', glob('launch/*.launch.py')),
        ('share/' + package_name + '/config', glob('config/*.yaml') + glob('config/*.xml')),
    ],
    install_requires=['setuptools'],
    zip_safe=False,
    maintainer='emotion_ros maintainers',
    maintainer_email='maintainers@emotion-ros.org',
    description='Face, Action Unit and emotion perception for robots, as ROS 2 nodes.',
    # Code and BlazeFace: Apache-2.0; the AU model and k-NN weights: research use only
    # (models/LICENSE.research-weights.md; package.xml and the README's licence table).
    license='Apache-2.0 AND LicenseRef-research-only',
    tests_require=['pytest'],
    entry_points={
        'console_scripts': [
            'face_detector = emotion_ros.face_detector_node:main',
            'au_estimator = emotion_ros.au_estimator_node:main',
            'emotion = emotion_ros.emotion_node:main',
            'care_speaker = emotion_ros.care_speaker_node:main',
            'hri_publisher = emotion_ros.hri_publisher_node:main',
            'pipeline = emotion_ros.pipeline:main',
            'bag_tools = emotion_ros.bag_tools:main',
            'explain = emotion_ros.explain:main',
            'saliency_view = emotion_ros.saliency_view_node:main',
        ],
    },
)
