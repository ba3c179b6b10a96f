//! The edits a re-post makes to a petition without changing its matter, generated to measure the
//! detector: the same person re-files through another channel (a hotline operator retypes it, a
//! portal form adds a greeting), or copies an earlier post and touches it up.

use std::fmt;

use rand::Rng;
use rand::seq::{IndexedRandom, SliceRandom};

/// One kind of edit, measured on its own so a weakness shows up by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EditKind {
    /// Full-width and half-width punctuation swapped, marks replaced or dropped, line breaks and
    /// spaces added.
    Punctuation,
    /// A greeting (称呼、问候) put before the text and a closing or signature (落款) after it;
    /// some of them name the petitioner and are not boilerplate.
    GreetingSignature,
    /// Sentences (or, in a one-sentence text, clauses) in another order.
    Reorder,
    /// One to five characters substituted, inserted or deleted: typos and their corrections.
    Characters,
    /// All of the above at once.
    Combined,
}

impl EditKind {
    pub const ALL: [EditKind; 5] = [
        EditKind::Punctuation,
        EditKind::GreetingSignature,
        EditKind::Reorder,
        EditKind::Characters,
        EditKind::Combined,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EditKind::Punctuation => "punctuation",
            EditKind::GreetingSignature => "greeting+signature",
            EditKind::Reorder => "reordered",
            EditKind::Characters => "changed-chars",
            EditKind::Combined => "combined",
        }
    }

    /// The body as a re-post with this kind of edit would carry it. The title is left alone: a
    /// changed title is what the exact duplicates in real data show.
    pub fn apply(self, body: &str, rng: &mut impl Rng) -> String {
        match self {
            EditKind::Punctuation => change_punctuation(body, rng),
            EditKind::GreetingSignature => add_greeting_and_signature(body, rng),
            EditKind::Reorder => reorder(body, rng),
            EditKind::Characters => change_characters(body, rng),
            EditKind::Combined => {
                let body = reorder(body, rng);
                let body = change_characters(&body, rng);
                let body = add_greeting_and_signature(&body, rng);
                change_punctuation(&body, rng)
            }
        }
    }
}

impl fmt::Display for EditKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Openings seen on petition portals. Several carry words that are not boilerplate ("我想反映一个
/// 问题"), so normalisation alone does not undo this edit.
const GREETINGS: &[&str] = &[
    "尊敬的领导：您好！",
    "尊敬的各位领导，你们好，",
    "市长您好！",
    "您好，我想反映一个问题。",
    "领导好！本人是本地居民，",
    "各位领导辛苦了！",
    "尊敬的书记：",
    "你好！再次反映：",
];

/// Closings and signatures (落款), with names, roles and contact details that normalisation
/// keeps.
const SIGNATURES: &[&str] = &[
    "望领导重视，谢谢！",
    "此致\n敬礼！\n一位市民",
    "恳请相关部门尽快处理，万分感谢！——小区业主王先生",
    "联系电话：139****5678。",
    "急盼回复！！",
    "谢谢领导！一个无助的老百姓",
    "以上情况属实，望早日回复。李女士",
    "一位老党员\n2019年5月",
];

/// Pairs of marks a retyping swaps for each other, full width and half width.
const PUNCTUATION_SWAPS: &[(char, &[&str])] = &[
    ('，', &[",", "、", "。", " ", "；"]),
    ('。', &[".", "，", "！", "\n", " "]),
    ('！', &["!", "。", "！！", "~"]),
    ('？', &["?", "。", "？？"]),
    ('：', &[":", "，", " "]),
    ('；', &[";", "，", "。"]),
    ('、', &[",", "，", " "]),
    ('“', &["\"", "「", "'"]),
    ('”', &["\"", "」", "'"]),
    ('（', &["(", "【", " "]),
    ('）', &[")", "】", " "]),
    (',', &["，", "、"]),
    ('.', &["。"]),
];

fn change_punctuation(body: &str, rng: &mut impl Rng) -> String {
    let mut out = String::with_capacity(body.len() + 16);
    for c in body.chars() {
        match PUNCTUATION_SWAPS.iter().find(|(from, _)| *from == c) {
            Some((_, to)) if rng.random_bool(0.6) => out.push_str(to.choose(rng).unwrap_or(&"")),
            // Dropped altogether, as speech-to-text transcripts do.
            Some(_) if rng.random_bool(0.2) => {}
            _ => out.push(c),
        }
        if !c.is_alphanumeric() && rng.random_bool(0.1) {
            out.push_str(if rng.random_bool(0.5) { "\n" } else { "  " });
        }
    }
    out.push_str(["！！！", "。", "!!", "……"].choose(rng).unwrap_or(&""));
    out
}

fn add_greeting_and_signature(body: &str, rng: &mut impl Rng) -> String {
    let greeting = GREETINGS.choose(rng).unwrap_or(&"");
    let signature = SIGNATURES.choose(rng).unwrap_or(&"");
    format!("{greeting}{body}\n{signature}")
}

/// Sentences keep their closing mark, so the reordered text still reads as sentences.
fn reorder(body: &str, rng: &mut impl Rng) -> String {
    let mut units = split_after(body, &['。', '！', '？', '!', '?', '；', ';', '\n']);
    if units.len() < 2 {
        units = split_after(body, &['，', ',', '、']);
    }
    if units.len() < 2 {
        return body.to_owned();
    }
    let original = units.clone();
    // A shuffle of a few units often returns them in order; a reorder that reorders nothing
    // would flatter the detector.
    for _ in 0..8 {
        units.shuffle(rng);
        if units != original {
            break;
        }
    }
    if units == original {
        units.rotate_left(1);
    }
    units.concat()
}

fn split_after<'a>(text: &'a str, marks: &[char]) -> Vec<&'a str> {
    let mut units = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if marks.contains(&c) {
            let end = i + c.len_utf8();
            units.push(&text[start..end]);
            start = end;
        }
    }
    if start < text.len() {
        units.push(&text[start..]);
    }
    units.retain(|u| u.chars().any(char::is_alphanumeric));
    units
}

/// Ideographs a substitution draws from: common ones, so an edit reads like a typo or a word
/// swapped, not like noise.
const REPLACEMENTS: &[char] = &[
    '的', '是', '在', '有', '了', '不', '人', '这', '我', '们', '区', '市', '路', '小', '楼', '住',
    '户', '房', '问', '题', '部', '门', '要', '求', '处', '理', '现', '已', '经', '多', '年', '还',
];

fn change_characters(body: &str, rng: &mut impl Rng) -> String {
    let mut chars: Vec<char> = body.chars().collect();
    let edits = rng.random_range(1..=5);
    for _ in 0..edits {
        let letters: Vec<usize> = (0..chars.len())
            .filter(|&i| chars[i].is_alphanumeric())
            .collect();
        let Some(&at) = letters.choose(rng) else {
            break;
        };
        let replacement = *REPLACEMENTS.choose(rng).unwrap_or(&'的');
        match rng.random_range(0..3) {
            0 => chars[at] = replacement,
            1 => chars.insert(at, replacement),
            _ => {
                chars.remove(at);
            }
        }
    }
    chars.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;
    use crate::normalize::normalize;

    const BODY: &str = "黄宅镇某小区有业主违章搭建，物业不管。多次反映无果！请尽快处理？";

    #[test]
    fn every_kind_changes_the_text() {
        let mut rng = StdRng::seed_from_u64(7);
        for kind in EditKind::ALL {
            for _ in 0..20 {
                assert_ne!(kind.apply(BODY, &mut rng), BODY, "{kind}");
            }
        }
    }

    #[test]
    fn punctuation_edits_leave_the_normalised_text_alone() {
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..20 {
            let edited = EditKind::Punctuation.apply(BODY, &mut rng);
            assert_eq!(normalize(&edited), normalize(BODY), "{edited}");
        }
    }

    #[test]
    fn reordering_keeps_every_sentence() {
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..20 {
            let edited = EditKind::Reorder.apply(BODY, &mut rng);
            let mut a: Vec<char> = edited.chars().collect();
            let mut b: Vec<char> = BODY.chars().collect();
            a.sort_unstable();
            b.sort_unstable();
            assert_eq!(a, b);
            assert!(edited.contains("物业不管。"), "{edited}");
        }
    }

    #[test]
    fn one_sentence_texts_are_reordered_by_clause() {
        let mut rng = StdRng::seed_from_u64(7);
        let edited = EditKind::Reorder.apply("路灯坏了，晚上很黑，请修理", &mut rng);
        assert_ne!(edited, "路灯坏了，晚上很黑，请修理");
    }

    #[test]
    fn character_edits_touch_at_most_five_characters() {
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..50 {
            let edited = EditKind::Characters.apply(BODY, &mut rng);
            let (a, b) = (BODY.chars().count(), edited.chars().count());
            assert!(a.abs_diff(b) <= 5, "{edited}");
        }
    }
}
