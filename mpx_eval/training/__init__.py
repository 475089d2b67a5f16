"""The Keras side: model builders, training one unit or a batch of units, where units train
(this process or a Ray cluster), what a unit keeps of its model, Grad-CAM and prediction with
saved models. The only layer that imports Keras, and only when one of these names is used."""

from .. import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "t3": ".models",
        "t4": ".models",
        "build": ".models",
        "resolve_model": ".models",
        "train_unit": ".train",
        "UnitResult": ".train",
        "Executor": ".executors",
        "make_executor": ".executors",
        "load_saved_model": ".predict",
    },
)
