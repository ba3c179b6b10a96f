//! 行政区划代码 division codes, reduced to their significant digits so that "is inside" is a
//! plain prefix test: 浙江省 330000 → `33`, 金华市 330700 → `3307`, 浦江县 330726, a township
//! (乡级) 9 digits, a village (村级) 12 digits. A 12-digit 统计用区划代码 of a county
//! (`330726000000`) is the same area as `330726`.

use crate::config::Level;

/// Where each level's digits end: 省 2, 地 4, 县 6, 乡 9, 村 12 (GB/T 2260 + 统计用区划代码).
pub(crate) const LEVEL_ENDS: [usize; 5] = [2, 4, 6, 9, 12];

/// A division code by its significant digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Code {
    value: u64,
    len: u8,
}

impl Code {
    /// Accepts 2, 4, 6, 9 or 12 digits. Trailing all-zero level groups mean "the level above"
    /// and are dropped; a zero group followed by a non-zero one (a village under township
    /// `000`) is no code.
    pub(crate) fn parse(text: &str) -> Option<Code> {
        let bytes = text.as_bytes();
        if !LEVEL_ENDS.contains(&bytes.len()) || !bytes.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let mut significant = 0;
        let mut start = 0;
        for end in LEVEL_ENDS.into_iter().take_while(|&end| end <= bytes.len()) {
            let zero = bytes[start..end].iter().all(|&b| b == b'0');
            if !zero {
                if significant != start {
                    return None;
                }
                significant = end;
            }
            start = end;
        }
        if significant == 0 {
            return None;
        }
        let value = bytes[..significant]
            .iter()
            .fold(0u64, |v, &b| v * 10 + u64::from(b - b'0'));
        Some(Code {
            value,
            len: significant as u8,
        })
    }

    pub(crate) fn len(self) -> usize {
        usize::from(self.len)
    }

    pub(crate) fn level(self) -> Level {
        match self.len {
            2 => Level::Province,
            4 => Level::City,
            6 => Level::County,
            9 => Level::Township,
            _ => Level::Village,
        }
    }

    /// A hash key unique per code: the value, and the level so that `33` and `0033` differ.
    pub(crate) fn key(self) -> u64 {
        (self.value << 3) | self.level() as u64
    }

    /// The enclosing code of `len` significant digits (`len` a level end, at most this long).
    pub(crate) fn truncate(self, len: usize) -> Code {
        let drop = self.len() - len;
        Code {
            value: self.value / 10u64.pow(drop as u32),
            len: len as u8,
        }
    }

    /// Whether `other` is this area or inside it.
    pub(crate) fn contains(self, other: Code) -> bool {
        self.len <= other.len && other.truncate(self.len()) == self
    }

    /// The enclosing area one level up; none for a province.
    pub(crate) fn parent(self) -> Option<Code> {
        LEVEL_ENDS
            .into_iter()
            .take_while(|&end| end < self.len())
            .last()
            .map(|end| self.truncate(end))
    }

    /// This code, then each enclosing one: the most local first (属地).
    pub(crate) fn self_and_ancestors(self) -> impl Iterator<Item = Code> {
        LEVEL_ENDS
            .into_iter()
            .rev()
            .filter(move |&end| end <= self.len())
            .map(move |end| self.truncate(end))
    }

    /// The code as channels and units write it: 6, 9 or 12 digits (a province or city padded
    /// to 6, as in GB/T 2260).
    pub(crate) fn standard(self) -> String {
        // Written by hand: `format!` cost more than the rest of a decision's catalogue work.
        let mut digits = [b'0'; 12];
        let mut value = self.value;
        for digit in digits[..self.len()].iter_mut().rev() {
            *digit = b'0' + (value % 10) as u8;
            value /= 10;
        }
        std::str::from_utf8(&digits[..self.len().max(6)])
            .expect("ASCII digits")
            .to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_to_significant_digits() {
        let cases = [
            // (text, significant, standard form)
            ("33", Some("33"), "330000"),
            ("330000", Some("33"), "330000"),
            ("3307", Some("3307"), "330700"),
            ("330700", Some("3307"), "330700"),
            ("330726", Some("330726"), "330726"),
            ("330726000000", Some("330726"), "330726"),
            ("330726101", Some("330726101"), "330726101"),
            ("330726101000", Some("330726101"), "330726101"),
            ("330726101203", Some("330726101203"), "330726101203"),
            ("000000", None, ""),
            ("330026", None, ""),
            ("330726000201", None, ""),
            ("3307261", None, ""),
            ("33072a", None, ""),
            ("", None, ""),
        ];
        for (text, significant, standard) in cases {
            let code = Code::parse(text);
            assert_eq!(
                code.map(|c| c.standard()[..c.len()].to_owned()),
                significant.map(str::to_owned),
                "{text}"
            );
            if let Some(code) = code {
                assert_eq!(code.standard(), standard, "{text}");
            }
        }
    }

    #[test]
    fn containment_levels_and_ancestors() {
        let county = Code::parse("330726").unwrap();
        let town = Code::parse("330726101").unwrap();
        let village = Code::parse("330726101203").unwrap();
        let other = Code::parse("330727").unwrap();
        assert!(county.contains(town) && county.contains(village) && county.contains(county));
        assert!(!town.contains(county) && !other.contains(town));
        assert_eq!(village.parent(), Some(town));
        assert_eq!(Code::parse("33").unwrap().parent(), None);
        assert_eq!(town.level(), Level::Township);
        let chain: Vec<String> = village.self_and_ancestors().map(Code::standard).collect();
        assert_eq!(
            chain,
            ["330726101203", "330726101", "330726", "330700", "330000"]
        );
        assert_eq!(Code::parse("3300"), Code::parse("33"));
        assert_ne!(county.key(), Code::parse("330727").unwrap().key());
    }
}
