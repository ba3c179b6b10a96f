//! The embedded default model: trained, at first use, from example petitions the team wrote for
//! the 7 default labels (`data/default-examples.jsonl`, not taken from any real data set), so
//! the product classifies out of the box. Deployments train their own with [`crate::train`].

use std::sync::OnceLock;

use crate::data::{Example, read_jsonl_from};
use crate::features::FeatureConfig;
use crate::model::{Model, TrainConfig, train};

const DEFAULT_EXAMPLES: &str = include_str!("../data/default-examples.jsonl");

/// The written examples behind the default model.
pub fn default_examples() -> Vec<Example> {
    read_jsonl_from(DEFAULT_EXAMPLES.as_bytes(), "default-examples.jsonl")
        .expect("the embedded examples are valid")
}

/// Settings for a few hundred examples: a small table (they hold some twenty thousand distinct
/// n-grams; 2^16 buckets measured as accurate as 2^18 and train faster) and every n-gram kept,
/// since most occur once.
pub fn default_train_config() -> TrainConfig {
    TrainConfig {
        features: FeatureConfig {
            hash_bits: 16,
            ..FeatureConfig::default()
        },
        min_df: 1,
        ..TrainConfig::default()
    }
}

/// The default model, trained on first use (about a tenth of a second in a release build) and
/// shared afterwards. Training is deterministic, so its version is the same in every process.
pub fn default_model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| {
        train(&default_examples(), &default_train_config()).expect("the default examples train")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_model_knows_the_seven_labels() {
        let model = default_model();
        assert_eq!(
            model.labels(),
            [
                "交通运输",
                "劳动和社会保障",
                "卫生计生",
                "商贸旅游",
                "城乡建设",
                "教育文体",
                "环境保护"
            ]
        );
        assert!(model.trained_examples() >= 7 * 40);
        assert!(model.version().starts_with("linear-v1:"));
        for label in model.labels() {
            let count = default_examples()
                .iter()
                .filter(|e| &e.label == label)
                .count();
            assert!(count >= 40, "{label}: {count} examples");
        }
    }

    /// Petitions written for this test, not among the training examples.
    #[test]
    fn the_default_model_classifies_unseen_petitions() {
        let model = default_model();
        let cases = [
            (
                "城乡建设",
                "小区物业乱停车位",
                "物业把消防通道改成停车位出租，业主多次反映无果。",
            ),
            ("城乡建设", "", "老小区加装电梯的补贴什么时候能发下来？"),
            (
                "环境保护",
                "养鸭场臭气熏天",
                "村口养鸭场的污水直接排进小河，臭味很大。",
            ),
            ("环境保护", "", "烧烤摊油烟太大，楼上住户都不敢开窗。"),
            (
                "交通运输",
                "公交车晚点",
                "五路公交车经常晚点半小时，上班族很着急。",
            ),
            ("交通运输", "", "高速收费站排队太长，建议多开几个ETC通道。"),
            (
                "教育文体",
                "幼儿园入园难",
                "小区配套幼儿园一直没有开办，孩子入园要跑很远。",
            ),
            ("教育文体", "", "学校老师私下办补习班，收费很高。"),
            (
                "劳动和社会保障",
                "老板不交社保",
                "工厂老板不给员工交养老保险，还拖欠工资。",
            ),
            ("劳动和社会保障", "", "请问失业金在哪里申请，需要什么材料？"),
            (
                "商贸旅游",
                "理发店办卡跑路",
                "理发店充值卡用了两次店就关门了，老板联系不上。",
            ),
            ("商贸旅游", "", "景区停车场收费太高，导游还强制购物。"),
            (
                "卫生计生",
                "医院乱开检查",
                "孩子感冒去医院，医生开了一千多元的检查。",
            ),
            ("卫生计生", "", "请问独生子女父母奖励扶助金怎么申请？"),
        ];
        for (label, title, body) in cases {
            let prediction = model.predict(title, body);
            assert_eq!(
                prediction.label, label,
                "{title} {body}: {:?}",
                prediction.top
            );
            assert!(prediction.probability > 1.0 / 7.0);
        }
    }
}
