//! Text normalisation: what a re-post changes without changing the matter is removed before any
//! shingle is taken — character width, letter case, punctuation, white space, and the courtesy
//! formulas (客套话) petitioners wrap around their demand.

use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, MatchKind};

/// Greetings, salutations, thanks, closings and pleas (称呼、问候、致谢、结束语) that carry no matter.
///
/// Written without punctuation because they are removed after punctuation is. Removed wherever
/// they occur, not only at the start or end: a re-post that reorders its sentences moves the
/// closing "谢谢" into the middle. Leftmost-longest, so "尊敬的领导您好" goes in one piece.
/// A phrase belongs here only if it never names a matter: "感谢信" would not, "谢谢" does.
/// Changing the list changes the sketches of texts that contain its phrases: indexed petitions
/// with them are then found as edited re-posts are, by their remaining likeness.
pub const BOILERPLATE: &[&str] = &[
    // Salutations and greetings.
    "尊敬的各位领导",
    "尊敬的领导们",
    "尊敬的领导",
    "尊敬的市长",
    "尊敬的书记",
    "尊敬的县长",
    "尊敬的区长",
    "尊敬的局长",
    "尊敬的镇长",
    "尊敬的主任",
    "尊敬的政府",
    "各位领导",
    "领导您好",
    "领导你好",
    "领导好",
    "大家好",
    "您们好",
    "你们好",
    "您好",
    "你好",
    "辛苦了",
    // Thanks and closings.
    "此致敬礼",
    "此致",
    "敬礼",
    "谢谢领导",
    "谢谢政府",
    "谢谢您",
    "谢谢你们",
    "谢谢",
    "非常感谢",
    "万分感谢",
    "感激不尽",
    "不胜感激",
    "拜托了",
    "麻烦了",
    // Pleas for attention that every petition may carry.
    "望领导重视为盼",
    "望领导予以重视",
    "恳请领导重视",
    "请领导重视",
    "望领导重视",
    "望领导关注",
    "恳请领导关注",
    "望领导帮助",
    "恳请领导帮助",
    "望领导批示",
    "盼复",
    "望回复",
    "期待回复",
    "期待您的回复",
    "望早日回复",
    // Formulas that frame the demand.
    "现将情况反映如下",
    "现反映如下",
    "特此反映",
    "以上情况属实",
];

static BOILERPLATE_AUTOMATON: LazyLock<AhoCorasick> = LazyLock::new(|| {
    AhoCorasick::builder()
        .match_kind(MatchKind::LeftmostLongest)
        .build(BOILERPLATE)
        .expect("a fixed list of short phrases fits the automaton's limits")
});

/// The text a signature is taken from: width-folded (全角 → 半角), ASCII lower-cased, only
/// letters and digits kept (every CJK ideograph is a letter), and [`BOILERPLATE`] removed.
///
/// Punctuation goes entirely rather than being folded: re-posts change "，" to "、" or "。" as
/// freely as they change width, and no matter is told by its punctuation.
pub fn normalize(text: &str) -> String {
    let folded: String = text
        .chars()
        .map(fold_width)
        .filter(|c| c.is_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    BOILERPLATE_AUTOMATON.replace_all(&folded, &[""; BOILERPLATE.len()])
}

/// NFKC's effect on the characters Chinese input methods produce: full-width ASCII (U+FF01–U+FF5E)
/// to ASCII. The ideographic space needs no folding: white space is dropped anyway.
fn fold_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        _ => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn width_case_punctuation_and_white_space_are_removed() {
        assert_eq!(
            normalize("Ａ市ＫＴＶ噪音，１２３号！\n 请处理。"),
            "a市ktv噪音123号请处理"
        );
        assert_eq!(
            normalize("A市ktv噪音,123号! 请处理."),
            "a市ktv噪音123号请处理"
        );
        assert_eq!(normalize("“小区”（二期）——《通知》…"), "小区二期通知");
    }

    #[test]
    fn boilerplate_is_removed_wherever_it_stands() {
        assert_eq!(
            normalize("尊敬的领导：您好！小区路灯坏了。谢谢！此致\n敬礼！"),
            "小区路灯坏了"
        );
        assert_eq!(
            normalize("小区路灯坏了，望领导重视为盼，请修理。"),
            "小区路灯坏了请修理"
        );
    }

    #[test]
    fn the_matter_itself_is_kept() {
        // "感谢信" names a thing; only the formula "谢谢" is courtesy.
        assert_eq!(normalize("表扬信：感谢信已寄出"), "表扬信感谢信已寄出");
        assert_eq!(normalize("您好"), "");
    }

    #[test]
    fn every_boilerplate_phrase_is_already_normalised() {
        for phrase in BOILERPLATE {
            assert!(
                phrase.chars().all(|c| c.is_alphanumeric()),
                "{phrase} would never match normalised text"
            );
        }
    }
}
