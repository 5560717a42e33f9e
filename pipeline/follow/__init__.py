"""Following one player and the camera: the pick, the follow, the highlight's path and the
9:16 camera's path, all pure functions of detections (the look follow reads frames)."""
