//! One-vs-rest linear support vector machines, trained by dual coordinate descent with shrinking
//! (Hsieh et al. 2008, the liblinear solver): a few passes over the data reach the optimum, so
//! thousands of petitions train in seconds.

use serde::{Deserialize, Serialize};

/// The training set in compressed sparse rows.
#[derive(Debug, Default)]
pub(crate) struct SparseRows {
    offsets: Vec<usize>,
    buckets: Vec<u32>,
    values: Vec<f32>,
}

impl SparseRows {
    pub fn new() -> Self {
        SparseRows {
            offsets: vec![0],
            ..SparseRows::default()
        }
    }

    pub fn push(&mut self, row: impl IntoIterator<Item = (u32, f32)>) {
        for (bucket, value) in row {
            self.buckets.push(bucket);
            self.values.push(value);
        }
        self.offsets.push(self.buckets.len());
    }

    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// The same rows with every value multiplied by its bucket's factor.
    pub fn scaled(&self, factors: &[f32]) -> SparseRows {
        SparseRows {
            offsets: self.offsets.clone(),
            buckets: self.buckets.clone(),
            values: self
                .buckets
                .iter()
                .zip(&self.values)
                .map(|(&b, &v)| v * factors[b as usize])
                .collect(),
        }
    }

    pub fn row(&self, i: usize) -> (&[u32], &[f32]) {
        let range = self.offsets[i]..self.offsets[i + 1];
        (&self.buckets[range.clone()], &self.values[range])
    }
}

/// The loss of a margin violation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// max(0, 1 - margin): the classic SVM.
    Hinge,
    /// max(0, 1 - margin)^2: smoother, usually as accurate, converges faster.
    SquaredHinge,
}

/// Solver settings for one binary problem.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SolverSettings {
    pub c: f32,
    pub loss: Loss,
    /// Stop when the spread of projected gradients falls below this (liblinear's default 0.1).
    pub tolerance: f32,
    pub max_passes: usize,
    /// The constant feature that carries the bias (it is regularised like any weight).
    pub bias: f32,
    /// Multiplies C for the positive examples, to weigh a small class like a large one.
    pub positive_weight: f32,
}

/// Weights of one binary classifier: `bucket_weights · x + bias`.
pub(crate) struct Binary {
    pub weights: Vec<f32>,
    pub bias: f32,
}

/// Trains `positive(i)` against the rest.
pub(crate) fn train_binary(
    rows: &SparseRows,
    positive: &[bool],
    dimensions: usize,
    settings: &SolverSettings,
    seed: u64,
) -> Binary {
    let n = rows.len();
    let mut weights = vec![0.0f32; dimensions];
    let mut bias_weight = 0.0f32;
    let mut alpha = vec![0.0f32; n];
    let y: Vec<f32> = positive
        .iter()
        .map(|&p| if p { 1.0 } else { -1.0 })
        .collect();
    let c_of = |i: usize| {
        if positive[i] {
            settings.c * settings.positive_weight
        } else {
            settings.c
        }
    };
    // Squared hinge: no upper bound on alpha, a diagonal term instead.
    let (upper, diagonal): (Vec<f32>, Vec<f32>) = (0..n)
        .map(|i| match settings.loss {
            Loss::Hinge => (c_of(i), 0.0),
            Loss::SquaredHinge => (f32::INFINITY, 0.5 / c_of(i)),
        })
        .unzip();
    let qd: Vec<f32> = (0..n)
        .map(|i| {
            let (_, values) = rows.row(i);
            diagonal[i] + values.iter().map(|v| v * v).sum::<f32>() + settings.bias * settings.bias
        })
        .collect();

    let mut rng = SplitMix(seed);
    let mut index: Vec<usize> = (0..n).collect();
    let mut active = n;
    let mut pg_max_old = f32::INFINITY;
    let mut pg_min_old = f32::NEG_INFINITY;
    for _ in 0..settings.max_passes {
        let mut pg_max = f32::NEG_INFINITY;
        let mut pg_min = f32::INFINITY;
        for s in 0..active {
            let j = s + (rng.next() % (active - s) as u64) as usize;
            index.swap(s, j);
        }
        let mut s = 0;
        while s < active {
            let i = index[s];
            let (buckets, values) = rows.row(i);
            let margin: f32 = buckets
                .iter()
                .zip(values)
                .map(|(&b, &v)| weights[b as usize] * v)
                .sum::<f32>()
                + bias_weight * settings.bias;
            let gradient = y[i] * margin - 1.0 + diagonal[i] * alpha[i];
            let mut projected = gradient;
            if alpha[i] == 0.0 {
                if gradient > pg_max_old {
                    // Shrinking: a point far outside the margin is unlikely to matter again.
                    active -= 1;
                    index.swap(s, active);
                    continue;
                }
                projected = projected.min(0.0);
            } else if alpha[i] >= upper[i] {
                if gradient < pg_min_old {
                    active -= 1;
                    index.swap(s, active);
                    continue;
                }
                projected = projected.max(0.0);
            }
            pg_max = pg_max.max(projected);
            pg_min = pg_min.min(projected);
            if projected.abs() > 1e-12 {
                let old = alpha[i];
                alpha[i] = (old - gradient / qd[i]).clamp(0.0, upper[i]);
                let delta = (alpha[i] - old) * y[i];
                for (&b, &v) in buckets.iter().zip(values) {
                    weights[b as usize] += delta * v;
                }
                bias_weight += delta * settings.bias;
            }
            s += 1;
        }
        if pg_max - pg_min <= settings.tolerance {
            if active == n {
                break;
            }
            // Converged on the shrunk set: check every point once more.
            active = n;
            pg_max_old = f32::INFINITY;
            pg_min_old = f32::NEG_INFINITY;
            continue;
        }
        pg_max_old = if pg_max <= 0.0 { f32::INFINITY } else { pg_max };
        pg_min_old = if pg_min >= 0.0 {
            f32::NEG_INFINITY
        } else {
            pg_min
        };
    }
    Binary {
        weights,
        bias: bias_weight * settings.bias,
    }
}

/// A small deterministic generator: the same data always trains the same model (and so the same
/// model version), on every platform.
pub(crate) struct SplitMix(pub u64);

impl SplitMix {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(loss: Loss) -> SolverSettings {
        SolverSettings {
            c: 10.0,
            loss,
            tolerance: 0.01,
            max_passes: 1000,
            bias: 1.0,
            positive_weight: 1.0,
        }
    }

    #[test]
    fn separates_a_separable_problem_with_both_losses() {
        // Feature 0 marks the positives, feature 1 the negatives, feature 2 is noise.
        let mut rows = SparseRows::new();
        let mut positive = Vec::new();
        for i in 0..40 {
            let p = i % 2 == 0;
            rows.push([(if p { 0 } else { 1 }, 0.8), (2, 0.6)]);
            positive.push(p);
        }
        for loss in [Loss::Hinge, Loss::SquaredHinge] {
            let model = train_binary(&rows, &positive, 3, &settings(loss), 7);
            for (i, &p) in positive.iter().enumerate() {
                let (b, v) = rows.row(i);
                let score: f32 = b
                    .iter()
                    .zip(v)
                    .map(|(&b, &v)| model.weights[b as usize] * v)
                    .sum::<f32>()
                    + model.bias;
                assert_eq!(score > 0.0, p, "{loss:?} row {i} score {score}");
            }
            assert!(model.weights[0] > 0.0 && model.weights[1] < 0.0);
        }
    }

    #[test]
    fn training_is_deterministic() {
        let mut rows = SparseRows::new();
        let mut positive = Vec::new();
        for i in 0..30u32 {
            rows.push([(i % 5, 0.6), ((i * 7) % 11, 0.8)]);
            positive.push(i % 3 == 0);
        }
        let a = train_binary(&rows, &positive, 11, &settings(Loss::SquaredHinge), 1);
        let b = train_binary(&rows, &positive, 11, &settings(Loss::SquaredHinge), 1);
        assert_eq!(a.weights, b.weights);
        assert_eq!(a.bias, b.bias);
    }
}
