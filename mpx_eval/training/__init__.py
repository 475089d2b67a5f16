"""The Keras side: model builders, training one unit or a batch of units, where units train
(this process or a Ray cluster), what a unit keeps of its model, Grad-CAM and prediction with
saved models. The only layer that imports Keras."""
