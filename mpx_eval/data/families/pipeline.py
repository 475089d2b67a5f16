"""Family detection as its steps: describe every image, find candidate pairs in one index,
verify them (and take the looks after), join the pieces under guards, and note what to check."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ...system import usable_cpus
from ..audit import find_duplicates
from ..images import ImageSet
from .cache import FamilyCache, image_keys, result_key
from .candidates import candidates, index_matches
from .describe import (
    Description,
    Keypoints,
    describe_set,
    release_freed_memory,
    working_copies,
)
from .join import Pieces, join, numbered
from .looks import between_pieces, last_look, second_look
from .notes import few_keypoints_note, giant_family_note, refusal_notes
from .result import Families, Link
from .settings import FamilySettings
from .verify import candidate_links, duplicate_links

#: Progress steps per image of each step of detection, about its share of the wall time on
#: augmented MSLD photos: at 30,000 images describing is about a third, the checks of the
#: near duplicates a tenth, the index search a fifth, the candidate checks a tenth, the
#: looks the rest; at 3,192 the last look weighs more (a quarter), the near duplicates
#: next to nothing. So that the line is short of 80 % when the last look starts, that look
#: gets a little more than its share at scale.
_WEIGHTS = {
    "describe": 36,
    "near": 8,
    "search": 20,
    "verify": 10,
    "second": 5,
    "last": 13,
    "between": 8,
}


class _Progress:
    """Steps done out of ``total``, reported as ``report(done, total)``."""

    def __init__(self, total: int, report: Callable[[int, int], None] | None) -> None:
        self.total, self.done, self.report = total, 0, report
        self.part_end = 0

    def __call__(self, steps: int) -> None:
        self.done = min(self.total, self.done + steps)
        if self.report is not None:
            self.report(self.done, self.total)

    def part(self, steps: int) -> Callable[[int, int], None]:
        """A ``report(done, total)`` for a step worth ``steps`` steps that counts its own
        work; the part before it counts as done, whether or not it had work to report."""
        self._reach(self.part_end)
        start = self.done
        self.part_end = start + steps
        return lambda done, total: self._reach(start + steps * done // max(total, 1))

    def counted(self, steps: int, units: int) -> Callable[[int], None]:
        """A ``tick(k)`` for a step worth ``steps`` steps over ``units`` units of work (one
        per image), told of ``k`` more units done at a time."""
        report, done = self.part(steps), 0

        def tick(k: int) -> None:
            nonlocal done
            done += k
            report(done, units)

        return tick

    def _reach(self, target: int) -> None:
        if target > self.done:
            self(target - self.done)

    def finish(self) -> None:
        if self.report is not None and self.done < self.total:
            self.report(self.total, self.total)


def find_families(
    images: ImageSet,
    *,
    progress: Callable[[int, int], None] | None = None,
    settings: FamilySettings | None = None,
    cache: FamilyCache | bool | None = True,
) -> Families:
    """Group the rows of ``images`` into families of copies of one photo.

    ``progress(done, total)`` is called as work proceeds (total: steps per image to
    describe it, to look up its matches, to check its candidate pairs and for each look
    after, each step weighed by its share of the time, ``_WEIGHTS``); a ``progress`` with
    a ``from_cache(n_images)`` method hears so when the whole result came from the cache.
    Images too small or too uniform to have keypoints join a family only as
    exact or near duplicates (plain ones, whose hash has no texture, only as exact
    duplicates), and a note says so; so does a note for every join the guards refused
    (refused weak links between like-labelled pieces go unmentioned) and for a family that
    holds most of the set. ``images.labels`` only decides how much evidence a join across
    labels needs. ``settings`` holds every threshold (None: ``FamilySettings()``).

    ``cache`` keeps every image's description and the whole result (``cache.py``): True
    uses the user cache folder (``$MPX_EVAL_FAMILY_CACHE``, else ``$MPX_EVAL_CACHE_DIR``;
    ``off`` turns it off), False or None none; the families are the same either way.
    """
    settings = FamilySettings() if settings is None else settings
    if cache is True:
        cache = FamilyCache.from_environment(settings)
    store = cache if isinstance(cache, FamilyCache) else None
    views = working_copies(images, settings)
    keys = image_keys(images, views) if store is not None else []
    key = result_key(images, keys) if store is not None else ""
    found = store.result(key, len(images)) if store is not None else None
    if found is not None:
        _heard_from_cache(progress, len(images))
        return found
    found = _detect(images, views, settings, progress, store, keys)
    if store is not None:
        store.store_result(key, found)
    return found


def _heard_from_cache(progress: Callable[[int, int], None] | None, n: int) -> None:
    """Tell ``progress`` that the result of ``n`` images came from the cache."""
    if progress is None:
        return
    told = getattr(progress, "from_cache", None)
    if callable(told):
        told(n)
    else:
        progress(4 * n, 4 * n)


def _described(
    images: ImageSet,
    views: np.ndarray,
    settings: FamilySettings,
    tick: Callable[[int], None],
    store: FamilyCache | None,
    keys: list[str],
) -> Keypoints:
    """Every image's keypoints, those of the images described before from the cache."""
    workers = max(1, usable_cpus())
    known: dict[int, Description] = {}
    if store is not None:
        cached = store.descriptions(keys)
        known = {i: cached[k] for i, k in enumerate(keys) if k in cached}
    points, made = describe_set(images, views, settings, workers, tick, known)
    if store is not None and made:
        store.store_descriptions({keys[i]: d for i, d in made.items()})
    del made, known
    release_freed_memory()
    return points


def _detect(
    images: ImageSet,
    views: np.ndarray,
    settings: FamilySettings,
    progress: Callable[[int, int], None] | None,
    store: FamilyCache | None,
    keys: list[str],
) -> Families:
    """``find_families`` past the cache: every step."""
    n = len(images)
    w = _WEIGHTS
    tick = _Progress(sum(w.values()) * n, progress)
    workers = max(1, usable_cpus())
    exact, near = find_duplicates(images)
    points = _described(images, views, settings, tick.counted(w["describe"] * n, n), store, keys)
    links = duplicate_links(exact, near, points, settings, tick.part(w["near"] * n))
    if points.counts.sum() > settings.neighbours:
        matches = index_matches(points, settings, workers, tick.counted(w["search"] * n, n))
        groups = candidates(matches, settings)
        checked = tick.counted(w["verify"] * n, n)
        links += candidate_links(points, matches, groups, settings, workers, checked)

        def pieces() -> Pieces:  # each look works on the pieces the links so far make
            return join(n, links, settings, labels=images.labels).pieces

        # the looks took 45 of 150 s on 1,710 augmented MSLD photos (2 CPUs): they report
        # their own work, so the progress line does not stand still at the end
        second = tick.part(w["second"] * n)
        links += second_look(points, matches, pieces(), settings, workers, second)
        links += last_look(views, matches, pieces(), settings, workers, tick.part(w["last"] * n))
        between = tick.part(w["between"] * n)
        links += between_pieces(points, matches, pieces(), settings, workers, between)
    joined = join(n, links, settings, labels=images.labels)
    family = numbered(joined.pieces)
    notes = [
        *few_keypoints_note(points.counts, images.hash_texture, images.paths, settings),
        *refusal_notes(joined.pieces, joined.refused, images.paths, settings),
        *giant_family_note(family, images.paths, settings),
    ]
    tick.finish()
    used: list[Link] = sorted(joined.used, key=lambda k: (k.a, k.b))
    return Families(family=family, links=used, notes=notes)
