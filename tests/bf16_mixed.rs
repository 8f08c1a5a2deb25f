//! The CPU model of `--precision bf16` (backend::cpu::bf16_mixed: the f32 reference ops with the
//! CUDA mixed path's bf16 roundings) against the f32 reference, on bf16 checkpoints at head dims
//! 64 (GQA) and 128 with LoRA (dropout 0.1) and IA3, also over int8 and NF4 bases. It sizes the
//! bounds that tests/cuda_mixed.rs holds the GPU's mixed path to (tests/common `MIXED`: loss 2e-3
//! relative, logits 2e-2 and each adapter gradient 5e-2 relative L2; `MIXED_QUANTIZED`: 3e-3,
//! 3e-2, 6e-2) and checks they keep a margin over the rounding error alone (2× for logits and
//! gradients, 10× for the loss), room for the GPU's other fp32 summation orders.

mod common;

use common::{
    assert_mixed_close, bf16_real_head_dim_models, mixed_test_adapters, scored, MIXED,
    MIXED_QUANTIZED,
};
use sectune::backend::cpu::bf16_mixed::Bf16MixedEmulation;
use sectune::backend::cpu::CpuBackend;
use sectune::backend::{AdapterOp, Backend};
use sectune::model::Model;
use sectune::quant::{BaseDtype, QuantRequest};
use sectune::tensor::Tensor;

#[test]
fn the_bf16_rounding_model_stays_within_the_mixed_bounds_with_margin() {
    let dir = tempfile::tempdir().unwrap();
    for (arch, model_dir) in bf16_real_head_dim_models(dir.path()) {
        let model = Model::load(&model_dir, &CpuBackend).unwrap();
        for (method, adapter) in mixed_test_adapters(arch, &model) {
            let tag = format!("{arch:?} {method}");
            let want = scored(&model, &CpuBackend, &adapter);
            let got = scored(&model, &Bf16MixedEmulation, &adapter);
            let errors = assert_mixed_close(&tag, &got, &want, MIXED);
            assert!(
                errors.1 > 1e-4 && got.loss != want.loss,
                "{tag}: the bf16 model matches f32 (logits {:e}): it rounds nothing",
                errors.1
            );
            assert!(
                MIXED.have_room_over(errors),
                "{tag}: the bounds leave too little room over bf16 rounding alone"
            );
        }
    }
}

/// The same with the base quantized (int8, NF4 with double quantization): the mixed path decodes
/// each weight exactly, then rounds it to bf16 (quant_tc.cu); the f32 reference uses the decoded
/// weight as it is.
#[test]
fn the_rounding_model_over_quantized_bases_stays_within_the_mixed_bounds() {
    let dir = tempfile::tempdir().unwrap();
    for (arch, model_dir) in bf16_real_head_dim_models(dir.path()) {
        for (dtype, dq) in [(BaseDtype::Int8, false), (BaseDtype::Nf4, true)] {
            let req = QuantRequest::new(dtype, dq);
            let model = Model::load_quantized(&model_dir, &CpuBackend, req).unwrap();
            assert!(
                model.base_weights_summary().starts_with(dtype.as_str()),
                "{}",
                model.base_weights_summary()
            );
            for (method, adapter) in mixed_test_adapters(arch, &model) {
                let tag = format!("{arch:?} {} {method}", dtype.as_str());
                let want = scored(&model, &CpuBackend, &adapter);
                let got = scored(&model, &Bf16MixedEmulation, &adapter);
                let errors = assert_mixed_close(&tag, &got, &want, MIXED_QUANTIZED);
                assert!(errors.1 > 1e-4, "{tag}: the bf16 model rounds nothing");
                assert!(
                    MIXED_QUANTIZED.have_room_over(errors),
                    "{tag}: the bounds leave too little room over bf16 rounding alone"
                );
            }
        }
    }
}

/// Every output of a mixed linear is a bf16 value, within half a bf16 ulp of the sum of the
/// rounded-input product and the f32 LoRA term.
#[test]
fn a_mixed_linear_rounds_inputs_and_output_to_bf16() {
    let (m, n, k, r) = (5usize, 7usize, 33usize, 3usize);
    let val = |i: usize, salt: usize| ((i * 37 + salt * 11) % 29) as f32 / 7.3 - 1.9;
    let x = Tensor::from_vec((0..m * k).map(|i| val(i, 1)).collect(), &[m, k]).unwrap();
    let w = Tensor::from_vec((0..n * k).map(|i| val(i, 2)).collect(), &[n, k]).unwrap();
    let a = Tensor::from_vec((0..r * k).map(|i| 0.1 * val(i, 3)).collect(), &[r, k]).unwrap();
    let b = Tensor::from_vec((0..n * r).map(|i| 0.1 * val(i, 4)).collect(), &[n, r]).unwrap();
    let lora = AdapterOp::Lora {
        a: &a,
        b: &b,
        scale: 2.0,
        dropout: None,
    };
    let (y, saved) = Bf16MixedEmulation.linear_fwd(&x, &w, None, lora).unwrap();
    assert!(saved.xa.is_some(), "LoRA keeps xa for the backward");
    let bf16 = |t: &Tensor| {
        let v: Vec<f32> = t
            .host()
            .unwrap()
            .iter()
            .map(|&v| half::bf16::from_f32(v).to_f32())
            .collect();
        Tensor::from_vec(v, t.shape()).unwrap()
    };
    let (base, _) = CpuBackend
        .linear_fwd(&bf16(&x), &bf16(&w), None, AdapterOp::None)
        .unwrap();
    let (full, _) = CpuBackend
        .linear_fwd(&x, &Tensor::zeros(&[n, k]), None, lora)
        .unwrap();
    for (i, got) in y.host().unwrap().iter().enumerate() {
        assert_eq!(
            got.to_bits() & 0xffff,
            0,
            "y[{i}] = {got} is not a bf16 value"
        );
        let exact = base.host().unwrap()[i] + full.host().unwrap()[i];
        assert!(
            (got - exact).abs() <= exact.abs() / 256.0 + 1e-6,
            "y[{i}] = {got}, unrounded {exact}"
        );
    }
}
