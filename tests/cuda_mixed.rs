//! `--precision bf16` (src/backend/cuda/ops/mixed.rs) against the f32 CPU reference, on bf16
//! checkpoints at the head dims of real models (Llama 64 with GQA, CodeGen 128), their base held
//! in bf16, int8 or NF4 (double quantized): the linears (lm_head included; LoRA, IA3 or none) and
//! attention run on the bf16 tensor-core kernels (quant_tc.cu decodes int8/NF4 into bf16 tiles),
//! everything else in f32.
//! Tolerances (tests/common `MIXED`: loss 2e-3 relative, logits 2e-2 and each adapter gradient 5e-2
//! relative L2; `MIXED_QUANTIZED` for int8/NF4 bases, whose decoded weights are rounded too: 3e-3,
//! 3e-2, 6e-2) are sized by tests/bf16_mixed.rs on the CPU model of the same roundings
//! (backend::cpu::bf16_mixed), which stays within half of them (2026-11-26: loss 1.3e-4, logits
//! 9.2e-3, gradients 2.3e-2). A wrong argument, tile or cast gives errors of order 1. The mixed
//! path must also be the one taken: its loss differs from the f32 GPU run's. The distance to the
//! CPU model (same roundings, other summation order) is printed for the record.
//! Needs `--features cuda` and a GPU of compute capability 8.0+; skips without one.
#![cfg(feature = "cuda")]

mod common;

use common::{
    assert_mixed_close, bf16_real_head_dim_models, mixed_test_adapters, rel_l2, scored, MIXED,
    MIXED_QUANTIZED,
};
use sectune::backend::cpu::bf16_mixed::Bf16MixedEmulation;
use sectune::backend::cpu::CpuBackend;
use sectune::backend::cuda::{round_trip_bf16, scale_cols_f32};
use sectune::backend::Backend;
use sectune::model::Model;
use sectune::quant::{BaseDtype, QuantRequest};
use sectune::tensor::Tensor;

mod gpu_common;
use gpu_common::{backend as gpu, input, mixed_backend};

/// The conversion kernels are exact by definition: round to nearest even (half's from_f32, which
/// the CPU model uses) and back, bit for bit, specials included; IA3's x⊙l is one f32 product.
#[test]
fn bf16_conversions_and_column_scaling_are_exact() {
    let Some(be) = mixed_backend() else { return };
    let specials: Vec<f32> = [
        0x0000_0000u32,
        0x8000_0000,
        0x0000_0001,
        0x807f_ffff, // zeros, f32 subnormals
        0x3f80_8000,
        0x3f81_8000,
        0x3f80_8001,
        0x3f80_7fff, // ties to even (both ways), near ties
        0x7f7f_ffff,
        0xff7f_8000,
        0x7f80_0000,
        0xff80_0000,
        0x7fc0_0000,
        0x7f80_0001, // overflow, inf, NaN
    ]
    .iter()
    .map(|&b| f32::from_bits(b))
    .collect();
    for n in [1usize, 14, 4097, 1 << 20] {
        let mut x: Vec<f32> = input(n, 7).iter().map(|v| v * 300.0).collect();
        for (slot, s) in x.iter_mut().zip(&specials) {
            *slot = *s;
        }
        let t = be
            .upload(Tensor::from_vec(x.clone(), &[n]).unwrap())
            .unwrap();
        let got = be.download(&round_trip_bf16(&be, &t).unwrap()).unwrap();
        let got = got.host().unwrap();
        for (i, (&g, &v)) in got.iter().zip(&x).enumerate() {
            let want = half::bf16::from_f32(v).to_f32();
            let same = g.to_bits() == want.to_bits() || (g.is_nan() && want.is_nan());
            assert!(
                same,
                "n={n} [{i}] {v:e} ({:#010x}): got {g:e}, want {want:e}",
                v.to_bits()
            );
        }
    }
    for (rows, cols) in [(1, 1), (3, 17), (257, 4096), (5, 11008)] {
        let x = input(rows * cols, 8);
        let l: Vec<f32> = input(cols, 9).iter().map(|v| 1.0 + v).collect();
        let up = |v: &[f32], shape: &[usize]| {
            be.upload(Tensor::from_vec(v.to_vec(), shape).unwrap())
                .unwrap()
        };
        let out =
            scale_cols_f32(&be, &up(&x, &[rows, cols]), &up(&l, &[cols]), rows, cols).unwrap();
        let got = be.download(&out).unwrap();
        let want: Vec<f32> = x.iter().enumerate().map(|(i, v)| v * l[i % cols]).collect();
        assert_eq!(got.host().unwrap(), &want[..], "scale_cols {rows}x{cols}");
    }
    println!("round_f32_to_bf16 + widen_bf16_to_f32 and scale_cols_f32: bit-exact");
}

#[test]
fn bf16_mixed_precision_tracks_the_f32_reference() {
    let (Some(plain), Some(mixed)) = (gpu(), mixed_backend()) else {
        return;
    };
    assert!(mixed.name().contains("bf16 mixed"), "{}", mixed.name());
    let dir = tempfile::tempdir().unwrap();
    let bases = [
        (BaseDtype::Bf16, false, MIXED),
        (BaseDtype::Int8, false, MIXED_QUANTIZED),
        (BaseDtype::Nf4, true, MIXED_QUANTIZED),
    ];
    for (arch, model_dir) in bf16_real_head_dim_models(dir.path()) {
        for (dtype, dq, bounds) in bases {
            let req = QuantRequest::new(dtype, dq);
            let load = |be: &dyn Backend| Model::load_quantized(&model_dir, be, req).unwrap();
            let (cpu_model, mixed_model, plain_model) =
                (load(&CpuBackend), load(&mixed), load(&plain));
            assert!(
                mixed_model
                    .base_weights_summary()
                    .starts_with(dtype.as_str()),
                "{arch:?}: the checkpoint's linears should be held in {}: {}",
                dtype.as_str(),
                mixed_model.base_weights_summary()
            );
            for (method, adapter) in mixed_test_adapters(arch, &cpu_model) {
                let tag = format!("{arch:?} {} {method}", dtype.as_str());
                let want = scored(&cpu_model, &CpuBackend, &adapter);
                let got = scored(&mixed_model, &mixed, &adapter);
                assert_mixed_close(&tag, &got, &want, bounds);
                let f32_gpu = scored(&plain_model, &plain, &adapter);
                assert_ne!(
                    got.loss.to_bits(),
                    f32_gpu.loss.to_bits(),
                    "{tag}: --precision bf16 gave the f32 path's loss bit for bit: the mixed kernels did not run"
                );
                let model = scored(&cpu_model, &Bf16MixedEmulation, &adapter);
                let worst = got
                    .grads
                    .iter()
                    .zip(&model.grads)
                    .map(|((_, g), (_, m))| rel_l2(g, m))
                    .fold(0f64, f64::max);
                eprintln!(
                "{tag}: against the CPU model of the roundings: loss rel {:.2e}, logits {:.2e}, gradients {worst:.2e}",
                (got.loss - model.loss).abs() / model.loss.abs(),
                rel_l2(&got.logits, &model.logits)
            );
            }
        }
    }
}
