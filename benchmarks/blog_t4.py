"""The blog's own training script, kept as close to it as Keras 3 allows, as a baseline.

It reads the class folders with ``image_dataset_from_directory`` (80/20 split, seed 123),
caches, shuffles and prefetches with tf.data, and trains T4 (or T3 with ``--model t3``)
with Adam 1e-4, batch 32, saving the weights of the best validation-accuracy epoch. The only
changes: Keras 3 wants ``.weights.h5`` for weights-only checkpoints, the data folder, epochs
and output folder are options, and the script reports its timing.

    python benchmarks/blog_t4.py --data-dir path/to/msld-original --epochs 50

The last line of output is JSON for ``compare.py``: ``train_images`` (images in the training
subset), ``epochs``, ``train_seconds`` (wall time from building the model to the end of
``fit``, validation and checkpointing included), ``images_per_second``
(``train_images * epochs / train_seconds``) and ``wall_seconds`` (since the script started,
TensorFlow's import included).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

STARTED = time.perf_counter()  # TensorFlow is imported later, inside main()
IMAGE_SIZES = {"t4": 224, "t3": 180}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True, help="one sub-folder of images per class")
    parser.add_argument("--epochs", type=int, default=50, help="epochs (the blog's: 50)")
    parser.add_argument("--out", help="folder for the checkpoint (default: a temporary one)")
    parser.add_argument(
        "--model",
        choices=sorted(IMAGE_SIZES),
        default="t4",
        help="t4 at 224 px (default) or its predecessor t3 at 180 px",
    )
    return parser.parse_args(argv)


def make_model(name: str, img_height: int, img_width: int, num_classes: int):
    import tensorflow as tf
    from tensorflow.keras import layers

    after_second_pool = [layers.Dropout(0.3)] if name == "t4" else []
    return tf.keras.Sequential(
        [
            layers.Rescaling(1.0 / 255, input_shape=(img_height, img_width, 3)),
            layers.Conv2D(16, (3, 3), activation="relu"),
            layers.AveragePooling2D((2, 2)),
            layers.Conv2D(32, (3, 3), activation="relu"),
            layers.AveragePooling2D((2, 2)),
            *after_second_pool,
            layers.Conv2D(64, (3, 3), activation="relu"),
            layers.Dropout(0.3),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dense(num_classes),
        ]
    )


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    data_dir = args.data_dir
    batch_size = 32
    img_height = img_width = IMAGE_SIZES[args.model]

    train_ds = tf.keras.utils.image_dataset_from_directory(
        data_dir,
        validation_split=0.2,
        subset="training",
        seed=123,
        image_size=(img_height, img_width),
        batch_size=batch_size,
    )
    val_ds = tf.keras.utils.image_dataset_from_directory(
        data_dir,
        validation_split=0.2,
        subset="validation",
        seed=123,
        image_size=(img_height, img_width),
        batch_size=batch_size,
    )
    class_names = train_ds.class_names
    num_classes = len(class_names)
    train_images = len(train_ds.file_paths)

    AUTOTUNE = tf.data.AUTOTUNE
    train_ds = train_ds.cache().shuffle(1000).prefetch(buffer_size=AUTOTUNE)
    val_ds = val_ds.cache().prefetch(buffer_size=AUTOTUNE)

    train_started = time.perf_counter()
    model = make_model(args.model, img_height, img_width, num_classes)
    model.compile(
        optimizer=tf.keras.optimizers.Adam(learning_rate=1e-4),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    with tempfile.TemporaryDirectory() as scratch:
        out = args.out or scratch
        os.makedirs(out, exist_ok=True)
        checkpointer = tf.keras.callbacks.ModelCheckpoint(
            os.path.join(out, "best_model.weights.h5"),
            monitor="val_accuracy",
            verbose=1,
            save_best_only=True,
            save_weights_only=True,
        )
        history = model.fit(
            train_ds, validation_data=val_ds, epochs=args.epochs, callbacks=[checkpointer]
        )
    train_seconds = time.perf_counter() - train_started

    figures = {
        "script": "blog",
        "model": args.model,
        "image_size": img_height,
        "backend": "tensorflow",
        "train_images": train_images,
        "epochs": args.epochs,
        "train_seconds": round(train_seconds, 3),
        "images_per_second": round(train_images * args.epochs / train_seconds, 2),
        "wall_seconds": round(time.perf_counter() - STARTED, 3),
        "best_val_accuracy": round(max(history.history["val_accuracy"]), 4),
    }
    print(
        f"blog {args.model}: {train_images} training images x {args.epochs} epochs in "
        f"{train_seconds:.1f} s = {figures['images_per_second']:.1f} images/s "
        f"(script wall time {figures['wall_seconds']:.1f} s)"
    )
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
