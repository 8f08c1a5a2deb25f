//! Statistics beside the counts: Fisher's exact test (two-sided) on 2×2 tables and Wilson 95%
//! score intervals for ratios.

use serde::Serialize;

/// z for a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;
/// Tables whose probability is within this relative margin of the observed one count as "as
/// extreme" (R's fisher.test uses 1 + 1e-7 to absorb floating-point noise).
const FISHER_REL_TOL: f64 = 1e-7;

/// Two-sided Fisher exact p-value of [[a, b], [c, d]]: the sum of the hypergeometric
/// probabilities of all tables with the same margins that are no more likely than the observed.
pub fn fisher_exact(a: u64, b: u64, c: u64, d: u64) -> f64 {
    let row1 = a + b;
    let row2 = c + d;
    let col1 = a + c;
    let n = row1 + row2;
    if n == 0 {
        return 1.0;
    }
    let ln_fact = ln_factorials(n as usize);
    let lf = |k: u64| ln_fact[k as usize];
    // ln P(x) for the table whose top-left cell is x.
    let ln_p = |x: u64| {
        lf(row1) + lf(row2) + lf(col1) + lf(n - col1)
            - lf(n)
            - lf(x)
            - lf(row1 - x)
            - lf(col1 - x)
            - lf(row2 + x - col1)
    };
    let lo = col1.saturating_sub(row2);
    let hi = row1.min(col1);
    let observed = ln_p(a);
    let threshold = observed + FISHER_REL_TOL.ln_1p();
    let p: f64 = (lo..=hi)
        .map(ln_p)
        .filter(|&lp| lp <= threshold)
        .map(f64::exp)
        .sum();
    p.min(1.0)
}

fn ln_factorials(n: usize) -> Vec<f64> {
    let mut v = Vec::with_capacity(n + 1);
    let mut acc = 0.0;
    v.push(0.0);
    for k in 1..=n {
        acc += (k as f64).ln();
        v.push(acc);
    }
    v
}

/// A ratio with its Wilson 95% score interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Ratio {
    pub successes: u64,
    pub total: u64,
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

/// Wilson 95% interval for `successes` of `total`; `None` when `total` is 0 or too small.
pub fn wilson95(successes: u64, total: u64) -> Option<Ratio> {
    if total == 0 || successes > total {
        return None;
    }
    let n = total as f64;
    let p = successes as f64 / n;
    let z2 = Z95 * Z95;
    let denom = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denom;
    let half = Z95 / denom * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some(Ratio {
        successes,
        total,
        value: p,
        low: (center - half).max(0.0),
        high: (center + half).min(1.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn fisher_tea_tasting() {
        // Fisher's lady tasting tea, [[3,1],[1,3]]: tables with top-left x = 0..4 have
        // probabilities 1,16,36,16,1 / 70; those ≤ 16/70 sum to 34/70 = 0.485714…
        assert!(close(fisher_exact(3, 1, 1, 3), 34.0 / 70.0, 1e-12));
    }

    #[test]
    fn fisher_hand_computed_extremes() {
        // [[0,5],[5,0]]: P = 1/C(10,5) = 1/252 each for the two extreme tables → 2/252.
        assert!(close(fisher_exact(0, 5, 5, 0), 2.0 / 252.0, 1e-12));
        // [[10,0],[0,10]]: 2 / C(20,10) = 2/184756.
        assert!(close(fisher_exact(10, 0, 0, 10), 2.0 / 184_756.0, 1e-15));
        // Identical rows: the observed table is the most likely one, p = 1.
        assert!(close(fisher_exact(5, 5, 5, 5), 1.0, 1e-12));
        // [[1,0],[0,1]]: two tables, each 1/2, both ≤ observed → 1.
        assert!(close(fisher_exact(1, 0, 0, 1), 1.0, 1e-12));
    }

    #[test]
    fn fisher_matches_r_on_an_asymmetric_table() {
        // R: fisher.test(matrix(c(1,11,9,3), 2))$p.value = 0.002759456
        assert!(close(fisher_exact(1, 9, 11, 3), 0.002_759_456, 1e-8));
    }

    #[test]
    fn fisher_is_symmetric_in_rows_and_columns() {
        let p = fisher_exact(2, 7, 8, 2);
        assert!(close(p, fisher_exact(8, 2, 2, 7), 1e-12));
        assert!(close(p, fisher_exact(2, 8, 7, 2), 1e-12));
    }

    #[test]
    fn wilson_hand_computed() {
        // 0 of 10: low 0, high z²/(n+z²) = 3.841459/13.841459 = 0.277533…
        let r = wilson95(0, 10).unwrap();
        assert!(close(r.low, 0.0, 1e-12));
        assert!(close(r.high, 0.277_533, 1e-6));
        // 5 of 10: symmetric about 0.5, half-width z/(1+z²/n)·sqrt(p(1-p)/n + z²/4n²) = 0.263…
        let r = wilson95(5, 10).unwrap();
        assert!(close(r.low, 0.236_593, 1e-6), "{}", r.low);
        assert!(close(r.high, 0.763_407, 1e-6), "{}", r.high);
        assert_eq!(wilson95(0, 0), None);
        assert_eq!(wilson95(3, 2), None);
    }
}
