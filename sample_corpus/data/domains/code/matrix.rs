/// Multiplies two square matrices stored row by row.
pub fn multiply(a: &[Vec<i64>], b: &[Vec<i64>]) -> Vec<Vec<i64>> {
    let n = a.len();
    let mut out = vec![vec![0; n]; n];
    for i in 0..n {
        for k in 0..n {
            let aik = a[i][k];
            for j in 0..n {
                out[i][j] += aik * b[k][j];
            }
        }
    }
    out
}

/// Raises a square matrix to a non-negative power by repeated squaring.
pub fn power(m: &[Vec<i64>], mut exp: u32) -> Vec<Vec<i64>> {
    let n = m.len();
    let mut result: Vec<Vec<i64>> = (0..n)
        .map(|i| (0..n).map(|j| i64::from(i == j)).collect())
        .collect();
    let mut base = m.to_vec();
    while exp > 0 {
        if exp & 1 == 1 {
            result = multiply(&result, &base);
        }
        base = multiply(&base, &base);
        exp >>= 1;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fibonacci_from_matrix_power() {
        let q = vec![vec![1, 1], vec![1, 0]];
        assert_eq!(power(&q, 10)[0][1], 55);
    }
}
