"""Hidden Markov models with categorical emissions: construction, validation, sampling and
exact output statistics.

Conventions
-----------
* ``transition``  (M, M): row i is P(z_{t+1} | z_t = i).
* ``emission``    (M, K): row i is P(o_t | z_t = i).
* ``start``       (M,):   P(z_0).
* Sampled observations are integer symbols, shape (n_seq, seq_len), dtype int8.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "HMM",
    "HMMError",
    "linear_chain",
    "fully_connected",
    "cyclic",
    "build_hmm",
    "one_hot",
    "rare_symbol",
    "as_symbols",
    "hmm_forward",
    "hmm_loglik",
]

ATOL = 1e-6


class HMMError(ValueError):
    """Raised for an HMM whose matrices are inconsistent; the message names the HMM."""


@dataclass(frozen=True)
class HMM:
    """A categorical HMM. See module docstring for shapes."""

    name: str
    transition: np.ndarray
    emission: np.ndarray
    start: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self):
        T = np.asarray(self.transition, dtype=np.float64)
        E = np.asarray(self.emission, dtype=np.float64)
        if self.start is None:
            pi = np.full(T.shape[0] if T.ndim == 2 else 1, 1.0 / max(T.shape[0], 1))
        else:
            pi = np.asarray(self.start, dtype=np.float64)
        object.__setattr__(self, "transition", T)
        object.__setattr__(self, "emission", E)
        object.__setattr__(self, "start", pi)
        self.validate()

    # ------------------------------------------------------------------ validation
    def validate(self) -> None:
        """Check shapes and that every row is a probability vector; raise HMMError naming what is wrong."""
        T, E, pi, n = self.transition, self.emission, self.start, self.name
        if T.ndim != 2 or T.shape[0] != T.shape[1] or T.shape[0] < 1:
            raise HMMError(f"HMM '{n}': transition matrix must be square (M x M), got shape {T.shape}")
        M = T.shape[0]
        if E.ndim != 2 or E.shape[0] != M or E.shape[1] < 2:
            raise HMMError(
                f"HMM '{n}': emission matrix must be M x K with M={M} states (rows) and K>=2 "
                f"outputs, got shape {E.shape}"
            )
        if pi.shape != (M,):
            raise HMMError(f"HMM '{n}': start vector must have length M={M}, got shape {pi.shape}")
        for label, mat in (("transition", T), ("emission", E), ("start", pi[None, :])):
            if not np.all(np.isfinite(mat)):
                raise HMMError(f"HMM '{n}': {label} contains non-finite values")
            bad = np.argwhere(mat < 0)
            if bad.size:
                r, c = bad[0]
                raise HMMError(f"HMM '{n}': {label}[{r}][{c}] = {mat[r, c]} is negative")
            sums = mat.sum(axis=1)
            off = np.flatnonzero(np.abs(sums - 1.0) > ATOL)
            if off.size:
                r = off[0]
                what = f"{label} row {r}" if label != "start" else "start vector"
                raise HMMError(f"HMM '{n}': {what} sums to {sums[r]:.6g}, not 1")

    @property
    def n_states(self) -> int:
        return self.transition.shape[0]

    @property
    def n_outputs(self) -> int:
        return self.emission.shape[1]

    # ------------------------------------------------------------------ sampling
    def sample(self, n_seq: int, seq_len: int, seed: int | np.random.Generator | None = None,
               return_states: bool = False):
        """Draw ``n_seq`` independent sequences of length ``seq_len``.

        Vectorised over sequences (one loop over time only). Returns int8 observations of shape
        (n_seq, seq_len), and the hidden states of the same shape if ``return_states``.
        """
        if n_seq < 1 or seq_len < 1:
            raise ValueError(f"n_seq and seq_len must be positive, got {n_seq}, {seq_len}")
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        cum_T = np.cumsum(self.transition, axis=1)
        cum_E = np.cumsum(self.emission, axis=1)
        cum_T[:, -1] = 1.0
        cum_E[:, -1] = 1.0
        cum_pi = np.cumsum(self.start)
        cum_pi[-1] = 1.0
        states = np.empty((n_seq, seq_len), dtype=np.int8)
        u = rng.random((n_seq, seq_len))
        z = np.searchsorted(cum_pi, u[:, 0], side="right")
        states[:, 0] = z
        for t in range(1, seq_len):
            z = (u[:, t][:, None] >= cum_T[z]).sum(axis=1)
            states[:, t] = z
        v = rng.random((n_seq, seq_len))
        obs = (v[..., None] >= cum_E[states]).sum(axis=-1).astype(np.int8)
        return (obs, states) if return_states else obs

    # ------------------------------------------------------------------ exact statistics
    def stationary(self) -> np.ndarray:
        """Stationary distribution of the latent chain, shape (M,)."""
        w, v = np.linalg.eig(self.transition.T)
        k = int(np.argmin(np.abs(w - 1.0)))
        p = np.real(v[:, k])
        return p / p.sum()

    def output_frequencies(self, t: int | None = None) -> np.ndarray:
        """P(o_t), shape (K,). ``t=None`` uses the stationary distribution."""
        p = self.stationary() if t is None else self.start @ np.linalg.matrix_power(self.transition, t)
        return p @ self.emission

    def output_transition_matrix(self) -> np.ndarray:
        """Stationary P(o_{t+1} = j | o_t = i), shape (K, K); rows of never-seen symbols are 0."""
        p = self.stationary()
        joint = (p[:, None] * self.emission).T @ self.transition @ self.emission  # (K, K)
        f = joint.sum(axis=1, keepdims=True)
        return np.divide(joint, f, out=np.zeros_like(joint), where=f > 0)

    def change_probability(self) -> float:
        """Stationary P(o_{t+1} != o_t)."""
        p = self.stationary()
        joint = (p[:, None] * self.emission).T @ self.transition @ self.emission
        return float(1.0 - np.trace(joint))

    def rare_symbol(self) -> int | None:
        """The HMM's rare output (:func:`rare_symbol` of its stationary output frequencies)."""
        return rare_symbol(self.output_frequencies())

    def expected_changes(self, seq_len: int) -> float:
        """Expected number of output changes in a sequence of ``seq_len`` steps, exact for any start."""
        total = 0.0
        p = self.start.copy()
        same = self.emission @ self.emission.T  # P(o=o' | z, z') summed over symbols
        for _ in range(seq_len - 1):
            joint_z = p[:, None] * self.transition
            total += 1.0 - float((joint_z * same).sum())
            p = p @ self.transition
        return total


def rare_symbol(frequencies) -> int | None:
    """The rare output symbol: the least frequent one when its frequency is below 1/(2K) (the
    paper's linear chains: the middle symbol, at 0.01), else None (fully, cyclic). The one
    definition every claim, metric and study uses."""
    f = np.asarray(frequencies, dtype=float)
    k = int(np.argmin(f))
    return k if f[k] < 0.5 / len(f) else None


# ---------------------------------------------------------------------- likelihood (exact)
def as_symbols(y) -> np.ndarray:
    """Integer symbols (numpy, list or a torch tensor on any device) as an int64 numpy array, 2-D."""
    if hasattr(y, "detach"):  # a torch tensor (this module does not import torch)
        y = y.detach().cpu().numpy()
    y = np.asarray(y, dtype=np.int64)
    return y[None] if y.ndim == 1 else y


def hmm_forward(hmm: HMM, y) -> tuple[np.ndarray, np.ndarray]:
    """Scaled forward algorithm, vectorised over sequences: y (N, T) integer symbols ->
    (log p(y) (N,), per-step predictive log-probabilities log p(y_t | y_<t) (N, T)), float64.

    alpha_0 = start * E[:, y_0]; alpha_t = (alpha_{t-1} A) * E[:, y_t], normalised each step, the
    normaliser being p(y_t | y_<t). A sequence impossible under the HMM gets -inf.
    """
    y = as_symbols(y)
    N, T = y.shape
    if y.size and (y.min() < 0 or y.max() >= hmm.n_outputs):
        raise ValueError(f"symbols must lie in 0..{hmm.n_outputs - 1}, got {y.min()}..{y.max()}")
    A, ET = hmm.transition, hmm.emission.T  # ET (K, M): row k is P(o = k | z)
    steps = np.empty((N, T))
    pred = np.broadcast_to(hmm.start, (N, hmm.n_states))
    with np.errstate(divide="ignore", invalid="ignore"):
        for t in range(T):
            a = pred * ET[y[:, t]]
            c = a.sum(axis=1)
            steps[:, t] = np.log(c)
            a = np.divide(a, c[:, None], out=np.zeros_like(a), where=c[:, None] > 0)
            pred = a @ A
    return steps.sum(axis=1), steps


def hmm_loglik(hmm: HMM, y) -> np.ndarray:
    """Exact log p_HMM(y) of each sequence, y (N, T) -> (N,) float64 (:func:`hmm_forward`)."""
    return hmm_forward(hmm, y)[0]


# ---------------------------------------------------------------------- the paper's HMMs
def linear_chain(n_states: int, target_prob: float = 0.05, name: str | None = None) -> HMM:
    """Paper A.1: banded chain with switch probability q = target_prob**(1/(M-1)) and 'linear'
    emissions [0.99(1-a_i), 0.01, 0.99 a_i] with a_i = i/(M-1)."""
    M = int(n_states)
    if M < 2:
        raise HMMError(f"linear chain needs at least 2 states, got {M}")
    q = target_prob ** (1.0 / (M - 1))
    T = np.zeros((M, M))
    for i in range(M):
        if i > 0:
            T[i, i - 1] = q
        if i < M - 1:
            T[i, i + 1] = q
        T[i, i] = 1.0 - T[i].sum()
    a = np.arange(M) / (M - 1)
    E = np.stack([0.99 * (1 - a), np.full(M, 0.01), 0.99 * a], axis=1)
    return HMM(name or f"lin{M}", T, E, np.full(M, 1.0 / M))


def fully_connected(n_states: int = 3, stay_prob: float = 0.95, name: str = "fully") -> HMM:
    """Paper A.2: stay with ``stay_prob``, move to any other state uniformly; 'triangular'
    emissions (own symbol 0.98, others 0.01) -- defined for 3 states and 3 outputs."""
    M = int(n_states)
    if M != 3:
        raise HMMError(f"HMM '{name}': the fully connected HMM's triangular emissions need 3 states, got {M}")
    T = np.full((M, M), (1 - stay_prob) / (M - 1))
    np.fill_diagonal(T, stay_prob)
    E = np.full((M, M), 0.01)
    np.fill_diagonal(E, 0.98)
    return HMM(name, T, E, np.full(M, 1.0 / M))


def cyclic(name: str = "cyclic") -> HMM:
    """Paper A.3: 4-state ring (stay 0.95, 0.025 to each neighbour), outputs cycle 0,1,2,1."""
    T = np.array([[0.95, 0.025, 0, 0.025], [0.025, 0.95, 0.025, 0],
                  [0, 0.025, 0.95, 0.025], [0.025, 0, 0.025, 0.95]])
    E = np.array([[0.9, 0.1, 0], [0.1, 0.9, 0], [0, 0.1, 0.9], [0, 0.9, 0.1]])
    return HMM(name, T, E, np.full(4, 0.25))


def build_hmm(name: str, spec: dict) -> HMM:
    """Build an HMM from one config entry.

    ``spec['kind']`` is ``linear_chain`` (needs ``states``), ``fully_connected``, ``cyclic`` or
    ``custom`` (needs ``transition`` and ``emission``; ``start`` optional, default uniform).
    """
    kind = spec.get("kind")
    if kind == "linear_chain":
        if "states" not in spec:
            raise HMMError(f"HMM '{name}': kind linear_chain needs 'states'")
        return linear_chain(spec["states"], spec.get("target_prob", 0.05), name=name)
    if kind == "fully_connected":
        return fully_connected(spec.get("states", 3), spec.get("stay_prob", 0.95), name=name)
    if kind == "cyclic":
        return cyclic(name=name)
    if kind == "custom":
        missing = [k for k in ("transition", "emission") if k not in spec]
        if missing:
            raise HMMError(f"HMM '{name}': kind custom needs {', '.join(missing)}")
        try:
            T = np.asarray(spec["transition"], dtype=float)
            E = np.asarray(spec["emission"], dtype=float)
            pi = None if spec.get("start") is None else np.asarray(spec["start"], dtype=float)
        except ValueError as err:  # ragged lists
            raise HMMError(f"HMM '{name}': matrices must be rectangular lists of numbers ({err})") from None
        return HMM(name, T, E, pi)
    raise HMMError(
        f"HMM '{name}': unknown kind {kind!r}; allowed: linear_chain, fully_connected, cyclic, custom"
    )


def one_hot(obs: np.ndarray, n_outputs: int) -> np.ndarray:
    """Integer symbols (..., L) -> float32 one-hot (..., L, K)."""
    return np.eye(n_outputs, dtype=np.float32)[np.asarray(obs, dtype=np.int64)]
