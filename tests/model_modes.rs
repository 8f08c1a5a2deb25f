//! Gradient checkpointing and KV-cache decoding must not change the numbers.

mod common;

use common::{assert_close, fixtures};
use sectune::backend::cpu::CpuBackend;
use sectune::model::loss::loss_and_grads_with;
use sectune::model::{Ctx, Keep, KvCache, Model};
use sectune::peft::io as peft_io;

const CASES: [&str; 4] = ["llama-lora", "llama-ia3", "codegen-lora", "codegen-ia3"];

#[test]
fn checkpointing_gives_the_same_gradients() {
    for case in CASES {
        let model = Model::load(
            &fixtures().join(format!("{}-base", case.split('-').next().unwrap())),
            &CpuBackend,
        )
        .unwrap();
        let mut adapter = peft_io::load(
            &fixtures().join(case).join("adapter"),
            &model.linear_infos(),
        )
        .unwrap();
        // Dropout on, so the recomputed blocks must regenerate the same masks.
        if let sectune::peft::PeftConfig::Lora(c) = &mut adapter.config {
            c.lora_dropout = 0.1;
        }
        let ids: Vec<u32> = (0..20u32).map(|i| (i * 53 + 7) % 256).collect();
        let labels: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
        let ctx = Ctx {
            be: &CpuBackend,
            adapters: Some(&adapter),
            dropout_seed: Some(99),
        };
        let mut full = adapter.zeros_like();
        let mut ckpt = adapter.zeros_like();
        let a = loss_and_grads_with(&model, &ctx, &ids, &labels, 2, 10, &mut full, false).unwrap();
        let b = loss_and_grads_with(&model, &ctx, &ids, &labels, 2, 10, &mut ckpt, true).unwrap();
        assert_eq!(a.loss, b.loss, "{case}");
        for ((k, g1), (_, g2)) in full.named_tensors().into_iter().zip(ckpt.named_tensors()) {
            assert_eq!(
                g1.host().unwrap(),
                g2.host().unwrap(),
                "{case} {k}: checkpointing changed the gradient"
            );
        }
    }
}

#[test]
fn kv_cache_decoding_matches_full_recomputation() {
    for case in CASES {
        let model = Model::load(
            &fixtures().join(format!("{}-base", case.split('-').next().unwrap())),
            &CpuBackend,
        )
        .unwrap();
        let adapter = peft_io::load(
            &fixtures().join(case).join("adapter"),
            &model.linear_infos(),
        )
        .unwrap();
        let ctx = Ctx::eval(&CpuBackend, Some(&adapter));
        let (batch, total, prompt) = (2usize, 11usize, 6usize);
        let ids: Vec<u32> = (0..(batch * total) as u32)
            .map(|i| (i * 29 + 3) % 256)
            .collect();
        let (full, _) = model.forward(&ctx, &ids, batch, total, Keep::None).unwrap();
        let v = model.config().vocab_size;
        let full = full.host().unwrap();
        let mut cache = KvCache::new(model.config().n_layers);
        let row = |b: usize, from: usize, to: usize| -> Vec<u32> {
            ids[b * total + from..b * total + to].to_vec()
        };
        let first: Vec<u32> = (0..batch).flat_map(|b| row(b, 0, prompt)).collect();
        let out = model
            .forward_cached(&ctx, &first, batch, prompt, &mut cache)
            .unwrap();
        for b in 0..batch {
            let got = &out.host().unwrap()[(b * prompt) * v..(b * prompt + prompt) * v];
            let want = &full[(b * total) * v..(b * total + prompt) * v];
            assert_close(&format!("{case} prefill b{b}"), got, want, 1e-5, 1e-4);
        }
        for t in prompt..total {
            let step: Vec<u32> = (0..batch).flat_map(|b| row(b, t, t + 1)).collect();
            let out = model
                .forward_cached(&ctx, &step, batch, 1, &mut cache)
                .unwrap();
            for b in 0..batch {
                let got = &out.host().unwrap()[b * v..(b + 1) * v];
                let want = &full[(b * total + t) * v..(b * total + t + 1) * v];
                assert_close(&format!("{case} step {t} b{b}"), got, want, 1e-5, 1e-4);
            }
        }
        assert_eq!(cache.len, total);
    }
}
