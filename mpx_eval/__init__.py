"""mpx_eval: cross-validated evaluation and reporting for small Keras image classifiers.

Importing the package is cheap: TensorFlow/Keras load only when a model is built or trained.
"""

__version__ = "0.1.0"
