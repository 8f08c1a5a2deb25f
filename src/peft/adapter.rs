//! An adapter's tensors per wrapped module, PEFT's initialization, and the views the model's
//! linear layers take (`op`) and accumulate gradients into (`grad`).

use std::collections::BTreeMap;

use crate::backend::dropout::{mix64, Dropout};
use crate::backend::{AdapterGrad, AdapterOp};
use crate::error::{Error, Result};
use crate::model::LinearInfo;
use crate::peft::config::{PeftConfig, Targets};
use crate::tensor::Tensor;
use crate::util::rng::Rng;

#[derive(Clone, Debug, PartialEq)]
pub enum ModuleAdapter {
    /// A (r, in), B (out, r).
    Lora { a: Tensor, b: Tensor },
    /// l (in) when feed-forward (scales the input), else l (out) (scales the output).
    Ia3 { l: Tensor, feedforward: bool },
}

#[derive(Clone, Debug, PartialEq)]
pub struct AdapterSet {
    pub config: PeftConfig,
    /// Keyed by the HF module path, e.g. `model.layers.0.self_attn.q_proj`.
    pub modules: BTreeMap<String, ModuleAdapter>,
}

/// The linear modules a config selects; an entry of the target list that selects nothing
/// is an error, as in PEFT.
pub fn select_modules<'m>(
    targets: &Targets,
    linears: &'m [LinearInfo],
) -> Result<Vec<&'m LinearInfo>> {
    let chosen: Vec<&LinearInfo> = linears
        .iter()
        .filter(|l| targets.matches(&l.name))
        .collect();
    let suffixes = || {
        let mut s: Vec<&str> = linears
            .iter()
            .map(|l| l.name.rsplit('.').next().unwrap_or(&l.name))
            .collect();
        s.sort_unstable();
        s.dedup();
        s.join(", ")
    };
    if let Targets::List(list) = targets {
        for t in list {
            if !linears
                .iter()
                .any(|l| Targets::List(vec![t.clone()]).matches(&l.name))
            {
                return Err(Error::Unsupported(format!(
                    "target module \"{t}\" matches no linear layer of this model; its linear layers are: {}",
                    suffixes()
                )));
            }
        }
    }
    if chosen.is_empty() {
        return Err(Error::Unsupported(format!(
            "target_modules selects no linear layer of this model; its linear layers are: {}",
            suffixes()
        )));
    }
    Ok(chosen)
}

impl AdapterSet {
    /// PEFT's initialization: LoRA A kaiming-uniform(a=√5) = U(±1/√in), B zeros; IA3 ones.
    pub fn init(config: PeftConfig, linears: &[LinearInfo], seed: u64) -> Result<Self> {
        let mut rng = Rng::new(seed);
        let mut modules = BTreeMap::new();
        for info in select_modules(config.target_modules(), linears)? {
            let m = match &config {
                PeftConfig::Lora(c) => {
                    let bound = 1.0 / (info.in_features as f32).sqrt();
                    let a = (0..c.r * info.in_features)
                        .map(|_| rng.uniform_range(-bound, bound))
                        .collect();
                    ModuleAdapter::Lora {
                        a: Tensor::from_vec(a, &[c.r, info.in_features])?,
                        b: Tensor::zeros(&[info.out_features, c.r]),
                    }
                }
                PeftConfig::Ia3(c) => {
                    let feedforward = c.feedforward_modules.matches(&info.name);
                    let n = if feedforward {
                        info.in_features
                    } else {
                        info.out_features
                    };
                    ModuleAdapter::Ia3 {
                        l: Tensor::full(&[n], 1.0),
                        feedforward,
                    }
                }
            };
            modules.insert(info.name.clone(), m);
        }
        Ok(AdapterSet { config, modules })
    }

    /// The op a linear layer applies; `dropout_seed` is None at evaluation time.
    pub fn op(&self, module: &str, dropout_seed: Option<u64>) -> AdapterOp<'_> {
        match (self.modules.get(module), &self.config) {
            (Some(ModuleAdapter::Lora { a, b }), PeftConfig::Lora(c)) => AdapterOp::Lora {
                a,
                b,
                scale: c.scaling(),
                dropout: dropout_seed
                    .filter(|_| c.lora_dropout > 0.0)
                    .map(|seed| Dropout {
                        p: c.lora_dropout,
                        // One independent mask stream per module.
                        seed: mix64(seed ^ name_hash(module)),
                    }),
            },
            (
                Some(ModuleAdapter::Ia3 {
                    l,
                    feedforward: true,
                }),
                _,
            ) => AdapterOp::Ia3Input { l },
            (
                Some(ModuleAdapter::Ia3 {
                    l,
                    feedforward: false,
                }),
                _,
            ) => AdapterOp::Ia3Output { l },
            _ => AdapterOp::None,
        }
    }

    /// Gradient buffers of the same shapes, all zero.
    pub fn zeros_like(&self) -> Self {
        let modules = self
            .modules
            .iter()
            .map(|(k, m)| {
                let z = match m {
                    ModuleAdapter::Lora { a, b } => ModuleAdapter::Lora {
                        a: Tensor::zeros(a.shape()),
                        b: Tensor::zeros(b.shape()),
                    },
                    ModuleAdapter::Ia3 { l, feedforward } => ModuleAdapter::Ia3 {
                        l: Tensor::zeros(l.shape()),
                        feedforward: *feedforward,
                    },
                };
                (k.clone(), z)
            })
            .collect();
        AdapterSet {
            config: self.config.clone(),
            modules,
        }
    }

    /// The gradient view of one module when `self` holds gradients.
    pub fn grad(&mut self, module: &str) -> AdapterGrad<'_> {
        match self.modules.get_mut(module) {
            Some(ModuleAdapter::Lora { a, b }) => AdapterGrad::Lora { da: a, db: b },
            Some(ModuleAdapter::Ia3 { l, .. }) => AdapterGrad::Ia3 { dl: l },
            None => AdapterGrad::None,
        }
    }

    /// (PEFT key, tensor) in a stable order; the keys are those of adapter_model.safetensors.
    pub fn named_tensors(&self) -> Vec<(String, &Tensor)> {
        let mut out = Vec::new();
        for (name, m) in &self.modules {
            match m {
                ModuleAdapter::Lora { a, b } => {
                    let (ka, kb) = lora_keys(name);
                    out.extend([(ka, a), (kb, b)]);
                }
                ModuleAdapter::Ia3 { l, .. } => out.push((ia3_key(name), l)),
            }
        }
        out
    }

    pub fn named_tensors_mut(&mut self) -> Vec<(String, &mut Tensor)> {
        let mut out = Vec::new();
        for (name, m) in &mut self.modules {
            match m {
                ModuleAdapter::Lora { a, b } => {
                    let (ka, kb) = lora_keys(name);
                    out.extend([(ka, a), (kb, b)]);
                }
                ModuleAdapter::Ia3 { l, .. } => out.push((ia3_key(name), l)),
            }
        }
        out
    }

    /// A copy with every tensor on backend `be` (training on a GPU keeps adapter, gradients and
    /// moments there).
    pub fn to_backend(&self, be: &dyn crate::backend::Backend) -> Result<AdapterSet> {
        let mut out = self.clone();
        out.map_tensors(|t| be.upload(t.clone()))?;
        Ok(out)
    }

    /// A host copy (for saving), whatever backend the tensors live on.
    pub fn to_host(&self, be: &dyn crate::backend::Backend) -> Result<AdapterSet> {
        let mut out = self.clone();
        out.map_tensors(|t| be.download(t))?;
        Ok(out)
    }

    /// Replaces every tensor by `f(tensor)`: a backend's upload or download of the whole set.
    pub fn map_tensors(&mut self, mut f: impl FnMut(&Tensor) -> Result<Tensor>) -> Result<()> {
        for (_, t) in self.named_tensors_mut() {
            *t = f(t)?;
        }
        Ok(())
    }

    pub fn num_params(&self) -> usize {
        self.named_tensors().iter().map(|(_, t)| t.numel()).sum()
    }
}

fn lora_keys(module: &str) -> (String, String) {
    (
        format!("base_model.model.{module}.lora_A.weight"),
        format!("base_model.model.{module}.lora_B.weight"),
    )
}

fn ia3_key(module: &str) -> String {
    format!("base_model.model.{module}.ia3_l")
}

fn name_hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}
