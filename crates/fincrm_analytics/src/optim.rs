//! A small deterministic quasi-Newton minimiser (BFGS with Armijo backtracking) followed by a
//! Newton polish on a finite-difference Hessian of the analytic gradient.
//!
//! The models minimise the mean negative log-likelihood over u = ln θ, so every parameter stays
//! positive and the problem is well scaled.

#![expect(
    clippy::many_single_char_names,
    reason = "the usual optimisation symbols (f, g, u, s, y, l)"
)]
#![expect(
    clippy::needless_range_loop,
    reason = "index loops read like the matrix formulas they implement"
)]

use serde::{Deserialize, Serialize};

use crate::AnalyticsError;

/// How a maximum-likelihood fit went.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FitDiagnostics {
    /// BFGS iterations plus Newton polish steps.
    pub iterations: usize,
    /// Evaluations of the log-likelihood and its gradient.
    pub evaluations: usize,
    /// Whether the gradient norm reached the tolerance.
    pub converged: bool,
    /// Largest absolute gradient of the total log-likelihood with respect to the log-parameters at
    /// the returned point.
    pub max_abs_grad: f64,
}

/// The result of [`minimize`].
pub(crate) struct Minimum<const N: usize> {
    pub u: [f64; N],
    pub f: f64,
    /// Inverse of the finite-difference Hessian of the objective at `u`, when positive definite.
    pub hess_inv: Option<[[f64; N]; N]>,
    pub diagnostics: FitDiagnostics,
}

fn dot<const N: usize>(a: &[f64; N], b: &[f64; N]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn max_abs<const N: usize>(a: &[f64; N]) -> f64 {
    a.iter().fold(0.0_f64, |m, v| m.max(v.abs()))
}

/// Cholesky factor L (lower) of a symmetric positive-definite matrix, or `None`.
fn cholesky<const N: usize>(a: &[[f64; N]; N]) -> Option<[[f64; N]; N]> {
    let mut l = [[0.0; N]; N];
    for i in 0..N {
        for j in 0..=i {
            let mut s = a[i][j];
            for k in 0..j {
                s -= l[i][k] * l[j][k];
            }
            if i == j {
                if s <= 0.0 || !s.is_finite() {
                    return None;
                }
                l[i][i] = s.sqrt();
            } else {
                l[i][j] = s / l[j][j];
            }
        }
    }
    Some(l)
}

/// Solves (L Lᵀ) x = b.
fn chol_solve<const N: usize>(l: &[[f64; N]; N], b: &[f64; N]) -> [f64; N] {
    let mut y = [0.0; N];
    for i in 0..N {
        let mut s = b[i];
        for k in 0..i {
            s -= l[i][k] * y[k];
        }
        y[i] = s / l[i][i];
    }
    let mut x = [0.0; N];
    for i in (0..N).rev() {
        let mut s = y[i];
        for k in i + 1..N {
            s -= l[k][i] * x[k];
        }
        x[i] = s / l[i][i];
    }
    x
}

fn chol_inverse<const N: usize>(l: &[[f64; N]; N]) -> [[f64; N]; N] {
    let mut inv = [[0.0; N]; N];
    for j in 0..N {
        let mut e = [0.0; N];
        e[j] = 1.0;
        let col = chol_solve(l, &e);
        for i in 0..N {
            inv[i][j] = col[i];
        }
    }
    inv
}

/// Counts evaluations and maps non-finite values to +∞ so line searches back off.
struct Counted<F> {
    f: F,
    evaluations: usize,
}

impl<F> Counted<F> {
    fn eval<const N: usize>(&mut self, u: &[f64; N], g: &mut [f64; N]) -> f64
    where
        F: FnMut(&[f64; N], &mut [f64; N]) -> f64,
    {
        self.evaluations += 1;
        let v = (self.f)(u, g);
        if v.is_finite() && g.iter().all(|x| x.is_finite()) {
            v
        } else {
            f64::INFINITY
        }
    }
}

/// Finite-difference Hessian of the analytic gradient (central differences, step `h`).
fn hessian<const N: usize, F: FnMut(&[f64; N], &mut [f64; N]) -> f64>(
    obj: &mut Counted<F>,
    u: &[f64; N],
    h: f64,
) -> Option<[[f64; N]; N]> {
    let mut hess = [[0.0; N]; N];
    let mut gp = [0.0; N];
    let mut gm = [0.0; N];
    for j in 0..N {
        let mut up = *u;
        let mut um = *u;
        up[j] += h;
        um[j] -= h;
        let fp = obj.eval(&up, &mut gp);
        let fm = obj.eval(&um, &mut gm);
        if !fp.is_finite() || !fm.is_finite() {
            return None;
        }
        for i in 0..N {
            hess[i][j] = (gp[i] - gm[i]) / (2.0 * h);
        }
    }
    for i in 0..N {
        for j in 0..i {
            let m = 0.5 * (hess[i][j] + hess[j][i]);
            hess[i][j] = m;
            hess[j][i] = m;
        }
    }
    Some(hess)
}

/// Minimises `f` (value and gradient at `u`) from `u0` until max |∇f| ≤ `gtol`.
pub(crate) fn minimize<const N: usize, F>(
    f: F,
    u0: [f64; N],
    gtol: f64,
) -> Result<Minimum<N>, AnalyticsError>
where
    F: FnMut(&[f64; N], &mut [f64; N]) -> f64,
{
    minimize_from(f, u0, None, gtol)
}

/// [`minimize`] from a warm start: `h_inv0`, an inverse Hessian of the objective near `u0` (a
/// fit of the same objective on a sample, say), replaces BFGS's identity guess, so the first
/// steps are already Newton-like.
#[expect(
    clippy::too_many_lines,
    reason = "one BFGS loop and its polish read best in one piece"
)]
pub(crate) fn minimize_from<const N: usize, F>(
    f: F,
    u0: [f64; N],
    h_inv0: Option<[[f64; N]; N]>,
    gtol: f64,
) -> Result<Minimum<N>, AnalyticsError>
where
    F: FnMut(&[f64; N], &mut [f64; N]) -> f64,
{
    const MAX_ITER: usize = 1000;
    const MAX_STEP: f64 = 3.0;
    let mut obj = Counted { f, evaluations: 0 };
    let mut u = u0;
    let mut g = [0.0; N];
    let mut fu = obj.eval(&u, &mut g);
    if !fu.is_finite() {
        return Err(AnalyticsError::FitFailed(
            "log-likelihood is not finite at the starting point".into(),
        ));
    }
    let identity = {
        let mut m = [[0.0; N]; N];
        for (i, row) in m.iter_mut().enumerate() {
            row[i] = 1.0;
        }
        m
    };
    let mut h_inv = h_inv0.unwrap_or(identity);
    let mut fresh = h_inv0.is_none();
    let mut iterations = 0;
    let mut g_new = [0.0; N];
    let mut stalled = 0;
    while iterations < MAX_ITER && max_abs(&g) > gtol && stalled < 3 {
        iterations += 1;
        let mut d = [0.0; N];
        for i in 0..N {
            d[i] = -(0..N).map(|k| h_inv[i][k] * g[k]).sum::<f64>();
        }
        let mut slope = dot(&g, &d);
        if slope >= 0.0 || !slope.is_finite() {
            h_inv = identity;
            fresh = true;
            d = g.map(|v| -v);
            slope = dot(&g, &d);
        }
        let dmax = max_abs(&d);
        if dmax > MAX_STEP {
            let s = MAX_STEP / dmax;
            d = d.map(|v| v * s);
            slope *= s;
        }
        let mut step = 1.0;
        let mut accepted = None;
        for _ in 0..80 {
            let mut trial = u;
            for i in 0..N {
                trial[i] += step * d[i];
            }
            let ft = obj.eval(&trial, &mut g_new);
            if ft.is_finite() && ft <= fu + 1e-4 * step * slope {
                accepted = Some((trial, ft));
                break;
            }
            // Quadratic interpolation of the step, kept within [0.1, 0.5] of the last one.
            let q = if ft.is_finite() {
                -slope * step * step / (2.0 * (ft - fu - slope * step))
            } else {
                0.1 * step
            };
            step = q.clamp(0.1 * step, 0.5 * step);
        }
        let Some((u_next, f_next)) = accepted else {
            if fresh {
                break; // No descent possible along the gradient: precision limit.
            }
            h_inv = identity;
            fresh = true;
            continue;
        };
        let s: [f64; N] = std::array::from_fn(|i| u_next[i] - u[i]);
        let y: [f64; N] = std::array::from_fn(|i| g_new[i] - g[i]);
        let sy = dot(&s, &y);
        if sy > 1e-300 {
            if fresh {
                let yy = dot(&y, &y);
                let scale = sy / yy;
                h_inv = identity.map(|row| row.map(|v| v * scale));
                fresh = false;
            }
            let rho = 1.0 / sy;
            let hy: [f64; N] = std::array::from_fn(|i| (0..N).map(|k| h_inv[i][k] * y[k]).sum());
            let yhy = dot(&y, &hy);
            for i in 0..N {
                for j in 0..N {
                    h_inv[i][j] += -rho * (hy[i] * s[j] + s[i] * hy[j])
                        + (rho * rho * yhy + rho) * s[i] * s[j];
                }
            }
        }
        if fu - f_next <= 1e-14 * fu.abs() {
            stalled += 1;
        } else {
            stalled = 0;
        }
        u = u_next;
        fu = f_next;
        g = g_new;
    }

    // Newton polish on the finite-difference Hessian: drives the gradient to rounding level.
    let h = 1e-5;
    let mut hess = hessian(&mut obj, &u, h);
    // The standard errors below need the Hessian at the final point. How far the polish moved
    // since `hess` was taken (largest log-parameter change, summed over steps): within 1e-6 it
    // gives the same standard errors to about 1e-6, and saves 2N evaluations.
    let mut moved_since_hessian = 0.0;
    for _ in 0..8 {
        let Some(l) = hess.as_ref().and_then(cholesky) else {
            break;
        };
        let gmax = max_abs(&g);
        if gmax == 0.0 {
            break;
        }
        let delta = chol_solve(&l, &g.map(|v| -v));
        let trial: [f64; N] = std::array::from_fn(|i| u[i] + delta[i]);
        let ft = obj.eval(&trial, &mut g_new);
        if !(ft.is_finite() && ft <= fu + 1e-13 * fu.abs() && max_abs(&g_new) < gmax) {
            break;
        }
        iterations += 1;
        u = trial;
        fu = ft;
        g = g_new;
        moved_since_hessian += max_abs(&delta);
        if max_abs(&delta) > 1e-4 {
            hess = hessian(&mut obj, &u, h);
            moved_since_hessian = 0.0;
        }
    }
    if moved_since_hessian > 1e-6 {
        hess = hessian(&mut obj, &u, h);
    }
    let hess_inv = hess.as_ref().and_then(cholesky).map(|l| chol_inverse(&l));
    let grad_max = max_abs(&g);
    Ok(Minimum {
        u,
        f: fu,
        hess_inv,
        diagnostics: FitDiagnostics {
            iterations,
            evaluations: obj.evaluations,
            converged: grad_max <= gtol,
            max_abs_grad: grad_max,
        },
    })
}

/// Central-difference gradient of a value-only function (used where no analytic gradient is
/// implemented).
pub(crate) fn numeric_gradient<const N: usize>(
    f: &mut impl FnMut(&[f64; N]) -> f64,
    u: &[f64; N],
    g: &mut [f64; N],
) -> f64 {
    let h = 1e-6;
    for j in 0..N {
        let mut up = *u;
        let mut um = *u;
        up[j] += h;
        um[j] -= h;
        g[j] = (f(&up) - f(&um)) / (2.0 * h);
    }
    f(u)
}

/// Standard errors of θ = exp(u) from the inverse Hessian of the *mean* negative log-likelihood
/// and the total weight: Cov(θ) = D (W H)⁻¹ D with D = diag(θ), valid at the optimum.
pub(crate) fn std_errors<const N: usize>(
    u: &[f64; N],
    hess_inv: &[[f64; N]; N],
    total_weight: f64,
) -> [f64; N] {
    std::array::from_fn(|i| u[i].exp() * (hess_inv[i][i] / total_weight).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimises_rosenbrock() {
        let m = minimize(
            |u: &[f64; 2], g: &mut [f64; 2]| {
                let (x, y) = (u[0], u[1]);
                g[0] = -2.0 * (1.0 - x) - 400.0 * x * (y - x * x);
                g[1] = 200.0 * (y - x * x);
                (1.0 - x).powi(2) + 100.0 * (y - x * x).powi(2)
            },
            [-1.2, 1.0],
            1e-10,
        )
        .unwrap();
        assert!(
            (m.u[0] - 1.0).abs() < 1e-8 && (m.u[1] - 1.0).abs() < 1e-8,
            "{:?}",
            m.u
        );
        assert!(m.diagnostics.converged);
    }
}
