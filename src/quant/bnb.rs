//! Block linear weights from a checkpoint: the bitsandbytes safetensors layouts written by
//! transformers' `save_pretrained` on a 4-bit or 8-bit model, or plain float weights quantized
//! here as the loader's request says.
//!
//! 4-bit (`Linear4bit._save_to_state_dict` + `QuantState.as_dict(packed=True)`), per module P:
//!   P.weight                                    uint8 [ceil(n/2), 1], two codes a byte
//!   P.weight.absmax                             f32 [blocks]; uint8 codes when double-quantized
//!   P.weight.quant_map                          f32 [16]
//!   P.weight.nested_absmax / nested_quant_map   f32 [ceil(blocks/256)] / [256] (double quant)
//!   P.weight.quant_state.bitsandbytes__nf4      uint8: JSON {quant_type, blocksize, dtype,
//!                                               shape, nested_blocksize, nested_offset, …}
//! 8-bit (`Linear8bitLt._save_to_state_dict`): P.weight int8 [out, in], P.SCB f32 [out],
//!   P.weight_format uint8 scalar (0 = row-major, the only format bitsandbytes still writes).

use safetensors::tensor::Dtype;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::model::safetensors_io::TensorFiles;
use crate::quant::nf4::{Absmax, DoubleQuant, Nf4Weight};
use crate::quant::{BaseWeight, Int8Weight, QuantRequest};

const REQUANTIZE: &str = "re-save the model with transformers (bitsandbytes nf4 or 8-bit), or load the unquantized checkpoint and pass --base-dtype";

#[derive(Deserialize)]
struct QuantStateJson {
    quant_type: String,
    blocksize: usize,
    shape: Option<Vec<usize>>,
    nested_blocksize: Option<usize>,
    nested_offset: Option<f64>,
}

/// Which layout a module's weight is stored in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stored {
    Float,
    Bnb4bit,
    Bnb8bit,
}

pub fn stored_as(files: &TensorFiles, name: &str) -> Stored {
    let w = format!("{name}.weight");
    if files.contains(&format!("{w}.absmax"))
        || files
            .names()
            .any(|n| n.starts_with(&format!("{w}.quant_state.")))
    {
        Stored::Bnb4bit
    } else if files.contains(&format!("{name}.SCB")) {
        Stored::Bnb8bit
    } else {
        Stored::Float
    }
}

/// The weight of block linear `name` (out, in): as stored when the checkpoint is quantized,
/// otherwise read as f32 and quantized as `req` says (one layer at a time, so the f32 copy of
/// only this layer is ever held).
pub fn load_linear_weight(
    files: &TensorFiles,
    name: &str,
    out: usize,
    inp: usize,
    req: QuantRequest,
) -> Result<BaseWeight> {
    match stored_as(files, name) {
        Stored::Bnb4bit => Ok(BaseWeight::Nf4(load_4bit(files, name, out, inp)?)),
        Stored::Bnb8bit => Ok(BaseWeight::Int8(load_8bit(files, name, out, inp)?)),
        Stored::Float => BaseWeight::quantize(
            files.f32_shaped(&format!("{name}.weight"), &[out, inp])?,
            req,
        ),
    }
}

fn bad(files: &TensorFiles, key: &str, msg: String) -> Error {
    Error::file(files.path_of(key), msg, REQUANTIZE)
}

fn bytes_of<'a>(files: &'a TensorFiles, key: &str, want: Dtype) -> Result<&'a [u8]> {
    let (dtype, _, b) = files.raw_tensor(key)?;
    if dtype != want {
        return Err(bad(
            files,
            key,
            format!(
                "tensor {key} has dtype {dtype:?}; the bitsandbytes layout stores it as {want:?}"
            ),
        ));
    }
    Ok(b)
}

fn f32_vec(files: &TensorFiles, key: &str) -> Result<Vec<f32>> {
    files.f32(key)?.into_host()
}

fn load_4bit(files: &TensorFiles, name: &str, out: usize, inp: usize) -> Result<Nf4Weight> {
    let w = format!("{name}.weight");
    let state_key = files
        .names()
        .find(|n| n.starts_with(&format!("{w}.quant_state.")))
        .map(str::to_string)
        .ok_or_else(|| {
            bad(
                files,
                &w,
                format!("{w}.absmax is present but {w}.quant_state.bitsandbytes__nf4 is missing"),
            )
        })?;
    let json = bytes_of(files, &state_key, Dtype::U8)?;
    let state: QuantStateJson = serde_json::from_slice(json).map_err(|e| {
        bad(
            files,
            &state_key,
            format!("{state_key} does not hold bitsandbytes' quant-state JSON ({e})"),
        )
    })?;
    if state.quant_type != "nf4" {
        return Err(Error::file(
            files.path_of(&state_key),
            format!("{name} is stored as bitsandbytes {}; sectune reads nf4 and 8-bit weights", state.quant_type),
            "quantize the model with bnb_4bit_quant_type=\"nf4\", or load the unquantized checkpoint",
        ));
    }
    if let Some(shape) = &state.shape {
        if shape.as_slice() != [out, inp] {
            return Err(Error::file(
                files.path_of(&w),
                format!("{name} was quantized from shape {shape:?}, but the config implies [{out}, {inp}]"),
                "the weights and config.json belong to different models; use the config.json shipped with these weights",
            ));
        }
    }
    let levels: [f32; 16] = f32_vec(files, &format!("{w}.quant_map"))?
        .try_into()
        .map_err(|v: Vec<f32>| {
            bad(
                files,
                &w,
                format!("{w}.quant_map has {} levels, 16 expected", v.len()),
            )
        })?;
    let absmax_key = format!("{w}.absmax");
    let absmax = match (state.nested_blocksize, state.nested_offset) {
        (Some(block), Some(offset)) => Absmax::Double(DoubleQuant {
            codes: bytes_of(files, &absmax_key, Dtype::U8)?.to_vec(),
            absmax: f32_vec(files, &format!("{w}.nested_absmax"))?,
            offset: offset as f32,
            map: f32_vec(files, &format!("{w}.nested_quant_map"))?,
            block,
        }),
        _ => Absmax::Plain(f32_vec(files, &absmax_key)?),
    };
    let q = Nf4Weight {
        rows: out,
        cols: inp,
        block: state.blocksize,
        packed: bytes_of(files, &w, Dtype::U8)?.to_vec(),
        absmax,
        levels,
    };
    q.validate().map_err(|e| {
        bad(
            files,
            &w,
            format!("{name}: the 4-bit parts do not fit together ({e})"),
        )
    })?;
    Ok(q)
}

fn load_8bit(files: &TensorFiles, name: &str, out: usize, inp: usize) -> Result<Int8Weight> {
    let w = format!("{name}.weight");
    let format_key = format!("{name}.weight_format");
    if files.contains(&format_key) {
        let fmt = bytes_of(files, &format_key, Dtype::U8)?;
        if fmt != [0] {
            return Err(bad(
                files,
                &format_key,
                format!("{format_key} is {fmt:?}; only bitsandbytes' row-major format (0) is read"),
            ));
        }
    }
    let (dtype, shape, b) = files.raw_tensor(&w)?;
    if dtype != Dtype::I8 || shape != [out, inp] {
        return Err(bad(
            files,
            &w,
            format!(
                "{w} is {dtype:?} {shape:?}; an 8-bit bitsandbytes weight is I8 [{out}, {inp}]"
            ),
        ));
    }
    let q: Vec<i8> = b.iter().map(|&x| x as i8).collect();
    Int8Weight::from_parts(out, inp, q, f32_vec(files, &format!("{name}.SCB"))?)
        .map_err(|e| bad(files, &w, format!("{name}: {e}")))
}
