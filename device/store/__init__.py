"""The capture data set on disk: class folders and their manifest (`dataset`, put right after
an interrupted capture by `reconcile`), the near-duplicate check (`duplicates`) and the review
queue of frames waiting for a label (`unlabelled`). Used by `capture/` (what it saves) and by
`run --save-unsure` (`outputs/unsure.py`); imports only the core."""
