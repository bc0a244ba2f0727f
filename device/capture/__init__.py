"""`edgecnn capture`: camera frames saved as a labelled data set, as the model will see them.

`command` runs the device's frame loop without a model; the saves (`session`), the window
(`window`), the --serve page's view and the progress of a capture nobody watches
(`progress`) are presenters on it; `page` is the page's routes, `review` the view that
labels the frames `run --save-unsure` kept. The data set on disk is `device/store/`.
"""
