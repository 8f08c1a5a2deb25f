//! GPU parity of the quantized base weights (kernels/quant_dequant.cu through the CUDA backend)
//! against the CPU reference backend, which decodes the same packed weight to f32 (tests/quant.rs
//! ties that decoding to bitsandbytes bit for bit):
//! - upload keeps every byte (device → host round trip equals the host weight);
//! - decoding is exact: x = I gives y = Wᵀ and dY = I gives dX = W, compared bit for bit (under
//!   `--precision bf16`: bf16(W));
//! - quantized linear fwd/bwd with no adapter, LoRA (ranks 5/16/40, dropout 0/0.25/0.1), IA3 on the
//!   input and on the output, with and without bias, for bf16 (a bf16 checkpoint held in 16
//!   bits), int8, nf4 and nf4 + double quant, on odd
//!   shapes (K = 45, 100, 257: not multiples of the 64-value nf4 block, so blocks span rows) and at
//!   CodeLlama-7B's down_proj shape (4096 × 11008);
//! - tiny Llama and CodeGen models with a quantized base (LoRA with dropout, IA3): loss, every
//!   adapter gradient, three AdamW steps, and one KV-cache decoding step;
//! - the same linears under `--precision bf16` (quant_tc.cu's tensor-core kernels for int8 and
//!   NF4) against the CPU model of its roundings (tolerances at that test).
//!
//! Tolerances: the f32 kernels see exactly the CPU's decoded weights, so these are the f32 GEMM
//! tolerances of tests/cuda_parity.rs: |got − ref| ≤ 1e-4·|ref| + 1e-5·max(1, max|ref|); model
//! loss relative 1e-5; after 3 AdamW steps at lr 1e-2 each adapter value within 1e-4·|ref| +
//! 0.05·lr and the loss of the GPU-trained adapter (scored on the CPU) within 1e-5 relative, as
//! tests/cuda_model.rs argues.
//!
//! Needs `--features cuda` and a GPU; without one each test prints why it skipped, unless
//! SECTUNE_REQUIRE_GPU=1, where it fails.
#![cfg(feature = "cuda")]

mod common;

use common::{assert_close, fixtures};
use sectune::backend::cpu::bf16_mixed::Bf16MixedEmulation;
use sectune::backend::cpu::CpuBackend;
use sectune::backend::cuda::CudaBackend;
use sectune::backend::dropout::Dropout;
use sectune::backend::{AdamWConfig, AdapterGrad, AdapterOp, Backend};
use sectune::model::loss::loss_and_grads;
use sectune::model::{Ctx, KvCache, Model};
use sectune::peft::{io as peft_io, AdapterSet, PeftConfig};
use sectune::quant::{BaseDtype, BaseWeight, QuantRequest};
use sectune::tensor::Tensor;
use sectune::train::optim::AdamW;

mod gpu_common;
use gpu_common::input;
use gpu_common::{backend as gpu, mixed_backend};

const RTOL: f32 = 1e-4;
const ATOL_OF_MAX: f32 = 1e-5;

fn t(shape: &[usize], salt: usize) -> Tensor {
    Tensor::from_vec(input(shape.iter().product(), salt), shape).expect("tensor")
}

fn up(g: &CudaBackend, x: &Tensor) -> Tensor {
    g.upload(x.clone()).expect("upload")
}

/// |got − ref| ≤ rtol·|ref| + atol_of_max·max(1, max|ref|).
#[derive(Clone, Copy)]
struct Tol {
    rtol: f32,
    atol_of_max: f32,
}

/// The f32 kernels against the CPU reference (see the header).
const F32_TOL: Tol = Tol {
    rtol: RTOL,
    atol_of_max: ATOL_OF_MAX,
};

fn check_tol(g: &CudaBackend, what: &str, got: &Tensor, want: &Tensor, tol: Tol) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    let got = g.download(got).expect("download");
    let w = want.host().unwrap();
    let max = w.iter().fold(0f32, |m, x| m.max(x.abs()));
    assert_close(
        what,
        got.host().unwrap(),
        w,
        tol.atol_of_max * max.max(1.0),
        tol.rtol,
    );
}

const FORMATS: [(&str, BaseDtype, bool); 4] = [
    ("bf16", BaseDtype::Bf16, false),
    ("int8", BaseDtype::Int8, false),
    ("nf4", BaseDtype::Nf4, false),
    ("nf4+dq", BaseDtype::Nf4, true),
];

/// A quantized (n, k) weight from the hash inputs, and its copy on the GPU. For bf16 the inputs
/// are rounded to bf16 values first (what a bf16 checkpoint holds), or they would stay f32.
fn weights(g: &CudaBackend, n: usize, k: usize, r: QuantRequest) -> (BaseWeight, BaseWeight) {
    let mut w = t(&[n, k], 2);
    if r.dtype == BaseDtype::Bf16 {
        w.host_mut()
            .unwrap()
            .iter_mut()
            .for_each(|v| *v = half::bf16::from_f32(*v).to_f32());
    }
    let host = BaseWeight::quantize(w, r).expect("quantize");
    assert_ne!(host.kind(), "f32", "not stored compactly");
    let dev = g.upload_base(host.clone()).expect("upload_base");
    assert!(matches!(dev, BaseWeight::Cuda(_)), "not moved to the GPU");
    assert_eq!(dev.kind(), host.kind());
    assert_eq!(dev.storage_bytes(), host.storage_bytes());
    (host, dev)
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Plain,
    Lora { r: usize, p: f32 },
    Ia3In,
    Ia3Out,
}

fn adapter_op<'a>(kind: Kind, a: &'a Tensor, b: &'a Tensor, l: &'a Tensor) -> AdapterOp<'a> {
    match kind {
        Kind::Plain => AdapterOp::None,
        Kind::Lora { p, .. } => AdapterOp::Lora {
            a,
            b,
            scale: 2.0,
            dropout: (p > 0.0).then_some(Dropout { p, seed: 1234 }),
        },
        Kind::Ia3In => AdapterOp::Ia3Input { l },
        Kind::Ia3Out => AdapterOp::Ia3Output { l },
    }
}

/// What a case compares: the GPU backend's outputs against the reference backend's, with the
/// tolerance for the bf16-rounded outputs (y, z, dX) and for the f32 ones (xa, dA, dB, dl).
struct Compare<'a> {
    reference: &'a dyn Backend,
    rounded: Tol,
    f32_out: Tol,
    dl: Tol,
}

const AGAINST_CPU: Compare<'static> = Compare {
    reference: &CpuBackend,
    rounded: F32_TOL,
    f32_out: F32_TOL,
    dl: F32_TOL,
};

struct Case<'a> {
    g: &'a CudaBackend,
    w: &'a BaseWeight,
    gw: &'a BaseWeight,
    m: usize,
    tag: &'a str,
    cmp: &'a Compare<'a>,
}

impl Case<'_> {
    fn run(&self, kind: Kind, with_bias: bool) {
        let (g, cpu, cmp) = (self.g, self.cmp.reference, self.cmp);
        let (m, n, k) = (self.m, self.w.rows(), self.w.cols());
        let (x, bias, dy) = (t(&[m, k], 1), t(&[n], 3), t(&[m, n], 6));
        let (a, b) = match kind {
            Kind::Lora { r, .. } => (t(&[r, k], 4), t(&[n, r], 5)),
            _ => (Tensor::zeros(&[1]), Tensor::zeros(&[1])),
        };
        let l = match kind {
            Kind::Ia3In => t(&[k], 7),
            _ => t(&[n], 7),
        };
        let (gx, gbias, gdy, ga, gb, gl) = (
            up(g, &x),
            up(g, &bias),
            up(g, &dy),
            up(g, &a),
            up(g, &b),
            up(g, &l),
        );
        let op_cpu = adapter_op(kind, &a, &b, &l);
        let op_gpu = adapter_op(kind, &ga, &gb, &gl);
        let tag = format!("{} m{m} n{n} k{k} {kind:?} bias {with_bias}", self.tag);
        let (y_ref, saved_ref) = cpu
            .quant_linear_fwd(&x, self.w, with_bias.then_some(&bias), op_cpu)
            .unwrap();
        let (y, saved) = g
            .quant_linear_fwd(&gx, self.gw, with_bias.then_some(&gbias), op_gpu)
            .unwrap();
        check_tol(g, &format!("{tag} y"), &y, &y_ref, cmp.rounded);
        if let (Some(xa), Some(xa_ref)) = (&saved.xa, &saved_ref.xa) {
            check_tol(g, &format!("{tag} xa"), xa, xa_ref, cmp.f32_out);
        }
        if let (Some(z), Some(z_ref)) = (&saved.base_out, &saved_ref.base_out) {
            check_tol(g, &format!("{tag} z"), z, z_ref, cmp.rounded);
        }
        // Gradient buffers start non-zero: the backward must accumulate, not overwrite.
        match kind {
            Kind::Lora { r, .. } => {
                let (mut da_ref, mut db_ref) = (t(&[r, k], 8), t(&[n, r], 9));
                let (mut da, mut db) = (up(g, &da_ref), up(g, &db_ref));
                let grad_ref = AdapterGrad::Lora {
                    da: &mut da_ref,
                    db: &mut db_ref,
                };
                let dx_ref = cpu
                    .quant_linear_bwd(&dy, &x, self.w, op_cpu, &saved_ref, grad_ref)
                    .unwrap();
                let grad = AdapterGrad::Lora {
                    da: &mut da,
                    db: &mut db,
                };
                let dx = g
                    .quant_linear_bwd(&gdy, &gx, self.gw, op_gpu, &saved, grad)
                    .unwrap();
                check_tol(g, &format!("{tag} dx"), &dx, &dx_ref, cmp.rounded);
                check_tol(g, &format!("{tag} dA"), &da, &da_ref, cmp.f32_out);
                check_tol(g, &format!("{tag} dB"), &db, &db_ref, cmp.f32_out);
            }
            Kind::Ia3In | Kind::Ia3Out => {
                let mut dl_ref = t(l.shape(), 8);
                let mut dl = up(g, &dl_ref);
                let dx_ref = cpu
                    .quant_linear_bwd(
                        &dy,
                        &x,
                        self.w,
                        op_cpu,
                        &saved_ref,
                        AdapterGrad::Ia3 { dl: &mut dl_ref },
                    )
                    .unwrap();
                let dx = g
                    .quant_linear_bwd(
                        &gdy,
                        &gx,
                        self.gw,
                        op_gpu,
                        &saved,
                        AdapterGrad::Ia3 { dl: &mut dl },
                    )
                    .unwrap();
                check_tol(g, &format!("{tag} dx"), &dx, &dx_ref, cmp.rounded);
                check_tol(g, &format!("{tag} dl"), &dl, &dl_ref, cmp.dl);
            }
            Kind::Plain => {
                let dx_ref = cpu
                    .quant_linear_bwd(&dy, &x, self.w, op_cpu, &saved_ref, AdapterGrad::None)
                    .unwrap();
                let dx = g
                    .quant_linear_bwd(&gdy, &gx, self.gw, op_gpu, &saved, AdapterGrad::None)
                    .unwrap();
                check_tol(g, &format!("{tag} dx"), &dx, &dx_ref, cmp.rounded);
            }
        }
    }
}

#[test]
fn upload_keeps_every_byte() {
    let Some(g) = gpu() else { return };
    for (name, dtype, dq) in FORMATS {
        let (host, dev) = weights(&g, 70, 45, QuantRequest::new(dtype, dq));
        let BaseWeight::Cuda(d) = &dev else {
            panic!("{name}: not on the GPU")
        };
        assert_eq!(d.to_host().unwrap(), host, "{name}: round trip");
        // The on-device weight dequantizes (through the host) to the same values.
        assert_eq!(dev.dequantize().unwrap(), host.dequantize().unwrap());
    }
}

#[test]
fn decoding_in_the_tiles_is_bit_exact() {
    let Some(g) = gpu() else { return };
    decoding_is_exact(&g, "f32", |v| v);
}

/// The same under `--precision bf16` (quant_tc.cu, or quant_wgmma.cu with
/// SECTUNE_GEMM_CORE=wgmma): the tiles hold the decoded weight rounded to bf16, and a sum with one
/// nonzero product of bf16 values is that value, so y and dX are bf16(W) bit for bit. (144, 136)
/// spans two 128-wide tiles and three 64-deep k-tiles.
#[test]
fn mixed_precision_decoding_in_the_tiles_is_bit_exact() {
    let Some(g) = mixed_backend() else { return };
    decoding_is_exact(&g, "bf16 mixed", |v| half::bf16::from_f32(v).to_f32());
}

/// y = I·deq(W)ᵀ has y[m, n] = W[n, m]; dX = I·deq(W) has dX[m, k] = W[m, k]: one nonzero product
/// per sum, so the kernels must return the CPU's decoded values (after `round`) exactly. Shapes
/// with k not a multiple of 64 put nf4 blocks across rows and odd counts split bytes; the last
/// two have 256+ rows in both passes, where SECTUNE_QUANT_DECODE=scratch decodes the whole weight.
fn decoding_is_exact(g: &CudaBackend, tag: &str, round: impl Fn(f32) -> f32) {
    for (n, k) in [
        (70, 45),
        (3, 131),
        (129, 64),
        (144, 136),
        (300, 264),
        (257, 259),
    ] {
        for (name, dtype, dq) in FORMATS {
            let (host, dev) = weights(g, n, k, QuantRequest::new(dtype, dq));
            let want = host.dequantize().unwrap();
            let want: Vec<f32> = want.host().unwrap().iter().map(|&v| round(v)).collect();
            let eye = |s: usize| {
                let mut v = vec![0f32; s * s];
                (0..s).for_each(|i| v[i * s + i] = 1.0);
                Tensor::from_vec(v, &[s, s]).unwrap()
            };
            let (y, _) = g
                .quant_linear_fwd(&up(g, &eye(k)), &dev, None, AdapterOp::None)
                .unwrap();
            let y = g.download(&y).unwrap();
            let y = y.host().unwrap();
            for (i, &v) in y.iter().enumerate() {
                let (row, col) = (i / n, i % n);
                let w = want[col * k + row];
                assert_eq!(
                    v.to_bits(),
                    w.to_bits(),
                    "{tag} {name} ({n}, {k}) fwd W[{col}, {row}]"
                );
            }
            let saved = Default::default();
            let dx = g
                .quant_linear_bwd(
                    &up(g, &eye(n)),
                    &up(g, &Tensor::zeros(&[n, k])),
                    &dev,
                    AdapterOp::None,
                    &saved,
                    AdapterGrad::None,
                )
                .unwrap();
            let dx = g.download(&dx).unwrap();
            for (i, (&v, &w)) in dx.host().unwrap().iter().zip(&want).enumerate() {
                assert_eq!(
                    v.to_bits(),
                    w.to_bits(),
                    "{tag} {name} ({n}, {k}) dX W[{}, {}]",
                    i / k,
                    i % k
                );
            }
        }
    }
}

#[test]
fn quantized_linear_with_every_adapter_matches_cpu() {
    let Some(g) = gpu() else { return };
    for (m, n, k) in [(1, 1, 1), (37, 70, 45), (65, 129, 100), (130, 300, 257)] {
        for (name, dtype, dq) in FORMATS {
            let (w, gw) = weights(&g, n, k, QuantRequest::new(dtype, dq));
            let case = Case {
                g: &g,
                w: &w,
                gw: &gw,
                m,
                tag: name,
                cmp: &AGAINST_CPU,
            };
            for bias in [false, true] {
                case.run(Kind::Plain, bias);
                case.run(Kind::Ia3In, bias);
                case.run(Kind::Ia3Out, bias);
            }
            case.run(Kind::Lora { r: 5, p: 0.0 }, true);
            case.run(Kind::Lora { r: 16, p: 0.25 }, false);
            case.run(Kind::Lora { r: 40, p: 0.1 }, false);
        }
    }
}

#[test]
fn quantized_linear_at_a_7b_shape_matches_cpu() {
    let Some(g) = gpu() else { return };
    // CodeLlama-7B's down_proj (4096 × 11008), r 8 as in the study.
    for (name, dtype, dq) in FORMATS {
        let (w, gw) = weights(&g, 4096, 11008, QuantRequest::new(dtype, dq));
        let case = Case {
            g: &g,
            w: &w,
            gw: &gw,
            m: 67,
            tag: name,
            cmp: &AGAINST_CPU,
        };
        case.run(Kind::Lora { r: 8, p: 0.05 }, false);
        case.run(Kind::Ia3In, false);
    }
}

/// The bounds of the mixed-precision comparisons (see the next test).
fn mixed_compare(model: &Bf16MixedEmulation) -> Compare<'_> {
    Compare {
        reference: model,
        rounded: Tol {
            rtol: 1.0 / 128.0,
            atol_of_max: ATOL_OF_MAX,
        },
        f32_out: F32_TOL,
        dl: Tol {
            rtol: 1e-3,
            atol_of_max: 1e-3,
        },
    }
}

/// `--precision bf16` over each base format (quant_tc.cu for int8 and NF4, lora_matmul.cu's `_f32y`
/// entries for bf16) against its CPU model, which applies the same roundings (decoded weight, x, dY
/// and outputs to bf16): the f32 sums differ only in order, so a rounded output may land one bf16
/// ulp away (2^-8 relative; bound 2^-7) and an IA3 dl, a sum over such outputs, ~2^-8 of a term
/// (bound 1e-3 of the largest); the LoRA rank work is f32 on both sides. Shapes with K % 8 != 0
/// take the kernels' element-by-element decode, K % 8 == 0 the 8-weight chunks; m ≥ 256 is where
/// SECTUNE_QUANT_DECODE=scratch decodes the whole weight first.
#[test]
fn mixed_precision_quantized_linear_matches_its_cpu_model() {
    let Some(g) = mixed_backend() else { return };
    let shapes = [
        (1, 1, 1),
        (37, 70, 45),
        (65, 129, 100),
        (37, 70, 64),
        (130, 136, 200),
        (300, 70, 45),
        (260, 136, 200),
    ];
    for shape in shapes {
        mixed_cases(&g, shape, |case| {
            for bias in [false, true] {
                case.run(Kind::Plain, bias);
                case.run(Kind::Ia3In, bias);
                case.run(Kind::Ia3Out, bias);
            }
            case.run(Kind::Lora { r: 5, p: 0.0 }, true);
            case.run(Kind::Lora { r: 40, p: 0.1 }, false);
        });
    }
}

/// The mixed-precision comparison above at CodeLlama-7B's down_proj, r 8: every chunk decoded on
/// the fast path, K = 11008.
#[test]
fn mixed_precision_quantized_linear_at_a_7b_shape_matches_its_cpu_model() {
    let Some(g) = mixed_backend() else { return };
    mixed_cases(&g, (67, 4096, 11008), |case| {
        case.run(Kind::Lora { r: 8, p: 0.05 }, false)
    });
}

/// Runs `cases` for an (n, k) weight in every base format and m input rows, on the mixed-precision
/// backend `g` against the CPU model of its roundings.
fn mixed_cases(g: &CudaBackend, (m, n, k): (usize, usize, usize), cases: impl Fn(&Case)) {
    let model = Bf16MixedEmulation;
    let cmp = mixed_compare(&model);
    for (name, dtype, dq) in FORMATS {
        let (w, gw) = weights(g, n, k, QuantRequest::new(dtype, dq));
        let tag = format!("bf16 mixed {name}");
        cases(&Case {
            g,
            w: &w,
            gw: &gw,
            m,
            tag: &tag,
            cmp: &cmp,
        });
    }
}

#[test]
fn host_weights_are_refused_with_the_fix() {
    let Some(g) = gpu() else { return };
    let host =
        BaseWeight::quantize(t(&[8, 64], 2), QuantRequest::new(BaseDtype::Nf4, false)).unwrap();
    let x = up(&g, &t(&[2, 64], 1));
    let e = g
        .quant_linear_fwd(&x, &host, None, AdapterOp::None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("upload_base"), "{e}");
}

fn ctx<'a>(be: &'a dyn Backend, a: &'a AdapterSet, seed: u64) -> Ctx<'a> {
    Ctx {
        be,
        adapters: Some(a),
        dropout_seed: Some(seed),
    }
}

fn close_rel(g: &CudaBackend, what: &str, got: &Tensor, want: &Tensor, atol: f32) {
    let got = g.download(got).unwrap();
    assert_close(what, got.host().unwrap(), want.host().unwrap(), atol, RTOL);
}

fn max_abs(t: &Tensor) -> f32 {
    t.host().unwrap().iter().fold(0f32, |m, x| m.max(x.abs()))
}

/// One tiny model on both backends with the base quantized as `r` asks; for bf16 the fixture
/// (f32) is first saved as a bf16 checkpoint, which the default then holds in 16 bits.
fn model_case(g: &CudaBackend, case: &str, r: QuantRequest) {
    let mut base = fixtures().join(format!("{}-base", case.split('-').next().unwrap()));
    let bf16_copy = tempfile::tempdir().unwrap();
    if r.dtype == BaseDtype::Bf16 {
        let m = Model::load(&base, &CpuBackend).unwrap();
        base = bf16_copy.path().join("base");
        m.save(&base, sectune::model::safetensors_io::SaveDtype::BF16)
            .unwrap();
    }
    let cpu_model = Model::load_quantized(&base, &CpuBackend, r).unwrap();
    let gpu_model = Model::load_quantized(&base, g, r).unwrap();
    let tag = format!("{case} {}", cpu_model.base_weights_summary());
    assert!(
        !cpu_model.base_weights_summary().starts_with("f32"),
        "{tag}: the block linears were not stored compactly"
    );
    assert_eq!(
        gpu_model.base_weights_summary(),
        cpu_model.base_weights_summary()
    );
    assert_eq!(gpu_model.weight_bytes(), cpu_model.weight_bytes());
    for (lc, lg) in cpu_model.linears().iter().zip(gpu_model.linears()) {
        if let BaseWeight::Cuda(d) = &lg.weight {
            assert_eq!(
                d.to_host().unwrap(),
                lc.weight,
                "{tag}: {} on the GPU",
                lc.name
            );
        }
    }
    let mut adapter = peft_io::load(
        &fixtures().join(case).join("adapter"),
        &cpu_model.linear_infos(),
    )
    .unwrap();
    if let PeftConfig::Lora(c) = &mut adapter.config {
        c.lora_dropout = 0.1;
    }
    let uploaded = |set: &AdapterSet| set.to_backend(g).unwrap();
    let gpu_adapter = uploaded(&adapter);
    let (batch, seq) = (2usize, 23usize);
    let ids: Vec<u32> = (0..(batch * seq) as u32)
        .map(|i| (i * 53 + 7) % 250)
        .collect();
    let mut labels: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
    labels[5] = -100;

    let mut grads_c = adapter.zeros_like();
    let mut grads_g = uploaded(&adapter.zeros_like());
    let cc = ctx(&CpuBackend, &adapter, 99);
    let cg = ctx(g, &gpu_adapter, 99);
    let lc = loss_and_grads(&cpu_model, &cc, &ids, &labels, batch, seq, &mut grads_c).unwrap();
    let lg = loss_and_grads(&gpu_model, &cg, &ids, &labels, batch, seq, &mut grads_g).unwrap();
    let rel = (lg.loss - lc.loss).abs() / lc.loss.abs();
    eprintln!(
        "{tag}: loss cpu {} gpu {} (rel {rel:.2e})",
        lc.loss, lg.loss
    );
    assert!(rel <= 1e-5, "{tag}: loss differs by {rel:e}");
    for ((k, gc), (_, gg)) in grads_c
        .named_tensors()
        .into_iter()
        .zip(grads_g.named_tensors())
    {
        let atol = (ATOL_OF_MAX * max_abs(gc)).max(1e-9);
        close_rel(g, &format!("{tag} grad {k}"), gg, gc, atol);
    }

    // Three AdamW steps, fresh gradients each step.
    let cfg = AdamWConfig {
        lr: 1e-2,
        ..AdamWConfig::default()
    };
    let (mut ac, mut ag) = (adapter.clone(), gpu_adapter.clone());
    let (mut oc, mut og) = (AdamW::new(&ac), AdamW::new(&ac));
    og.m = og.m.to_backend(g).unwrap();
    og.v = og.v.to_backend(g).unwrap();
    for step in 1..=3u64 {
        let mut gc = ac.zeros_like();
        let mut gg = uploaded(&ac.zeros_like());
        let cc = ctx(&CpuBackend, &ac, step);
        loss_and_grads(&cpu_model, &cc, &ids, &labels, batch, seq, &mut gc).unwrap();
        let cg = ctx(g, &ag, step);
        loss_and_grads(&gpu_model, &cg, &ids, &labels, batch, seq, &mut gg).unwrap();
        oc.step(&CpuBackend, &mut ac, &gc, &cfg, cfg.lr, step)
            .unwrap();
        og.step(g, &mut ag, &gg, &cfg, cfg.lr, step).unwrap();
    }
    for ((k, pc), (_, pg)) in ac.named_tensors().into_iter().zip(ag.named_tensors()) {
        close_rel(g, &format!("{tag} adamw×3 {k}"), pg, pc, 0.05 * cfg.lr);
    }
    let trained_on_gpu = ag.to_host(g).unwrap();
    let score = |a: &AdapterSet| {
        let ctx = Ctx::eval(&CpuBackend, Some(a));
        sectune::model::loss::loss(&cpu_model, &ctx, &ids, &labels, batch, seq)
            .unwrap()
            .loss
    };
    let (lc3, lg3) = (score(&ac), score(&trained_on_gpu));
    eprintln!("{tag}: loss after 3 AdamW steps cpu {lc3} gpu-trained {lg3}");
    assert!(
        (lg3 - lc3).abs() <= 1e-5 * lc3.abs(),
        "{tag}: loss after 3 steps {lg3} vs {lc3}"
    );

    // One KV-cache decoding step on the GPU equals the CPU's (generation's path).
    let (prompt, v) = (seq - 1, cpu_model.config().vocab_size);
    let rows = |from: usize, to: usize| -> Vec<u32> {
        (0..batch)
            .flat_map(|b| ids[b * seq + from..b * seq + to].to_vec())
            .collect()
    };
    let decode = |model: &Model, be: &dyn Backend, a: &AdapterSet| {
        let ctx = Ctx::eval(be, Some(a));
        let mut cache = KvCache::new(model.config().n_layers);
        model
            .forward_cached(&ctx, &rows(0, prompt), batch, prompt, &mut cache)
            .unwrap();
        model
            .forward_cached(&ctx, &rows(prompt, seq), batch, 1, &mut cache)
            .unwrap()
    };
    let want = decode(&cpu_model, &CpuBackend, &adapter);
    let got = decode(&gpu_model, g, &gpu_adapter);
    assert_eq!(want.numel(), batch * v);
    let atol = (ATOL_OF_MAX * max_abs(&want)).max(1e-7);
    close_rel(g, &format!("{tag} kv-cache step"), &got, &want, atol);
}

#[test]
fn quantized_base_models_match_cpu_on_gpu() {
    let Some(g) = gpu() else { return };
    for case in ["llama-lora", "llama-ia3", "codegen-lora", "codegen-ia3"] {
        for (_, dtype, dq) in FORMATS {
            model_case(&g, case, QuantRequest::new(dtype, dq));
        }
    }
}
