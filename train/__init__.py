"""Training stage (needs TensorFlow): Fashion-MNIST or your images -> model.keras.

`command` is `edgecnn train`: named steps from the options (`TrainOptions`) to the written
outputs; `training.fit_model` is the loop (usable from Python), `report` the
train_report.json. The model is `config` (what to build) -> `model` (Keras), with the
feature-map arithmetic in `feature_maps`; `finetune`, `resume`, `strategy`, `augment` and
`photo_variants` are the parts of a run that the options switch on.
"""
