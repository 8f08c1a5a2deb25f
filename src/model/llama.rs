//! Llama / CodeLlama, mirroring transformers' `models/llama/modeling_llama.py`:
//! pre-RMSNorm blocks, rotate-half RoPE with rope_theta from config, GQA, SwiGLU MLP.

use std::collections::BTreeMap;

use crate::backend::{Backend, LinearSaved, NormSaved};
use crate::error::Result;
use crate::model::safetensors_io::TensorFiles;
use crate::model::stack::{Decoder, StackTape};
use crate::model::{Ctx, Geom, KvLayer, Linear, ModelConfig};
use crate::peft::AdapterSet;
use crate::tensor::Tensor;

pub struct Layer {
    ln1: Tensor,
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    ln2: Tensor,
    gate: Linear,
    up: Linear,
    down: Linear,
}

pub struct Llama {
    pub cfg: ModelConfig,
    embed: Tensor,
    layers: Vec<Layer>,
    norm: Tensor,
    /// A copy of the embedding matrix when the config ties them.
    lm_head: Linear,
}

pub struct LayerTape {
    x: Tensor,
    h1: Tensor,
    n1: NormSaved,
    sq: LinearSaved,
    sk: LinearSaved,
    sv: LinearSaved,
    q: Tensor,
    k: Tensor,
    v: Tensor,
    att: Tensor,
    lse: Tensor,
    so: LinearSaved,
    x2: Tensor,
    h2: Tensor,
    n2: NormSaved,
    sg: LinearSaved,
    su: LinearSaved,
    g: Tensor,
    u: Tensor,
    a: Tensor,
    sd: LinearSaved,
}

/// Activations a forward keeps for the backward.
pub type Tape = StackTape<LayerTape>;

impl Llama {
    pub fn load(cfg: ModelConfig, f: &TensorFiles, be: &dyn Backend) -> Result<Self> {
        let (c, hd) = (cfg.hidden, cfg.head_dim);
        let (qd, kvd, i) = (cfg.n_heads * hd, cfg.n_kv_heads * hd, cfg.intermediate);
        let vec = |name: &str, n: usize| -> Result<Tensor> { be.upload(f.f32_shaped(name, &[n])?) };
        let mut layers = Vec::with_capacity(cfg.n_layers);
        for l in 0..cfg.n_layers {
            let p = format!("model.layers.{l}");
            let lin = |name: &str, out: usize, inp: usize, bias: bool| {
                Linear::load(f, be, &format!("{p}.{name}"), out, inp, bias)
            };
            let (ab, mb) = (cfg.attention_bias, cfg.mlp_bias);
            layers.push(Layer {
                ln1: vec(&format!("{p}.input_layernorm.weight"), c)?,
                q: lin("self_attn.q_proj", qd, c, ab)?,
                k: lin("self_attn.k_proj", kvd, c, ab)?,
                v: lin("self_attn.v_proj", kvd, c, ab)?,
                o: lin("self_attn.o_proj", c, qd, ab)?,
                ln2: vec(&format!("{p}.post_attention_layernorm.weight"), c)?,
                gate: lin("mlp.gate_proj", i, c, mb)?,
                up: lin("mlp.up_proj", i, c, mb)?,
                down: lin("mlp.down_proj", c, i, mb)?,
            });
        }
        let embed = be.upload(f.f32_shaped("model.embed_tokens.weight", &[cfg.vocab_size, c])?)?;
        let lm_head = if cfg.tie_word_embeddings && !f.contains("lm_head.weight") {
            Linear {
                name: "lm_head".into(),
                weight: embed.clone().into(),
                bias: None,
            }
        } else {
            Linear::load(f, be, "lm_head", cfg.vocab_size, c, false)?
        };
        Ok(Llama {
            embed,
            layers,
            norm: vec("model.norm.weight", c)?,
            lm_head,
            cfg,
        })
    }

    pub fn linears(&self) -> Vec<&Linear> {
        let mut v: Vec<&Linear> = self
            .layers
            .iter()
            .flat_map(|l| [&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down])
            .collect();
        v.push(&self.lm_head);
        v
    }

    pub fn linears_mut(&mut self) -> Vec<&mut Linear> {
        let mut v: Vec<&mut Linear> = self
            .layers
            .iter_mut()
            .flat_map(|l| {
                [
                    &mut l.q,
                    &mut l.k,
                    &mut l.v,
                    &mut l.o,
                    &mut l.gate,
                    &mut l.up,
                    &mut l.down,
                ]
            })
            .collect();
        v.push(&mut self.lm_head);
        v
    }

    pub fn named_weights(&self) -> BTreeMap<String, &Tensor> {
        let mut m = BTreeMap::new();
        m.insert("model.embed_tokens.weight".to_string(), &self.embed);
        m.insert("model.norm.weight".to_string(), &self.norm);
        for (i, l) in self.layers.iter().enumerate() {
            m.insert(format!("model.layers.{i}.input_layernorm.weight"), &l.ln1);
            m.insert(
                format!("model.layers.{i}.post_attention_layernorm.weight"),
                &l.ln2,
            );
        }
        let tied = self.cfg.tie_word_embeddings;
        for lin in self.linears() {
            if tied && lin.name == "lm_head" {
                continue;
            }
            lin.insert_named(&mut m);
        }
        m
    }
}

impl Decoder for Llama {
    type Layer = Layer;
    type LayerTape = LayerTape;

    fn embedding(&self) -> &Tensor {
        &self.embed
    }
    fn layers(&self) -> &[Layer] {
        &self.layers
    }
    fn lm_head(&self) -> &Linear {
        &self.lm_head
    }

    /// One decoder block; `kv` appends this call's keys/values to the cache and attends over
    /// all of it (generation), positions starting at `pos`.
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
        let (h1, n1) = be.rmsnorm_fwd(&x, &layer.ln1, cfg.norm_eps)?;
        let (q, sq) = ctx.lin(&layer.q, &h1)?;
        let (k, sk) = ctx.lin(&layer.k, &h1)?;
        let (v, sv) = ctx.lin(&layer.v, &h1)?;
        let q = be.rope_fwd(
            &Ctx::heads(q, g.batch, g.seq, cfg.n_heads)?,
            cfg.rope,
            g.pos,
        )?;
        let k = be.rope_fwd(
            &Ctx::heads(k, g.batch, g.seq, cfg.n_kv_heads)?,
            cfg.rope,
            g.pos,
        )?;
        let v = Ctx::heads(v, g.batch, g.seq, cfg.n_kv_heads)?;
        let (k, v) = match kv {
            Some(cache) => cache.append(be, k, v)?,
            None => (k, v),
        };
        let (att, lse) = be.attention_fwd(&q, &k, &v, g.scale)?;
        let att = Ctx::flat(att)?;
        let (o, so) = ctx.lin(&layer.o, &att)?;
        let x2 = be.add(&x, &o)?;
        let (h2, n2) = be.rmsnorm_fwd(&x2, &layer.ln2, cfg.norm_eps)?;
        let (gt, sg) = ctx.lin(&layer.gate, &h2)?;
        let (u, su) = ctx.lin(&layer.up, &h2)?;
        let a = be.swiglu_fwd(&gt, &u)?;
        let (d, sd) = ctx.lin(&layer.down, &a)?;
        let x3 = be.add(&x2, &d)?;
        let t = LayerTape {
            x,
            h1,
            n1,
            sq,
            sk,
            sv,
            q,
            k,
            v,
            att,
            lse,
            so,
            x2,
            h2,
            n2,
            sg,
            su,
            g: gt,
            u,
            a,
            sd,
        };
        Ok((x3, t))
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
        // MLP branch: x3 = x2 + down(swiglu(gate(h2), up(h2)))
        let da = ctx.lin_bwd(&layer.down, &dx, &t.a, &t.sd, grads)?;
        let (dg, du) = be.swiglu_bwd(&da, &t.g, &t.u)?;
        let mut dh2 = ctx.lin_bwd(&layer.gate, &dg, &t.h2, &t.sg, grads)?;
        be.add_assign(&mut dh2, &ctx.lin_bwd(&layer.up, &du, &t.h2, &t.su, grads)?)?;
        be.add_assign(
            &mut dx,
            &be.rmsnorm_bwd(&dh2, &t.x2, &layer.ln2, &t.n2, None)?,
        )?;
        // Attention branch: x2 = x + o(attn(rope(q(h1)), rope(k(h1)), v(h1)))
        let datt = ctx.lin_bwd(&layer.o, &dx, &t.att, &t.so, grads)?;
        let datt = Ctx::heads(datt, g.batch, g.seq, cfg.n_heads)?;
        let out = Ctx::heads(t.att, g.batch, g.seq, cfg.n_heads)?;
        let (dq, dk, dv) = be.attention_bwd(&datt, &t.q, &t.k, &t.v, &out, &t.lse, g.scale)?;
        let dq = Ctx::flat(be.rope_bwd(&dq, cfg.rope, g.pos)?)?;
        let dk = Ctx::flat(be.rope_bwd(&dk, cfg.rope, g.pos)?)?;
        let dv = Ctx::flat(dv)?;
        let mut dh1 = ctx.lin_bwd(&layer.q, &dq, &t.h1, &t.sq, grads)?;
        be.add_assign(&mut dh1, &ctx.lin_bwd(&layer.k, &dk, &t.h1, &t.sk, grads)?)?;
        be.add_assign(&mut dh1, &ctx.lin_bwd(&layer.v, &dv, &t.h1, &t.sv, grads)?)?;
        be.add_assign(
            &mut dx,
            &be.rmsnorm_bwd(&dh1, &t.x, &layer.ln1, &t.n1, None)?,
        )?;
        Ok(dx)
    }

    fn final_norm_fwd(&self, be: &dyn Backend, x: &Tensor) -> Result<(Tensor, NormSaved)> {
        be.rmsnorm_fwd(x, &self.norm, self.cfg.norm_eps)
    }
    fn final_norm_bwd(
        &self,
        be: &dyn Backend,
        dh: &Tensor,
        x: &Tensor,
        saved: &NormSaved,
    ) -> Result<Tensor> {
        be.rmsnorm_bwd(dh, x, &self.norm, saved, None)
    }
}
