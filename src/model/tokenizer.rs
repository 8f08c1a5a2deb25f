//! `tokenizer.json` through the tokenizers crate, plus the byte-level tokenizer that
//! `init-model` ships with its tiny random models.

use std::path::Path;

use crate::error::{Error, Result};

pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    pub eos_id: Option<u32>,
    pub bos_id: Option<u32>,
}

const EOS_NAMES: [&str; 3] = ["</s>", "<|endoftext|>", "<eos>"];
const BOS_NAMES: [&str; 2] = ["<s>", "<|startoftext|>"];

impl Tokenizer {
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join("tokenizer.json");
        if !path.exists() {
            return Err(Error::file(
                dir,
                "has no tokenizer.json",
                "copy tokenizer.json from the model's original repository into the folder (older repos: save it with transformers' AutoTokenizer.save_pretrained)",
            ));
        }
        let inner = tokenizers::Tokenizer::from_file(&path).map_err(|e| {
            Error::file(
                &path,
                format!("cannot be read as a tokenizer ({e})"),
                "restore the model's original tokenizer.json",
            )
        })?;
        let find = |names: &[&str]| names.iter().find_map(|n| inner.token_to_id(n));
        Ok(Tokenizer {
            eos_id: find(&EOS_NAMES),
            bos_id: find(&BOS_NAMES),
            inner,
        })
    }

    /// Token ids of `text`, with the tokenizer's own special tokens (e.g. Llama's BOS).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode(text, true)
            .map_err(|e| Error::Unsupported(format!("tokenizer failed on the input: {e}")))?;
        Ok(enc.get_ids().to_vec())
    }

    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner
            .decode(ids, true)
            .map_err(|e| Error::Unsupported(format!("tokenizer failed to decode: {e}")))
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }
}

/// GPT-2's byte → printable-char map used by byte-level BPE vocabularies.
fn byte_chars() -> Vec<char> {
    let mut printable: Vec<u32> = (b'!' as u32..=b'~' as u32)
        .chain(0xA1..=0xAC)
        .chain(0xAE..=0xFF)
        .collect();
    let mut chars: Vec<u32> = printable.clone();
    let mut n = 0;
    for b in 0..256u32 {
        if !printable.contains(&b) {
            printable.push(b);
            chars.push(256 + n);
            n += 1;
        }
    }
    let mut out = vec![' '; 256];
    for (b, c) in printable.iter().zip(chars) {
        out[*b as usize] = char::from_u32(c).unwrap_or('?');
    }
    out
}

/// A byte-level BPE tokenizer with no merges (ids 0..256 are bytes) and `<s>`, `</s>`,
/// `<unk>` at 256, 257, 258: every text round-trips, and the vocabulary is tiny.
pub fn byte_level_tokenizer_json() -> serde_json::Value {
    let vocab: serde_json::Map<String, serde_json::Value> = byte_chars()
        .into_iter()
        .enumerate()
        .map(|(i, c)| (c.to_string(), serde_json::json!(i)))
        .collect();
    let special = |id: u32, content: &str| {
        serde_json::json!({"id": id, "content": content, "single_word": false, "lstrip": false,
            "rstrip": false, "normalized": false, "special": true})
    };
    serde_json::json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [special(256, "<s>"), special(257, "</s>"), special(258, "<unk>")],
        "normalizer": null,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [256], "tokens": ["<s>"]}}
        },
        "decoder": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
            "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
            "vocab": vocab, "merges": []}
    })
}
