//! Dropout masks from a counter-based hash, so any backend regenerates the same mask from
//! (seed, element index) in forward and backward without storing it.

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dropout {
    /// Probability of dropping an element, in [0, 1).
    pub p: f32,
    pub seed: u64,
}

/// splitmix64 finalizer: a strong 64-bit mix that is one line in CUDA too.
#[inline]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Dropout {
    /// The multiplier of element `index`: 0 when dropped, 1/(1−p) when kept (inverted dropout).
    #[inline]
    pub fn factor(&self, index: u64) -> f32 {
        let bits = mix64(self.seed ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        // 24 high bits give a uniform in [0, 1) exactly representable in f32.
        let u = (bits >> 40) as f32 * (1.0 / 16_777_216.0);
        if u < self.p {
            0.0
        } else {
            1.0 / (1.0 - self.p)
        }
    }
}
