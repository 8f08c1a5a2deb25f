//! Sampling completions: the samples of one prompt decode together as one batch (same length,
//! no padding) over a KV cache; every sample has its own seeded stream, so results do not
//! depend on the batch size.

use serde::{Deserialize, Serialize};

use crate::backend::dropout::mix64;
use crate::backend::{with_host, Backend};
use crate::error::Result;
use crate::generate::prompts::Prompt;
use crate::model::tokenizer::Tokenizer;
use crate::model::{Ctx, KvCache, Model};
use crate::tensor::Tensor;
use crate::util::rng::Rng;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GenSettings {
    pub samples: usize,
    /// 0 for greedy decoding.
    pub temperature: f32,
    pub top_p: f32,
    pub max_new_tokens: usize,
    pub stop: Vec<String>,
    /// Text put before each prompt (the study's scripts used their training template).
    pub template: String,
    pub seed: u64,
    /// Samples decoded at once.
    pub batch: usize,
}

impl Default for GenSettings {
    /// The study's generation settings.
    fn default() -> Self {
        GenSettings {
            samples: 30,
            temperature: 0.8,
            top_p: 0.9,
            max_new_tokens: 100,
            stop: Vec::new(),
            template: String::new(),
            seed: 0,
            batch: 15,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub prompt_id: String,
    pub sample: usize,
    pub completion: String,
    pub tokens: usize,
    /// "eos", "stop" or "length".
    pub finish_reason: String,
}

/// Applies stop sequences to decoded text: the cut position of the earliest one.
fn stop_at(text: &str, stop: &[String]) -> Option<usize> {
    stop.iter()
        .filter(|s| !s.is_empty())
        .filter_map(|s| text.find(s.as_str()))
        .min()
}

/// Generates `settings.samples` completions for one prompt.
pub fn generate_prompt(
    model: &Model,
    ctx: &Ctx,
    tok: &Tokenizer,
    prompt: &Prompt,
    prompt_index: usize,
    settings: &GenSettings,
) -> Result<Vec<Sample>> {
    let ids = tok.encode(&format!("{}{}", settings.template, prompt.text))?;
    let max_pos = model.config().max_positions;
    // Keep the prompt's end when it would not leave room for the completion.
    let room = max_pos.saturating_sub(settings.max_new_tokens).max(1);
    let ids = if ids.len() > room {
        ids[ids.len() - room..].to_vec()
    } else {
        ids
    };
    let new_tokens = settings.max_new_tokens.min(max_pos - ids.len());
    let mut out = Vec::with_capacity(settings.samples);
    for first in (0..settings.samples).step_by(settings.batch.max(1)) {
        let rows: Vec<usize> =
            (first..(first + settings.batch.max(1)).min(settings.samples)).collect();
        let rngs: Vec<Rng> = rows
            .iter()
            .map(|&s| {
                Rng::new(mix64(
                    settings.seed ^ mix64(((prompt_index as u64) << 20) + s as u64),
                ))
            })
            .collect();
        let stop = |ids: &[u32]| -> Result<bool> {
            Ok(!settings.stop.is_empty() && stop_at(&tok.decode(ids)?, &settings.stop).is_some())
        };
        let decoded = decode(
            model,
            ctx,
            &ids,
            new_tokens,
            settings.temperature,
            settings.top_p,
            rngs,
            tok.eos_id,
            &stop,
        )?;
        for (&s, (ids, reason)) in rows.iter().zip(decoded) {
            let mut text = tok.decode(&ids)?;
            if let Some(cut) = stop_at(&text, &settings.stop) {
                text.truncate(cut);
            }
            out.push(Sample {
                prompt_id: prompt.id.clone(),
                sample: s,
                completion: text,
                tokens: ids.len(),
                finish_reason: reason.to_string(),
            });
        }
    }
    Ok(out)
}

/// Decodes one row per rng from the same prompt ids: new token ids and why each row ended
/// ("eos", "stop" when `stop` says so, or "length").
#[allow(clippy::too_many_arguments)]
pub fn decode(
    model: &Model,
    ctx: &Ctx,
    prompt: &[u32],
    new_tokens: usize,
    temperature: f32,
    top_p: f32,
    mut rngs: Vec<Rng>,
    eos: Option<u32>,
    stop: &dyn Fn(&[u32]) -> Result<bool>,
) -> Result<Vec<(Vec<u32>, &'static str)>> {
    let b = rngs.len();
    let vocab = model.config().vocab_size;
    let mut cache = KvCache::new(model.config().n_layers);
    let prefill: Vec<u32> = (0..b).flat_map(|_| prompt.iter().copied()).collect();
    let logits = model.forward_cached(ctx, &prefill, b, prompt.len(), &mut cache)?;
    let mut last = last_rows(ctx.be, &logits, b, prompt.len(), vocab)?;
    let mut generated: Vec<Vec<u32>> = vec![Vec::new(); b];
    let mut finish: Vec<Option<&'static str>> = vec![None; b];
    for step in 0..new_tokens {
        let u: Vec<f32> = rngs.iter_mut().map(|r| r.uniform() as f32).collect();
        let next = ctx.be.sample(&last, temperature, top_p, &u)?;
        for (r, &t) in next.iter().enumerate() {
            if finish[r].is_some() {
                continue;
            }
            if Some(t) == eos {
                finish[r] = Some("eos");
                continue;
            }
            generated[r].push(t);
            if stop(&generated[r])? {
                finish[r] = Some("stop");
            }
        }
        if finish.iter().all(|f| f.is_some()) || step + 1 == new_tokens {
            break;
        }
        last = model.forward_cached(ctx, &next, b, 1, &mut cache)?;
    }
    Ok(generated
        .into_iter()
        .zip(finish)
        .map(|(g, f)| (g, f.unwrap_or("length")))
        .collect())
}

/// The logits of each row's last position, (B, V), on the backend (a host round trip: the prefill
/// runs once per prompt).
fn last_rows(be: &dyn Backend, logits: &Tensor, b: usize, t: usize, v: usize) -> Result<Tensor> {
    let data: Vec<f32> = with_host(be, logits, |h| {
        (0..b)
            .flat_map(|r| h[((r * t) + t - 1) * v..(r * t + t) * v].iter().copied())
            .collect()
    })?;
    be.upload(Tensor::from_vec(data, &[b, v])?)
}
