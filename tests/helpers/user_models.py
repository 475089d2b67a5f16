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
