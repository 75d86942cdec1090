"""emotion_ros: faces, Action Units and emotions for robots, as ROS 2 nodes."""
