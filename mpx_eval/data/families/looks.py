"""The looks after the candidate checks: a second look for images in small pieces, a last look
with finer descriptions for images still alone, and a look between pieces of several images."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from .candidates import Matches, _rank_within, index_type_for
from .describe import Description, Keypoints, describe_finely
from .join import Pieces
from .result import Link
from .settings import FamilySettings
from .verify import direct_links, pooled_score

_GROUP_PART = 1 << 22  # groups of index matches looked at in one part

#: ``report(done, total)``: how much of a look's work is done.
Report = Callable[[int, int], None]
#: (votes, member row, orientation) of one index vote of an image for a member of a piece.
_Vote = tuple[int, int, int]
#: (lower row, higher row, orientation) of a pair to check; the lower row's descriptors are
#: the mirrored ones, since a mirror relation holds both ways.
_Check = tuple[int, int, int]


@dataclass(frozen=True)
class _Reach:
    """Whom a look checks: each image in a piece of under ``smaller_than`` images against
    its ``pieces`` best-voted pieces of ``target`` images or more (and larger than its own),
    on the ``members`` best-voted members of each (for an image still alone
    ``lone_members``, and of its best piece ``lead_members`` when that is more)."""

    smaller_than: int
    target: int
    pieces: int
    members: int
    lone_members: int
    lead_members: int = 0


def _votes_for_pieces(
    matches: Matches, roots: np.ndarray, size: np.ndarray, reach: _Reach
) -> dict[int, dict[int, list[_Vote]]]:
    """For each image in reach, its index votes for the members of each piece it may join,
    by the piece's root."""
    by_image: dict[int, dict[int, list[_Vote]]] = defaultdict(lambda: defaultdict(list))
    # one direction at a time: tens of millions of pairs at 30,000 images, not copied whole
    for image, other in ((matches.a, matches.b), (matches.b, matches.a)):
        for k in _in_reach(image, other, size, reach).tolist():
            by_image[int(image[k])][int(roots[other[k]])].append(
                (int(matches.votes[k]), int(other[k]), int(matches.orient[k]))
            )
    return by_image


def _in_reach(image: np.ndarray, other: np.ndarray, size: np.ndarray, reach: _Reach) -> np.ndarray:
    """The groups whose ``image`` may join the piece of ``other`` (``size``: each image's
    piece size)."""

    def keep(part: slice) -> np.ndarray:
        mine, theirs = size[image[part]], size[other[part]]
        return (mine < reach.smaller_than) & (theirs >= reach.target) & (theirs > mine)

    return _groups_where(len(image), keep)


def _groups_where(count: int, keep: Callable[[slice], np.ndarray]) -> np.ndarray:
    """The rows of ``count`` groups of index matches where ``keep`` (told a slice of them)
    holds, worked out a part at a time: at 30,000 images there are tens of millions of
    groups, and whole-array masks and lookups of them were the looks' peak of memory."""
    found = [
        np.flatnonzero(keep(slice(s, s + _GROUP_PART))).astype(index_type_for(count)) + s
        for s in range(0, count, _GROUP_PART)
    ]
    return np.concatenate(found) if found else np.empty(0, index_type_for(count))


def _look_checks(
    matches: Matches, pieces: Pieces, reach: _Reach, settings: FamilySettings, skip: int = 0
) -> list[_Check]:
    """The pairs a look checks: for each image in reach, members of its best-voted pieces
    after the ``skip`` best (a piece weighed by the votes of its ``weigh_members``
    best-voted members, and checked only when that reaches ``min_votes``); the images whose
    best piece weighs most come first."""
    roots = pieces.roots()
    size = pieces.size[roots]
    ranked: list[tuple[int, int, list[_Check]]] = []
    for i, voted in _votes_for_pieces(matches, roots, size, reach).items():
        # a piece weighs by its best-voted members, not by all of them: summed over all,
        # the few chance votes of a large piece outweighed the piece of a lone copy's photo
        weight = {
            r: sum(sorted((v for v, _, _ in m), reverse=True)[: settings.weigh_members])
            for r, m in voted.items()
        }
        alone = size[i] == 1
        members = reach.lone_members if alone else reach.members
        lead = max(members, reach.lead_members) if alone else members
        chosen = sorted(voted, key=lambda r: -weight[r])[skip : skip + reach.pieces]
        mine = [
            (min(i, j), max(i, j), o)
            for rank, root in enumerate(chosen, start=skip)
            if weight[root] >= settings.min_votes
            for _, j, o in sorted(voted[root], reverse=True)[: lead if rank == 0 else members]
        ]
        ranked.append((-max(weight.values()), i, mine))
    return [check for *_, mine in sorted(ranked) for check in mine]


def second_look(
    points: Keypoints,
    matches: Matches,
    pieces: Pieces,
    settings: FamilySettings,
    workers: int,
    report: Report | None = None,
) -> list[Link]:
    """A second look for images that the candidate checks left in a piece of under
    ``second_size`` while the index matched them to a larger piece of ``guard_size`` images
    or more: the ``second_members`` best-voted members (``second_lone_members`` for an image
    still alone) of its ``second_pieces`` best-voted such pieces, checked with direct,
    ratio-tested descriptor matches, not the index's few nearest neighbours. Among many
    copies of one photo the index returns a keypoint's neighbours from a few of them only;
    a set of distinct photos has few pieces of several images, so there the second look
    costs little. Its links go through the same guards as the others."""
    reach = _Reach(
        smaller_than=settings.second_size,
        target=settings.guard_size,
        pieces=settings.second_pieces,
        members=settings.second_members,
        lone_members=settings.second_lone_members,
    )
    checks = _look_checks(matches, pieces, reach, settings)
    return direct_links(points, checks, settings, workers, report)


def _is_augmented(pieces: Pieces, settings: FamilySettings) -> bool:
    """Whether at least ``last_look_share`` of the rows are in pieces of ``guard_size``
    images or more, as in an augmented set, where a lone image is likely a missed copy."""
    whole = pieces.size[pieces.parent == np.arange(len(pieces.parent))]  # one per piece
    return whole[whole >= settings.guard_size].sum() >= settings.last_look_share * len(
        pieces.parent
    )


def _within_budget(
    pairs: list[_Check], linked: set[int], described: set[int], budget: int
) -> tuple[list[_Check], set[int]]:
    """The pairs, in order, that leave out the images already ``linked`` and need no more
    than ``budget`` images described in all (those ``described`` already count), and the
    images they need."""
    checks, rows = [], set(described)
    for a, b, o in pairs:
        if linked & {a, b}:
            continue
        wanted = {a, b} - rows
        if len(rows) + len(wanted) > budget:
            break
        rows |= wanted
        checks.append((a, b, o))
    return checks, rows


def last_look(
    views: np.ndarray,
    matches: Matches,
    pieces: Pieces,
    settings: FamilySettings,
    workers: int,
    report: Report | None = None,
) -> list[Link]:
    """The second look again for images still alone, against their ``last_pieces``
    best-voted pieces of ``last_target`` images or more (``last_members`` members of each,
    ``last_lead_members`` of the best one), with finer descriptions of both images
    (``describe_finely``: more, weaker keypoints on the copy stretched to its full range,
    enlarged and smoothed), their matches pooled into one fit (``pooled_score``). A second
    round checks the images the first left alone against their next ``last_pieces``
    pieces. It looks only in an augmented set (``_is_augmented``), and describes at most
    one image in ``last_budget_one_in`` of the set again (at least ``last_budget_min``,
    over both rounds), the images with the strongest votes for a piece first: in a set of
    distinct photos, or where many stand alone beside pieces of copies, describing all
    their candidates would cost more than the rest of the detection. ``report`` hears of
    each description and check, each round counting as half the work."""
    if not _is_augmented(pieces, settings):
        return []
    reach = _Reach(
        smaller_than=2,  # images still alone
        target=settings.last_target,
        pieces=settings.last_pieces,
        members=settings.last_members,
        lone_members=settings.last_members,
        lead_members=settings.last_lead_members,
    )
    budget = max(settings.last_budget_min, len(views) // settings.last_budget_one_in)
    fine: dict[int, list[Description]] = {}

    def check(job: _Check) -> Link | None:
        a, b, o = job
        score = pooled_score(fine[a], fine[b], o, settings)
        return Link(a, b, "geometric", float(score)) if score else None

    found: list[Link] = []
    # a second round, further down the votes, for the images the first left alone: the
    # votes of a smooth photo are few, and chance votes (from the fill edges of turned
    # copies, say) can outweigh those for the piece of its own copies
    for round_, skip in enumerate((0, settings.last_pieces)):
        pairs = _look_checks(matches, pieces, reach, settings, skip=skip)
        linked = {r for link in found for r in (link.a, link.b) if pieces.size[pieces.root(r)] == 1}
        checks, rows = _within_budget(pairs, linked, set(fine), budget)
        new = sorted(rows - fine.keys())
        tick = _RoundProgress(report, round_, len(new), len(checks))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            finer = pool.map(lambda row: describe_finely(views[row], settings), new)
            for row, described in zip(new, finer, strict=True):
                fine[row] = described
                tick(tick.FINE_COST)
            for link in pool.map(check, checks):
                if link is not None:
                    found.append(link)
                tick(1)
    return found


class _RoundProgress:
    """The last look's progress within round ``round_`` of two: ``report(done, total)`` on
    a scale where each round is half, each description weighing ``FINE_COST`` checks."""

    # a finer description describes three copies of the image with more, weaker keypoints,
    # about five usual descriptions (``last_budget_one_in``); a check is one pooled fit
    FINE_COST = 5
    SCALE = 1000

    def __init__(self, report: Report | None, round_: int, described: int, checks: int):
        self.report, self.round = report, round_
        self.total = max(1, described * self.FINE_COST + checks)
        self.done = 0

    def __call__(self, units: int) -> None:
        self.done += units
        if self.report is not None:
            share = (self.round + self.done / self.total) / 2
            self.report(round(share * self.SCALE), self.SCALE)


def _between_large_pieces(matches: Matches, roots: np.ndarray, large: np.ndarray) -> np.ndarray:
    """The groups of ``matches`` that pair members of two distinct ``large`` pieces."""

    def keep(part: slice) -> np.ndarray:
        a, b = matches.a[part], matches.b[part]
        return large[a] & large[b] & (roots[a] != roots[b])

    return _groups_where(len(matches.a), keep)


def _couples_by_votes(
    matches: Matches, groups: np.ndarray, roots: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """``groups`` sorted by their pair of pieces (one number each, ``min * n + max`` of the
    roots), best-voted first within each, and that number of each: one int64 sort key
    (pair of pieces, then fewer votes later) made a part at a time, where sorting by two
    keys held four arrays of tens of millions at once."""
    top = int(matches.votes.max(initial=0)) + 1
    key = np.empty(len(groups), np.int64)
    for s in range(0, len(groups), _GROUP_PART):
        part = groups[s : s + _GROUP_PART]
        ra, rb = roots[matches.a[part]], roots[matches.b[part]]
        couple = np.minimum(ra, rb).astype(np.int64) * n + np.maximum(ra, rb)
        key[s : s + _GROUP_PART] = couple * top + (top - 1 - matches.votes[part])
    order = np.argsort(key, kind="stable")
    groups = groups[order]
    del order
    key.sort()  # the keys in that order, sorted in place rather than copied
    key //= top
    return groups, key


def between_pieces(
    points: Keypoints,
    matches: Matches,
    pieces: Pieces,
    settings: FamilySettings,
    workers: int,
    report: Report | None = None,
) -> list[Link]:
    """A look between pieces of ``guard_size`` images or more: for each, its
    ``partner_pieces`` best-voted partner pieces (a pair of pieces weighed by its
    ``weigh_members`` best-voted pairs of members), and the ``partner_pairs`` best-voted
    pairs of members of each, checked with direct matches. A photo published twice, each
    version with its own copies, makes two pieces that the index rarely links: every
    image's candidates are its own version's copies. The links only add evidence: two
    pieces still join only through ``guard_links`` links with distinct images on both
    sides."""
    n = len(pieces.parent)
    roots = pieces.roots()
    groups = _between_large_pieces(matches, roots, pieces.size[roots] >= settings.guard_size)
    if not len(groups):
        return []
    # the pairs of pieces as one number each, their member pairs best-voted first
    groups, key = _couples_by_votes(matches, groups, roots, n)
    first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    couples = key[first]
    del key
    lengths = np.diff(np.r_[first, len(groups)])
    rank = np.arange(len(groups)) - np.repeat(first, lengths)
    votes = np.where(rank < settings.weigh_members, matches.votes[groups], 0)
    del rank
    weight = np.add.reduceat(votes, first)
    del votes
    # each piece's best-weighed partners, and the best-voted pairs of members of each
    side = np.r_[couples // n, couples % n]
    by_side = np.lexsort((-np.r_[weight, weight], side))
    best = by_side[_rank_within(side[by_side]) < settings.partner_pieces] % max(len(couples), 1)
    chosen = np.unique(best)
    counts = np.minimum(lengths[chosen], settings.partner_pairs)
    within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    take = groups[np.repeat(first[chosen], counts) + within]
    checks = list(
        zip(
            matches.a[take].tolist(),
            matches.b[take].tolist(),
            matches.orient[take].tolist(),
            strict=True,
        )
    )
    return direct_links(points, checks, settings, workers, report)
