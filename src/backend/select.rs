//! `--device cpu|cuda`: the backend a verb runs on. A binary built without the `cuda` feature,
//! or a machine without a GPU, gets an error that says what to do instead.

use crate::backend::cpu::CpuBackend;
use crate::backend::Backend;
#[cfg(not(feature = "cuda"))]
use crate::error::Error;
use crate::error::Result;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Device {
    /// The f32 CPU reference backend (rayon threads).
    #[default]
    Cpu,
    /// The CUDA backend on GPU 0 (needs a build with `--features cuda` and an NVIDIA driver).
    Cuda,
}

pub fn open(device: Device) -> Result<Box<dyn Backend>> {
    match device {
        Device::Cpu => Ok(Box::new(CpuBackend)),
        Device::Cuda => open_cuda(),
    }
}

#[cfg(feature = "cuda")]
fn open_cuda() -> Result<Box<dyn Backend>> {
    Ok(Box::new(crate::backend::cuda::CudaBackend::new(0)?))
}

#[cfg(not(feature = "cuda"))]
fn open_cuda() -> Result<Box<dyn Backend>> {
    Err(Error::Unsupported(
        "--device cuda: this binary was built without the `cuda` feature; rebuild with \
         `cargo build --release --features cuda` (see docs/cuda.md), or use --device cpu"
            .into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_always_opens_and_cuda_explains_itself_without_a_gpu() {
        assert!(open(Device::Cpu).unwrap().name().starts_with("cpu"));
        if let Err(e) = open(Device::Cuda) {
            let msg = e.to_string();
            assert!(
                msg.contains("cuda") || msg.contains("CUDA") || msg.contains("GPU"),
                "{msg}"
            );
        }
    }
}
