//! Sampling completions: the samples of one prompt decode together as one batch (same length,
//! no padding) over a KV cache; every sample has its own seeded stream, so results do not
//! depend on the batch size.

use serde::{Deserialize, Serialize};

use crate::backend::dropout::mix64;
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
    let vocab = model.config().vocab_size;
    for first in (0..settings.samples).step_by(settings.batch.max(1)) {
        let rows: Vec<usize> =
            (first..(first + settings.batch.max(1)).min(settings.samples)).collect();
        let b = rows.len();
        let mut rngs: Vec<Rng> = rows
            .iter()
            .map(|&s| {
                Rng::new(mix64(
                    settings.seed ^ mix64(((prompt_index as u64) << 20) + s as u64),
                ))
            })
            .collect();
        let mut cache = KvCache::new(model.config().n_layers);
        let prefill: Vec<u32> = rows.iter().flat_map(|_| ids.iter().copied()).collect();
        let logits = model.forward_cached(ctx, &prefill, b, ids.len(), &mut cache)?;
        let mut last = last_rows(&logits, b, ids.len(), vocab)?;
        let mut generated: Vec<Vec<u32>> = vec![Vec::new(); b];
        let mut finish: Vec<Option<&str>> = vec![None; b];
        for _ in 0..new_tokens {
            let u: Vec<f32> = rngs.iter_mut().map(|r| r.uniform() as f32).collect();
            let next = ctx
                .be
                .sample(&last, settings.temperature, settings.top_p, &u)?;
            for (r, &t) in next.iter().enumerate() {
                if finish[r].is_some() {
                    continue;
                }
                if Some(t) == tok.eos_id {
                    finish[r] = Some("eos");
                    continue;
                }
                generated[r].push(t);
                if !settings.stop.is_empty()
                    && stop_at(&tok.decode(&generated[r])?, &settings.stop).is_some()
                {
                    finish[r] = Some("stop");
                }
            }
            if finish.iter().all(|f| f.is_some()) {
                break;
            }
            last = model.forward_cached(ctx, &next, b, 1, &mut cache)?;
        }
        for (r, &s) in rows.iter().enumerate() {
            let mut text = tok.decode(&generated[r])?;
            if let Some(cut) = stop_at(&text, &settings.stop) {
                text.truncate(cut);
            }
            out.push(Sample {
                prompt_id: prompt.id.clone(),
                sample: s,
                completion: text,
                tokens: generated[r].len(),
                finish_reason: finish[r].unwrap_or("length").to_string(),
            });
        }
    }
    Ok(out)
}

/// The logits of each row's last position, (B, V).
fn last_rows(logits: &Tensor, b: usize, t: usize, v: usize) -> Result<Tensor> {
    let h = logits.host()?;
    let data: Vec<f32> = (0..b)
        .flat_map(|r| h[((r * t) + t - 1) * v..(r * t + t) * v].iter().copied())
        .collect();
    Tensor::from_vec(data, &[b, v])
}
