"""Placing ordered roles on a chain of bones (a limb's collar, upper arm, forearm, hand along the tree path from the
chest to the farthest leaf): an exact dynamic programme, O(n^2 log n) in the chain length (see :func:`assign_chain`).
Used by :mod:`backend.retarget.bonemap`."""
from __future__ import annotations

import itertools

import numpy as np


def assign_chain(path: list[int], roles: list[str], scores, required: set[str], unary=None, pairs=None,
                  ratio=None, pos=None) -> dict:
    """Place ordered ``roles`` on ``path`` (ancestor -> descendant), each bone at most once, keeping the order and
    maximising the sum of name scores (+0.6 for a required role placed, -0.35 for an optional one) and priors:

    * ``unary``: role -> f(bones) (vectorised over an index array);
    * ``pairs``: (role, next role) -> f(bones_a, bones_b) (broadcast), counted when both are placed;
    * ``ratio``: (role_a, role_b, role_c, weight): ``-weight |log(|ab| / |bc|)|`` on rest positions ``pos`` when
      the three (consecutive) roles are all placed.

    An exact dynamic programme over the chain, per subset of placed roles (at most 2^4): O(n^2 log n) for a chain of
    n bones (the brute force over combinations it replaces was O(n^4)). Ties go to the first placement in
    (fewest roles, then lexicographic) order, as the brute force had it."""
    n, m = len(path), len(roles)
    if n == 0 or m == 0:
        return {}
    bones = np.asarray(path)
    U = np.array([[scores(r, b) + (0.6 if r in required else -0.35) for b in path] for r in roles], np.float64)
    for r, f in (unary or {}).items():
        U[roles.index(r)] += f(bones)
    later = np.arange(n)[None, :] > np.arange(n)[:, None]  # [a, b]: b comes after a on the path
    P = {}
    for (ra, rb), f in (pairs or {}).items():
        P[(roles.index(ra), roles.index(rb))] = np.broadcast_to(f(bones[:, None], bones[None, :]), (n, n))
    tri, logl = None, None
    if ratio is not None and pos is not None:
        tri = (roles.index(ratio[0]), roles.index(ratio[1]), roles.index(ratio[2]), float(ratio[3]))
        pp = np.asarray(pos, np.float64)[bones]
        logl = np.log(np.maximum(np.linalg.norm(pp[:, None] - pp[None, :], axis=-1), 1e-6))
    best, best_total = {}, 0.0  # placing nothing scores 0
    for k in range(1, m + 1):
        for subset in itertools.combinations(range(m), k):
            total, picks = _chain_dp(list(subset), U, P, tri, logl, later)
            if total > best_total + 1e-9:
                best, best_total = {roles[r]: path[b] for r, b in zip(subset, picks)}, total
    return best


def _first_max(v: np.ndarray, tol: float = 1e-9) -> int:
    return int(np.nonzero(v >= v.max() - tol)[0][0])


def _chain_dp(q: list[int], U, P, tri, logl, later) -> tuple[float, list[int]]:
    """Best increasing placement of roles ``q`` (role indices, in order) on the chain; see :func:`_assign_chain`.

    Backward pass: ``B[i][a, b]`` is the best value of roles i+1.. given role i-1 on bone a and role i on bone b
    (the ratio term couples three consecutive roles, so the state is a pair of bones). For a fixed b, the best c for
    every a under ``-w |log|ab| - log|bc||`` comes from a sort of the candidates by log|bc| and running maxima."""
    k, n = len(q), U.shape[1]
    neg = -np.inf

    def pair(i):  # (n, n) term between role q[i] on a and q[i+1] on b, -inf where b is not after a
        t = P.get((q[i], q[i + 1]))
        base = np.where(later, 0.0, neg)
        return base if t is None else base + t

    def is_tri(i):  # ratio term centred on role q[i]
        return tri is not None and 0 < i < k - 1 and (q[i - 1], q[i], q[i + 1]) == tri[:3]

    B = [None] * k
    B[k - 1] = np.zeros((n, n))
    H = [None] * k
    for i in range(k - 2, -1, -1):
        H[i] = pair(i) + U[q[i + 1]][None, :] + B[i + 1]  # [b, c]
        if not is_tri(i):
            B[i] = np.broadcast_to(H[i].max(1)[None, :], (n, n))
            continue
        w = tri[3]
        Bi = np.full((n, n), neg)
        for b in range(1, n - 1):
            h = H[i][b]
            ok = np.isfinite(h)
            if not ok.any():
                continue
            beta, hv = logl[b][ok], h[ok]
            o = np.argsort(beta, kind="stable")
            beta, hv = beta[o], hv[o]
            pre = np.maximum.accumulate(hv + w * beta)
            suf = np.maximum.accumulate((hv - w * beta)[::-1])[::-1]
            alpha = logl[:b, b]
            j = np.searchsorted(beta, alpha, side="right")
            lo = np.where(j > 0, pre[np.maximum(j - 1, 0)] - w * alpha, neg)
            hi = np.where(j < len(beta), suf[np.minimum(j, len(beta) - 1)] + w * alpha, neg)
            Bi[:b, b] = np.maximum(lo, hi)
        B[i] = Bi
    first = U[q[0]] + B[0][0]
    if k == 1:
        first = U[q[0]].copy()
    picks = [_first_max(first)]
    total = float(first[picks[0]])
    if not np.isfinite(total):
        return neg, []
    for i in range(k - 1):
        b = picks[-1]
        v = H[i][b].copy()
        if is_tri(i):
            v = v - tri[3] * np.abs(logl[picks[-2], b] - logl[b])
        picks.append(_first_max(v))
    return total, picks
