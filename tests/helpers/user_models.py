"""Model builders a user might pass as --models package.module:function."""

import keras
from keras import layers


def tiny(input_shape, num_classes):
    """A small CNN ending in logits."""
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Rescaling(1.0 / 255),
            layers.Conv2D(4, 3, activation="relu"),
            layers.GlobalAveragePooling2D(),
            layers.Dense(num_classes),
        ]
    )


tiny.default_image_size = 40


def softmax_head(input_shape, num_classes):
    """Ends in probabilities, not logits."""
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Rescaling(1.0 / 255),
            layers.GlobalAveragePooling2D(),
            layers.Dense(num_classes, activation="softmax"),
        ]
    )


def not_a_model(input_shape, num_classes):
    return "a string"


def wrong_outputs(input_shape, num_classes):
    return keras.Sequential([keras.Input(shape=input_shape), layers.Flatten(), layers.Dense(7)])


class _RefusesToTrain(layers.Layer):
    """Passes inputs through, but raises as soon as Keras traces a training step."""

    def call(self, inputs, training=None):
        if training:
            raise RuntimeError("this layer refuses to train")
        return inputs


def explodes(input_shape, num_classes):
    """Builds fine, fails in fit: a user model with a bug."""
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Rescaling(1.0 / 255),
            _RefusesToTrain(),
            layers.GlobalAveragePooling2D(),
            layers.Dense(num_classes),
        ]
    )


def explodes_while_flagged(input_shape, num_classes):
    """Fails to train while the file named by $MPX_EVAL_TEST_FAIL_FLAG exists, so a test can
    make a unit fail once and succeed when resumed."""
    import os

    flag = os.environ.get("MPX_EVAL_TEST_FAIL_FLAG", "")
    if flag and os.path.exists(flag):
        return explodes(input_shape, num_classes)
    return tiny(input_shape, num_classes)
