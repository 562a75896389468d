"""Calibration for incomplete designs: fair scores when different judges see different entries.

When every judge scores every entry (a live final) the rubric's own rule (the trimmed mean)
ranks. When each entry is seen by a few of many judges (31 divisional panels, the national
preliminary review, resource review) a raw mean depends on whether an entry drew harsh or
lenient judges, and per-judge z-scores assume every judge saw entries of the same average
quality, which is false when divisions differ. This module fits the two-way model

    y_ij = a_i + b_j + e_ij                                    (model "bias")
    y_ij = μ + s_j · (a_i − μ + b'_j) + e_ij                   (model "bias_scale")

for the score y_ij of judge j on entry i, with

* a_i  the entry's quality on the raw scale: the mark an average judge (bias 0, scale 1)
       would give. Fixed effects, not shrunk: entries are what is ranked, and shrinking them
       toward a common mean would (i) pull whole divisions toward each other, the very
       failure of z-scores, and (ii) pull entries with fewer scores toward the middle, so an
       excellent entry would lose places for having drawn fewer judges.
* b_j  the judge's bias ~ N(0, σ_b²), a random effect: judges are a sample of possible
       judges, and a judge seen on few entries is shrunk toward the average judge instead of
       being trusted on thin evidence. Shrinkage is what makes thinly bridged designs (31
       divisions linked by a handful of judges) work: a fixed-effects fit chains errors from
       bridge to bridge, a shrunk fit falls back on "panels are unbiased on average" exactly
       where the bridges say little.
* s_j  (bias_scale only) the judge's scale ~ 1 + N(0, σ_s²): a judge who spreads marks wider
       or narrower than the others around the centre μ (the mean of all marks). With
       b'_j the bias on the quality scale, the bias reported on the raw scale is s_j·b'_j.
* e_ij ~ N(0, σ²) the judge's disagreement with the panel on that entry.

Estimation ("bias"). Absorbing the entry effects (X) leaves the judge system

    (S + I/γ) b = r,   S = Zᵀ M Z,  r = Zᵀ M y,  M = I − X (XᵀX)⁻¹ Xᵀ,  γ = σ_b²/σ²,

built with scipy.sparse from per-row indices (S is the judges' "Laplacian": S_jk is minus
the overlap of judges j and k weighted by 1/n_i of the shared entries). Then
a_i = mean over the entry's rows of (y − b_j). The variance components are estimated from
the data by REML (restricted maximum likelihood: Patterson & Thompson 1971; for this model
Kuhlisch, Roos, Rothe et al., Metrika 2016). With the eigendecomposition S = U diag(λ) Uᵀ and
r̃ = Uᵀ r, the profiled REML criterion in γ is

    −2ℓ(γ) = (n − p) · log R(γ) + Σ_k log(1 + γ λ_k),
    R(γ)   = SSE_fixed + Σ_{λ_k>0} r̃_k² / (λ_k (1 + γ λ_k)),       σ̂² = R(γ̂)/(n − p),

(n rows, p scored entries, SSE_fixed the residual sum of squares of the unshrunk fit),
so each γ costs O(judges); γ̂ is a grid search on log γ refined by a root of the analytic
derivative (Brent).
Prediction-error variances come from the same decomposition (Henderson's mixed-model
equations): Var(b̂ − b) = σ² (S + I/γ)⁻¹ and
Var(â_i − a_i) = σ² (1/n_i + w_iᵀ (S + I/γ)⁻¹ w_i / n_i²), w_i the indicator of entry i's judges.
Above `DENSE_JUDGES` (1,000) judges, e.g. the speed benchmark's 2,000 reviewers, a dense
eigendecomposition would dominate the run time, so the variance components come from Henderson's method III
(unbiased moments: E[rᵀS⁺r] = tr(S)σ_b² + rank(S)σ², SSE_fixed/(n − p − rank S) = σ²), the
systems are solved by preconditioned conjugate gradients, and standard errors use the diagonal
of S (they ignore correlations between judges' estimates; the notes say so).

Estimation ("bias_scale"): an ECM-style alternation (Meng & Rubin 1993). Given the scales,
dividing row (i, j) by s_j gives the bias model with row weights s_j², fitted as above
(REML for σ_b² and σ²); given the qualities and biases, each judge's scale is the ridge
regression of (y − μ) on (a_i − μ + b'_j) shrunk toward 1 with weight σ²/σ_s²; σ_s² is a
moment estimate (the spread of the judges' unshrunk slopes about their mean minus their mean
sampling variance, DerSimonian–Laird style), and the scales are normalised to mean 1 (the
average judge has scale 1, as biases average 0); μ is the mean of all marks, the point judges
stretch their marks around. Iterated to a fixed point. Standard errors are conditional on the
estimated scales. Scales are slopes and need data: with fewer than 8 judges having 10 or more
scores, or when the alternation does not settle, the bias model is used and the notes say so.

Background: the NIPS calibration of Platt & Burges (regularised least squares) and its
Bayesian reinterpretation by Ge, Welling & Ghahramani (quality and bias as latent Gaussians);
Roos, Rothe & Scheuermann, "How to calibrate the scores of biased reviewers by quadratic
programming", AAAI 2011 (reviewer bias, maximum likelihood, normalisation constraints);
Niu & Rosenberger, arXiv 1806.00034 (listed in DOMAIN.md; its text was not available to
check while writing this module). This implementation differs from
Ge et al. in keeping entries fixed (reasons above) and from Roos et al. in shrinking judges.

Identification. The model identifies entry qualities only within a connected component of
the bipartite judge–entry graph. Within a component the judge biases sum to zero: "an average
judge" is the average of that component's judges. Across components nothing links the scales
except the prior that each component's judges are unbiased on average (the raw-mean
assumption); `connected` is False and the notes say so.

Consequence of shrinkage (a property, not a bug): adding a constant c to all of one judge's
scores is absorbed exactly by the fixed-effects fit (`judge_variance=math.inf`) and by any fit
on a complete design (where the bias model gives the raw mean exactly), but in an incomplete
design the shrunk fit attributes a small share of c (about γ⁻¹/(S_jj + γ⁻¹)) to that judge's
entries, as any random-effects estimator must.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.optimize import brentq, minimize_scalar
from scipy.sparse import csgraph
from scipy.sparse.linalg import cg

from scoring.table import ScoreMatrix

__all__ = [
    "Calibration",
    "DENSE_JUDGES",
    "MODELS",
    "components",
    "fit",
    "raw_means",
    "zscore_means",
]

MODELS = ("bias", "bias_scale")
DENSE_JUDGES = 1000          # above this many judges: method III + conjugate gradients
_LOG_GAMMA = (math.log(1e-6), math.log(1e8))   # search range for γ = σ_b²/σ² (unitless);
                                                # the lower end means "no judge variance"
_SCALE_MIN_SCORES = 10       # a judge's slope counts toward σ_s² only with this many scores,
_SCALE_MIN_JUDGES = 8        # and σ_s² needs this many such judges (else: the bias model)
_MIN_SCALE = 0.1             # a judge's scale is kept above this (a reversed scale is an error)


@dataclass(frozen=True, eq=False)
class Calibration:
    """The fitted model. Arrays are aligned with the matrix's `entry_labels` / `judge_labels`.

    quality      the entry's calibrated score on the raw scale (what an average judge would
                 give); NaN for an entry with no scores.
    quality_se   its standard error (prediction error of the mixed model).
    bias         each judge's estimated bias in points (+ lenient, − harsh), relative to the
                 average judge of its component; NaN for a judge with no scores.
    bias_se      its standard error.
    scale        each judge's scale (model bias_scale; 1 = uses the scale like the average
                 judge), None when the bias model was used (asked for, or the fallback when
                 the design cannot support scales; the notes say so).
    connected    whether the judge–entry graph is one component.
    components   entry labels per component, largest first.
    judge_variance, residual_variance   σ_b² and σ² (points²) as estimated (or as fixed).
    method       "calibrated:bias", "calibrated:bias_scale", or "raw_mean" when calibration is
                 not meaningful for this design (the notes say why).
    notes        plain-language diagnostics for the organiser.
    """

    entry_labels: tuple[str, ...]
    judge_labels: tuple[str, ...]
    quality: np.ndarray
    quality_se: np.ndarray
    bias: np.ndarray
    bias_se: np.ndarray
    scale: np.ndarray | None
    connected: bool
    components: tuple[tuple[str, ...], ...]
    judge_variance: float
    residual_variance: float
    method: str
    notes: tuple[str, ...]
    scale_se: np.ndarray | None = None
    scale_variance: float | None = None

    @property
    def calibrated(self) -> bool:
        """Whether the model was fitted (False: the qualities are raw means, see notes)."""
        return self.method.startswith("calibrated")


# --------------------------------------------------------------------------- simple methods


def raw_means(matrix: ScoreMatrix) -> np.ndarray:
    """Each entry's mean score over the judges who scored it (NaN when nobody did)."""
    n = np.bincount(matrix.entry_idx, minlength=matrix.n_entries)
    s = np.bincount(matrix.entry_idx, weights=matrix.values, minlength=matrix.n_entries)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, s / np.maximum(n, 1), np.nan)


def zscore_means(matrix: ScoreMatrix) -> np.ndarray:
    """Per-judge standard scores (标准分), averaged per entry and put back on the raw scale.

    Each score becomes z = (y − judge's mean) / judge's sd (sample sd); an entry's value is
    overall mean + overall sd × (mean of its z), so it prints like a score. A judge who gave a
    single score, or the same score to everyone, expresses no preference between entries:
    their z is 0. NaN for an entry with no scores. This method assumes every judge saw entries
    of the same average quality; where panels see different groups it is biased.
    """
    j, y = matrix.judge_idx, matrix.values
    nq = matrix.n_judges
    cnt = np.bincount(j, minlength=nq)
    mean = np.bincount(j, weights=y, minlength=nq) / np.maximum(cnt, 1)
    dev = y - mean[j]
    ss = np.bincount(j, weights=dev * dev, minlength=nq)
    sd = np.sqrt(ss / np.maximum(cnt - 1, 1))
    informative = (cnt >= 2) & (sd > 1e-12 * np.maximum(1.0, np.abs(mean)))
    z = np.where(informative[j], dev / np.where(informative, sd, 1.0)[j], 0.0)
    zbar = raw_means(ScoreMatrix(matrix.entry_labels, matrix.judge_labels, matrix.entry_idx, j, z))
    centre = float(y.mean()) if y.size else math.nan
    spread = float(y.std()) if y.size else 0.0
    return centre + spread * zbar


def components(matrix: ScoreMatrix) -> tuple[tuple[str, ...], ...]:
    """Entry labels per connected component of the bipartite judge–entry graph, largest
    first (ties in label order). An entry nobody scored is a component of its own; judges
    who scored nothing are ignored."""
    labels, _ = _component_labels(matrix)
    return _component_tuples(matrix, labels)


def _component_labels(matrix: ScoreMatrix) -> tuple[np.ndarray, np.ndarray]:
    ne, nq = matrix.n_entries, matrix.n_judges
    rows = matrix.entry_idx
    cols = ne + matrix.judge_idx
    graph = sparse.coo_matrix((np.ones(rows.size), (rows, cols)), shape=(ne + nq, ne + nq)).tocsr()
    _, labels = csgraph.connected_components(graph, directed=False)
    return labels[:ne], labels[ne:]


def _component_tuples(matrix: ScoreMatrix, entry_comp: np.ndarray) -> tuple[tuple[str, ...], ...]:
    groups: dict[int, list[str]] = {}
    for i, c in enumerate(entry_comp.tolist()):
        groups.setdefault(c, []).append(matrix.entry_labels[i])
    return tuple(tuple(g) for g in sorted(groups.values(), key=lambda g: -len(g)))


# --------------------------------------------------------------------------- the model


def fit(matrix: ScoreMatrix, model: str = "bias", *, judge_variance: float | None = None) -> Calibration:
    """Fit the two-way calibration model to per-judge totals (see the module docstring).

    `model` is "bias" (entry quality + judge bias) or "bias_scale" (also a judge scale).
    `judge_variance` fixes σ_b² in points² instead of estimating it by REML: `math.inf`
    gives the unshrunk fixed-effects fit, 0 gives the raw mean; σ² is then estimated from the
    unshrunk residuals. Never raises for a valid matrix: designs where calibration is not
    meaningful (one judge, no entry seen by two judges, ...) return raw means with
    `method="raw_mean"` and a note saying why.
    """
    if model not in MODELS:
        raise ValueError(f"unknown calibration model {model!r}; use one of {', '.join(MODELS)}")
    if judge_variance is not None and not (judge_variance >= 0):
        raise ValueError("judge_variance must be >= 0 (math.inf for fixed effects)")

    entry_comp, judge_comp = _component_labels(matrix)
    comps = _component_tuples(matrix, entry_comp)
    ne, nq = matrix.n_entries, matrix.n_judges
    e_cnt = np.bincount(matrix.entry_idx, minlength=ne)
    j_cnt = np.bincount(matrix.judge_idx, minlength=nq)
    notes: list[str] = []
    scored_comps = {int(c) for c in np.unique(entry_comp[e_cnt > 0])} if matrix.values.size else set()
    connected = len(scored_comps) <= 1 and bool((e_cnt > 0).all())
    if len(comps) > 1:
        notes.append(
            f"judge–entry graph has {len(comps)} components; qualities are comparable only "
            "within a component (across components they assume each component's judges are "
            "unbiased on average, as a raw mean does)"
        )
    if (e_cnt == 0).any():
        notes.append(f"{int((e_cnt == 0).sum())} entries have no scores and get no quality")

    # Compact to scored entries and judges; results are scattered back with NaN elsewhere.
    e_used = np.flatnonzero(e_cnt > 0)
    j_used = np.flatnonzero(j_cnt > 0)
    e_map = np.full(ne, -1, dtype=np.int64)
    e_map[e_used] = np.arange(e_used.size)
    j_map = np.full(nq, -1, dtype=np.int64)
    j_map[j_used] = np.arange(j_used.size)
    e = e_map[matrix.entry_idx]
    j = j_map[matrix.judge_idx]
    y = matrix.values
    n_jcomp = len({int(c) for c in judge_comp[j_used]})

    why = _not_meaningful(e_cnt[e_used], j_used.size, e_used.size, y.size, n_jcomp)
    if why is None and judge_variance == 0:
        why = "judge variance fixed at 0: judges are taken as unbiased, the raw mean ranks"
    if why is not None:
        notes.insert(0, why)
        return _raw_fallback(matrix, comps, connected, notes)

    scaled = None
    if model == "bias_scale":
        n_j = np.bincount(j, minlength=j_used.size)
        if int((n_j >= _SCALE_MIN_SCORES).sum()) < _SCALE_MIN_JUDGES:
            notes.append(f"too few scores per judge to estimate scales (needs {_SCALE_MIN_JUDGES} "
                         f"judges with {_SCALE_MIN_SCORES} or more scores each): the bias model was used")
        else:
            scaled = _fit_bias_scale(e, j, y, e_used.size, j_used.size, n_jcomp, judge_variance)
            if scaled is None:
                notes.append("the scale model does not settle on this design (judges' scales cannot "
                             "be told apart): the bias model was used")
        model = "bias_scale" if scaled is not None else "bias"
    if scaled is None:
        core = _fit_bias(e, j, y, np.ones_like(y), e_used.size, j_used.size, n_jcomp, judge_variance)
        quality, qvar, bias, bvar = core.a, core.a_var, core.b, core.b_var
        scale = scale_se = None
        scale_variance = None
    else:
        core, quality, qvar, bias, bvar, scale, scale_se, scale_variance, more = scaled
        notes.extend(more)
    notes.extend(core.notes)
    if core.sigma_b2 == 0 and judge_variance is None:
        notes.append("judges' biases do not differ detectably (judge variance estimated as 0)"
                     + (": calibrated scores equal the raw means" if model == "bias" else ""))

    def spread(values, used, size, fill=math.nan):
        out = np.full(size, fill)
        out[used] = values
        return out

    sig2 = core.sigma2
    return Calibration(
        entry_labels=matrix.entry_labels,
        judge_labels=matrix.judge_labels,
        quality=spread(quality, e_used, ne),
        quality_se=spread(np.sqrt(np.maximum(qvar, 0) * sig2), e_used, ne),
        bias=spread(bias, j_used, nq),
        bias_se=spread(np.sqrt(np.maximum(bvar, 0) * sig2), j_used, nq),
        scale=None if scale is None else spread(scale, j_used, nq),
        connected=connected,
        components=comps,
        judge_variance=float(core.sigma_b2),
        residual_variance=float(sig2),
        method=f"calibrated:{model}",
        notes=tuple(notes),
        scale_se=None if scale_se is None else spread(scale_se, j_used, nq),
        scale_variance=scale_variance,
    )


def _not_meaningful(e_cnt, n_judges, n_entries, n_rows, n_jcomp) -> str | None:
    if n_rows == 0:
        return "no scores: nothing to calibrate"
    if n_judges == 1:
        return ("only one judge: a judge's bias cannot be told apart from the entries' quality; "
                "the ranking is that judge's own scores")
    if e_cnt.max() < 2:
        return ("no entry was scored by two or more judges: judges cannot be compared, so their "
                "biases cannot be estimated; raw scores rank")
    if n_entries == 1:
        return ("only one entry: judges' differences on it cannot be told apart from noise; "
                "calibration is not meaningful")
    df = n_rows - n_entries - (n_judges - n_jcomp)
    if df < 1:
        return ("too few overlapping scores: once entry qualities and judge biases are fitted "
                "nothing is left to estimate the noise, so calibration is not meaningful")
    return None


def _raw_fallback(matrix, comps, connected, notes) -> Calibration:
    nq = matrix.n_judges
    return Calibration(
        entry_labels=matrix.entry_labels,
        judge_labels=matrix.judge_labels,
        quality=raw_means(matrix),
        quality_se=np.full(matrix.n_entries, math.nan),
        bias=np.full(nq, math.nan),
        bias_se=np.full(nq, math.nan),
        scale=None,
        connected=connected,
        components=comps,
        judge_variance=math.nan,
        residual_variance=math.nan,
        method="raw_mean",
        notes=tuple(notes),
    )


@dataclass
class _Core:
    a: np.ndarray          # entry effects (quality of the weighted response)
    b: np.ndarray          # judge effects
    a_var: np.ndarray      # prediction-error variances / σ²
    b_var: np.ndarray
    sigma2: float
    sigma_b2: float
    notes: list[str]


def _fit_bias(e, j, y, w, ne, nq, n_jcomp, judge_variance, want_se: bool = True) -> _Core:
    """Entries fixed, judges random, rows weighted by w (1 for the bias model)."""
    n = y.size
    D = np.bincount(e, weights=w, minlength=ne)
    ybar = np.bincount(e, weights=w * y, minlength=ne) / D
    dev = y - ybar[e]
    yMy = float(np.dot(w, dev * dev))
    r = np.bincount(j, weights=w * dev, minlength=nq)
    B = sparse.csr_matrix((w, (e, j)), shape=(ne, nq))
    Zw = np.bincount(j, weights=w, minlength=nq)
    S = (sparse.diags(Zw) - B.T @ sparse.diags(1.0 / D) @ B).tocsr()
    rank = nq - n_jcomp
    df_fixed = n - ne - rank
    notes: list[str] = []
    if df_fixed < 10:
        notes.append(f"only {df_fixed} residual degrees of freedom: the variance estimates are rough")

    if nq <= DENSE_JUDGES:
        tss = float(np.dot(w, y * y))
        b, b_var, sigma2, sigma_b2, a_quad = _dense(
            S, r, yMy, tss, n, ne, df_fixed, judge_variance, B, want_se)
    else:
        b, b_var, sigma2, sigma_b2, a_quad = _iterative(S, r, yMy, df_fixed, rank, judge_variance, B)
        notes.append(
            f"large panel ({nq} judges): variance components by Henderson's method III "
            "(moments) rather than REML; standard errors approximate (they ignore correlations "
            "between judges' estimates, so they understate the uncertainty of judges linked to "
            "the rest only through a few others)"
        )
    a = ybar - (B @ b) / D
    a_var = 1.0 / D + a_quad / (D * D)
    return _Core(a, b, a_var, b_var, sigma2, sigma_b2, notes)


def _dense(S, r, yMy, tss, n, ne, df_fixed, judge_variance, B, want_se=True):
    lam, U = np.linalg.eigh(S.toarray())
    tol = 1e-9 * max(1.0, float(lam.max()))
    lam = np.where(lam > tol, lam, 0.0)
    pos = lam > 0
    rt = U.T @ r
    explained = float(np.sum(rt[pos] ** 2 / lam[pos]))
    sse_fixed = max(yMy - explained, 0.0)
    floor = 1e-300 + 1e-15 * yMy

    def resid(gamma: float) -> float:
        return sse_fixed + float(np.sum(rt[pos] ** 2 / (lam[pos] * (1.0 + gamma * lam[pos]))))

    if judge_variance is None:
        if yMy <= 1e-20 * tss:
            gamma = 0.0                       # every judge gave each entry the same score
        else:
            def crit(t: float) -> float:
                g = math.exp(t)
                return (n - ne) * math.log(max(resid(g), floor)) + float(np.sum(np.log1p(g * lam)))

            def slope(t: float) -> float:          # d crit / d log γ, for a precise root
                g = math.exp(t)
                d_resid = -float(np.sum(rt[pos] ** 2 / (1.0 + g * lam[pos]) ** 2))
                return g * ((n - ne) * d_resid / max(resid(g), floor)
                            + float(np.sum(lam / (1.0 + g * lam))))

            grid = np.linspace(*_LOG_GAMMA, 49)
            k = int(np.argmin([crit(t) for t in grid]))
            lo, hi = grid[max(k - 1, 0)], grid[min(k + 1, grid.size - 1)]
            if k == 0 and slope(grid[0]) >= 0:
                gamma = 0.0                   # the likelihood falls all the way to σ_b² = 0
            elif k == grid.size - 1 and slope(grid[-1]) <= 0:
                gamma = math.inf              # no noise beyond judge offsets: fixed effects
            elif slope(lo) < 0 < slope(hi):
                gamma = math.exp(brentq(slope, lo, hi, xtol=1e-13, rtol=1e-14))
            else:                             # pragma: no cover - a flat criterion
                gamma = math.exp(minimize_scalar(crit, bounds=(lo, hi), method="bounded").x)
        if math.isinf(gamma):
            sigma2 = sse_fixed / (n - ne)
            sigma_b2 = math.exp(_LOG_GAMMA[1]) * sigma2   # at least this; reported as such
        else:
            sigma2 = max(resid(gamma), 0.0) / (n - ne)
            sigma_b2 = gamma * sigma2
    else:
        sigma2 = sse_fixed / df_fixed
        sigma_b2 = float(judge_variance)
        gamma = math.inf if sigma2 == 0 else sigma_b2 / sigma2

    if gamma == 0.0:
        shrink = np.zeros_like(lam)
    elif math.isinf(gamma):
        shrink = np.where(pos, 1.0 / np.where(pos, lam, 1.0), 0.0)
    else:
        shrink = gamma / (1.0 + gamma * lam)
    b = U @ (shrink * rt)
    if not want_se:
        return b, np.full_like(b, np.nan), sigma2, sigma_b2, np.full(B.shape[0], np.nan)
    T = (U * shrink) @ U.T                   # (S + I/γ)⁻¹, or S⁺ for fixed effects
    b_var = np.diag(T).copy()
    a_quad = _quad_rows(B, T)
    return b, b_var, sigma2, sigma_b2, a_quad


def _quad_rows(B: sparse.csr_matrix, T: np.ndarray) -> np.ndarray:
    """diag(B T Bᵀ) without forming the n_entries × n_entries product, in row chunks."""
    out = np.empty(B.shape[0])
    step = max(1, 2_000_000 // max(1, T.shape[0]))
    for start in range(0, B.shape[0], step):
        blk = B[start:start + step]
        out[start:start + step] = np.asarray(blk.multiply(blk @ T).sum(axis=1)).ravel()
    return out


def _iterative(S, r, yMy, df_fixed, rank, judge_variance, B):
    diag = S.diagonal()
    trace = float(diag.sum())
    ridge = 1e-10 * max(1.0, float(diag.mean()))
    eye = sparse.identity(S.shape[0], format="csr")

    def solve(A, rhs, d):
        pre = sparse.diags(1.0 / np.maximum(d, 1e-300))
        x, _ = cg(A, rhs, rtol=1e-10, atol=0.0, maxiter=2000, M=pre)
        return x

    x = solve(S + ridge * eye, r, diag + ridge)           # fixed-effects fit: S x = r
    reduction = float(np.dot(r, x))                      # R(b | a), Henderson's method III
    sse_fixed = max(yMy - reduction, 0.0)
    sigma2 = sse_fixed / df_fixed
    if judge_variance is None:
        sigma_b2 = max(0.0, (reduction - rank * sigma2) / trace) if trace > 0 else 0.0
    else:
        sigma_b2 = float(judge_variance)
    if sigma_b2 == 0.0:
        return np.zeros_like(r), np.zeros_like(r), sigma2, 0.0, np.zeros(B.shape[0])
    if math.isinf(sigma_b2) or sigma2 == 0.0:
        b = x
        b_var = 1.0 / np.maximum(diag, 1e-300)
    else:
        inv_gamma = sigma2 / sigma_b2
        b = solve(S + inv_gamma * eye, r, diag + inv_gamma)
        b_var = 1.0 / (diag + inv_gamma)
    a_quad = np.asarray(B.multiply(B) @ b_var).ravel()   # ignores covariances between judges
    return b, b_var, sigma2, sigma_b2, a_quad


def _fit_bias_scale(e, j, y, ne, nq, n_jcomp, judge_variance, max_iter: int = 200):
    """Alternate: (entries, biases | scales) by the weighted bias model, then scales."""
    notes: list[str] = []
    s = np.ones(nq)
    mu = float(y.mean())                     # the pivot judges stretch their marks around
    n_j = np.bincount(j, minlength=nq)
    sigma_s2 = 0.0
    prev = None
    for _ in range(max_iter):
        w = s[j] ** 2
        core = _fit_bias(e, j, (y - mu) / s[j], w, ne, nq, n_jcomp, judge_variance, want_se=False)
        a = core.a
        x = a[e] + core.b[j]                 # perceived quality relative to μ
        target = y - mu
        sxx = np.bincount(j, weights=x * x, minlength=nq)
        sxy = np.bincount(j, weights=x * target, minlength=nq)
        sigma2 = max(core.sigma2, 1e-12)
        ok = (n_j >= _SCALE_MIN_SCORES) & (sxx > 1e-9)
        if ok.sum() >= _SCALE_MIN_JUDGES:
            slope = sxy[ok] / sxx[ok]
            sampling = sigma2 / sxx[ok]
            sigma_s2 = max(0.0, float(np.var(slope, ddof=1) - sampling.mean()))
        else:
            sigma_s2 = 0.0
        if sigma_s2 > 0:
            k = sigma2 / sigma_s2
            s_new = (sxy + k) / (sxx + k)
        else:
            s_new = np.ones(nq)
        s_new = np.maximum(s_new / s_new.mean(), _MIN_SCALE)   # the average judge has scale 1
        quality = mu + a
        if not np.isfinite(quality).all() or np.abs(quality - mu).max() > 10 * (1.0 + np.ptp(y)):
            return None                      # diverged: the caller falls back to the bias model
        if prev is not None and np.max(np.abs(quality - prev)) < 1e-7 * (1.0 + np.std(quality)) \
                and np.max(np.abs(s_new - s)) < 1e-7:
            s = s_new
            break
        prev = quality
        s = s_new
    else:
        notes.append("the scale model did not fully converge; results are the last iterate")
    # Final pass with the converged scales so every output is consistent.
    core = _fit_bias(e, j, (y - mu) / s[j], s[j] ** 2, ne, nq, n_jcomp, judge_variance)
    quality = mu + core.a              # the entry's mark from a judge with bias 0, scale 1
    bias = s * core.b
    bvar = s * s * core.b_var
    x = core.a[e] + core.b[j]
    sxx = np.bincount(j, weights=x * x, minlength=nq)
    sigma2 = core.sigma2
    if sigma_s2 > 0:
        scale_se = np.sqrt(sigma2 / (sxx + sigma2 / sigma_s2))
    else:
        scale_se = np.zeros(nq)
        notes.append("judges' scales do not differ detectably (scale variance estimated as 0): "
                     "the scale model reduces to the bias model")
    if (s <= _MIN_SCALE).any():
        notes.append(f"{int((s <= _MIN_SCALE).sum())} judges barely separate the entries or run "
                     f"against the other judges (scale held at the floor {_MIN_SCALE})")
    return core, quality, core.a_var, bias, bvar, s, scale_se, sigma_s2, notes
