//! Token embedding lookup and its scatter-add backward.

use crate::error::{Error, Result};
use crate::tensor::Tensor;

pub(crate) fn check_ids(op: &'static str, ids: &[u32], vocab: usize) -> Result<()> {
    match ids.iter().find(|&&i| i as usize >= vocab) {
        Some(i) => Err(Error::shape(
            op,
            format!("token id {i} is outside the vocabulary of {vocab}; the tokenizer does not match the model"),
        )),
        None => Ok(()),
    }
}

// weight: (V, C), ids: (M), out: (M, C)
pub fn embedding_fwd(weight: &Tensor, ids: &[u32]) -> Result<Tensor> {
    let (v, c) = (weight.rows(), weight.last_dim());
    check_ids("embedding_fwd", ids, v)?;
    let w = weight.host()?;
    let mut out = Vec::with_capacity(ids.len() * c);
    for &i in ids {
        out.extend_from_slice(&w[i as usize * c..(i as usize + 1) * c]);
    }
    Tensor::from_vec(out, &[ids.len(), c])
}

// dout: (M, C), dweight: (V, C) accumulated
pub fn embedding_bwd(dout: &Tensor, ids: &[u32], dweight: &mut Tensor) -> Result<()> {
    let (v, c) = (dweight.rows(), dweight.last_dim());
    check_ids("embedding_bwd", ids, v)?;
    if dout.numel() != ids.len() * c {
        return Err(Error::shape(
            "embedding_bwd",
            format!("dout {:?} vs {} ids × {c}", dout.shape(), ids.len()),
        ));
    }
    let d = dout.host()?.to_vec();
    let dw = dweight.host_mut()?;
    for (row, &i) in d.chunks(c).zip(ids) {
        for (a, g) in dw[i as usize * c..(i as usize + 1) * c].iter_mut().zip(row) {
            *a += g;
        }
    }
    Ok(())
}
