"""Where results go: JSON lines, a window, the recorded video, the --serve page, MQTT.

Each output is a `Presenter` (`frame_result`) given a `FrameResult` per frame; a result
becomes JSON in one place, `presenters.result_record`.
"""
