"""Shared matrix helpers for the dimension math: validation, L2 normalization, row chunks, moments, PCA.

Every function takes ``X``: an ``N x d`` array (rows are texts, float32 or float64) and computes
in float64. Work that is linear in N is done in row chunks, so the extra memory is
O(chunk * d + d^2), not O(N * d).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from analysis.errors import OptionError

# About 4M float64 values (32 MB) per chunk.
CHUNK_ELEMS = 1 << 22


def chunk_rows(d: int) -> int:
    return max(1, CHUNK_ELEMS // max(int(d), 1))


def row_chunks(n: int, d: int) -> Iterator[tuple[int, int]]:
    step = chunk_rows(d)
    for a in range(0, n, step):
        yield a, min(n, a + step)


def as_matrix(X: np.ndarray, *, min_rows: int = 1, name: str = "X") -> np.ndarray:
    """Validate a 2-D, non-empty, finite numeric matrix; return it as an ndarray (no copy)."""
    X = np.asarray(X)
    if X.ndim != 2:
        raise OptionError(f"{name} must be a 2-D array (N texts x d dimensions); got shape {X.shape}.")
    if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
        raise OptionError(f"{name} must hold real numbers; got dtype {X.dtype}.")
    n, d = X.shape
    if d < 1:
        raise OptionError(f"{name} has no dimensions (shape {X.shape}).")
    if n < min_rows:
        raise OptionError(f"{name} needs at least {min_rows} rows (texts); got {n}.")
    for a, b in row_chunks(n, d):
        if not np.isfinite(X[a:b]).all():
            raise OptionError(f"{name} contains NaN or infinite values (first bad chunk: rows {a}..{b - 1}).")
    return X


def l2_normalize(raw: np.ndarray) -> np.ndarray:
    """Rows divided by their L2 norm (float32). Zero rows stay zero instead of becoming NaN.

    >>> l2_normalize(np.array([[3.0, 4.0], [0.0, 0.0]])).tolist()
    [[0.6000000238418579, 0.800000011920929], [0.0, 0.0]]
    """
    norms = np.linalg.norm(raw, axis=1, keepdims=True).astype(np.float32)
    norms[norms == 0] = 1.0
    return (raw / norms).astype(np.float32, copy=False)


def as_float64(block: np.ndarray) -> np.ndarray:
    return np.array(block, dtype=np.float64, copy=True)


def column_mean(X: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """Column mean in float64 (weighted by non-negative ``w`` if given), chunked."""
    n, d = X.shape
    acc = np.zeros(d)
    for a, b in row_chunks(n, d):
        block = X[a:b].astype(np.float64, copy=False)
        acc += block.sum(axis=0) if w is None else w[a:b] @ block
    total = float(n) if w is None else float(w.sum())
    return acc / total


def column_variance(X: np.ndarray, mu: np.ndarray | None = None) -> np.ndarray:
    """Population variance per column, chunked with float64 accumulation."""
    n, d = X.shape
    mu = column_mean(X) if mu is None else mu
    ss = np.zeros(d)
    for a, b in row_chunks(n, d):
        A = as_float64(X[a:b]) - mu
        ss += np.einsum("ij,ij->j", A, A)
    return ss / n


def scatter_matrix(X: np.ndarray, mu: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """Scatter matrix sum_i w_i (x_i - mu)(x_i - mu)^T (d x d, float64), chunked.

    Uses BLAS ``dsyrk`` (one triangle: half the flops of ``A.T @ A``).
    """
    from scipy.linalg.blas import dsyrk

    n, d = X.shape
    S = np.zeros((d, d))
    for a, b in row_chunks(n, d):
        A = as_float64(X[a:b])
        A -= mu
        if w is not None:
            A *= np.sqrt(w[a:b])[:, None]
        # A.T is Fortran-ordered without a copy; syrk(A.T) = A.T @ A, upper triangle.
        S += dsyrk(1.0, A.T, trans=0, lower=0)
    return np.triu(S) + np.triu(S, 1).T


def _zero_rounding_noise(vals: np.ndarray) -> np.ndarray:
    """Descending eigenvalues: zero those below the rounding level of the largest one."""
    vals = vals.copy()
    # cf. numpy.linalg.matrix_rank's tolerance; zero them instead of keeping +-noise.
    if vals.size and vals[0] > 0:
        vals[vals < vals.size * np.finfo(np.float64).eps * vals[0]] = 0.0
    return np.clip(vals, 0.0, None)


def lapack_single_thread():
    """Context: BLAS/LAPACK on one thread.

    For d x d eigenproblems and small SVDs (d <= a few thousand) multi-threaded OpenBLAS
    is slower, not faster: measured on 2 busy cores, eigvalsh of a 384 x 384 matrix took
    0.07-0.4 s with 2 threads and 0.01-0.015 s with one (CPU time too, not only wall).
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def sym_eig_desc(S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigen-decomposition of a symmetric PSD matrix, eigenvalues descending and clipped at 0."""
    with lapack_single_thread():
        vals, vecs = np.linalg.eigh(S)
    return _zero_rounding_noise(vals[::-1]), vecs[:, ::-1]


def sym_eigvals_desc(S: np.ndarray) -> np.ndarray:
    """Eigenvalues only (several times faster than with vectors), descending, clipped at 0."""
    with lapack_single_thread():
        vals = np.linalg.eigvalsh(S)
    return _zero_rounding_noise(vals[::-1])


def flip_signs(V: np.ndarray) -> np.ndarray:
    """Make each column's largest-|.| entry positive (deterministic sign convention)."""
    if V.size == 0:
        return V
    idx = np.argmax(np.abs(V), axis=0)
    signs = np.sign(V[idx, np.arange(V.shape[1])])
    signs[signs == 0] = 1.0
    return V * signs


def pca_basis(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Principal axes of X.

    Returns ``(mu, lam, V)``: column mean, covariance eigenvalues with ddof=0
    (``lam_k = s_k^2 / N``, descending) and the matching unit eigenvectors as the columns of
    ``V`` (d x r, r = d if N >= d else N), signs fixed by :func:`flip_signs`.
    Uses the d x d scatter matrix (chunked, O(N d^2)) when N >= d, else an SVD of the
    centered matrix.
    """
    n, d = X.shape
    mu = column_mean(X)
    if n >= d:
        lam, V = sym_eig_desc(scatter_matrix(X, mu))
        lam = lam / n
    else:
        Xc = as_float64(X) - mu
        with lapack_single_thread():
            _, s, Vt = np.linalg.svd(Xc, full_matrices=False)
        lam, V = s**2 / n, Vt.T
    return mu, lam, flip_signs(V)
