"""`edgecnn capture`: camera frames saved as a labelled data set, as the model will see them.

`command` runs the device's frame loop without a model; the saves (`session`), the window
(`window`) and the --serve page's view are presenters on it; `page` is the page's routes,
`dataset` the folder and its manifest, `duplicates` the near-duplicate check.
"""
