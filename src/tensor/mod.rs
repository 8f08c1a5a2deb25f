//! The tensor type every backend op takes: a row-major shape and a storage.
//!
//! The CPU backend keeps f32 in host memory; a device backend adds its own storage variant.

use crate::error::{Error, Result};

#[derive(Clone, Debug, PartialEq)]
pub enum Storage {
    Cpu(Vec<f32>),
    /// f32 in GPU memory (the CUDA backend's tensors).
    #[cfg(feature = "cuda")]
    Cuda(crate::backend::cuda::storage::DeviceBuf),
}

#[cfg(feature = "cuda")]
fn on_device() -> Error {
    Error::Unsupported(
        "this tensor lives on the GPU: download it with the backend (`be.download(&t)`) before reading it on the host".into(),
    )
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
            #[cfg(feature = "cuda")]
            Storage::Cuda(_) => Err(on_device()),
        }
    }

    pub fn host_mut(&mut self) -> Result<&mut [f32]> {
        match &mut self.storage {
            Storage::Cpu(v) => Ok(v),
            #[cfg(feature = "cuda")]
            Storage::Cuda(_) => Err(on_device()),
        }
    }

    pub fn into_host(self) -> Result<Vec<f32>> {
        match self.storage {
            Storage::Cpu(v) => Ok(v),
            #[cfg(feature = "cuda")]
            Storage::Cuda(_) => Err(on_device()),
        }
    }

    /// Whether the data is in host memory.
    pub fn is_host(&self) -> bool {
        matches!(self.storage, Storage::Cpu(_))
    }

    /// A tensor over device memory; the buffer length must equal the product of the shape.
    #[cfg(feature = "cuda")]
    pub fn from_device(
        buf: crate::backend::cuda::storage::DeviceBuf,
        shape: &[usize],
    ) -> Result<Self> {
        let numel: usize = shape.iter().product();
        if numel != buf.len() {
            return Err(Error::shape(
                "Tensor::from_device",
                format!(
                    "shape {shape:?} holds {numel} values, buffer has {}",
                    buf.len()
                ),
            ));
        }
        Ok(Tensor {
            shape: shape.to_vec(),
            storage: Storage::Cuda(buf),
        })
    }

    /// The device buffer; errors for host tensors.
    #[cfg(feature = "cuda")]
    pub fn device(&self) -> Result<&crate::backend::cuda::storage::DeviceBuf> {
        match &self.storage {
            Storage::Cuda(b) => Ok(b),
            Storage::Cpu(_) => Err(Error::Unsupported(
                "a host tensor was passed to the CUDA backend: upload it first (`be.upload(t)`)"
                    .into(),
            )),
        }
    }

    #[cfg(feature = "cuda")]
    pub fn device_mut(&mut self) -> Result<&mut crate::backend::cuda::storage::DeviceBuf> {
        match &mut self.storage {
            Storage::Cuda(b) => Ok(b),
            Storage::Cpu(_) => Err(Error::Unsupported(
                "a host tensor was passed to the CUDA backend: upload it first (`be.upload(t)`)"
                    .into(),
            )),
        }
    }
}
