//! GPU parity: the f32 kernels against the CPU reference backend, on odd shapes (nothing a
//! multiple of a tile). Needs `--features cuda` and a GPU; without one each test prints why it
//! skipped, unless SECTUNE_REQUIRE_GPU=1, where it fails. Inputs come from a formula, not an RNG.
//! Tolerances: f32 vs f32 with different summation orders over ≤ 100 terms of magnitude ≤ 1:
//! atol 1e-5 + rtol 1e-4 (a few hundred ulps), tighter than any bf16 effect.
#![cfg(feature = "cuda")]

use std::sync::Arc;

use cudarc::driver::{CudaSlice, CudaStream, LaunchConfig, PushKernelArg};
use sectune::backend::cpu::CpuBackend;
use sectune::backend::cuda::device::CudaDevice;
use sectune::backend::cuda::kernels::KernelModule;
use sectune::backend::cuda::plan::{attention_tiles, gemm_grid};
use sectune::backend::dropout::Dropout;
use sectune::backend::{AdamSlot, AdamWConfig, AdapterGrad, AdapterOp, Backend, IGNORE_INDEX};
use sectune::tensor::Tensor;

const ATOL: f32 = 1e-5;
const RTOL: f32 = 1e-4;

fn device() -> Option<CudaDevice> {
    match CudaDevice::new(0) {
        Ok(d) => Some(d),
        Err(e) => {
            assert!(
                std::env::var("SECTUNE_REQUIRE_GPU").map_or(true, |v| v != "1"),
                "SECTUNE_REQUIRE_GPU=1 but {e}"
            );
            eprintln!("skipped: {e}");
            None
        }
    }
}

fn input(n: usize, salt: usize) -> Vec<f32> {
    (0..n)
        .map(|i| (((i * 7 + salt * 13) % 23) as f32 - 11.0) / 16.0)
        .collect()
}

fn up(s: &Arc<CudaStream>, v: &[f32]) -> CudaSlice<f32> {
    s.clone_htod(v).expect("upload")
}

fn down(s: &Arc<CudaStream>, d: &CudaSlice<f32>) -> Vec<f32> {
    let v = s.clone_dtoh(d).expect("download");
    s.synchronize().expect("sync");
    v
}

fn tensor(v: Vec<f32>, shape: &[usize]) -> Tensor {
    Tensor::from_vec(v, shape).expect("tensor")
}

/// Fails when |got − want| > ATOL + RTOL·|want| anywhere; prints the worst case either way.
fn assert_close(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let (mut worst, mut worst_i, mut max_abs) = (0.0f32, 0usize, 0.0f32);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let err = (g - w).abs();
        // NaN anywhere counts as the worst possible error.
        let ratio = match err / (ATOL + RTOL * w.abs()) {
            r if r.is_nan() => f32::INFINITY,
            r => r,
        };
        max_abs = max_abs.max(err);
        if ratio > worst {
            worst = ratio;
            worst_i = i;
        }
    }
    eprintln!(
        "{what}: max abs {max_abs:.3e}, worst index {worst_i}, {:.1}% of allowed",
        100.0 * worst
    );
    assert!(
        worst <= 1.0,
        "{what}: index {worst_i}: got {} want {}",
        got[worst_i],
        want[worst_i]
    );
}

fn cfg(grid: (u32, u32, u32), block: (u32, u32, u32)) -> LaunchConfig {
    LaunchConfig {
        grid_dim: grid,
        block_dim: block,
        shared_mem_bytes: 0,
    }
}

fn lora_case(dev: &CudaDevice, m: usize, n: usize, k: usize, r: usize, p: f32) {
    let s = dev.stream();
    let (x, w, bias) = (input(m * k, 1), input(n * k, 2), input(n, 3));
    let (a, b, dy) = (input(r * k, 4), input(n * r, 5), input(m * n, 6));
    let (scale, seed) = (2.0f32, 1234u64);
    let dropout = (p > 0.0).then_some(Dropout { p, seed });
    let (xt, wt, bt) = (
        tensor(x.clone(), &[m, k]),
        tensor(w.clone(), &[n, k]),
        tensor(bias.clone(), &[n]),
    );
    let (at, btl) = (tensor(a.clone(), &[r, k]), tensor(b.clone(), &[n, r]));
    let op = AdapterOp::Lora {
        a: &at,
        b: &btl,
        scale,
        dropout,
    };
    let cpu = CpuBackend;
    let (y_ref, saved) = cpu.linear_fwd(&xt, &wt, Some(&bt), op).expect("cpu fwd");
    let (mut da_ref, mut db_ref) = (Tensor::zeros(&[r, k]), Tensor::zeros(&[n, r]));
    let dyt = tensor(dy.clone(), &[m, n]);
    let dx_ref = cpu
        .linear_bwd(
            &dyt,
            &xt,
            &wt,
            op,
            &saved,
            AdapterGrad::Lora {
                da: &mut da_ref,
                db: &mut db_ref,
            },
        )
        .expect("cpu bwd");

    let rmax = if r <= 16 { 16 } else { 64 };
    let fwd = dev
        .function(
            KernelModule::LoraMatmul,
            &format!("lora_linear_fwd_r{rmax}_f32"),
        )
        .expect("fwd");
    let dxk = dev
        .function(
            KernelModule::LoraMatmul,
            &format!("lora_linear_bwd_dx_r{rmax}_f32"),
        )
        .expect("dx");
    let dybk = dev
        .function(KernelModule::LoraMatmul, "lora_linear_bwd_dyb_f32")
        .expect("dyb");
    let dak = dev
        .function(KernelModule::LoraMatmul, "lora_linear_bwd_dA_f32")
        .expect("dA");
    let dbk = dev
        .function(KernelModule::LoraMatmul, "lora_linear_bwd_dB_f32")
        .expect("dB");
    let (xd, wd, bd, ad, bld, dyd) = (
        up(s, &x),
        up(s, &w),
        up(s, &bias),
        up(s, &a),
        up(s, &b),
        up(s, &dy),
    );
    let mut y = s.alloc_zeros::<f32>(m * n).unwrap();
    let mut xa = s.alloc_zeros::<f32>(m * r).unwrap();
    let mut dyb = s.alloc_zeros::<f32>(m * r).unwrap();
    let mut dx = s.alloc_zeros::<f32>(m * k).unwrap();
    let mut da = s.alloc_zeros::<f32>(r * k).unwrap();
    let mut db = s.alloc_zeros::<f32>(n * r).unwrap();
    let (mi, ni, ki, ri) = (m as i32, n as i32, k as i32, r as i32);
    let g = |cols: usize| gemm_grid(m, cols);
    let rank_blocks = r.div_ceil(8) as u32;
    // SAFETY: each argument list matches the kernel's signature in kernels/lora_matmul.cu, and
    // every buffer has the size the header gives for (M, N, K, r).
    unsafe {
        s.launch_builder(&fwd)
            .arg(&xd)
            .arg(&wd)
            .arg(&bd)
            .arg(&ad)
            .arg(&bld)
            .arg(&scale)
            .arg(&p)
            .arg(&seed)
            .arg(&mut y)
            .arg(&mut xa)
            .arg(&mi)
            .arg(&ni)
            .arg(&ki)
            .arg(&ri)
            .launch(cfg(g(n), (128, 1, 1)))
            .unwrap();
        s.launch_builder(&dybk)
            .arg(&dyd)
            .arg(&bld)
            .arg(&mut dyb)
            .arg(&mi)
            .arg(&ni)
            .arg(&ri)
            .launch(cfg((m as u32, rank_blocks, 1), (128, 1, 1)))
            .unwrap();
        s.launch_builder(&dxk)
            .arg(&dyd)
            .arg(&wd)
            .arg(&dyb)
            .arg(&ad)
            .arg(&scale)
            .arg(&p)
            .arg(&seed)
            .arg(&mut dx)
            .arg(&mi)
            .arg(&ni)
            .arg(&ki)
            .arg(&ri)
            .launch(cfg(g(k), (128, 1, 1)))
            .unwrap();
        s.launch_builder(&dak)
            .arg(&xd)
            .arg(&dyb)
            .arg(&mut da)
            .arg(&scale)
            .arg(&p)
            .arg(&seed)
            .arg(&mi)
            .arg(&ki)
            .arg(&ri)
            .launch(cfg((k.div_ceil(128) as u32, rank_blocks, 3), (128, 1, 1)))
            .unwrap();
        s.launch_builder(&dbk)
            .arg(&dyd)
            .arg(&xa)
            .arg(&mut db)
            .arg(&scale)
            .arg(&mi)
            .arg(&ni)
            .arg(&ri)
            .launch(cfg((n.div_ceil(128) as u32, rank_blocks, 3), (128, 1, 1)))
            .unwrap();
    }
    let tag = format!("lora m{m} n{n} k{k} r{r} p{p}");
    assert_close(&format!("{tag} y"), &down(s, &y), y_ref.host().unwrap());
    let xa_ref = saved.xa.as_ref().expect("cpu saves xa");
    assert_close(&format!("{tag} xa"), &down(s, &xa), xa_ref.host().unwrap());
    assert_close(&format!("{tag} dx"), &down(s, &dx), dx_ref.host().unwrap());
    assert_close(&format!("{tag} dA"), &down(s, &da), da_ref.host().unwrap());
    assert_close(&format!("{tag} dB"), &down(s, &db), db_ref.host().unwrap());
}

#[test]
fn lora_linear_f32_matches_cpu() {
    let Some(dev) = device() else { return };
    lora_case(&dev, 37, 70, 45, 5, 0.0);
    lora_case(&dev, 37, 70, 45, 5, 0.25);
    lora_case(&dev, 65, 129, 100, 40, 0.1);
}

#[test]
fn rmsnorm_f32_matches_cpu() {
    let Some(dev) = device() else { return };
    let s = dev.stream();
    let (m, c, eps) = (7usize, 333usize, 1e-5f32);
    let (x, w, dy) = (input(m * c, 1), input(c, 2), input(m * c, 3));
    let cpu = CpuBackend;
    let (xt, wt) = (tensor(x.clone(), &[m, c]), tensor(w.clone(), &[c]));
    let (y_ref, saved) = cpu.rmsnorm_fwd(&xt, &wt, eps).unwrap();
    let dx_ref = cpu
        .rmsnorm_bwd(&tensor(dy.clone(), &[m, c]), &xt, &wt, &saved, None)
        .unwrap();
    let fwd = dev.function(KernelModule::Norm, "rmsnorm_fwd_f32").unwrap();
    let bwd = dev.function(KernelModule::Norm, "rmsnorm_bwd_f32").unwrap();
    let (xd, wd, dyd) = (up(s, &x), up(s, &w), up(s, &dy));
    let (mut y, mut rstd, mut dx) = (
        s.alloc_zeros::<f32>(m * c).unwrap(),
        s.alloc_zeros::<f32>(m).unwrap(),
        s.alloc_zeros::<f32>(m * c).unwrap(),
    );
    let (mi, ci) = (m as i32, c as i32);
    // SAFETY: signatures of rmsnorm_fwd_f32 / rmsnorm_bwd_f32 in kernels/norm.cu.
    unsafe {
        s.launch_builder(&fwd)
            .arg(&xd)
            .arg(&wd)
            .arg(&mut y)
            .arg(&mut rstd)
            .arg(&mi)
            .arg(&ci)
            .arg(&eps)
            .launch(cfg((m as u32, 1, 1), (256, 1, 1)))
            .unwrap();
        s.launch_builder(&bwd)
            .arg(&dyd)
            .arg(&xd)
            .arg(&wd)
            .arg(&rstd)
            .arg(&mut dx)
            .arg(&mi)
            .arg(&ci)
            .launch(cfg((m as u32, 1, 1), (256, 1, 1)))
            .unwrap();
    }
    assert_close("rmsnorm y", &down(s, &y), y_ref.host().unwrap());
    assert_close("rmsnorm rstd", &down(s, &rstd), saved.rstd.host().unwrap());
    assert_close("rmsnorm dx", &down(s, &dx), dx_ref.host().unwrap());
}

#[test]
fn attention_f32_gqa_matches_cpu() {
    let Some(dev) = device() else { return };
    let s = dev.stream();
    let (b, t, h, hkv, d) = (2usize, 37usize, 4usize, 2usize, 64usize);
    let scale = 1.0 / (d as f32).sqrt();
    let (q, k, v, dout) = (
        input(b * t * h * d, 1),
        input(b * t * hkv * d, 2),
        input(b * t * hkv * d, 3),
        input(b * t * h * d, 4),
    );
    let cpu = CpuBackend;
    let (qt, kt, vt) = (
        tensor(q.clone(), &[b, t, h, d]),
        tensor(k.clone(), &[b, t, hkv, d]),
        tensor(v.clone(), &[b, t, hkv, d]),
    );
    let (out_ref, lse_ref) = cpu.attention_fwd(&qt, &kt, &vt, scale).unwrap();
    let (dq_ref, dk_ref, dv_ref) = cpu
        .attention_bwd(
            &tensor(dout.clone(), &[b, t, h, d]),
            &qt,
            &kt,
            &vt,
            &out_ref,
            &lse_ref,
            scale,
        )
        .unwrap();
    let fwd = dev
        .function(KernelModule::Attention, "attention_fwd_d64_f32")
        .unwrap();
    let delta_k = dev
        .function(KernelModule::Attention, "attention_bwd_delta_f32")
        .unwrap();
    let dqk = dev
        .function(KernelModule::Attention, "attention_bwd_dq_d64_f32")
        .unwrap();
    let dkvk = dev
        .function(KernelModule::Attention, "attention_bwd_dkv_d64_f32")
        .unwrap();
    let (qd, kd, vd, dod) = (up(s, &q), up(s, &k), up(s, &v), up(s, &dout));
    let mut out = s.alloc_zeros::<f32>(q.len()).unwrap();
    let mut lse = s.alloc_zeros::<f32>(b * h * t).unwrap();
    let mut delta = s.alloc_zeros::<f32>(b * h * t).unwrap();
    let (mut dq, mut dk, mut dv) = (
        s.alloc_zeros::<f32>(q.len()).unwrap(),
        s.alloc_zeros::<f32>(k.len()).unwrap(),
        s.alloc_zeros::<f32>(v.len()).unwrap(),
    );
    let (bi, ti, hi, hkvi, di) = (b as i32, t as i32, h as i32, hkv as i32, d as i32);
    let tiles = attention_tiles(4, d);
    let rows = |n: usize, per: usize, y: usize| {
        cfg((n.div_ceil(per) as u32, y as u32, b as u32), (128, 1, 1))
    };
    // SAFETY: signatures in kernels/attention.cu; S = T (no KV cache).
    unsafe {
        s.launch_builder(&fwd)
            .arg(&qd)
            .arg(&kd)
            .arg(&vd)
            .arg(&mut out)
            .arg(&mut lse)
            .arg(&ti)
            .arg(&ti)
            .arg(&hi)
            .arg(&hkvi)
            .arg(&scale)
            .launch(rows(t, tiles.fwd_q, h))
            .unwrap();
        s.launch_builder(&delta_k)
            .arg(&out)
            .arg(&dod)
            .arg(&mut delta)
            .arg(&bi)
            .arg(&ti)
            .arg(&hi)
            .arg(&di)
            .launch(cfg(((b * t * h).div_ceil(4) as u32, 1, 1), (128, 1, 1)))
            .unwrap();
        s.launch_builder(&dqk)
            .arg(&qd)
            .arg(&kd)
            .arg(&vd)
            .arg(&dod)
            .arg(&lse)
            .arg(&delta)
            .arg(&mut dq)
            .arg(&ti)
            .arg(&ti)
            .arg(&hi)
            .arg(&hkvi)
            .arg(&scale)
            .launch(rows(t, tiles.dq_q, h))
            .unwrap();
        s.launch_builder(&dkvk)
            .arg(&qd)
            .arg(&kd)
            .arg(&vd)
            .arg(&dod)
            .arg(&lse)
            .arg(&delta)
            .arg(&mut dk)
            .arg(&mut dv)
            .arg(&ti)
            .arg(&ti)
            .arg(&hi)
            .arg(&hkvi)
            .arg(&scale)
            .launch(rows(t, tiles.dkv_k, hkv))
            .unwrap();
    }
    assert_close("attention out", &down(s, &out), out_ref.host().unwrap());
    assert_close("attention lse", &down(s, &lse), lse_ref.host().unwrap());
    assert_close("attention dq", &down(s, &dq), dq_ref.host().unwrap());
    assert_close("attention dk", &down(s, &dk), dk_ref.host().unwrap());
    assert_close("attention dv", &down(s, &dv), dv_ref.host().unwrap());
}

#[test]
fn cross_entropy_f32_matches_cpu() {
    let Some(dev) = device() else { return };
    let s = dev.stream();
    let (m, v) = (5usize, 1003usize);
    let logits: Vec<f32> = input(m * v, 1).iter().map(|x| x * 8.0).collect();
    let labels = vec![3, IGNORE_INDEX, 1002, 0, 517];
    let cpu = CpuBackend;
    let lt = tensor(logits.clone(), &[m, v]);
    let fwd = cpu.cross_entropy_fwd(&lt, &labels).unwrap();
    let grad_scale = 1.0 / fwd.n_valid as f32;
    let d_ref = cpu
        .cross_entropy_bwd(&lt, &labels, &fwd.lse, grad_scale)
        .unwrap();
    let k = dev
        .function(KernelModule::CrossEntropy, "cross_entropy_fwd_bwd_f32")
        .unwrap();
    let ld = up(s, &logits);
    let lab = s.clone_htod(&labels).unwrap();
    let (mut loss, mut lse, mut dl) = (
        s.alloc_zeros::<f32>(m).unwrap(),
        s.alloc_zeros::<f32>(m).unwrap(),
        s.alloc_zeros::<f32>(m * v).unwrap(),
    );
    let (mi, vi) = (m as i32, v as i32);
    // SAFETY: signature of cross_entropy_fwd_bwd_f32 in kernels/cross_entropy.cu.
    unsafe {
        s.launch_builder(&k)
            .arg(&ld)
            .arg(&lab)
            .arg(&mut loss)
            .arg(&mut lse)
            .arg(&mut dl)
            .arg(&grad_scale)
            .arg(&mi)
            .arg(&vi)
            .launch(cfg((m as u32, 1, 1), (512, 1, 1)))
            .unwrap();
    }
    let loss_sum: f64 = down(s, &loss).iter().map(|&x| x as f64).sum();
    assert!(
        (loss_sum - fwd.loss_sum).abs() <= 1e-4 * fwd.loss_sum.abs().max(1.0),
        "loss {loss_sum} vs {}",
        fwd.loss_sum
    );
    assert_close("ce lse", &down(s, &lse), fwd.lse.host().unwrap());
    assert_close("ce dlogits", &down(s, &dl), d_ref.host().unwrap());
}

#[test]
fn adamw_f32_matches_cpu_over_three_steps() {
    let Some(dev) = device() else { return };
    let s = dev.stream();
    let sizes = [1000usize, 37];
    let cfg_adam = AdamWConfig {
        weight_decay: 0.01,
        ..AdamWConfig::default()
    };
    let f = dev.function(KernelModule::Adamw, "adamw_step_f32").unwrap();
    let mut cpu_p: Vec<Tensor> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| tensor(input(n, i), &[n]))
        .collect();
    let grads: Vec<Tensor> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| tensor(input(n, i + 5), &[n]))
        .collect();
    let mut cpu_m: Vec<Tensor> = sizes.iter().map(|&n| Tensor::zeros(&[n])).collect();
    let mut cpu_v: Vec<Tensor> = sizes.iter().map(|&n| Tensor::zeros(&[n])).collect();
    let gp: Vec<CudaSlice<f32>> = cpu_p.iter().map(|t| up(s, t.host().unwrap())).collect();
    let gg: Vec<CudaSlice<f32>> = grads.iter().map(|t| up(s, t.host().unwrap())).collect();
    let gm: Vec<CudaSlice<f32>> = sizes
        .iter()
        .map(|&n| s.alloc_zeros::<f32>(n).unwrap())
        .collect();
    let gv: Vec<CudaSlice<f32>> = sizes
        .iter()
        .map(|&n| s.alloc_zeros::<f32>(n).unwrap())
        .collect();
    let mut desc = Vec::new();
    {
        use cudarc::driver::DevicePtr;
        for i in 0..sizes.len() {
            desc.extend([
                gp[i].device_ptr(s).0,
                gg[i].device_ptr(s).0,
                gm[i].device_ptr(s).0,
                gv[i].device_ptr(s).0,
                sizes[i] as u64,
            ]);
        }
    }
    let desc_dev = s.clone_htod(&desc).unwrap();
    for step in 1..=3u64 {
        let mut slots: Vec<AdamSlot<'_>> = cpu_p
            .iter_mut()
            .zip(grads.iter())
            .zip(cpu_m.iter_mut().zip(cpu_v.iter_mut()))
            .map(|((param, grad), (m, v))| AdamSlot { param, grad, m, v })
            .collect();
        CpuBackend.adamw_step(&mut slots, &cfg_adam, step).unwrap();
        let bc1 = 1.0 - cfg_adam.beta1.powi(step as i32);
        let bc2 = 1.0 - cfg_adam.beta2.powi(step as i32);
        let nt = sizes.len() as i32;
        // SAFETY: desc holds {param, grad, m, v, n} per tensor as adamw.cu's AdamTensor; buffers live.
        unsafe {
            s.launch_builder(&f)
                .arg(&desc_dev)
                .arg(&nt)
                .arg(&cfg_adam.lr)
                .arg(&cfg_adam.beta1)
                .arg(&cfg_adam.beta2)
                .arg(&cfg_adam.eps)
                .arg(&cfg_adam.weight_decay)
                .arg(&bc1)
                .arg(&bc2)
                .launch(cfg((4, nt as u32, 1), (256, 1, 1)))
                .unwrap();
        }
    }
    for i in 0..sizes.len() {
        assert_close(
            &format!("adamw p{i}"),
            &down(s, &gp[i]),
            cpu_p[i].host().unwrap(),
        );
        assert_close(
            &format!("adamw m{i}"),
            &down(s, &gm[i]),
            cpu_m[i].host().unwrap(),
        );
        assert_close(
            &format!("adamw v{i}"),
            &down(s, &gv[i]),
            cpu_v[i].host().unwrap(),
        );
    }
}
