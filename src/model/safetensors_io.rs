//! Memory-mapped safetensors reading (single file or HF sharded index) and writing.
//! Tensors are converted to f32 on read; f32, f16, bf16 (and integer ids for fixtures) are read.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;

use crate::error::{Error, Result};
use crate::tensor::Tensor;

struct Entry {
    file: usize,
    dtype: Dtype,
    shape: Vec<usize>,
    start: usize,
    end: usize,
}

/// One or more safetensors files opened as one name → tensor map.
pub struct TensorFiles {
    files: Vec<(PathBuf, Mmap)>,
    entries: HashMap<String, Entry>,
    metadata: HashMap<String, String>,
    /// How the model loader stores block linear weights (quantized on load, layer by layer).
    quant: crate::quant::QuantRequest,
}

const REFETCH: &str = "the file is damaged or incomplete: download or copy it again";

impl TensorFiles {
    /// Opens one safetensors file.
    pub fn open(path: &Path) -> Result<Self> {
        let mut tf = TensorFiles {
            files: Vec::new(),
            entries: HashMap::new(),
            metadata: HashMap::new(),
            quant: Default::default(),
        };
        tf.add_file(path)?;
        Ok(tf)
    }

    /// Opens a model folder: `model.safetensors`, or the shards listed in
    /// `model.safetensors.index.json`.
    pub fn open_model_dir(dir: &Path) -> Result<Self> {
        let single = dir.join("model.safetensors");
        let index = dir.join("model.safetensors.index.json");
        if single.exists() {
            return Self::open(&single);
        }
        if !index.exists() {
            return Err(Error::file(
                dir,
                "holds neither model.safetensors nor model.safetensors.index.json",
                "point --model at a Hugging Face model folder with safetensors weights (convert .bin checkpoints with transformers' save_pretrained(safe_serialization=True))",
            ));
        }
        let text = std::fs::read_to_string(&index).map_err(|e| Error::io(&index, e))?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::file(&index, format!("not valid JSON ({e})"), REFETCH))?;
        let map = v
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| Error::Config {
                path: index.clone(),
                field: "weight_map".into(),
                msg: "missing or not an object of tensor name → shard file".into(),
            })?;
        let mut shards: Vec<&str> = map.values().filter_map(|f| f.as_str()).collect();
        shards.sort_unstable();
        shards.dedup();
        let mut tf = TensorFiles {
            files: Vec::new(),
            entries: HashMap::new(),
            metadata: HashMap::new(),
            quant: Default::default(),
        };
        for shard in shards {
            if shard.contains('/') || shard.contains("..") {
                return Err(Error::file(
                    &index,
                    format!("shard name {shard:?} points outside the folder"),
                    REFETCH,
                ));
            }
            tf.add_file(&dir.join(shard))?;
        }
        for name in map.keys() {
            if !tf.entries.contains_key(name) {
                return Err(Error::file(
                    &index,
                    format!("lists tensor {name} but no shard holds it"),
                    REFETCH,
                ));
            }
        }
        Ok(tf)
    }

    fn add_file(&mut self, path: &Path) -> Result<()> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        // SAFETY: the map is read-only; a file changed underneath while we run is the one hazard
        // of every mmap-based loader (transformers and candle accept it too).
        let mmap = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        let (n, meta) = SafeTensors::read_metadata(&mmap).map_err(|e| {
            Error::file(
                path,
                format!("not a valid safetensors file ({e}), {} bytes", mmap.len()),
                REFETCH,
            )
        })?;
        let idx = self.files.len();
        for (name, info) in meta.tensors() {
            let (s, e) = info.data_offsets;
            self.entries.insert(
                name,
                Entry {
                    file: idx,
                    dtype: info.dtype,
                    shape: info.shape.clone(),
                    start: 8 + n + s,
                    end: 8 + n + e,
                },
            );
        }
        if let Some(m) = meta.metadata() {
            self.metadata.extend(m.clone());
        }
        self.files.push((path.to_path_buf(), mmap));
        Ok(())
    }

    pub fn set_quant_request(&mut self, req: crate::quant::QuantRequest) {
        self.quant = req;
    }

    pub fn quant_request(&self) -> crate::quant::QuantRequest {
        self.quant
    }

    /// A tensor's dtype, shape and raw little-endian bytes (for quantized checkpoints).
    pub fn raw_tensor(&self, name: &str) -> Result<(Dtype, &[usize], &[u8])> {
        let (e, b) = self.raw(name)?;
        Ok((e.dtype, &e.shape, b))
    }

    pub fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(|s| s.as_str())
    }

    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.entries.get(name).map(|e| e.shape.as_slice())
    }

    pub fn dtype(&self, name: &str) -> Option<Dtype> {
        self.entries.get(name).map(|e| e.dtype)
    }

    pub fn metadata(&self) -> &HashMap<String, String> {
        &self.metadata
    }

    /// The file that holds `name`, or the first file, for error messages.
    pub fn path_of(&self, name: &str) -> &Path {
        let i = self.entries.get(name).map(|e| e.file).unwrap_or(0);
        self.files
            .get(i)
            .map(|(p, _)| p.as_path())
            .unwrap_or(Path::new("<none>"))
    }

    fn raw(&self, name: &str) -> Result<(&Entry, &[u8])> {
        let e = self.entries.get(name).ok_or_else(|| {
            Error::file(
                self.path_of(name),
                format!("has no tensor named {name}"),
                "the checkpoint does not match its config.json, or is not a supported architecture",
            )
        })?;
        let bytes = &self.files[e.file].1[e.start..e.end];
        Ok((e, bytes))
    }

    /// Reads a float tensor as f32.
    pub fn f32(&self, name: &str) -> Result<Tensor> {
        let (e, b) = self.raw(name)?;
        let data: Vec<f32> = match e.dtype {
            Dtype::F32 => b
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            Dtype::F16 => b
                .chunks_exact(2)
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            Dtype::BF16 => b
                .chunks_exact(2)
                .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            other => {
                return Err(Error::file(
                    self.path_of(name),
                    format!(
                    "tensor {name} has dtype {other:?}; sectune reads f32, f16 and bf16 weights"
                ),
                    "convert the checkpoint to a float dtype",
                ))
            }
        };
        Tensor::from_vec(data, &e.shape)
    }

    /// Reads a float tensor and checks its shape.
    pub fn f32_shaped(&self, name: &str, want: &[usize]) -> Result<Tensor> {
        let t = self.f32(name)?;
        if t.shape() != want {
            return Err(Error::file(
                self.path_of(name),
                format!("tensor {name} has shape {:?}, but the config implies {want:?}", t.shape()),
                "the weights and config.json belong to different models; use the config.json shipped with these weights",
            ));
        }
        Ok(t)
    }

    /// Reads an integer tensor (I64/I32) as i64 values, e.g. token ids in fixtures.
    pub fn i64(&self, name: &str) -> Result<(Vec<i64>, Vec<usize>)> {
        let (e, b) = self.raw(name)?;
        let data = match e.dtype {
            Dtype::I64 => b
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .collect(),
            Dtype::I32 => b
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64)
                .collect(),
            other => {
                return Err(Error::file(
                    self.path_of(name),
                    format!("tensor {name} has dtype {other:?}, expected integers"),
                    REFETCH,
                ))
            }
        };
        Ok((data, e.shape.clone()))
    }
}

/// Storage dtype for written float tensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaveDtype {
    F32,
    F16,
    BF16,
}

impl SaveDtype {
    pub fn from_safetensors(d: Dtype) -> Self {
        match d {
            Dtype::F16 => SaveDtype::F16,
            Dtype::BF16 => SaveDtype::BF16,
            _ => SaveDtype::F32,
        }
    }
}

/// Serializes named f32 tensors (converted to `dtype`) into safetensors bytes.
pub fn to_bytes(
    tensors: &BTreeMap<String, Tensor>,
    dtype: SaveDtype,
    metadata: Option<HashMap<String, String>>,
) -> Result<Vec<u8>> {
    let mut encoded: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::with_capacity(tensors.len());
    for (name, t) in tensors {
        let h = t.host()?;
        let (d, bytes): (Dtype, Vec<u8>) = match dtype {
            SaveDtype::F32 => (Dtype::F32, bytemuck::cast_slice(h).to_vec()),
            SaveDtype::F16 => (
                Dtype::F16,
                h.iter()
                    .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
                    .collect(),
            ),
            SaveDtype::BF16 => (
                Dtype::BF16,
                h.iter()
                    .flat_map(|v| half::bf16::from_f32(*v).to_le_bytes())
                    .collect(),
            ),
        };
        encoded.push((name.clone(), d, t.shape().to_vec(), bytes));
    }
    let views = encoded
        .iter()
        .map(|(n, d, s, b)| TensorView::new(*d, s.clone(), b).map(|v| (n.clone(), v)))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::Unsupported(format!("cannot encode tensors as safetensors: {e}")))?;
    safetensors::serialize(views, metadata)
        .map_err(|e| Error::Unsupported(format!("cannot encode tensors as safetensors: {e}")))
}
