"""Independent reference implementations used by several test modules."""

import numpy as np


def slow_delong(y, scores):
    """AUCs and covariance of DeLong et al. (1988) from the Mann-Whitney kernel, O(m n).

    ``psi(x, z) = 1 if x > z, 1/2 if x == z, 0 otherwise`` for every (positive x, negative z)
    pair; V10 averages the kernel over negatives, V01 over positives, and the covariance of
    the AUCs is S10 / m + S01 / n with S10, S01 the sample covariances of those components.
    """
    y = np.asarray(y, dtype=bool)
    v10, v01, aucs = [], [], []
    for s in scores:
        x, z = s[y], s[~y]
        kernel = (x[:, None] > z[None, :]) + 0.5 * (x[:, None] == z[None, :])
        aucs.append(kernel.mean())
        v10.append(kernel.mean(axis=1))
        v01.append(kernel.mean(axis=0))
    m, n = y.sum(), (~y).sum()
    s10 = np.atleast_2d(np.cov(np.array(v10)))
    s01 = np.atleast_2d(np.cov(np.array(v01)))
    return np.array(aucs), s10 / m + s01 / n


def slow_obuchowski(y, scores, groups):
    """AUCs and covariance of Obuchowski (1997), pair by pair and cluster by cluster."""
    y = np.asarray(y, dtype=bool)
    clusters = list(dict.fromkeys(groups))
    big_m, big_n = y.sum(), (~y).sum()
    aucs, v10, v01 = [], [], []
    for s in scores:
        x, z = s[y], s[~y]
        kernel = (x[:, None] > z[None, :]) + 0.5 * (x[:, None] == z[None, :])
        aucs.append(kernel.sum() / (big_m * big_n))
        per_positive = kernel.sum(axis=1) / big_n
        per_negative = kernel.sum(axis=0) / big_m
        v10.append([per_positive[groups[y] == c].sum() for c in clusters])
        v01.append([per_negative[groups[~y] == c].sum() for c in clusters])
    m_i = np.array([np.sum(y & (groups == c)) for c in clusters])
    n_i = np.array([np.sum(~y & (groups == c)) for c in clusters])
    i10, i01, i = (m_i > 0).sum(), (n_i > 0).sum(), len(clusters)
    k = len(scores)
    cov = np.empty((k, k))
    for r in range(k):
        for t in range(k):
            s10 = (
                sum(
                    (v10[r][c] - m_i[c] * aucs[r]) * (v10[t][c] - m_i[c] * aucs[t])
                    for c in range(i)
                )
                * i10
                / ((i10 - 1) * big_m)
            )
            s01 = (
                sum(
                    (v01[r][c] - n_i[c] * aucs[r]) * (v01[t][c] - n_i[c] * aucs[t])
                    for c in range(i)
                )
                * i01
                / ((i01 - 1) * big_n)
            )
            s11_rt = (
                sum(
                    (v10[r][c] - m_i[c] * aucs[r]) * (v01[t][c] - n_i[c] * aucs[t])
                    for c in range(i)
                )
                * i
                / (i - 1)
            )
            s11_tr = (
                sum(
                    (v10[t][c] - m_i[c] * aucs[t]) * (v01[r][c] - n_i[c] * aucs[r])
                    for c in range(i)
                )
                * i
                / (i - 1)
            )
            cov[r, t] = s10 / big_m + s01 / big_n + (s11_rt + s11_tr) / (big_m * big_n)
    return np.array(aucs), cov
