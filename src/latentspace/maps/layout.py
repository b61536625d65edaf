"""UMAP's layout optimisation, parallel on every core and still the same map for the same seed.

umap-learn optimises the layout on one thread whenever a seed is set (its parallel mode lets the
threads race on shared coordinates, so the map changes from run to run). At a million points that
single thread was about 28 of the 35 minutes of a map. This is the same stochastic gradient descent
(McInnes, Healy & Melville 2018, section 3 and appendix C: attractive steps along the fuzzy graph's
edges, each edge sampled in proportion to its weight and moving both its ends, ``negative_sample_rate``
repulsive steps from random points per attractive step moving the head only, gradients clipped to
[-4, 4], learning rate falling linearly to 0), arranged so that threads never race:

* the points are numbered along a Z-order curve of the layout (at the start, and again at the
  epochs of REARRANGE_AT, as the layout gathers graph neighbours together) and cut into blocks of
  at least MIN_BLOCK_POINTS points (fixed by the graph and the layout, not by the thread count:
  below 10,000 points a single block); a block moves only its own points, reading its own points
  live and every other point from a snapshot;
* an epoch runs in one or more rounds (ROUNDS from an unorganised start): in each, every block
  steps the next share of its points (by edges), then the snapshot is taken again, so what a
  block reads of the others is at most a round old;
* an attractive step whose tail lies in another block leaves the head's position in that edge's
  buffer slot (slots numbered by tail, then head); after each round, every point takes its buffered
  steps in that order, each computed from its current position as umap-learn's tail step is;
* each block draws its negative samples from its own generator, seeded by (seed, epoch, round,
  block).

The result depends only on the seed and the data, whatever the number of threads. With a single
block this is umap-learn's algorithm but for the random numbers and the order in which points are
visited (along the curve, not by row). The graph, the (a, b) curve and the initialisation stay
umap-learn's own (``umap._layout_parallel``).

At a million points the random negative samples miss the cache (about 60% of an epoch's time);
drawing them in batches and reading each batch before stepping lets those reads overlap, and the
renumbering keeps most tails in their head's block (read live, from the cache).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

from ..progress import report

# Blocks of at least MIN_BLOCK_POINTS points: an edge between two blocks pulls toward where its
# tail was when the round began and moves the tail only after the round, so the smaller the blocks,
# the more edges act late. On 70,000 MNIST digits trustworthiness held with blocks of 4,400 points
# and fell by 0.003-0.005 with blocks of 1,100; lowering this needs that measurement again.
MIN_BLOCK_POINTS = 5000
MAX_BLOCKS = 64  # at a million points: blocks of 15,600
_GATHER = 8  # negative samples read together
REARRANGE_AT = (10, 30, 70, 150)  # epochs at which the points are renumbered along the layout
# Rounds per epoch when the layout starts unorganised (PCA or random initialisation; one round after
# umap-learn's spectral one): each block steps the next 1/rounds of its points, then the snapshot
# is taken again and the tails' steps are made. With one round a block reads the others as they
# were when the epoch began, which cost a million-point map 0.01-0.02 of trustworthiness against
# umap-learn's own layout on the same graph; 16 rounds close that gap. After a spectral start the
# extra rounds do not help (70,000 digits), hence one there. Figures: BENCHMARKS.md, scaling.
ROUNDS = 16

_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_STAR = np.uint64(0x2545F4914F6CDD1D)


@numba.njit(inline="always")
def _splitmix(x):  # pragma: no cover - compiled
    x = x + _GOLDEN
    x = (x ^ (x >> np.uint64(30))) * _MIX1
    x = (x ^ (x >> np.uint64(27))) * _MIX2
    return x ^ (x >> np.uint64(31))


@numba.njit(inline="always")
def _clip(v):  # pragma: no cover - compiled
    hi = np.float32(4.0)
    return hi if v > hi else (-hi if v < -hi else v)


@numba.njit(parallel=True, fastmath=True, cache=True)
def _epoch(
    y,
    y0,
    indptr,
    tails,
    eps_pos,
    eps_neg,
    next_pos,
    next_neg,
    blocks,
    starts,
    stops,
    slot,
    head,
    stamp,
    a,
    b,
    gamma,
    alpha,
    epoch,
    tick,
    seed,
):  # pragma: no cover - compiled
    """One round's steps, block by block (block k steps its points starts[k]:stops[k]); for tails
    outside the head's block the head's position is left in the edge's slot of ``head`` (the slot
    stamped with the round's ``tick``) for ``_apply_tails``."""
    n, dim = y.shape
    nb = blocks.shape[0] - 1
    a = np.float32(a)
    b = np.float32(b)
    alpha = np.float32(alpha)
    ab2 = np.float32(2.0) * a * b
    gb2 = np.float32(2.0 * gamma) * b
    one = np.float32(1.0)
    zero = np.float32(0.0)
    un = np.uint64(n)
    for blk in prange(nb):
        lo = blocks[blk]
        hi = blocks[blk + 1]
        state = _splitmix(_splitmix(seed ^ np.uint64(tick)) ^ np.uint64(blk))
        if state == np.uint64(0):
            state = _GOLDEN
        sample = np.empty((_GATHER, dim), np.float32)
        for i in range(starts[blk], stops[blk]):
            for e in range(indptr[i], indptr[i + 1]):
                if next_pos[e] > epoch:
                    continue
                j = tails[e]
                own = lo <= j < hi
                src = y if own else y0
                d2 = zero
                for d in range(dim):
                    t = y[i, d] - src[j, d]
                    d2 += t * t
                g = zero
                if d2 > zero:
                    pb = d2**b
                    g = -ab2 * (pb / d2) / (a * pb + one)
                if not own:  # the tail's pull, toward where the head was, made in _apply_tails
                    s = slot[e]
                    stamp[s] = tick
                    for d in range(dim):
                        head[s, d] = y[i, d]
                for d in range(dim):
                    step = _clip(g * (y[i, d] - src[j, d])) * alpha
                    y[i, d] += step
                    if own:
                        y[j, d] -= step
                next_pos[e] += eps_pos[e]
                n_neg = max(0, int((epoch - next_neg[e]) / eps_neg[e]))
                done = 0
                while done < n_neg:
                    # draw a batch of samples and read them all before stepping: at scale the reads
                    # miss the cache, and made together they overlap. The step arithmetic and its
                    # order are unchanged (a sample's position cannot change while point i steps:
                    # a sample equal to i is skipped).
                    batch = min(n_neg - done, _GATHER)
                    got = 0
                    for _ in range(batch):
                        state ^= state >> np.uint64(12)  # xorshift64*
                        state ^= state << np.uint64(25)
                        state ^= state >> np.uint64(27)
                        k = np.int64(((state * _STAR) >> np.uint64(11)) % un)
                        if k == i:
                            continue
                        src = y if lo <= k < hi else y0
                        for d in range(dim):
                            sample[got, d] = src[k, d]
                        got += 1
                    done += batch
                    for c in range(got):
                        d2 = 0.0  # the repulsive step in float64, as umap-learn's
                        for d in range(dim):
                            t = y[i, d] - sample[c, d]
                            d2 += t * t
                        if d2 > 0.0:
                            g = gb2 / ((0.001 + d2) * (a * d2**b + 1.0))
                            for d in range(dim):
                                y[i, d] += _clip(g * (y[i, d] - sample[c, d])) * alpha
                next_neg[e] += n_neg * eps_neg[e]


@numba.njit(parallel=True, fastmath=True, cache=True)
def _apply_tails(y, t_indptr, head, stamp, a, b, alpha, tick):  # pragma: no cover - compiled
    """Each point takes this round's attractive steps as the tail of edges whose head lies in
    another block (slots ``t_indptr[j]:t_indptr[j + 1]`` hold the edges ending at point j, heads in
    increasing order): each step toward the head's position when the edge was sampled, from the
    point's current position, as umap-learn moves the tail (summing steps computed from one old
    position would overshoot). The slots are in tail order, so this pass reads them in sequence."""
    n, dim = y.shape
    a = np.float32(a)
    b = np.float32(b)
    alpha = np.float32(alpha)
    ab2 = np.float32(2.0) * a * b
    one = np.float32(1.0)
    zero = np.float32(0.0)
    for j in prange(n):
        for s in range(t_indptr[j], t_indptr[j + 1]):
            if stamp[s] != tick:
                continue
            d2 = zero
            for d in range(dim):
                t = head[s, d] - y[j, d]
                d2 += t * t
            if d2 > zero:
                pb = d2**b
                g = -ab2 * (pb / d2) / (a * pb + one)
                for d in range(dim):
                    y[j, d] -= _clip(g * (head[s, d] - y[j, d])) * alpha


def spatial_order(y: np.ndarray) -> np.ndarray:
    """Point order along a Z-order (Morton) curve of the 2-D or 3-D positions ``y``."""
    lo, hi = y.min(0), y.max(0)
    bits = 21 if y.shape[1] <= 3 else 63 // y.shape[1]
    q = ((y - lo) / np.where(hi > lo, hi - lo, 1.0) * (2**bits - 1)).astype(np.uint64)
    code = np.zeros(len(y), np.uint64)
    for bit in range(bits - 1, -1, -1):
        for d in range(y.shape[1]):
            code = (code << np.uint64(1)) | ((q[:, d] >> np.uint64(bit)) & np.uint64(1))
    return np.argsort(code, kind="stable")


def blocks_for(indptr: np.ndarray) -> np.ndarray:
    """Block boundaries (point indices): n // MIN_BLOCK_POINTS blocks (1 to MAX_BLOCKS) with about
    the same number of edges each; fixed by the graph alone."""
    n = len(indptr) - 1
    nb = int(min(MAX_BLOCKS, max(1, n // MIN_BLOCK_POINTS)))
    cuts = np.searchsorted(indptr, np.linspace(0, indptr[-1], nb + 1)[1:-1]).astype(np.int64)
    return np.unique(np.concatenate([[0], np.clip(cuts, 0, n), [n]])).astype(np.int64)


def optimize_layout(
    embedding: np.ndarray,
    graph,
    n_epochs: int,
    a: float,
    b: float,
    seed: int,
    negative_sample_rate: float = 5.0,
    gamma: float = 1.0,
    initial_alpha: float = 1.0,
    threads: int | None = None,
    rounds: int = 1,
    label: str = "UMAP layout",
) -> np.ndarray:
    """Optimise ``embedding`` (n, dims) against the symmetric fuzzy graph (scipy sparse, n x n,
    already pruned of edges below max / n_epochs) for ``n_epochs`` epochs, each in ``rounds``
    rounds; returns a new array."""
    rounds = int(rounds)
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1; got {rounds}")
    csr = graph.tocsr(copy=True)
    csr.data[csr.data < 0] = 0.0
    csr.eliminate_zeros()  # every edge left has a positive weight, so a finite schedule
    csr.sort_indices()
    y = np.ascontiguousarray(embedding, dtype=np.float32)
    if csr.nnz == 0:  # no edges: nothing pulls or pushes
        return y.copy()
    w = csr.data.astype(np.float64)
    eps = w.max() / w
    eps_neg = eps / float(negative_sample_rate)
    next_pos, next_neg = eps.copy(), eps_neg.copy()
    edges = [eps, eps_neg, next_pos, next_neg]  # per edge; _renumbered moves them in place
    indptr = csr.indptr.astype(np.int64)
    tails = csr.indices.astype(np.int32)
    del csr, w
    at = np.arange(len(y))  # at[p]: the point now numbered p
    y0 = np.empty_like(y)  # each epoch's snapshot
    base = np.uint64(np.random.SeedSequence(int(seed)).generate_state(1, np.uint64)[0])
    old = numba.get_num_threads()
    if threads:
        numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
    try:
        tick = 0  # rounds so far: stamps the tails' slots and seeds the rounds' random streams
        for epoch in range(int(n_epochs)):
            if epoch == 0 or epoch in REARRANGE_AT:
                # points renumbered along a Z-order curve of the layout as it is now: graph
                # neighbours then mostly share a block (read live, moved together, as in
                # umap-learn) and sit close in memory. The layout gathers neighbours as it goes, so
                # renumbering again along the way keeps more of them together.
                slot = head = stamp = None  # freed before the new ones are built
                order = spatial_order(y)
                y, indptr = _renumbered(order, y, indptr, tails, edges)
                at = at[order]
                blocks = blocks_for(indptr)
                slot, t_indptr = _cross_slots(indptr, tails, blocks)
                head = np.zeros((t_indptr[-1], y.shape[1]), np.float32)
                stamp = np.full(t_indptr[-1], -1, np.int32)
                cuts = None
            if cuts is None:
                cuts = _round_cuts(indptr, blocks, rounds)
            # umap-learn's schedule: 1 for the first two epochs, then falling by 1/n_epochs a step
            alpha = initial_alpha * (1.0 - max(epoch - 1, 0) / float(n_epochs))
            for r in range(rounds):
                y0[:] = y
                _epoch(y, y0, indptr, tails, eps, eps_neg, next_pos, next_neg, blocks, cuts[r], cuts[r + 1],
                       slot, head, stamp, float(a), float(b), float(gamma), float(alpha), epoch, tick,
                       base)  # fmt: skip
                _apply_tails(y, t_indptr, head, stamp, float(a), float(b), float(alpha), tick)
                tick += 1
            report(label, epoch + 1, n_epochs)
    finally:
        numba.set_num_threads(old)
    out = np.empty_like(y)
    out[at] = y
    return out


def _round_cuts(indptr, blocks, rounds):
    """(rounds + 1, blocks) point indices: in round r block k steps points cuts[r, k]:cuts[r + 1, k],
    each round about the same share of the block's edges."""
    lo, hi = blocks[:-1], blocks[1:]
    share = np.linspace(0.0, 1.0, rounds + 1)[:, None]
    targets = indptr[lo][None, :] + share * (indptr[hi] - indptr[lo])[None, :]
    cuts = np.searchsorted(indptr, targets.ravel()).reshape(targets.shape).astype(np.int64)
    # targets rise with r, so the cuts do; the clip keeps points of degree 0 before a block out of it
    cuts = np.clip(cuts, lo[None, :], hi[None, :])
    cuts[-1] = hi  # points of degree 0 at a block's end belong to its last round
    return cuts


def _renumbered(order, y, indptr, tails, edges):
    """Points renumbered so that new point p is old point order[p]: the positions, the edges
    regrouped by new head (each head's edges keep their order) with their tails renumbered, and the
    per-edge arrays moved with them. Returns the new positions and indptr; ``tails`` and the arrays
    of ``edges`` are rewritten in place, one at a time (at 1M points each is some 150 MB: moving
    them all at once held two copies)."""
    inv = np.empty(len(order), np.int32)
    inv[order] = np.arange(len(order), dtype=np.int32)
    counts = np.diff(indptr)[order]
    new_indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    moved = np.repeat(indptr[order] - new_indptr[:-1], counts)
    moved += np.arange(new_indptr[-1])
    tails[:] = inv[tails[moved]]
    for e in edges:
        e[:] = e[moved]
    return np.ascontiguousarray(y[order]), new_indptr


def _cross_slots(indptr, tails, blocks):
    """The edges whose tail lies in another block than their head, numbered ("slots") by tail and
    then head (edges are stored by head: a stable sort by tail): slot[e] (-1 for the others) and
    t_indptr, the slots of the edges ending at each point."""
    n = len(indptr) - 1
    block_of = np.repeat(np.arange(len(blocks) - 1, dtype=np.int32), np.diff(blocks))
    head_of = np.repeat(np.arange(n, dtype=np.int32), np.diff(indptr))
    cross = np.flatnonzero(block_of[head_of] != block_of[tails])
    del head_of
    by_tail = cross[np.argsort(tails[cross], kind="stable")]
    slot = np.full(len(tails), -1, np.int64)
    slot[by_tail] = np.arange(len(by_tail))
    t_indptr = np.concatenate([[0], np.cumsum(np.bincount(tails[by_tail], minlength=n))]).astype(np.int64)
    return slot, t_indptr
