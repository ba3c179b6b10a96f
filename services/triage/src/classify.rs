//! The keyword classifier. Every score can be traced back to the keywords that produced it, so
//! each automated decision can be explained (PIPL Art. 24), and the model version names the
//! exact taxonomy, so the same petition with the same version always gets the same answer.

use std::collections::HashMap;

use aho_corasick::{AhoCorasick, MatchKind};
use minhu_contracts::v1::{Classification, LabelScore, RequestType};
use minhu_core::config::TaxonomySettings;
use sha2::{Digest, Sha256};

/// A title states the matter in a few words, so its keywords say more than the body's.
const TITLE_WEIGHT: u32 = 2;
const BODY_WEIGHT: u32 = 1;

#[derive(Debug, Clone)]
pub struct KeywordClassifier {
    /// One pass over the text finds every keyword of every label. Leftmost-longest, so
    /// "拖欠工资" counts once, not also as "工资".
    automaton: AhoCorasick,
    /// For each pattern, the labels (indices) that list it: a keyword shared by two labels is one
    /// pattern, or the automaton would credit only the first label.
    pattern_labels: Vec<Vec<usize>>,
    labels: Vec<String>,
    model_version: String,
}

impl KeywordClassifier {
    pub fn new(taxonomy: &TaxonomySettings) -> KeywordClassifier {
        let mut patterns: Vec<&str> = Vec::new();
        let mut pattern_labels: Vec<Vec<usize>> = Vec::new();
        let mut pattern_index: HashMap<&str, usize> = HashMap::new();
        for (label, settings) in taxonomy.labels.iter().enumerate() {
            // An empty keyword would match between every two characters.
            for keyword in settings.keywords.iter().filter(|k| !k.is_empty()) {
                let index = *pattern_index.entry(keyword).or_insert_with(|| {
                    patterns.push(keyword);
                    pattern_labels.push(Vec::new());
                    patterns.len() - 1
                });
                if !pattern_labels[index].contains(&label) {
                    pattern_labels[index].push(label);
                }
            }
        }
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&patterns)
            .expect("a taxonomy of configuration size fits the automaton's limits");
        KeywordClassifier {
            automaton,
            pattern_labels,
            labels: taxonomy.labels.iter().map(|l| l.name.clone()).collect(),
            model_version: model_version(taxonomy),
        }
    }

    pub fn classify(&self, title: &str, body: &str) -> Classification {
        let mut hits = vec![0u32; self.labels.len()];
        for (text, weight) in [(title, TITLE_WEIGHT), (body, BODY_WEIGHT)] {
            for found in self.automaton.find_iter(text) {
                for &label in &self.pattern_labels[found.pattern().as_usize()] {
                    hits[label] += weight;
                }
            }
        }
        let total: u32 = hits.iter().sum();
        let share = |count: u32| {
            if total == 0 {
                0.0
            } else {
                f64::from(count) / f64::from(total)
            }
        };

        // Strictly greater, so a tie goes to the label listed first in the taxonomy.
        let mut best: Option<usize> = None;
        for (label, &count) in hits.iter().enumerate() {
            if count > 0 && best.is_none_or(|b| count > hits[b]) {
                best = Some(label);
            }
        }

        Classification {
            category: best.map(|b| self.labels[b].clone()).unwrap_or_default(),
            confidence: best.map_or(0.0, |b| share(hits[b])),
            model_version: self.model_version.clone(),
            scores: self
                .labels
                .iter()
                .zip(&hits)
                .map(|(label, &count)| LabelScore {
                    label: label.clone(),
                    score: share(count),
                })
                .collect(),
            request_type: RequestType::Unspecified.into(),
        }
    }

    pub fn model_version(&self) -> &str {
        &self.model_version
    }

    pub fn labels(&self) -> impl Iterator<Item = &str> {
        self.labels.iter().map(String::as_str)
    }
}

/// "keywords:" and a digest of the taxonomy. Every count and string is length-prefixed, so moving
/// a keyword to another label, or splitting one keyword in two, always changes the version.
fn model_version(taxonomy: &TaxonomySettings) -> String {
    fn put(hasher: &mut Sha256, text: &str) {
        hasher.update((text.len() as u64).to_le_bytes());
        hasher.update(text.as_bytes());
    }
    let mut hasher = Sha256::new();
    hasher.update((taxonomy.labels.len() as u64).to_le_bytes());
    for label in &taxonomy.labels {
        put(&mut hasher, &label.name);
        hasher.update((label.keywords.len() as u64).to_le_bytes());
        for keyword in &label.keywords {
            put(&mut hasher, keyword);
        }
    }
    let digest = hex::encode(hasher.finalize());
    format!("keywords:{}", &digest[..12])
}

#[cfg(test)]
mod tests {
    use super::*;
    use minhu_core::config::{LabelSettings, Settings};

    fn classifier() -> KeywordClassifier {
        KeywordClassifier::new(&Settings::defaults().taxonomy)
    }

    fn taxonomy(labels: &[(&str, &[&str])]) -> TaxonomySettings {
        TaxonomySettings {
            labels: labels
                .iter()
                .map(|(name, keywords)| LabelSettings {
                    name: (*name).to_owned(),
                    keywords: keywords.iter().map(|k| (*k).to_owned()).collect(),
                })
                .collect(),
        }
    }

    fn score(classification: &Classification, label: &str) -> f64 {
        classification
            .scores
            .iter()
            .find(|s| s.label == label)
            .map(|s| s.score)
            .unwrap()
    }

    #[test]
    fn unpaid_wages_petition_goes_to_labour() {
        let c = classifier().classify(
            "包工头拖欠工资半年",
            "我们是在黄宅镇一处工地干活的农民工，包工头拖欠工资已经半年，\
             多次讨薪无果，希望人社部门帮助解决。",
        );
        // Title: 拖欠工资 (2). Body: 农民工, 拖欠工资, 讨薪, 人社 (4); 工地 is construction (1).
        assert_eq!(c.category, "劳动和社会保障");
        assert_eq!(c.confidence, 6.0 / 7.0);
        assert_eq!(score(&c, "城乡建设"), 1.0 / 7.0);
        assert_eq!(score(&c, "环境保护"), 0.0);
        assert_eq!(c.request_type, RequestType::Unspecified as i32);
    }

    #[test]
    fn title_hits_count_double() {
        let classifier = classifier();
        let cases = [
            // (title, body, category, confidence)
            ("物业不作为", "每天晚上噪音很大", "城乡建设", 2.0 / 3.0),
            ("噪音扰民", "物业不管", "环境保护", 4.0 / 5.0),
            ("", "噪声扰民 物业", "环境保护", 2.0 / 3.0),
            // The same words, 物业 moved to the title: 2 against 2, and the tie goes to 城乡建设.
            ("物业", "噪声扰民", "城乡建设", 0.5),
        ];
        for (title, body, category, confidence) in cases {
            let c = classifier.classify(title, body);
            assert_eq!(c.category, category, "{title:?} / {body:?}");
            assert!(
                (c.confidence - confidence).abs() < 1e-12,
                "{title:?} / {body:?}: {}",
                c.confidence
            );
        }
    }

    #[test]
    fn a_tie_goes_to_the_earlier_label() {
        let classifier = classifier();
        for body in ["物业 噪音", "噪音 物业"] {
            let c = classifier.classify("", body);
            assert_eq!(c.category, "城乡建设", "{body:?}");
            assert_eq!(c.confidence, 0.5);
            assert_eq!(score(&c, "环境保护"), 0.5);
        }
    }

    #[test]
    fn the_longest_keyword_counts_once() {
        // Were 工资 counted again inside 拖欠工资, labour would take 2/3.
        let c = classifier().classify("", "拖欠工资 噪音");
        assert_eq!(score(&c, "劳动和社会保障"), 0.5);
        assert_eq!(score(&c, "环境保护"), 0.5);
    }

    #[test]
    fn the_longer_keyword_wins_whatever_the_label_order() {
        let classifier =
            KeywordClassifier::new(&taxonomy(&[("short", &["拖欠"]), ("long", &["拖欠工资"])]));
        let c = classifier.classify("", "拖欠工资");
        assert_eq!(c.category, "long");
        assert_eq!(c.confidence, 1.0);
        assert_eq!(classifier.classify("", "拖欠房租").category, "short");
    }

    #[test]
    fn no_hits_give_no_category() {
        let classifier = classifier();
        for (title, body) in [("", ""), ("你好", "请问今天天气怎么样？")] {
            let c = classifier.classify(title, body);
            assert_eq!(c.category, "");
            assert_eq!(c.confidence, 0.0);
            assert_eq!(c.scores.len(), 7);
            assert!(c.scores.iter().all(|s| s.score == 0.0));
        }
    }

    #[test]
    fn scores_list_every_label_in_taxonomy_order_and_sum_to_one() {
        let classifier = classifier();
        let c = classifier.classify("小区噪音", "医院 学校 公交 超市 工资");
        let labels: Vec<&str> = c.scores.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, classifier.labels().collect::<Vec<_>>());
        assert_eq!(labels[0], "城乡建设");
        assert_eq!(labels[6], "卫生计生");
        let sum: f64 = c.scores.iter().map(|s| s.score).sum();
        assert!((sum - 1.0).abs() < 1e-12, "{sum}");
        assert_eq!(score(&c, "城乡建设"), 2.0 / 9.0);
    }

    #[test]
    fn a_keyword_listed_by_two_labels_counts_for_both() {
        let classifier = KeywordClassifier::new(&taxonomy(&[
            ("a", &["shared", "", "only-a"]),
            ("b", &["shared", "shared"]),
        ]));
        let c = classifier.classify("", "shared");
        assert_eq!(c.category, "a");
        assert_eq!(score(&c, "a"), 0.5);
        assert_eq!(score(&c, "b"), 0.5);
        // The empty keyword matches nothing.
        assert_eq!(classifier.classify("", "xyz").category, "");
    }

    #[test]
    fn model_version_names_the_exact_taxonomy() {
        let version = classifier().model_version().to_owned();
        assert_eq!(version, classifier().classify("", "").model_version);
        let digest = version.strip_prefix("keywords:").unwrap();
        assert_eq!(digest.len(), 12);
        assert!(digest.bytes().all(|b| b.is_ascii_hexdigit()));

        let versions: Vec<String> = [
            taxonomy(&[("ab", &["c"])]),
            taxonomy(&[("a", &["bc"])]),
            taxonomy(&[("a", &["b", "c"])]),
            taxonomy(&[("z", &["b", "c"])]),
            taxonomy(&[("a", &["b"]), ("c", &[])]),
            taxonomy(&[("a", &[]), ("b", &["c"])]),
            taxonomy(&[("b", &["c"]), ("a", &[])]),
        ]
        .iter()
        .map(|t| KeywordClassifier::new(t).model_version().to_owned())
        .collect();
        for (i, a) in versions.iter().enumerate() {
            assert_ne!(*a, version);
            for b in &versions[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }
}
