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

/// `--precision auto|f32|bf16`: what the CUDA backend computes its large matrix products in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Precision {
    /// bf16 on a CUDA GPU of compute capability 8.0+ (as torch's bf16 autocast; on an H100 one
    /// CodeLlama-7B layer trains 17× faster than in f32), f32 on the CPU and on older GPUs.
    #[default]
    Auto,
    /// Everything in f32, as the CPU reference (results match it to f32 rounding).
    F32,
    /// Mixed precision (CUDA, compute capability 8.0+): linears (LoRA, IA3 or none) and
    /// attention at head dims 64/128/256 run on the tensor cores with bf16 inputs (an f32 weight
    /// is rounded per call), fp32 accumulation and bf16-rounded outputs read as f32; the adapter
    /// math, int8/nf4 linears, norms, loss and the optimizer stay f32. Results
    /// differ from the f32 run at bf16 rounding (about 3 significant digits).
    Bf16,
}

pub fn open(device: Device, precision: Precision) -> Result<Box<dyn Backend>> {
    match (device, precision) {
        (Device::Cpu, Precision::F32 | Precision::Auto) => Ok(Box::new(CpuBackend)),
        (Device::Cpu, Precision::Bf16) => Err(crate::error::Error::Unsupported(
            "--precision bf16 is a mode of the CUDA backend (tensor cores); the CPU reference \
             computes in f32: drop --precision or use --device cuda"
                .into(),
        )),
        (Device::Cuda, p) => open_cuda(p),
    }
}

#[cfg(feature = "cuda")]
fn open_cuda(precision: Precision) -> Result<Box<dyn Backend>> {
    let be = crate::backend::cuda::CudaBackend::new(0)?;
    let tensor_cores = be.device().compute_capability()?.0 >= 8;
    Ok(Box::new(match precision {
        Precision::F32 => be,
        Precision::Auto if !tensor_cores => be,
        Precision::Auto | Precision::Bf16 => be.with_bf16_compute()?,
    }))
}

#[cfg(not(feature = "cuda"))]
fn open_cuda(_precision: Precision) -> Result<Box<dyn Backend>> {
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
        for precision in [Precision::F32, Precision::Auto] {
            assert!(open(Device::Cpu, precision)
                .unwrap()
                .name()
                .starts_with("cpu"));
        }
        if let Err(e) = open(Device::Cuda, Precision::F32) {
            let msg = e.to_string();
            assert!(
                msg.contains("cuda") || msg.contains("CUDA") || msg.contains("GPU"),
                "{msg}"
            );
        }
    }
}

#[cfg(test)]
mod precision_tests {
    use super::*;

    #[test]
    fn bf16_precision_is_refused_on_the_cpu_with_the_fix() {
        let msg = open(Device::Cpu, Precision::Bf16)
            .err()
            .unwrap()
            .to_string();
        assert!(
            msg.contains("--precision bf16") && msg.contains("--device cuda"),
            "{msg}"
        );
    }
}
