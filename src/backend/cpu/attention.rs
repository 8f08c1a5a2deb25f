//! Causal attention with GQA, the CPU reference of attention.cu: softmax in f32 with a saved
//! log-sum-exp; the backward recomputes the probabilities from it (no T×S buffer is kept).

use rayon::prelude::*;

use crate::backend::check;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

pub(crate) struct Geometry {
    pub b: usize,
    pub t: usize,
    pub s: usize,
    pub h: usize,
    pub hkv: usize,
    pub d: usize,
}

impl Geometry {
    pub(crate) fn new(q: &Tensor, k: &Tensor, v: &Tensor) -> Result<Self> {
        let (b, t, h, d) = check::rank4("attention", "q", q)?;
        let (bk, s, hkv, dk) = check::rank4("attention", "k", k)?;
        if k.shape() != v.shape() || bk != b || dk != d || s < t || hkv == 0 || h % hkv != 0 {
            return Err(Error::shape(
                "attention",
                format!(
                    "q {:?}, k {:?}, v {:?}: need k == v shapes, same batch and head dim, S ≥ T, H % Hkv == 0",
                    q.shape(),
                    k.shape(),
                    v.shape()
                ),
            ));
        }
        Ok(Geometry { b, t, s, h, hkv, d })
    }
    fn q_at(&self, b: usize, i: usize, h: usize) -> usize {
        ((b * self.t + i) * self.h + h) * self.d
    }
    fn kv_at(&self, b: usize, j: usize, g: usize) -> usize {
        ((b * self.s + j) * self.hkv + g) * self.d
    }
    /// Last key position query i may see (causal, queries sit at the end of the keys).
    fn last_key(&self, i: usize) -> usize {
        self.s - self.t + i
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

// q: (B, T, H, D), k, v: (B, S, Hkv, D); out: (B, T, H, D), lse: (B, H, T)
pub fn attention_fwd(q: &Tensor, k: &Tensor, v: &Tensor, scale: f32) -> Result<(Tensor, Tensor)> {
    let g = Geometry::new(q, k, v)?;
    let (qs, ks, vs) = (q.host()?, k.host()?, v.host()?);
    let group = g.h / g.hkv;
    // One task per (batch, head): its output rows (T, D) and lse (T).
    let per_head: Vec<(Vec<f32>, Vec<f32>)> = (0..g.b * g.h)
        .into_par_iter()
        .map(|bh| {
            let (b, h) = (bh / g.h, bh % g.h);
            let kvh = h / group;
            let mut out = vec![0.0f32; g.t * g.d];
            let mut lse = vec![0.0f32; g.t];
            let mut scores = vec![0.0f32; g.s];
            for i in 0..g.t {
                let qi = &qs[g.q_at(b, i, h)..][..g.d];
                let n = g.last_key(i) + 1;
                for (j, sc) in scores[..n].iter_mut().enumerate() {
                    *sc = scale * dot(qi, &ks[g.kv_at(b, j, kvh)..][..g.d]);
                }
                let max = scores[..n]
                    .iter()
                    .copied()
                    .fold(f32::NEG_INFINITY, f32::max);
                let sum: f32 = scores[..n].iter().map(|x| (x - max).exp()).sum();
                let l = max + sum.ln();
                lse[i] = l;
                let oi = &mut out[i * g.d..(i + 1) * g.d];
                for (j, sc) in scores[..n].iter().enumerate() {
                    let p = (sc - l).exp();
                    for (o, x) in oi.iter_mut().zip(&vs[g.kv_at(b, j, kvh)..][..g.d]) {
                        *o += p * x;
                    }
                }
            }
            (out, lse)
        })
        .collect();
    let mut out = vec![0.0f32; q.numel()];
    let mut lse = vec![0.0f32; g.b * g.h * g.t];
    for (bh, (o, l)) in per_head.into_iter().enumerate() {
        let (b, h) = (bh / g.h, bh % g.h);
        for i in 0..g.t {
            out[g.q_at(b, i, h)..][..g.d].copy_from_slice(&o[i * g.d..(i + 1) * g.d]);
        }
        lse[bh * g.t..(bh + 1) * g.t].copy_from_slice(&l);
    }
    Ok((
        Tensor::from_vec(out, q.shape())?,
        Tensor::from_vec(lse, &[g.b, g.h, g.t])?,
    ))
}

// dout, out: (B, T, H, D), lse: (B, H, T); returns dq (B, T, H, D), dk, dv (B, S, Hkv, D)
#[allow(clippy::too_many_arguments)]
pub fn attention_bwd(
    dout: &Tensor,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    out: &Tensor,
    lse: &Tensor,
    scale: f32,
) -> Result<(Tensor, Tensor, Tensor)> {
    let g = Geometry::new(q, k, v)?;
    check::same_shape("attention_bwd", dout, q)?;
    check::same_shape("attention_bwd", out, q)?;
    check::len("attention_bwd", "lse", lse, g.b * g.h * g.t)?;
    let (qs, ks, vs, os, dos, ls) = (
        q.host()?,
        k.host()?,
        v.host()?,
        out.host()?,
        dout.host()?,
        lse.host()?,
    );
    let group = g.h / g.hkv;
    // One task per (batch, kv head): it owns dk/dv of that kv head and dq of its query heads.
    struct Part {
        dq: Vec<f32>, // (group, T, D)
        dk: Vec<f32>, // (S, D)
        dv: Vec<f32>, // (S, D)
    }
    let parts: Vec<Part> = (0..g.b * g.hkv)
        .into_par_iter()
        .map(|bg| {
            let (b, kvh) = (bg / g.hkv, bg % g.hkv);
            let mut part = Part {
                dq: vec![0.0; group * g.t * g.d],
                dk: vec![0.0; g.s * g.d],
                dv: vec![0.0; g.s * g.d],
            };
            for hh in 0..group {
                let h = kvh * group + hh;
                for i in 0..g.t {
                    let at = g.q_at(b, i, h);
                    let (qi, oi, doi) = (&qs[at..][..g.d], &os[at..][..g.d], &dos[at..][..g.d]);
                    let l = ls[(b * g.h + h) * g.t + i];
                    let di = dot(doi, oi);
                    let dqi = &mut part.dq[(hh * g.t + i) * g.d..][..g.d];
                    for j in 0..=g.last_key(i) {
                        let kj = &ks[g.kv_at(b, j, kvh)..][..g.d];
                        let vj = &vs[g.kv_at(b, j, kvh)..][..g.d];
                        let p = (scale * dot(qi, kj) - l).exp();
                        let ds = p * (dot(doi, vj) - di) * scale;
                        for ((dq, kx), (dk, qx)) in dqi
                            .iter_mut()
                            .zip(kj)
                            .zip(part.dk[j * g.d..][..g.d].iter_mut().zip(qi))
                        {
                            *dq += ds * kx;
                            *dk += ds * qx;
                        }
                        for (dv, dox) in part.dv[j * g.d..][..g.d].iter_mut().zip(doi) {
                            *dv += p * dox;
                        }
                    }
                }
            }
            part
        })
        .collect();
    let mut dq = vec![0.0f32; q.numel()];
    let mut dk = vec![0.0f32; k.numel()];
    let mut dv = vec![0.0f32; v.numel()];
    for (bg, part) in parts.into_iter().enumerate() {
        let (b, kvh) = (bg / g.hkv, bg % g.hkv);
        for hh in 0..group {
            for i in 0..g.t {
                dq[g.q_at(b, i, kvh * group + hh)..][..g.d]
                    .copy_from_slice(&part.dq[(hh * g.t + i) * g.d..][..g.d]);
            }
        }
        for j in 0..g.s {
            dk[g.kv_at(b, j, kvh)..][..g.d].copy_from_slice(&part.dk[j * g.d..][..g.d]);
            dv[g.kv_at(b, j, kvh)..][..g.d].copy_from_slice(&part.dv[j * g.d..][..g.d]);
        }
    }
    Ok((
        Tensor::from_vec(dq, q.shape())?,
        Tensor::from_vec(dk, k.shape())?,
        Tensor::from_vec(dv, v.shape())?,
    ))
}
