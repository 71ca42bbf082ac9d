"""Compiled C kernels of `ebm.sparse.solvers`: the iterations' element-wise pass and the active-set polish.

Iterations (`prox_steps_native`, used by every CPU solve unless ``compile=True``): each block of
256 rows takes all the steps to the next check while it sits in the L2 cache; per step torch's
GEMMs compute the products and one C pass (``prox_update_*``) does the sum, the soft threshold,
the restart test and the momentum, which eager torch spreads over about ten passes over the
whole batch. On the development CPU the 50 float32 steps of the scikit-learn benchmark took
1.4 s this way against 4.1 s eagerly (the two thin products alone: 1.2 s; one thread, machine
shared by other jobs, BENCHMARKS.md).

Polish:

The polish (`ebm.sparse.active_set`) finishes thousands of signals whose supports have 30-60
atoms: per round, guess each support from a proximal step, solve ``z_S G_SS = B_S − α θ_S`` on
it, and certify the candidate by its duality gap. Written with torch ops, a round is a batched
``linalg.cholesky_ex`` (LAPACK factorises the small matrices one by one, ≈ 10 µs each for 45 × 45
on this project's CPU, plus a ``tril`` pass), two batched triangular solves, about twenty gathers,
scatters and masks per chunk of 128 signals to pad the supports into ``(c, s, s)`` blocks, and a
dozen passes over ``(m, k)`` float64 tensors for the gaps and the next guesses.

Here the work is done one signal at a time in C, with nothing materialised but the signal's own
vectors:

* ``support_solve_*``: read the ``s × s`` block straight from ``G``, factorise it (a right-looking
  Cholesky stored by columns, whose updates are independent, contiguous multiply-adds), solve,
  check the signs, write the solution (`support_solve_native`);
* ``pdas_polish_*``: the whole primal-dual active-set loop of `active_set_polish` — the guess
  ``soft(z + τ (B − z G), τ α)``, the same solve, the residual ``r = x − z D`` over the non-zeros,
  ``B − z G`` from the rows of ``G`` at the non-zeros, and the gap with the formulas of
  `ebm.sparse.problem.gram_terms` (`pdas_polish_native`). The first guess's ``B − z G`` comes
  from the caller (`ebm.sparse.solvers` forms it for all the signals with one GEMM pair in the
  iterations' float32, as cheap as one step), and float32 codes are read as they are.

Measured on the development CPU (`benchmarks/sparse_vs_sklearn.py`'s problem, 10,000 signals after
50 float32 FISTA steps, one thread, best of 5 interleaved): the polish took 0.63-0.75 s with torch
ops, 0.32-0.37 s with only the solves in C, 0.25-0.29 s all in C. Session 7 (AVX2 build, after 40
steps, five rounds, CPU time of one thread on the shared machine): 0.195 s before, 0.114 s after
the caller's first gradient (0.146 s), the Gram-form ``B − z G`` in explicit vectors and the
Cholesky in rank-4 panels (2.6 against 3.4 µs for a 36-atom support). Where gcc's own
vectorisation went wrong (it turned blocked loops into gathers, or reduced a four-way unrolled
dot product horizontally inside the loop), the kernels use GCC/clang 32-byte vector types.

The source is compiled once per machine by `samplers.native.build_shared_library` (the system C
compiler, ``-O3 -march=native`` or the ``-march`` in ``$EBM_NATIVE_MARCH``, e.g. ``x86-64-v3`` for
AVX2, into a cache directory keyed by the source, the compiler, the CPU and the ``-march``) and
loaded with ``ctypes``, which releases the GIL during a call, so worker threads take disjoint
signal ranges in parallel. float64 and float32 on CPU.
`available` says whether it could be built; when it cannot, the callers use the torch
implementation (same algorithm).
"""

from __future__ import annotations

import ctypes
import subprocess
from pathlib import Path

import torch
from torch import Tensor

from ebm._validation import format_error
from samplers.native import build_shared_library, target_march  # noqa: F401  (target_march re-exported)

__all__ = ["available", "pdas_polish_native", "prox_steps_native", "support_solve_native", "usable"]

_SOURCE = r"""
#include <math.h>
#include <stdint.h>
#include <string.h>

#define DEFINE_KERNELS(T, SFX, SQRT, TINY)                                                       \
/* 32-byte vectors of T (GCC/clang vector extensions), and an unaligned alias for loads and      \
   stores at any T-aligned address. */                                                           \
typedef T V_##SFX __attribute__((vector_size(32)));                                              \
typedef T VU_##SFX __attribute__((vector_size(32), aligned(sizeof(T))));                         \
enum { VL_##SFX = 32 / sizeof(T) };                                                              \
/* Dot product with eight independent partial sums: one running sum would make every          \
   multiply-add wait for the previous one. */                                                    \
static inline T dot_##SFX(const T* a, const T* b, int64_t n) {                                   \
    T s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;                            \
    int64_t p = 0;                                                                               \
    for (; p + 8 <= n; p += 8) {                                                                 \
        s0 += a[p] * b[p]; s1 += a[p + 1] * b[p + 1]; s2 += a[p + 2] * b[p + 2];                 \
        s3 += a[p + 3] * b[p + 3]; s4 += a[p + 4] * b[p + 4]; s5 += a[p + 5] * b[p + 5];         \
        s6 += a[p + 6] * b[p + 6]; s7 += a[p + 7] * b[p + 7];                                    \
    }                                                                                            \
    for (; p < n; ++p) s0 += a[p] * b[p];                                                        \
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));                                    \
}                                                                                                \
                                                                                                 \
/* Solve G[S, S] z = b in place (b becomes z) for the support idx[0..s). The factor is stored    \
   by columns in C (C[l * ld + i] = L[i][l], i >= l), so the right-looking Cholesky's updates    \
   and the forward substitution are contiguous, independent multiply-adds that the compiler      \
   vectorises (a row-wise Cholesky is a chain of dependent dot products and divisions). The      \
   columns are factorised in panels of four and each panel updates the trailing columns in one   \
   rank-4 pass: four times fewer short inner loops, whose setup and remainders cost more than    \
   their arithmetic at s = 30-60 (2.6 against 3.4 us at s = 36, AVX2, BENCHMARKS.md).            \
   Returns 0 when G[S, S] is not numerically positive definite. */                               \
static int chol_solve_##SFX(const T* gram, int64_t k, const int64_t* idx, int64_t s, T* C,       \
                            int64_t ld, T* b) {                                                  \
    for (int64_t l = 0; l < s; ++l) {                                                            \
        const T* gl = gram + idx[l] * k;                                                         \
        T* Cl = C + l * ld;                                                                      \
        for (int64_t i = l; i < s; ++i) Cl[i] = gl[idx[i]];                                      \
    }                                                                                            \
    for (int64_t l0 = 0; l0 < s; l0 += 4) {                                                      \
        const int64_t l1 = l0 + 4 < s ? l0 + 4 : s;                                              \
        for (int64_t l = l0; l < l1; ++l) { /* the panel's own columns, one by one */            \
            T* Cl = C + l * ld;                                                                  \
            if (!(Cl[l] > 0)) return 0; /* not positive definite (or NaN) */                     \
            const T d = SQRT(Cl[l]), inv = (T)1 / d;                                             \
            Cl[l] = inv; /* the diagonal is kept inverted: the solves multiply */                \
            for (int64_t i = l + 1; i < s; ++i) Cl[i] *= inv;                                    \
            for (int64_t q = l + 1; q < l1; ++q) {                                               \
                T* Cq = C + q * ld;                                                              \
                const T f = Cl[q];                                                               \
                for (int64_t i = q; i < s; ++i) Cq[i] -= f * Cl[i];                              \
            }                                                                                    \
        }                                                                                        \
        if (l1 - l0 == 4) { /* rank-4 update of the trailing columns (distinct columns: restrict) */ \
            const T* __restrict c0 = C + l0 * ld;                                                \
            const T* __restrict c1 = c0 + ld;                                                    \
            const T* __restrict c2 = c1 + ld;                                                    \
            const T* __restrict c3 = c2 + ld;                                                    \
            for (int64_t q = l1; q < s; ++q) {                                                   \
                T* __restrict Cq = C + q * ld;                                                   \
                const T f0 = c0[q], f1 = c1[q], f2 = c2[q], f3 = c3[q];                          \
                for (int64_t i = q; i < s; ++i)                                                  \
                    Cq[i] -= (f0 * c0[i] + f1 * c1[i]) + (f2 * c2[i] + f3 * c3[i]);              \
            }                                                                                    \
        } else {                                                                                 \
            for (int64_t l = l0; l < l1; ++l) {                                                  \
                const T* Cl = C + l * ld;                                                        \
                for (int64_t q = l1; q < s; ++q) {                                               \
                    T* Cq = C + q * ld;                                                          \
                    const T f = Cl[q];                                                           \
                    for (int64_t i = q; i < s; ++i) Cq[i] -= f * Cl[i];                          \
                }                                                                                \
            }                                                                                    \
        }                                                                                        \
    }                                                                                            \
    for (int64_t l = 0; l < s; ++l) { /* forward: L y = b, by columns */                         \
        const T* Cl = C + l * ld;                                                                \
        const T y = b[l] * Cl[l];                                                                \
        b[l] = y;                                                                                \
        for (int64_t i = l + 1; i < s; ++i) b[i] -= y * Cl[i];                                   \
    }                                                                                            \
    for (int64_t i = s - 1; i >= 0; --i) { /* backward: Lᵀ z = y; column i of L is row i of Lᵀ */ \
        const T* Ci = C + i * ld;                                                                \
        b[i] = (b[i] - dot_##SFX(Ci + i + 1, b + i + 1, s - i - 1)) * Ci[i];                     \
    }                                                                                            \
    return 1;                                                                                    \
}                                                                                                \
/* support_solve: signals j in [lo, hi) of `todo`; r = todo[j] is a row of codes (m, k), its     \
   support cols[start[r] .. start[r] + size[r]) (ascending). Solves G[S, S] z = corr[cr, S]     \
   − α sign(codes[r, S]) (cr = corr_rows ? corr_rows[r] : r), writes z into out[r, S] and sets   \
   ok[r] = 1 on success (positive pivots, and with check_signs, sign(z) = sign(codes)).          \
   work: max_s * max_s + 2 * max_s values. */                                                    \
void support_solve_##SFX(const T* gram, int64_t k, const int64_t* todo, int64_t lo, int64_t hi, \
                         const int64_t* start, const int64_t* size, const int64_t* cols,         \
                         const T* codes, const T* corr, const int64_t* corr_rows, double alpha,  \
                         int check_signs, T* out, uint8_t* ok, int64_t max_s, T* work) {         \
    T* C = work;                                                                                 \
    T* b = work + max_s * max_s;                                                                 \
    T* theta = b + max_s;                                                                        \
    for (int64_t j = lo; j < hi; ++j) {                                                          \
        const int64_t r = todo[j], s = size[r];                                                  \
        const int64_t* idx = cols + start[r];                                                    \
        const int64_t cr = corr_rows ? corr_rows[r] : r;                                         \
        for (int64_t i = 0; i < s; ++i) {                                                        \
            const T c = codes[r * k + idx[i]];                                                   \
            theta[i] = (T)((c > 0) - (c < 0));                                                   \
            b[i] = corr[cr * k + idx[i]] - (T)alpha * theta[i];                                  \
        }                                                                                        \
        if (!chol_solve_##SFX(gram, k, idx, s, C, max_s, b)) continue;                           \
        int good = 1;                                                                            \
        for (int64_t i = 0; check_signs && i < s; ++i)                                           \
            if ((T)((b[i] > 0) - (b[i] < 0)) != theta[i]) { good = 0; break; }                   \
        if (!good) continue;                                                                     \
        for (int64_t i = 0; i < s; ++i) out[r * k + idx[i]] = b[i];                              \
        ok[r] = 1;                                                                               \
    }                                                                                            \
}                                                                                                \
                                                                                                 \
/* r = x − z D over the non-zeros of z (idx, vals: n of them), grad = B − z G (k) from the rows  \
   of G at the non-zeros (n axpys of length k instead of the f of r Dᵀ: 1.0 against 2.2 us at    \
   n = 36, k = 256, AVX2; equal to r Dᵀ up to rounding, which moves the dual point's scale by    \
   about eps), and the primal objective and duality gap of z (the formulas of                    \
   `ebm.sparse.problem.gram_terms`: r gives ‖r‖² and xᵀr exactly as before). */                  \
static void gap_terms_##SFX(const T* x, const T* dict, const T* gram, const T* br, int64_t k,    \
                            int64_t f, const int64_t* idx, const T* vals, int64_t n,             \
                            double alpha, T* r, T* grad, T* primal, T* gap) {                    \
    T l1 = 0;                                                                                    \
    for (int64_t p = 0; p < f; ++p) r[p] = x[p];                                                 \
    for (int64_t i = 0; i < n; ++i) {                                                            \
        const T v = vals[i];                                                                     \
        const T* di = dict + idx[i] * f;                                                         \
        for (int64_t p = 0; p < f; ++p) r[p] -= v * di[p];                                       \
        l1 += v < 0 ? -v : v;                                                                    \
    }                                                                                            \
    /* grad = B − Σ_i v_i G[idx_i], 8 vectors of entries at a time held in registers across the  \
       n rows (explicit vectors: gcc turned the plain-C blocks into gathers across the rows). */ \
    int64_t j0 = 0;                                                                              \
    for (; j0 + 8 * VL_##SFX <= k; j0 += 8 * VL_##SFX) {                                         \
        const VU_##SFX* bj = (const VU_##SFX*)(br + j0);                                         \
        V_##SFX a0 = bj[0], a1 = bj[1], a2 = bj[2], a3 = bj[3];                                  \
        V_##SFX a4 = bj[4], a5 = bj[5], a6 = bj[6], a7 = bj[7];                                  \
        for (int64_t i = 0; i < n; ++i) {                                                        \
            const T v = vals[i];                                                                 \
            const VU_##SFX* g = (const VU_##SFX*)(gram + idx[i] * k + j0);                       \
            a0 -= v * g[0]; a1 -= v * g[1]; a2 -= v * g[2]; a3 -= v * g[3];                      \
            a4 -= v * g[4]; a5 -= v * g[5]; a6 -= v * g[6]; a7 -= v * g[7];                      \
        }                                                                                        \
        VU_##SFX* o = (VU_##SFX*)(grad + j0);                                                    \
        o[0] = a0; o[1] = a1; o[2] = a2; o[3] = a3; o[4] = a4; o[5] = a5; o[6] = a6; o[7] = a7;  \
    }                                                                                            \
    for (int64_t j = j0; j < k; ++j) grad[j] = br[j];                                            \
    for (int64_t i = 0; j0 < k && i < n; ++i) {                                                  \
        const T v = vals[i];                                                                     \
        const T* g = gram + idx[i] * k;                                                          \
        for (int64_t j = j0; j < k; ++j) grad[j] -= v * g[j];                                    \
    }                                                                                            \
    T c_inf = 0;                                                                                 \
    for (int64_t j = 0; j < k; ++j) {                                                            \
        const T a = grad[j] < 0 ? -grad[j] : grad[j];                                            \
        c_inf = a > c_inf ? a : c_inf;                                                           \
    }                                                                                            \
    const T rr = dot_##SFX(r, r, f), xr = dot_##SFX(x, r, f);                                    \
    const T p = (T)0.5 * rr + (T)alpha * l1;                                                     \
    T sc;                                                                                        \
    if (alpha > 0) {                                                                             \
        sc = (T)alpha / (c_inf > TINY ? c_inf : TINY);                                           \
        if (sc > 1) sc = 1;                                                                      \
    } else {                                                                                     \
        sc = c_inf == 0 ? 1 : 0;                                                                 \
    }                                                                                            \
    const T g = p - (sc * xr - (T)0.5 * sc * sc * rr);                                           \
    *primal = p;                                                                                 \
    *gap = g > 0 ? g : 0;                                                                        \
}                                                                                                \
                                                                                                 \
/* The whole primal-dual active-set polish of `ebm.sparse.active_set.active_set_polish`, one     \
   signal at a time: for j in [lo, hi), signal row = rows[j] with codes z0[j] (k): up to         \
   `rounds` times, guess S, θ from soft(z + τ (B − z G), τ α), solve on S, and accept when the   \
   candidate's gap ≤ tol · primal (its codes then overwrite out[row], and accepted[j] = 1).      \
   A failed factorisation or a support above max_s ends the signal's rounds (not accepted).      \
   z0 (m, k) is float32 when z_single, else T; g0 (m, k, the type of z0) is B − z0 G when the    \
   caller has it (one batched GEMM for all the signals, cheaper than k-long axpys per signal;    \
   it only places the first guess), else NULL and it is computed here.                           \
   work: k * 3 + f + max_s * (max_s + 2) values; iwork: k indices. */                            \
void pdas_polish_##SFX(const T* x, const T* dict, const T* gram, const T* corr, int64_t k,       \
                       int64_t f, const void* z0, const void* g0, int z_single,                  \
                       const int64_t* rows, int64_t lo, int64_t hi,                              \
                       double alpha, double tau, double tol, int64_t rounds, int64_t max_s,      \
                       T* out, uint8_t* accepted, T* work, int64_t* iwork) {                     \
    T* grad = work;                                                                              \
    T* vals = grad + k;                                                                          \
    T* r = vals + k;                                                                             \
    T* theta = r + f;                                                                            \
    T* b = theta + k;                                                                            \
    T* C = b + max_s;                                                                            \
    int64_t* idx = iwork;                                                                        \
    for (int64_t j = lo; j < hi; ++j) {                                                          \
        const int64_t row = rows[j];                                                             \
        const T* xr = x + row * f;                                                               \
        const T* br = corr + row * k;                                                            \
        int64_t n = 0;                                                                           \
        if (z_single) {                                                                          \
            const float* zj = (const float*)z0 + j * k;                                          \
            for (int64_t i = 0; i < k; ++i)                                                      \
                if (zj[i] != 0) { idx[n] = i; vals[n] = (T)zj[i]; ++n; }                         \
        } else {                                                                                 \
            const T* zj = (const T*)z0 + j * k;                                                  \
            for (int64_t i = 0; i < k; ++i)                                                      \
                if (zj[i] != 0) { idx[n] = i; vals[n] = zj[i]; ++n; }                            \
        }                                                                                        \
        T primal, gap;                                                                           \
        if (g0 && z_single) {                                                                    \
            const float* gj = (const float*)g0 + j * k;                                          \
            for (int64_t i = 0; i < k; ++i) grad[i] = (T)gj[i];                                  \
        } else if (g0) {                                                                         \
            memcpy(grad, (const T*)g0 + j * k, sizeof(T) * k);                                   \
        } else {                                                                                 \
            gap_terms_##SFX(xr, dict, gram, br, k, f, idx, vals, n, alpha, r, grad, &primal, &gap); \
        }                                                                                        \
        /* z as a dense row for the guesses: scatter the non-zeros into theta (reused). */       \
        for (int64_t round = 0; round < rounds; ++round) {                                       \
            memset(theta, 0, sizeof(T) * k);                                                     \
            for (int64_t i = 0; i < n; ++i) theta[idx[i]] = vals[i];                             \
            int64_t s = 0;                                                                       \
            const T thr = (T)(tau * alpha);                                                      \
            for (int64_t i = 0; i < k; ++i) {                                                    \
                const T v = theta[i] + (T)tau * grad[i];                                         \
                if (v > thr || v < -thr) { idx[s] = i; theta[s] = v > 0 ? 1 : -1; ++s; }         \
            }                                                                                    \
            if (s > max_s) break; /* no unique minimiser has that support: leave it */           \
            for (int64_t i = 0; i < s; ++i) b[i] = br[idx[i]] - (T)alpha * theta[i];             \
            if (!chol_solve_##SFX(gram, k, idx, s, C, max_s, b)) break;                          \
            n = 0;                                                                               \
            for (int64_t i = 0; i < s; ++i)                                                      \
                if (b[i] != 0) { idx[n] = idx[i]; vals[n] = b[i]; ++n; }                         \
            gap_terms_##SFX(xr, dict, gram, br, k, f, idx, vals, n, alpha, r, grad, &primal, &gap); \
            if (gap <= (T)tol * primal) {                                                        \
                T* o = out + row * k;                                                            \
                memset(o, 0, sizeof(T) * k);                                                     \
                for (int64_t i = 0; i < n; ++i) o[idx[i]] = vals[i];                             \
                accepted[j] = 1;                                                                 \
                break;                                                                           \
            }                                                                                    \
        }                                                                                        \
    }                                                                                            \
}                                                                                                \
/* The element-wise part of one proximal-gradient step on rows [lo, hi), fused in one pass     \
   (the products are torch's GEMMs on the caller's side). prod (m, k): (y D) W (thin, then       \
   u = y + b + prod) or y W (square, then u = b + prod); u = soft(u, thr) with exact zeros;      \
   FISTA (accelerated): t' = (1 + √(1 + 4t²))/2, restart (t = 1, t' = golden) when               \
   (y − u)·(u − z) > 0, y = u + (t − 1)/t' (u − z), z = u, t = t'; ISTA: z = y = u (y may be z). \
   step_out (or NULL) receives u − z. */                                                         \
void prox_update_##SFX(T* z, T* y, T* t, const T* prod, const T* b, int64_t k, int thin,       \
                       double thr_d, int accelerated, int restart, int64_t lo, int64_t hi,       \
                       T* step_out, T* u) {                                                      \
    const T thr = (T)thr_d;                                                                      \
    const T golden = (T)1.6180339887498949;                                                      \
    for (int64_t r = lo; r < hi; ++r) {                                                          \
        T* zr = z + r * k;                                                                       \
        T* yr = y + r * k;                                                                       \
        const T* br = b + r * k;                                                                 \
        const T* pr = prod + r * k;                                                              \
        if (thin) for (int64_t j = 0; j < k; ++j) u[j] = pr[j] + yr[j] + br[j];                  \
        else for (int64_t j = 0; j < k; ++j) u[j] = pr[j] + br[j];                               \
        /* Soft threshold as u − clamp(u, −thr, thr): exact zeros below thr, and two selects    \
           without branches, so AVX2 vectorises it too (a nested ?: did not: control flow). */  \
        for (int64_t j = 0; j < k; ++j) {                                                        \
            const T v = u[j];                                                                    \
            T c = v < -thr ? -thr : v;                                                           \
            c = c > thr ? thr : c;                                                               \
            u[j] = v - c;                                                                        \
        }                                                                                        \
        T* so = step_out ? step_out + r * k : 0;                                                 \
        if (so) for (int64_t j = 0; j < k; ++j) so[j] = u[j] - zr[j];                            \
        if (accelerated) {                                                                       \
            T tr = t[r];                                                                         \
            T tn = (T)0.5 * ((T)1 + SQRT((T)1 + (T)4 * tr * tr));                               \
            if (restart) {                                                                       \
                /* (y − u)·(u − z) in two vector accumulators (explicit: gcc's own version of a  \
                   four-scalar unrolling reduced horizontally inside the loop). */               \
                V_##SFX v0 = {0}, v1 = {0};                                                      \
                int64_t j = 0;                                                                   \
                for (; j + 2 * VL_##SFX <= k; j += 2 * VL_##SFX) {                               \
                    const VU_##SFX* yv = (const VU_##SFX*)(yr + j);                              \
                    const VU_##SFX* uv = (const VU_##SFX*)(u + j);                               \
                    const VU_##SFX* zv = (const VU_##SFX*)(zr + j);                              \
                    v0 += (yv[0] - uv[0]) * (uv[0] - zv[0]);                                     \
                    v1 += (yv[1] - uv[1]) * (uv[1] - zv[1]);                                     \
                }                                                                                \
                v0 += v1;                                                                        \
                T a0 = 0;                                                                        \
                for (int q = 0; q < VL_##SFX; ++q) a0 += v0[q];                                  \
                for (; j < k; ++j) a0 += (yr[j] - u[j]) * (u[j] - zr[j]);                        \
                if (a0 > 0) { tr = 1; tn = golden; }                                             \
            }                                                                                    \
            const T beta = (tr - 1) / tn;                                                        \
            for (int64_t j = 0; j < k; ++j) {                                                    \
                const T uj = u[j];                                                               \
                yr[j] = uj + beta * (uj - zr[j]);                                                \
                zr[j] = uj;                                                                      \
            }                                                                                    \
            t[r] = tn;                                                                           \
        } else {                                                                                 \
            for (int64_t j = 0; j < k; ++j) zr[j] = u[j];                                        \
            if (yr != zr) for (int64_t j = 0; j < k; ++j) yr[j] = u[j];                          \
        }                                                                                        \
    }                                                                                            \
}

DEFINE_KERNELS(double, f64, sqrt, 2.2250738585072014e-308)
DEFINE_KERNELS(float, f32, sqrtf, 1.17549435e-38f)
"""

_LIB: list = []  # [ctypes.CDLL or None] once tried
_LIB_PATH: list = []
BLOCK_ROWS = 256  # rows per block of `prox_steps_native`


def library_path() -> Path | None:
    """Where the built kernels live (None when they could not be built), e.g. to inspect them with objdump."""
    return _LIB_PATH[0] if available() and _LIB_PATH else None


def _build():
    lib_path = build_shared_library("support_solve", _SOURCE)
    if lib_path is None:
        return None
    lib = ctypes.CDLL(str(lib_path))
    _LIB_PATH[:] = [lib_path]
    ptr, i64, dbl, i32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_double, ctypes.c_int
    for sfx in ("f64", "f32"):
        fn = getattr(lib, f"support_solve_{sfx}")
        fn.argtypes = [ptr, i64, ptr, i64, i64, ptr, ptr, ptr, ptr, ptr, ptr, dbl, i32, ptr, ptr, i64, ptr]
        fn.restype = None
        fn = getattr(lib, f"pdas_polish_{sfx}")
        fn.argtypes = [ptr, ptr, ptr, ptr, i64, i64, ptr, ptr, i32, ptr, i64, i64, dbl, dbl, dbl, i64, i64, ptr, ptr, ptr, ptr]
        fn.restype = None
        fn = getattr(lib, f"prox_update_{sfx}")
        fn.argtypes = [ptr, ptr, ptr, ptr, ptr, i64, i32, dbl, i32, i32, i64, i64, ptr, ptr]
        fn.restype = None
    return lib


def available() -> bool:
    """Whether the kernel is built and loadable here (builds it on the first call; never raises)."""
    if not _LIB:
        try:
            _LIB.append(_build())
        except (OSError, subprocess.SubprocessError):
            _LIB.append(None)
    return _LIB[0] is not None


def usable(device, dtype: torch.dtype) -> bool:
    """Whether the kernels can run on tensors of this device and dtype: CPU, float32/float64, built here."""
    return torch.device(device).type == "cpu" and dtype in (torch.float32, torch.float64) and available()


def support_solve_native(gram: Tensor, todo: Tensor, start: Tensor, size: Tensor, cols: Tensor, codes: Tensor, corr: Tensor,
                         corr_rows: Tensor | None, alpha: float, check_signs: bool, out: Tensor, ok: Tensor, workers: int) -> None:
    """Solve the support systems of the rows ``todo`` into ``out`` and ``ok`` (see the module docstring).

    All tensors on the CPU, contiguous, of ``gram``'s dtype (float32 or float64) for the values and
    int64 for the indices; ``ok`` is bool. ``workers`` threads split ``todo`` into equal ranges.
    """
    if not available():
        raise RuntimeError("the native support solver is not available (no working C compiler); use the torch path")
    fn = _LIB[0].support_solve_f64 if gram.dtype == torch.float64 else _LIB[0].support_solve_f32
    k = gram.shape[0]
    max_s = int(size[todo].max()) if todo.numel() else 0
    ok_bytes = ok.view(torch.uint8)
    cr = corr_rows.data_ptr() if corr_rows is not None else None
    args = (gram.data_ptr(), k, todo.data_ptr())
    tail = (start.data_ptr(), size.data_ptr(), cols.data_ptr(), codes.data_ptr(), corr.data_ptr(), cr, float(alpha), int(check_signs), out.data_ptr(), ok_bytes.data_ptr(), max_s)
    n = todo.numel()
    scratch = torch.empty(max(workers, 1), max_s * max_s + 2 * max_s, dtype=gram.dtype)

    def run(lo: int, hi: int, w: int) -> None:
        fn(*args, lo, hi, *tail, scratch[w].data_ptr())

    _run_ranges(run, n, workers)


def _run_ranges(run, n: int, workers: int) -> None:
    """Call ``run(lo, hi, w)`` on up to ``workers`` equal ranges of ``range(n)`` (threads: ctypes releases the GIL)."""
    workers = max(1, min(workers, n // 64))
    if workers == 1:
        run(0, n, 0)
        return
    from concurrent.futures import ThreadPoolExecutor

    bounds = [n * w // workers for w in range(workers + 1)]
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda w: run(bounds[w], bounds[w + 1], w), range(workers)))


def pdas_polish_native(problem, z0: Tensor, rows: Tensor, tau: float, tol: float, rounds: int, out: Tensor, workers: int, grad0: Tensor | None = None) -> Tensor:
    """`ebm.sparse.active_set.active_set_polish`'s rounds in C, one signal at a time.

    Args:
        problem: the `ebm.sparse.problem.SparseProblem` (CPU, float32 or float64; its ``x``,
            ``dictionary``, ``gram`` and ``corr`` are read).
        z0: ``(m, k)`` starting codes of the problem's rows ``rows (m,)``, any floating dtype
            (float32 is read as it is, without a float64 copy).
        tau, tol, rounds: the guess step, the acceptance ``gap ≤ tol · primal`` and the round cap.
        out: ``(n, k)`` contiguous codes in the problem's dtype; each accepted row is overwritten.
        workers: threads over equal ranges of the ``m`` signals.
        grad0: ``(m, k)`` ``B − z0 G`` of those rows (e.g. from one batched GEMM), or None to
            compute it per signal here. It only places the first guess (every accepted code is
            certified by its own gap, computed in the problem's dtype), so float32 will do.

    Returns:
        ``accepted (m,)`` bool.
    """
    if not available():
        raise RuntimeError("the native support solver is not available (no working C compiler); use the torch path")
    dtype = problem.gram.dtype
    fn = _LIB[0].pdas_polish_f64 if dtype == torch.float64 else _LIB[0].pdas_polish_f32
    k, f = problem.dictionary.shape
    max_s = min(k, f)
    x, d, gram, corr = (t.contiguous() for t in (problem.x, problem.dictionary, problem.gram, problem.corr))
    zdtype = torch.float32 if z0.dtype == torch.float32 else dtype
    z0, rows = z0.to(zdtype).contiguous(), rows.contiguous()
    m = z0.shape[0]
    if grad0 is not None:
        if grad0.shape != z0.shape:
            raise ValueError(format_error("grad0", f"shape {tuple(z0.shape)} (that of z0)", f"shape {tuple(grad0.shape)}", "pass B − z0 G of the same rows, or None"))
        grad0 = grad0.to(zdtype).contiguous()
    accepted = torch.zeros(m, dtype=torch.bool)
    work = torch.empty(max(workers, 1), 3 * k + f + max_s * (max_s + 2), dtype=dtype)
    iwork = torch.empty(max(workers, 1), k, dtype=torch.int64)
    g0 = grad0.data_ptr() if grad0 is not None else None
    head = (x.data_ptr(), d.data_ptr(), gram.data_ptr(), corr.data_ptr(), k, f, z0.data_ptr(), g0, int(zdtype != dtype), rows.data_ptr())
    tail = (float(problem.alpha), float(tau), float(tol), int(rounds), max_s, out.data_ptr(), accepted.view(torch.uint8).data_ptr())

    def run(lo: int, hi: int, w: int) -> None:
        fn(*head, lo, hi, *tail, work[w].data_ptr(), iwork[w].data_ptr())

    _run_ranges(run, m, workers)
    return accepted


def prox_steps_native(z: Tensor, y: Tensor, t: Tensor, b: Tensor, d: Tensor | None, w: Tensor, thr: float, n_steps: int, *, accelerated: bool, restart: bool, step_out: Tensor | None, block: int = BLOCK_ROWS) -> None:
    """``n_steps`` ISTA/FISTA steps on every row of ``z``, ``y``, ``t`` (in place), block by block.

    Each block of ``block`` rows (about 1 MB of float32 state at k = 256: it stays in the L2
    cache) takes all ``n_steps`` steps before the next block starts: per step, torch's GEMMs for
    the products (``(y D) W`` for the thin form, ``y W`` for the square one) into a block-sized
    buffer, then one C pass (``prox_update_*``) for everything element-wise — the sum, the soft
    threshold, the restart test and the momentum — where eager torch makes about ten passes over
    the whole batch.

    Args:
        z, y: ``(m, k)`` contiguous iterates and extrapolated points (for ISTA pass ``y = z``).
        t: ``(m,)`` momentum counters (FISTA; unused for ISTA).
        b: ``(m, k)`` ``B/L``. d: ``(k, f)`` dictionary for the thin form, else None.
        w: ``(f, k)`` ``−Dᵀ/L`` (thin) or ``(k, k)`` ``I − G/L``. thr: ``α/L``.
        step_out: ``(m, k)`` receives the last step's ``u − z``, or None.
    All tensors CPU, contiguous, one dtype (float32 or float64).
    """
    if not available():
        raise RuntimeError(format_error("ebm.sparse.native", "the C kernels built (a working C compiler)", "none available",
                                        "call fista/ista, which fall back to the torch path, or install a C compiler (cc)"))
    fn = _LIB[0].prox_update_f64 if z.dtype == torch.float64 else _LIB[0].prox_update_f32
    m, k = z.shape
    thin = d is not None
    # One block per core's L2 cache: with t threads the GEMMs split a block t ways, so a block of
    # t x 256 rows keeps each core's share as large and needs t times fewer fork/joins.
    rows = min(block * max(1, torch.get_num_threads()), m)
    prod = z.new_empty(rows, k)  # (block, k)
    proj = z.new_empty(rows, d.shape[1]) if thin else None  # (block, f)
    u = z.new_empty(k)
    thr, acc, rst = float(thr), int(accelerated), int(restart)
    zp, yp, tp, bp, itemsize = z.data_ptr(), y.data_ptr(), t.data_ptr(), b.data_ptr(), z.element_size()
    for lo in range(0, m, rows):
        hi = min(lo + rows, m)
        yb = y[lo:hi]
        pb, jb = prod[: hi - lo], (proj[: hi - lo] if thin else None)
        off = lo * k * itemsize
        for s in range(n_steps):
            if thin:
                torch.mm(torch.mm(yb, d, out=jb), w, out=pb)  # (b, k) (y D) W
            else:
                torch.mm(yb, w, out=pb)  # (b, k) y W
            so = step_out.data_ptr() + off if step_out is not None and s == n_steps - 1 else None
            fn(zp + off, yp + off, tp + lo * itemsize, pb.data_ptr() - 0, bp + off, k, int(thin), thr, acc, rst, 0, hi - lo, so, u.data_ptr())
