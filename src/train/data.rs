//! Training text: JSONL records with a `text` field, templated, tokenized, truncated, EOS
//! appended; a seeded split; right-padded batches whose padding is ignored by the loss.

use std::io::BufRead;
use std::path::Path;

use crate::backend::IGNORE_INDEX;
use crate::error::{Error, Result};
use crate::model::tokenizer::Tokenizer;
use crate::util::rng::Rng;

/// The `text` of every record, in file order.
pub fn read_texts(path: &Path) -> Result<Vec<String>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut texts = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| Error::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |msg: String| {
            Error::file(path, format!("line {}: {msg}", i + 1), "each line must be a JSON object with a string field \"text\" (sectune dataset build writes such files)")
        };
        let v: serde_json::Value =
            serde_json::from_str(&line).map_err(|e| bad(format!("not valid JSON ({e})")))?;
        match v.get("text").and_then(|t| t.as_str()) {
            Some(t) => texts.push(t.to_string()),
            None => return Err(bad("the record has no string field \"text\"".into())),
        }
    }
    if texts.is_empty() {
        return Err(Error::file(
            path,
            "holds no records",
            "point --train-file at a non-empty JSONL file",
        ));
    }
    Ok(texts)
}

/// template + text → ids, cut to `max_tokens − 1`, then EOS.
pub fn tokenize(
    tok: &Tokenizer,
    texts: &[String],
    template: &str,
    max_tokens: usize,
) -> Result<Vec<Vec<u32>>> {
    let eos = tok.eos_id.ok_or_else(|| {
        Error::Unsupported("the tokenizer has no end-of-sequence token (</s> or <|endoftext|>); sectune appends one to every record".into())
    })?;
    texts
        .iter()
        .map(|t| {
            let mut ids = tok.encode(&format!("{template}{t}"))?;
            ids.truncate(max_tokens.saturating_sub(1));
            ids.push(eos);
            Ok(ids)
        })
        .collect()
}

/// Indices of a seeded `holdout` fraction (at least one record when there are two or more).
pub fn split(n: usize, holdout: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut order: Vec<usize> = (0..n).collect();
    shuffle(&mut order, &mut Rng::new(seed ^ 0x5b11_7000));
    let n_val = if n < 2 {
        0
    } else {
        ((n as f64 * holdout).round() as usize).clamp(1, n - 1)
    };
    let mut val = order[..n_val].to_vec();
    let mut train = order[n_val..].to_vec();
    val.sort_unstable();
    train.sort_unstable();
    (train, val)
}

pub fn shuffle(v: &mut [usize], rng: &mut Rng) {
    for i in (1..v.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        v.swap(i, j);
    }
}

/// The order of records in `epoch`: shuffled from (seed, epoch) so a resumed run replays it.
pub fn epoch_order(n: usize, seed: u64, epoch: usize, shuffled: bool) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    if shuffled {
        shuffle(
            &mut order,
            &mut Rng::new(seed.wrapping_add(epoch as u64).wrapping_mul(0x9e37_79b9)),
        );
    }
    order
}

pub struct Batch {
    pub ids: Vec<u32>,
    pub labels: Vec<i64>,
    pub batch: usize,
    pub seq: usize,
    pub tokens: usize,
}

/// Right-pads to the longest sequence; padded positions get label −100. Causal attention
/// never lets a real token see the padding that follows it, so the loss is unchanged.
pub fn collate(seqs: &[&[u32]], pad: u32) -> Batch {
    let seq = seqs.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut ids = Vec::with_capacity(seqs.len() * seq);
    let mut labels = Vec::with_capacity(seqs.len() * seq);
    for s in seqs {
        ids.extend_from_slice(s);
        labels.extend(s.iter().map(|&i| i as i64));
        ids.extend(std::iter::repeat_n(pad, seq - s.len()));
        labels.extend(std::iter::repeat_n(IGNORE_INDEX as i64, seq - s.len()));
    }
    Batch {
        ids,
        labels,
        batch: seqs.len(),
        seq,
        tokens: seqs.iter().map(|s| s.len()).sum(),
    }
}
