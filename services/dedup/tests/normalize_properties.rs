//! Properties of text normalisation over generated texts: any text normalises (never a
//! panic) to letters and digits only; what a re-post changes without changing the matter
//! (punctuation, white space, character width, ASCII case, courtesy formulas) changes nothing.

use minhu_dedup::normalize::{BOILERPLATE, normalize};
use proptest::prelude::*;

/// Characters of petitions' matters that occur in no courtesy formula, so that whole
/// formulas put between them can be told apart from the matter.
fn matter_chars() -> Vec<char> {
    "小区路灯坏了噪音施工扰民垃圾污水停车违章搭建物业欠薪拖欠工资学校医院公交线路电梯漏水\
     燃气供暖拆迁补偿村道路面破损河道黑臭油烟餐饮摊贩占道广场舞夜间装修商铺0123456789abcxyz"
        .chars()
        .filter(|c| !BOILERPLATE.iter().any(|phrase| phrase.contains(*c)))
        .collect()
}

fn matter() -> impl Strategy<Value = String> {
    let chars = matter_chars();
    prop::collection::vec(prop::sample::select(chars), 1..60).prop_map(String::from_iter)
}

/// What may surround and split a matter's characters without changing it.
fn noise() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec![
            ' ', '\n', '\t', '\u{3000}', '，', '。', '！', '？', '、', '；', '：', '“', '”', '（',
            '）', '《', '》', '…', '—', ',', '.', '!', '?', '-', '(', ')', '"', '\'', '~', '*',
        ]),
        0..4,
    )
    .prop_map(String::from_iter)
}

/// Full-width form of ASCII letters and digits (what Chinese input methods produce).
fn full_width(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '!'..='~' => char::from_u32(c as u32 + 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_text_becomes_lower_case_letters_and_digits(text in any::<String>()) {
        let normal = normalize(&text);
        prop_assert!(normal.chars().count() <= text.chars().count());
        for c in normal.chars() {
            prop_assert!(c.is_alphanumeric(), "{c:?}");
            prop_assert!(!c.is_ascii_uppercase(), "{c:?}");
            prop_assert!(!('\u{FF01}'..='\u{FF5E}').contains(&c), "full width {c:?}");
        }
    }

    #[test]
    fn punctuation_and_white_space_change_nothing(
        text in "\\PC{0,80}",
        splits in prop::collection::vec((any::<prop::sample::Index>(), noise()), 0..8),
    ) {
        let mut chars: Vec<String> = text.chars().map(String::from).collect();
        for (at, noise) in splits {
            let at = at.index(chars.len() + 1);
            chars.insert(at, noise);
        }
        prop_assert_eq!(normalize(&chars.concat()), normalize(&text));
    }

    #[test]
    fn width_and_ascii_case_change_nothing(text in "[ -~\\p{Han}]{0,60}") {
        let normal = normalize(&text);
        prop_assert_eq!(normalize(&full_width(&text)), normal.clone());
        prop_assert_eq!(normalize(&text.to_ascii_uppercase()), normal);
    }

    #[test]
    fn courtesy_formulas_between_the_words_leave_the_matter(
        matter in matter(),
        formulas in prop::collection::vec(
            (any::<prop::sample::Index>(), prop::sample::select(BOILERPLATE), noise(), noise()),
            0..5,
        ),
    ) {
        // At most one formula in each gap: two formulas side by side can spell a third
        // ("谢谢" + "您好" reads "谢谢您" + "好"), which a writer would not produce.
        let mut gaps: Vec<Option<String>> = vec![None; matter.chars().count() + 1];
        for (at, formula, before, after) in formulas {
            let gap = at.index(gaps.len());
            gaps[gap] = Some(format!("{before}{formula}{after}"));
        }
        let mut text = String::new();
        for (gap, c) in gaps.iter().zip(matter.chars().map(Some).chain([None])) {
            text.push_str(gap.as_deref().unwrap_or(""));
            text.extend(c);
        }
        prop_assert_eq!(normalize(&text), normalize(&matter));
    }
}
