//! Unbiased pass@k (Chen et al. 2021, "Evaluating Large Language Models Trained on Code"):
//! with n samples of which c pass, pass@k = 1 - C(n-c, k) / C(n, k), computed as the product
//! 1 - Π_{i=n-c+1}^{n} (1 - k/i), which never forms the huge binomials.

/// pass@k for one task; `None` when k is 0 or exceeds n (the estimate is undefined).
pub fn pass_at_k(n: usize, c: usize, k: usize) -> Option<f64> {
    if k == 0 || k > n || c > n {
        return None;
    }
    if n - c < k {
        return Some(1.0);
    }
    let prod: f64 = ((n - c + 1)..=n)
        .map(|i| 1.0 - k as f64 / i as f64)
        .product();
    Some(1.0 - prod)
}

/// Mean pass@k over tasks given as (n, c); `None` if any task has fewer than k samples or
/// there are no tasks.
pub fn mean_pass_at_k(tasks: &[(usize, usize)], k: usize) -> Option<f64> {
    if tasks.is_empty() {
        return None;
    }
    let mut sum = 0.0;
    for &(n, c) in tasks {
        sum += pass_at_k(n, c, k)?;
    }
    Some(sum / tasks.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn pass_at_1_is_the_pass_fraction() {
        // pass@1 = c/n exactly: 1 - (n-c)/n.
        assert!(close(pass_at_k(10, 3, 1).unwrap(), 0.3));
        assert!(close(pass_at_k(10, 0, 1).unwrap(), 0.0));
        assert!(close(pass_at_k(10, 10, 1).unwrap(), 1.0));
    }

    #[test]
    fn hand_computed_values() {
        // n=5, c=2, k=2: 1 - C(3,2)/C(5,2) = 1 - 3/10 = 0.7.
        assert!(close(pass_at_k(5, 2, 2).unwrap(), 0.7));
        // n=10, c=1, k=5: 1 - C(9,5)/C(10,5) = 1 - 126/252 = 0.5.
        assert!(close(pass_at_k(10, 1, 5).unwrap(), 0.5));
        // n=4, c=1, k=3: 1 - C(3,3)/C(4,3) = 1 - 1/4 = 0.75.
        assert!(close(pass_at_k(4, 1, 3).unwrap(), 0.75));
        // n - c < k: every draw of k holds a pass.
        assert!(close(pass_at_k(10, 8, 3).unwrap(), 1.0));
    }

    #[test]
    fn large_n_stays_finite() {
        // 1 - C(190,100)/C(200,100) would overflow as binomials; the product does not.
        let p = pass_at_k(200, 10, 100).unwrap();
        assert!(p > 0.99 && p < 1.0, "{p}");
    }

    #[test]
    fn undefined_cases_are_none() {
        assert_eq!(pass_at_k(3, 1, 5), None);
        assert_eq!(pass_at_k(3, 1, 0), None);
        assert_eq!(pass_at_k(3, 4, 1), None);
        assert_eq!(mean_pass_at_k(&[], 1), None);
        assert_eq!(mean_pass_at_k(&[(10, 1), (2, 1)], 5), None);
    }

    #[test]
    fn mean_over_tasks() {
        assert!(close(mean_pass_at_k(&[(10, 10), (10, 0)], 1).unwrap(), 0.5));
    }
}
