"""Family detection as its steps: describe every image, find candidate pairs in one index,
verify them (and take the looks after), join the pieces under guards, and note what to check."""

from __future__ import annotations

from collections.abc import Callable

from ...system import usable_cpus
from ..audit import find_duplicates
from ..images import ImageSet
from .candidates import candidates, index_matches
from .describe import describe_set, working_copies
from .join import Pieces, join, numbered
from .looks import between_pieces, last_look, second_look
from .notes import few_keypoints_note, giant_family_note, refusal_notes
from .result import Families, Link
from .settings import FamilySettings
from .verify import candidate_links, duplicate_links


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
) -> Families:
    """Group the rows of ``images`` into families of copies of one photo.

    ``progress(done, total)`` is called as work proceeds (total: four steps per image, to
    describe it, to look up its matches, to check its candidate pairs, and for the looks
    after: a quarter for the second look, half for the last, a quarter between pieces).
    Images too small or too uniform to have keypoints join a family only as exact or near
    duplicates (plain ones, whose hash has no texture, only as exact duplicates), and a
    note says so; so does a note for every join the guards refused (refused weak links
    between like-labelled pieces go unmentioned) and for a family that holds most of the
    set. ``images.labels`` only decides how much evidence a join across labels needs.
    ``settings`` holds every threshold (None: ``FamilySettings()``).
    """
    settings = FamilySettings() if settings is None else settings
    n = len(images)
    tick = _Progress(4 * n, progress)
    workers = max(1, usable_cpus())
    exact, near = find_duplicates(images)
    views = working_copies(images, settings)
    points = describe_set(images, views, settings, workers, tick)
    links = duplicate_links(exact, near, points, settings)
    if points.counts.sum() > settings.neighbours:
        matches = index_matches(points, settings, workers, tick)
        groups = candidates(matches, settings)
        links += candidate_links(points, matches, groups, settings, workers, tick)

        def pieces() -> Pieces:  # each look works on the pieces the links so far make
            return join(n, links, settings, labels=images.labels).pieces

        # the looks took 45 of 150 s on 1,710 augmented MSLD photos (2 CPUs): they report
        # their own work, so the progress line does not stand still at the end
        links += second_look(points, matches, pieces(), settings, workers, tick.part(n // 4))
        links += last_look(views, matches, pieces(), settings, workers, tick.part(n // 2))
        rest = n - n // 4 - n // 2
        links += between_pieces(points, matches, pieces(), settings, workers, tick.part(rest))
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
