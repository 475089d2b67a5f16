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


def softmax_layer(input_shape, num_classes):
    """Ends in a separate Softmax layer."""
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.GlobalAveragePooling2D(),
            layers.Dense(num_classes),
            layers.Softmax(),
        ]
    )


def softmax_activation(input_shape, num_classes):
    """Ends in an Activation("softmax") layer."""
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.GlobalAveragePooling2D(),
            layers.Dense(num_classes),
            layers.Activation("softmax"),
        ]
    )


def two_outputs(input_shape, num_classes):
    """Two heads: not a classifier mpx_eval can train."""
    inputs = keras.Input(shape=input_shape)
    pooled = layers.GlobalAveragePooling2D()(inputs)
    return keras.Model(inputs, [layers.Dense(num_classes)(pooled), layers.Dense(1)(pooled)])


class _Poison(layers.Layer):
    """Turns every value into NaN: a model whose training diverges at once."""

    def call(self, inputs):
        return inputs * float("nan")


def outputs_nan(input_shape, num_classes):
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Rescaling(1.0 / 255),
            layers.GlobalAveragePooling2D(),
            layers.Dense(num_classes),
            _Poison(),
        ]
    )


class _ExitsInTraining(layers.Layer):
    def call(self, inputs, training=None):
        if training:
            import sys

            sys.exit(3)
        return inputs


def exits_in_training(input_shape, num_classes):
    """Calls sys.exit() as soon as Keras traces a training step."""
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            _ExitsInTraining(),
            layers.GlobalAveragePooling2D(),
            layers.Dense(num_classes),
        ]
    )


def interrupts(input_shape, num_classes):
    """Raises KeyboardInterrupt while building, with no Ctrl-C pressed."""
    raise KeyboardInterrupt


def sized_abc(input_shape, num_classes):
    return tiny(input_shape, num_classes)


sized_abc.default_image_size = "abc"


def sized_3(input_shape, num_classes):
    return tiny(input_shape, num_classes)


sized_3.default_image_size = 3
