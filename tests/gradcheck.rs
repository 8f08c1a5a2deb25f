//! Finite-difference checks of every backward in the CPU backend. Each op is wrapped in a
//! scalar objective L = Σ wᵢ·outᵢ with fixed weights; its analytic gradient must match central
//! differences. Tolerance: 1e-2 relative to the gradient's peak plus 1e-2 relative per element.
//! f32 central differences with h = 1e-2 carry O(h²) truncation and ~1e-5 rounding error, so a
//! wrong formula (missing term, wrong sign, wrong index) fails by orders of magnitude more.

mod common;

use common::assert_close;
use sectune::backend::cpu::CpuBackend;
use sectune::backend::dropout::Dropout;
use sectune::backend::{AdapterGrad, AdapterOp, Backend, RopeStyle};
use sectune::tensor::Tensor;

/// Deterministic inputs from a formula (no RNG): distinct, non-degenerate values.
fn formula(n: usize, salt: f32) -> Vec<f32> {
    (0..n)
        .map(|i| (0.37 * i as f32 + salt).sin() * 0.8 + 0.1 * ((i % 7) as f32 - 3.0) / 3.0)
        .collect()
}

fn t(data: Vec<f32>, shape: &[usize]) -> Tensor {
    Tensor::from_vec(data, shape).unwrap()
}

fn weighted_sum(out: &Tensor, w: &[f32]) -> f64 {
    out.host()
        .unwrap()
        .iter()
        .zip(w)
        .map(|(a, b)| *a as f64 * *b as f64)
        .sum()
}

/// Central differences of `f` with respect to every element of `x`.
fn numeric_grad(x: &[f32], f: impl Fn(&[f32]) -> f64) -> Vec<f32> {
    let h = 1e-2f32;
    let mut xp = x.to_vec();
    (0..x.len())
        .map(|i| {
            let orig = xp[i];
            xp[i] = orig + h;
            let up = f(&xp);
            xp[i] = orig - h;
            let down = f(&xp);
            xp[i] = orig;
            ((up - down) / (2.0 * h as f64)) as f32
        })
        .collect()
}

fn check(name: &str, analytic: &[f32], numeric: &[f32]) {
    let peak = numeric.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(
        peak > 1e-4,
        "{name}: gradient is ~0, the check would be vacuous"
    );
    assert_close(name, analytic, numeric, 1e-2 * peak, 1e-2);
}

const BE: CpuBackend = CpuBackend;

#[test]
fn rmsnorm_grads() {
    let (m, c) = (3, 8);
    let (x, w) = (formula(m * c, 0.3), formula(c, 1.1));
    let wo = formula(m * c, 2.0);
    let f = |x: &[f32], w: &[f32]| {
        let (y, _) = BE
            .rmsnorm_fwd(&t(x.to_vec(), &[m, c]), &t(w.to_vec(), &[c]), 1e-5)
            .unwrap();
        weighted_sum(&y, &wo)
    };
    let xt = t(x.clone(), &[m, c]);
    let wt = t(w.clone(), &[c]);
    let (_, saved) = BE.rmsnorm_fwd(&xt, &wt, 1e-5).unwrap();
    let mut dw = Tensor::zeros(&[c]);
    let dx = BE
        .rmsnorm_bwd(&t(wo.clone(), &[m, c]), &xt, &wt, &saved, Some(&mut dw))
        .unwrap();
    check(
        "rmsnorm dx",
        dx.host().unwrap(),
        &numeric_grad(&x, |x| f(x, &w)),
    );
    check(
        "rmsnorm dw",
        dw.host().unwrap(),
        &numeric_grad(&w, |w| f(&x, w)),
    );
}

#[test]
fn layernorm_grads() {
    let (m, c) = (3, 8);
    let (x, w, b) = (formula(m * c, 0.3), formula(c, 1.1), formula(c, 0.7));
    let wo = formula(m * c, 2.0);
    let f = |x: &[f32], w: &[f32], b: &[f32]| {
        let (y, _) = BE
            .layernorm_fwd(
                &t(x.to_vec(), &[m, c]),
                &t(w.to_vec(), &[c]),
                &t(b.to_vec(), &[c]),
                1e-5,
            )
            .unwrap();
        weighted_sum(&y, &wo)
    };
    let (xt, wt, bt) = (
        t(x.clone(), &[m, c]),
        t(w.clone(), &[c]),
        t(b.clone(), &[c]),
    );
    let (_, saved) = BE.layernorm_fwd(&xt, &wt, &bt, 1e-5).unwrap();
    let (mut dw, mut db) = (Tensor::zeros(&[c]), Tensor::zeros(&[c]));
    let dx = BE
        .layernorm_bwd(
            &t(wo.clone(), &[m, c]),
            &xt,
            &wt,
            &saved,
            Some(&mut dw),
            Some(&mut db),
        )
        .unwrap();
    check(
        "layernorm dx",
        dx.host().unwrap(),
        &numeric_grad(&x, |x| f(x, &w, &b)),
    );
    check(
        "layernorm dw",
        dw.host().unwrap(),
        &numeric_grad(&w, |w| f(&x, w, &b)),
    );
    check(
        "layernorm db",
        db.host().unwrap(),
        &numeric_grad(&b, |b| f(&x, &w, b)),
    );
}

const M: usize = 5;
const K: usize = 7;
const N: usize = 6;
const R: usize = 3;

fn lora_case(dropout: Option<Dropout>) {
    let (x, w, bias) = (formula(M * K, 0.2), formula(N * K, 0.9), formula(N, 0.4));
    let (a, b) = (formula(R * K, 1.7), formula(N * R, 2.3));
    let wo = formula(M * N, 3.1);
    let wt = t(w.clone(), &[N, K]);
    let bt = t(bias.clone(), &[N]);
    let f = |x: &[f32], a: &[f32], b: &[f32]| {
        let (at, btt) = (t(a.to_vec(), &[R, K]), t(b.to_vec(), &[N, R]));
        let op = AdapterOp::Lora {
            a: &at,
            b: &btt,
            scale: 1.5,
            dropout,
        };
        let (y, _) = BE
            .linear_fwd(&t(x.to_vec(), &[M, K]), &wt, Some(&bt), op)
            .unwrap();
        weighted_sum(&y, &wo)
    };
    let (xt, at, btt) = (
        t(x.clone(), &[M, K]),
        t(a.clone(), &[R, K]),
        t(b.clone(), &[N, R]),
    );
    let op = AdapterOp::Lora {
        a: &at,
        b: &btt,
        scale: 1.5,
        dropout,
    };
    let (_, saved) = BE.linear_fwd(&xt, &wt, Some(&bt), op).unwrap();
    let (mut da, mut db) = (Tensor::zeros(&[R, K]), Tensor::zeros(&[N, R]));
    let dx = BE
        .linear_bwd(
            &t(wo.clone(), &[M, N]),
            &xt,
            &wt,
            op,
            &saved,
            AdapterGrad::Lora {
                da: &mut da,
                db: &mut db,
            },
        )
        .unwrap();
    let tag = if dropout.is_some() {
        "lora+dropout"
    } else {
        "lora"
    };
    check(
        &format!("{tag} dx"),
        dx.host().unwrap(),
        &numeric_grad(&x, |x| f(x, &a, &b)),
    );
    check(
        &format!("{tag} dA"),
        da.host().unwrap(),
        &numeric_grad(&a, |a| f(&x, a, &b)),
    );
    check(
        &format!("{tag} dB"),
        db.host().unwrap(),
        &numeric_grad(&b, |b| f(&x, &a, b)),
    );
}

#[test]
fn lora_linear_grads() {
    lora_case(None);
}

#[test]
fn lora_linear_grads_with_dropout() {
    lora_case(Some(Dropout { p: 0.3, seed: 42 }));
}

fn ia3_case(feedforward: bool) {
    let (x, w, bias) = (formula(M * K, 0.2), formula(N * K, 0.9), formula(N, 0.4));
    let l = formula(if feedforward { K } else { N }, 1.3);
    let wo = formula(M * N, 3.1);
    let (wt, bt) = (t(w, &[N, K]), t(bias, &[N]));
    fn op_for(lt: &Tensor, feedforward: bool) -> AdapterOp<'_> {
        if feedforward {
            AdapterOp::Ia3Input { l: lt }
        } else {
            AdapterOp::Ia3Output { l: lt }
        }
    }
    let f = |x: &[f32], l: &[f32]| {
        let lt = t(l.to_vec(), &[l.len()]);
        let (y, _) = BE
            .linear_fwd(
                &t(x.to_vec(), &[M, K]),
                &wt,
                Some(&bt),
                op_for(&lt, feedforward),
            )
            .unwrap();
        weighted_sum(&y, &wo)
    };
    let (xt, lt) = (t(x.clone(), &[M, K]), t(l.clone(), &[l.len()]));
    let (_, saved) = BE
        .linear_fwd(&xt, &wt, Some(&bt), op_for(&lt, feedforward))
        .unwrap();
    let mut dl = Tensor::zeros(&[l.len()]);
    let dx = BE
        .linear_bwd(
            &t(wo.clone(), &[M, N]),
            &xt,
            &wt,
            op_for(&lt, feedforward),
            &saved,
            AdapterGrad::Ia3 { dl: &mut dl },
        )
        .unwrap();
    let tag = if feedforward {
        "ia3 feed-forward"
    } else {
        "ia3 output"
    };
    check(
        &format!("{tag} dx"),
        dx.host().unwrap(),
        &numeric_grad(&x, |x| f(x, &l)),
    );
    check(
        &format!("{tag} dl"),
        dl.host().unwrap(),
        &numeric_grad(&l, |l| f(&x, l)),
    );
}

#[test]
fn ia3_grads() {
    ia3_case(true);
    ia3_case(false);
}

#[test]
fn rope_grads() {
    let shape = [2, 5, 3, 8];
    let n: usize = shape.iter().product();
    let x = formula(n, 0.5);
    let wo = formula(n, 1.9);
    for style in [
        RopeStyle::RotateHalf { theta: 1e6 },
        RopeStyle::Interleaved {
            rotary_dim: 4,
            theta: 10000.0,
        },
    ] {
        let f =
            |x: &[f32]| weighted_sum(&BE.rope_fwd(&t(x.to_vec(), &shape), style, 3).unwrap(), &wo);
        let dx = BE.rope_bwd(&t(wo.clone(), &shape), style, 3).unwrap();
        check(
            &format!("rope {style:?}"),
            dx.host().unwrap(),
            &numeric_grad(&x, f),
        );
    }
}

#[test]
fn attention_grads_gqa_and_kv_longer_than_q() {
    // 4 query heads over 2 kv heads; 3 queries attending the last 3 of 5 keys.
    let (b, tq, s, h, hkv, d) = (2, 3, 5, 4, 2, 4);
    let (q, k, v) = (
        formula(b * tq * h * d, 0.1),
        formula(b * s * hkv * d, 0.6),
        formula(b * s * hkv * d, 1.4),
    );
    let wo = formula(b * tq * h * d, 2.2);
    let scale = 0.5;
    let f = |q: &[f32], k: &[f32], v: &[f32]| {
        let (o, _) = BE
            .attention_fwd(
                &t(q.to_vec(), &[b, tq, h, d]),
                &t(k.to_vec(), &[b, s, hkv, d]),
                &t(v.to_vec(), &[b, s, hkv, d]),
                scale,
            )
            .unwrap();
        weighted_sum(&o, &wo)
    };
    let (qt, kt, vt) = (
        t(q.clone(), &[b, tq, h, d]),
        t(k.clone(), &[b, s, hkv, d]),
        t(v.clone(), &[b, s, hkv, d]),
    );
    let (o, lse) = BE.attention_fwd(&qt, &kt, &vt, scale).unwrap();
    let (dq, dk, dv) = BE
        .attention_bwd(
            &t(wo.clone(), &[b, tq, h, d]),
            &qt,
            &kt,
            &vt,
            &o,
            &lse,
            scale,
        )
        .unwrap();
    check(
        "attention dq",
        dq.host().unwrap(),
        &numeric_grad(&q, |q| f(q, &k, &v)),
    );
    check(
        "attention dk",
        dk.host().unwrap(),
        &numeric_grad(&k, |k| f(&q, k, &v)),
    );
    check(
        "attention dv",
        dv.host().unwrap(),
        &numeric_grad(&v, |v| f(&q, &k, v)),
    );
}

#[test]
fn activation_grads() {
    let n = 12;
    let (g, u) = (
        formula(n, 0.3).iter().map(|v| v * 3.0).collect::<Vec<_>>(),
        formula(n, 1.2),
    );
    let wo = formula(n, 0.8);
    let f = |g: &[f32], u: &[f32]| {
        weighted_sum(
            &BE.swiglu_fwd(&t(g.to_vec(), &[n]), &t(u.to_vec(), &[n]))
                .unwrap(),
            &wo,
        )
    };
    let (dg, du) = BE
        .swiglu_bwd(
            &t(wo.clone(), &[n]),
            &t(g.clone(), &[n]),
            &t(u.clone(), &[n]),
        )
        .unwrap();
    check(
        "swiglu dgate",
        dg.host().unwrap(),
        &numeric_grad(&g, |g| f(g, &u)),
    );
    check(
        "swiglu dup",
        du.host().unwrap(),
        &numeric_grad(&u, |u| f(&g, u)),
    );
    let fg = |x: &[f32]| weighted_sum(&BE.gelu_new_fwd(&t(x.to_vec(), &[n])).unwrap(), &wo);
    let dx = BE
        .gelu_new_bwd(&t(wo.clone(), &[n]), &t(g.clone(), &[n]))
        .unwrap();
    check("gelu_new", dx.host().unwrap(), &numeric_grad(&g, fg));
}

#[test]
fn cross_entropy_grads_skip_ignored_rows() {
    let (m, v) = (4, 9);
    let logits = formula(m * v, 0.4)
        .iter()
        .map(|x| x * 3.0)
        .collect::<Vec<_>>();
    let labels = [3, -100, 0, 8];
    let f = |l: &[f32]| {
        let ce = BE
            .cross_entropy_fwd(&t(l.to_vec(), &[m, v]), &labels)
            .unwrap();
        ce.loss_sum / ce.n_valid as f64
    };
    let lt = t(logits.clone(), &[m, v]);
    let ce = BE.cross_entropy_fwd(&lt, &labels).unwrap();
    assert_eq!(ce.n_valid, 3);
    let d = BE
        .cross_entropy_bwd(&lt, &labels, &ce.lse, 1.0 / 3.0)
        .unwrap();
    assert!(
        d.host().unwrap()[v..2 * v].iter().all(|&x| x == 0.0),
        "ignored row must get no gradient"
    );
    check(
        "cross_entropy dlogits",
        d.host().unwrap(),
        &numeric_grad(&logits, f),
    );
}

#[test]
fn embedding_and_gather_grads() {
    let (vocab, c) = (6, 4);
    let w = formula(vocab * c, 0.2);
    let ids = [2u32, 5, 2, 0];
    let wo = formula(ids.len() * c, 1.0);
    let f = |w: &[f32]| {
        weighted_sum(
            &BE.embedding_fwd(&t(w.to_vec(), &[vocab, c]), &ids).unwrap(),
            &wo,
        )
    };
    let mut dw = Tensor::zeros(&[vocab, c]);
    BE.embedding_bwd(&t(wo.clone(), &[ids.len(), c]), &ids, &mut dw)
        .unwrap();
    check(
        "embedding dweight",
        dw.host().unwrap(),
        &numeric_grad(&w, f),
    );

    let x = formula(3 * 5, 0.9);
    let idx = [4u32, 0, 2, 4];
    let wg = formula(3 * idx.len(), 0.5);
    let fg = |x: &[f32]| weighted_sum(&BE.gather_cols(&t(x.to_vec(), &[3, 5]), &idx).unwrap(), &wg);
    let mut dx = Tensor::zeros(&[3, 5]);
    BE.scatter_cols_add(&mut dx, &t(wg.clone(), &[3, idx.len()]), &idx)
        .unwrap();
    check("gather_cols dx", dx.host().unwrap(), &numeric_grad(&x, fg));
}
