"""Where frames come from: cameras (V4L2, Picamera2), video files, image folders, streams."""
