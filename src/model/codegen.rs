//! CodeGen / CodeGen2, mirroring transformers' `models/codegen/modeling_codegen.py`:
//! one LayerNorm feeding attention and MLP in parallel, fused qkv_proj split in mp_num = 4
//! groups in the order (q, v, k), interleaved rotary over rotary_dim only, lm_head with bias.

use std::collections::BTreeMap;

use crate::backend::{Backend, LinearSaved, NormSaved};
use crate::error::Result;
use crate::model::safetensors_io::TensorFiles;
use crate::model::stack::{Decoder, StackTape};
use crate::model::{Ctx, Geom, KvLayer, Linear, ModelConfig};
use crate::peft::AdapterSet;
use crate::tensor::Tensor;

const MP_NUM: usize = 4;

pub struct Layer {
    ln_w: Tensor,
    ln_b: Tensor,
    qkv: Linear,
    out: Linear,
    fc_in: Linear,
    fc_out: Linear,
}

pub struct Codegen {
    pub cfg: ModelConfig,
    wte: Tensor,
    layers: Vec<Layer>,
    ln_f_w: Tensor,
    ln_f_b: Tensor,
    lm_head: Linear,
    /// Columns of the fused qkv output that hold q, k and v in (head, dim) order.
    q_idx: Vec<u32>,
    k_idx: Vec<u32>,
    v_idx: Vec<u32>,
}

pub struct LayerTape {
    x: Tensor,
    h: Tensor,
    n: NormSaved,
    sqkv: LinearSaved,
    q: Tensor,
    k: Tensor,
    v: Tensor,
    att: Tensor,
    lse: Tensor,
    so: LinearSaved,
    f1: Tensor,
    s1: LinearSaved,
    a: Tensor,
    s2: LinearSaved,
}

/// Activations a forward keeps for the backward.
pub type Tape = StackTape<LayerTape>;

/// Column indices of q, k, v inside qkv_proj's output. Each of the 4 shards holds
/// [q | v | k] of n_head/4 heads; head h lives in shard h / (n_head/4).
pub fn qkv_indices(n_heads: usize, head_dim: usize) -> [Vec<u32>; 3] {
    let e = n_heads * head_dim;
    let (local, per_shard) = (e / MP_NUM, n_heads / MP_NUM);
    let cols = |part: usize| -> Vec<u32> {
        (0..n_heads)
            .flat_map(|h| {
                let base = (h / per_shard) * 3 * local + part * local + (h % per_shard) * head_dim;
                (0..head_dim).map(move |d| (base + d) as u32)
            })
            .collect()
    };
    [cols(0), cols(2), cols(1)]
}

impl Codegen {
    pub fn load(cfg: ModelConfig, f: &TensorFiles, be: &dyn Backend) -> Result<Self> {
        let (c, i) = (cfg.hidden, cfg.intermediate);
        let vec = |name: &str, n: usize| -> Result<Tensor> { be.upload(f.f32_shaped(name, &[n])?) };
        let mut layers = Vec::with_capacity(cfg.n_layers);
        for l in 0..cfg.n_layers {
            let p = format!("transformer.h.{l}");
            let lin = |name: &str, out: usize, inp: usize, bias: bool| {
                Linear::load(f, be, &format!("{p}.{name}"), out, inp, bias)
            };
            layers.push(Layer {
                ln_w: vec(&format!("{p}.ln_1.weight"), c)?,
                ln_b: vec(&format!("{p}.ln_1.bias"), c)?,
                qkv: lin("attn.qkv_proj", 3 * c, c, false)?,
                out: lin("attn.out_proj", c, c, false)?,
                fc_in: lin("mlp.fc_in", i, c, true)?,
                fc_out: lin("mlp.fc_out", c, i, true)?,
            });
        }
        let wte = be.upload(f.f32_shaped("transformer.wte.weight", &[cfg.vocab_size, c])?)?;
        let lm_head = Linear::load(f, be, "lm_head", cfg.vocab_size, c, true)?;
        let [q_idx, k_idx, v_idx] = qkv_indices(cfg.n_heads, cfg.head_dim);
        Ok(Codegen {
            wte,
            layers,
            ln_f_w: vec("transformer.ln_f.weight", c)?,
            ln_f_b: vec("transformer.ln_f.bias", c)?,
            lm_head,
            q_idx,
            k_idx,
            v_idx,
            cfg,
        })
    }

    pub fn linears(&self) -> Vec<&Linear> {
        let mut v: Vec<&Linear> = self
            .layers
            .iter()
            .flat_map(|l| [&l.qkv, &l.out, &l.fc_in, &l.fc_out])
            .collect();
        v.push(&self.lm_head);
        v
    }

    pub fn linears_mut(&mut self) -> Vec<&mut Linear> {
        let mut v: Vec<&mut Linear> = self
            .layers
            .iter_mut()
            .flat_map(|l| [&mut l.qkv, &mut l.out, &mut l.fc_in, &mut l.fc_out])
            .collect();
        v.push(&mut self.lm_head);
        v
    }

    pub fn named_weights(&self) -> BTreeMap<String, &Tensor> {
        let mut m = BTreeMap::new();
        m.insert("transformer.wte.weight".to_string(), &self.wte);
        m.insert("transformer.ln_f.weight".to_string(), &self.ln_f_w);
        m.insert("transformer.ln_f.bias".to_string(), &self.ln_f_b);
        for (i, l) in self.layers.iter().enumerate() {
            m.insert(format!("transformer.h.{i}.ln_1.weight"), &l.ln_w);
            m.insert(format!("transformer.h.{i}.ln_1.bias"), &l.ln_b);
        }
        for lin in self.linears() {
            lin.insert_named(&mut m);
        }
        m
    }
}

impl Decoder for Codegen {
    type Layer = Layer;
    type LayerTape = LayerTape;

    fn embedding(&self) -> &Tensor {
        &self.wte
    }
    fn layers(&self) -> &[Layer] {
        &self.layers
    }
    fn lm_head(&self) -> &Linear {
        &self.lm_head
    }

    fn layer_fwd(
        &self,
        ctx: &Ctx,
        layer: &Layer,
        x: Tensor,
        g: Geom,
        kv: Option<&mut KvLayer>,
    ) -> Result<(Tensor, LayerTape)> {
        let be = ctx.be;
        let cfg = &self.cfg;
        let heads = |t: Tensor| Ctx::heads(t, g.batch, g.seq, cfg.n_heads);
        let (h, n) = be.layernorm_fwd(&x, &layer.ln_w, &layer.ln_b, cfg.norm_eps)?;
        let (qkv, sqkv) = ctx.lin(&layer.qkv, &h)?;
        let q = be.rope_fwd(&heads(be.gather_cols(&qkv, &self.q_idx)?)?, cfg.rope, g.pos)?;
        let k = be.rope_fwd(&heads(be.gather_cols(&qkv, &self.k_idx)?)?, cfg.rope, g.pos)?;
        let v = heads(be.gather_cols(&qkv, &self.v_idx)?)?;
        let (k, v) = match kv {
            Some(cache) => cache.append(be, k, v)?,
            None => (k, v),
        };
        let (att, lse) = be.attention_fwd(&q, &k, &v, g.scale)?;
        let att = Ctx::flat(att)?;
        let (ao, so) = ctx.lin(&layer.out, &att)?;
        let (f1, s1) = ctx.lin(&layer.fc_in, &h)?;
        let a = be.gelu_new_fwd(&f1)?;
        let (f2, s2) = ctx.lin(&layer.fc_out, &a)?;
        let mut y = be.add(&ao, &f2)?;
        be.add_assign(&mut y, &x)?;
        Ok((
            y,
            LayerTape {
                x,
                h,
                n,
                sqkv,
                q,
                k,
                v,
                att,
                lse,
                so,
                f1,
                s1,
                a,
                s2,
            },
        ))
    }

    fn layer_bwd(
        &self,
        ctx: &Ctx,
        layer: &Layer,
        t: LayerTape,
        mut dx: Tensor,
        g: Geom,
        grads: &mut AdapterSet,
    ) -> Result<Tensor> {
        let be = ctx.be;
        let cfg = &self.cfg;
        let heads = |t: Tensor| Ctx::heads(t, g.batch, g.seq, cfg.n_heads);
        // y = x + out(attn(h)) + fc_out(gelu(fc_in(h))), h = ln_1(x)
        let da = ctx.lin_bwd(&layer.fc_out, &dx, &t.a, &t.s2, grads)?;
        let df1 = be.gelu_new_bwd(&da, &t.f1)?;
        let mut dh = ctx.lin_bwd(&layer.fc_in, &df1, &t.h, &t.s1, grads)?;
        let datt = heads(ctx.lin_bwd(&layer.out, &dx, &t.att, &t.so, grads)?)?;
        let out = heads(t.att)?;
        let (dq, dk, dv) = be.attention_bwd(&datt, &t.q, &t.k, &t.v, &out, &t.lse, g.scale)?;
        let mut dqkv = be.zeros(&[dh.rows(), 3 * cfg.hidden])?;
        be.scatter_cols_add(
            &mut dqkv,
            &Ctx::flat(be.rope_bwd(&dq, cfg.rope, g.pos)?)?,
            &self.q_idx,
        )?;
        be.scatter_cols_add(
            &mut dqkv,
            &Ctx::flat(be.rope_bwd(&dk, cfg.rope, g.pos)?)?,
            &self.k_idx,
        )?;
        be.scatter_cols_add(&mut dqkv, &Ctx::flat(dv)?, &self.v_idx)?;
        be.add_assign(
            &mut dh,
            &ctx.lin_bwd(&layer.qkv, &dqkv, &t.h, &t.sqkv, grads)?,
        )?;
        be.add_assign(
            &mut dx,
            &be.layernorm_bwd(&dh, &t.x, &layer.ln_w, &t.n, None, None)?,
        )?;
        Ok(dx)
    }

    fn final_norm_fwd(&self, be: &dyn Backend, x: &Tensor) -> Result<(Tensor, NormSaved)> {
        be.layernorm_fwd(x, &self.ln_f_w, &self.ln_f_b, self.cfg.norm_eps)
    }
    fn final_norm_bwd(
        &self,
        be: &dyn Backend,
        dh: &Tensor,
        x: &Tensor,
        saved: &NormSaved,
    ) -> Result<Tensor> {
        be.layernorm_bwd(dh, x, &self.ln_f_w, saved, None, None)
    }
}
