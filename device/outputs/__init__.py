"""Where results go: JSON lines, a window, the recorded video, the --serve page, MQTT."""
