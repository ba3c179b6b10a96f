//! The classifier core of minhu: what a petition is about (domain label, 一级分类), with a
//! calibrated probability and an explanation, and what the text rules say about it (request type,
//! 信访 category, urgency, legal pathway). A pure library: no I/O besides reading and writing the
//! files it is given. The triage role, `minhu train`, `minhu eval classify` and
//! `minhu bench classify` are thin wrappers around it.
//!
//! ```no_run
//! use minhu_classify::{Model, default_model, default_rules};
//!
//! // Out of the box: trained at first use from the team's written examples.
//! let model: &Model = default_model();
//! let prediction = model.predict("小区停水三天", "物业不管，老人孩子没水喝。");
//! println!("{} {:.2} {:?}", prediction.label, prediction.probability, prediction.top_features);
//!
//! let analysis = default_rules().analyse("小区停水三天", "物业不管，老人孩子没水喝。");
//! println!("{} {} {} {:?}", analysis.request_type, analysis.urgency, analysis.pathway.route, analysis.fired);
//!
//! // A deployment's own model.
//! let examples = minhu_classify::read_jsonl("history.jsonl")?;
//! let model = minhu_classify::train(&examples, &minhu_classify::TrainConfig::default())?;
//! model.save("model.bin")?;
//! let model = Model::load("model.bin")?;
//! println!("{}", minhu_classify::evaluate(&model, &examples));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The domain classifier
//!
//! Text becomes hashed character 1- and 2-grams (2^20 buckets) of the title and the body in one
//! space, title occurrences counting twice, plus the title's n-grams in a space of their own;
//! digits fold to 0, punctuation separates. Values are sublinear TF × IDF, L2-normalised; n-grams
//! seen in fewer than 2 training texts are ignored. One linear SVM per label (squared hinge,
//! dual coordinate descent, class-balanced) is trained on naive-Bayes-scaled features (NBSVM);
//! the scaling is folded into the weights, so prediction is one table row per n-gram. A softmax
//! temperature fitted on held-out folds turns scores into calibrated probabilities.
//!
//! Every choice was measured by stratified 5-fold cross-validation on the 10,646 labelled public
//! messages of `gov-messages/train.jsonl` (macro-F1 over all rows / over the rows with title and
//! body, mean of three fold draws; the `cv` example runs it):
//!
//! | setting | all rows | title + body |
//! |---|---|---|
//! | the defaults | 0.9270 | 0.9245 |
//! | n-grams 1–3 / 1–4 | 0.9245 / 0.9216 | 0.9201 / 0.9179 |
//! | no NB scaling | 0.9212 | 0.9171 |
//! | no title space / title weight 1 | 0.9252 / 0.9240 | 0.9190 / 0.9227 |
//! | 2^19 / 2^18 buckets | 0.9267 / 0.9252 | 0.9235 / 0.9230 |
//! | `min_df` 1 / 3 | 0.9272 / 0.9257 | 0.9229 / 0.9241 |
//! | hinge loss / not balanced | 0.9262 / 0.9267 | 0.9232 / 0.9237 |
//!
//! Binary or square-root TF, no IDF, skip-grams, more weight on the start of the body, training
//! also on the title and body alone, per-label bias tuning and ensembles (with a plain SVM, with a
//! 1–4-gram model) did not help either. Calibrated probabilities: expected calibration error 0.02
//! out of fold.
//!
//! # The model file
//!
//! `MINHUCLS`, format (u32), header length (u32), a JSON header (labels, feature and training
//! settings, biases, calibration), the rows of the buckets in use (bucket u32, IDF and one weight
//! per label as f32, little endian), and the SHA-256 of everything before it. The version,
//! `linear-v1:` and 12 hex digits of that digest, names the model exactly; loading verifies the
//! digest, so a damaged or half-written file is refused.
//!
//! # The rules
//!
//! [`Rules`] are data ([`RulesConfig`], TOML; defaults in `src/rules.toml`, [`DEFAULT_RULES_TOML`]):
//! phrase lists matched in one pass, with negation ("没有停水", "不会停电", "如果停电" do not fire)
//! and, for emergencies, a window at the start of the text (a long letter that retells a past
//! fire is not an emergency). An analysis names every rule that fired. On 198 written examples
//! (`tests/fixtures/urgency.jsonl`) urgent recall is 0.99 and precision 0.94; on the 10,646 real
//! messages the default rules mark 5% urgent and 0.2% emergencies.
//!
//! # The default model
//!
//! [`default_model`] is trained at first use from 311 example petitions the team wrote
//! (`data/default-examples.jsonl`, 40+ per default label). On the real messages, which it never
//! saw, it reaches accuracy 0.73, macro-F1 0.72: a start until a deployment trains on its own
//! history.

mod data;
mod default_model;
mod eval;
mod features;
mod model;
mod rules;
mod svm;

pub use data::{DataError, Example, read_jsonl, read_jsonl_from};
pub use default_model::{default_examples, default_model, default_train_config};
pub use eval::{
    BenchReport, ClassReport, EvalReport, bench, cross_predict, cross_validate, evaluate,
};
pub use features::{FeatureConfig, MAX_FIELD_CHARS};
pub use model::{Model, ModelError, Prediction, TrainConfig, TrainError, train};
pub use rules::{
    Analysis, ByRequestType, DEFAULT_RULES_TOML, NegationConfig, Pathway, PathwayConfig,
    PathwayKind, PathwayRule, RequestType, RequestTypeConfig, RequestTypeRule, Rules, RulesConfig,
    RulesError, Urgency, UrgencyConfig, UrgencyRule, XinfangCategory, XinfangConfig, XinfangRule,
    default_rules,
};
pub use svm::Loss;
