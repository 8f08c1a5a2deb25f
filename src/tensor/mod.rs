//! The tensor type every backend op takes: a row-major shape and a storage.
//!
//! The CPU backend keeps f32 in host memory; a device backend adds its own storage variant.

use crate::error::{Error, Result};

#[derive(Clone, Debug, PartialEq)]
pub enum Storage {
    Cpu(Vec<f32>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    shape: Vec<usize>,
    storage: Storage,
}

impl Tensor {
    /// A host f32 tensor; the data length must equal the product of the shape.
    pub fn from_vec(data: Vec<f32>, shape: &[usize]) -> Result<Self> {
        let numel: usize = shape.iter().product();
        if numel != data.len() {
            return Err(Error::shape(
                "Tensor::from_vec",
                format!(
                    "shape {shape:?} holds {numel} values, data has {}",
                    data.len()
                ),
            ));
        }
        Ok(Tensor {
            shape: shape.to_vec(),
            storage: Storage::Cpu(data),
        })
    }

    pub fn zeros(shape: &[usize]) -> Self {
        let numel = shape.iter().product();
        Tensor {
            shape: shape.to_vec(),
            storage: Storage::Cpu(vec![0.0; numel]),
        }
    }

    pub fn full(shape: &[usize], value: f32) -> Self {
        let numel = shape.iter().product();
        Tensor {
            shape: shape.to_vec(),
            storage: Storage::Cpu(vec![value; numel]),
        }
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// Size of the last dimension (1 for a scalar).
    pub fn last_dim(&self) -> usize {
        self.shape.last().copied().unwrap_or(1)
    }

    /// Number of rows when the tensor is viewed as (rows, last_dim).
    pub fn rows(&self) -> usize {
        self.numel() / self.last_dim().max(1)
    }

    /// The same data under a new shape with the same element count.
    pub fn reshape(mut self, shape: &[usize]) -> Result<Self> {
        let numel: usize = shape.iter().product();
        if numel != self.numel() {
            return Err(Error::shape(
                "Tensor::reshape",
                format!("cannot view {:?} as {shape:?}", self.shape),
            ));
        }
        self.shape = shape.to_vec();
        Ok(self)
    }

    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// Host data; errors for tensors that live on a device.
    pub fn host(&self) -> Result<&[f32]> {
        match &self.storage {
            Storage::Cpu(v) => Ok(v),
        }
    }

    pub fn host_mut(&mut self) -> Result<&mut [f32]> {
        match &mut self.storage {
            Storage::Cpu(v) => Ok(v),
        }
    }

    pub fn into_host(self) -> Result<Vec<f32>> {
        match self.storage {
            Storage::Cpu(v) => Ok(v),
        }
    }
}
