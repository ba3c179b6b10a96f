//! The detector: when are two texts the same matter? One answer, used by the index, by triage
//! and by both evaluations, so what is measured is what runs.

use serde::{Deserialize, Serialize};

use crate::sketch::{Fingerprint, Scheme, Similarity, Sketch};

/// Estimated similarities at which two texts are taken for the same matter.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Estimated Jaccard at or above which two texts are the same matter.
    pub jaccard: f32,
    /// Estimated containment at or above which the shorter text is taken to be inside the longer
    /// one — a petition re-posted with a greeting, a signature and an added sentence — provided
    /// the two still reach `containment_jaccard` and the shorter has `containment_shingles`.
    pub containment: f32,
    pub containment_jaccard: f32,
    /// A few words are contained in many long texts ("小区停车难"), so containment alone says
    /// nothing about short texts.
    pub containment_shingles: u32,
}

impl Thresholds {
    /// Measured on real petitions (see the crate documentation): edited re-posts of hotspot.jsonl
    /// are found at ≥ 0.99 and no nearest different matter reaches them.
    pub const V1: Thresholds = Thresholds {
        jaccard: 0.4,
        containment: 0.6,
        containment_jaccard: 0.2,
        containment_shingles: 20,
    };
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detector {
    pub scheme: Scheme,
    pub thresholds: Thresholds,
}

impl Default for Detector {
    fn default() -> Detector {
        Detector {
            scheme: Scheme::V1,
            thresholds: Thresholds::V1,
        }
    }
}

impl Detector {
    pub fn sketch(&self, title: &str, body: &str) -> Sketch {
        Sketch::of_petition(&self.scheme, title, body)
    }

    /// The second half of a lookup: a candidate the index offered is the same matter when its
    /// fingerprint is similar enough. The similarity is the evidence to record.
    pub fn verify(&self, a: &Fingerprint, b: &Fingerprint) -> Option<Similarity> {
        self.accept(a.similarity(b), a.shingles.min(b.shingles))
    }

    /// `shorter`: the shingle count of the shorter text.
    pub(crate) fn accept(&self, similarity: Similarity, shorter: u32) -> Option<Similarity> {
        let t = &self.thresholds;
        let same = similarity.jaccard >= t.jaccard
            || (similarity.containment >= t.containment
                && similarity.jaccard >= t.containment_jaccard
                && shorter >= t.containment_shingles);
        same.then_some(similarity)
    }

    /// Both halves for two texts at hand, exactly as the index would decide them: the texts
    /// must share an LSH band (or the index would never offer one for the other) and pass
    /// [`Detector::verify`].
    pub fn compare(&self, a: &Sketch, b: &Sketch) -> Option<Similarity> {
        if a.shares_a_band(b) {
            self.verify(&a.fingerprint, &b.fingerprint)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGINAL: &str = "仙华街道某工地每天夜里施工到凌晨，噪音很大，严重影响附近居民休息，\
        多次拨打电话反映都没有结果，希望有关部门尽快查处，还我们一个安静的夜晚。";

    #[test]
    fn a_text_is_the_same_matter_as_itself_and_not_as_another() {
        let detector = Detector::default();
        let a = detector.sketch("夜间施工噪音扰民", ORIGINAL);
        let same = detector.compare(&a, &a).expect("identical texts");
        assert_eq!(same.jaccard, 1.0);
        assert_eq!(same.shared_shingles, a.fingerprint.shingles);
        let b = detector.sketch(
            "小区路灯损坏",
            "黄宅镇某小区的路灯已经坏了三个月，晚上出行很不方便，老人孩子容易摔倒，请物业尽快修理。",
        );
        assert_eq!(detector.compare(&a, &b), None);
    }

    #[test]
    fn an_empty_text_matches_nothing() {
        let detector = Detector::default();
        let empty = detector.sketch("您好", "谢谢！");
        assert!(empty.bands.is_empty());
        assert_eq!(detector.compare(&empty, &empty), None);
    }

    #[test]
    fn a_short_text_inside_a_long_one_is_not_enough() {
        let detector = Detector::default();
        let short = detector.sketch("", "小区停车难");
        let long = detector.sketch("", &format!("小区停车难。{ORIGINAL}"));
        let similarity = short.fingerprint.similarity(&long.fingerprint);
        assert!(similarity.containment > 0.6, "{similarity:?}");
        assert_eq!(detector.verify(&short.fingerprint, &long.fingerprint), None);
    }
}
