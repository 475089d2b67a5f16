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
