//! Where a petition's matter happened, for 属地管理 (the area's own units handle it). The most
//! reliable source wins: a code the channel sent, then the incident address, then the petition
//! text, and only then the deployment's home area. The source goes with the result, so a unit
//! can tell a stated location from a guessed one.

use aho_corasick::{AhoCorasick, MatchKind};
use minhu_contracts::v1::LocationSource;
use minhu_core::config::CatalogueSettings;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub division_code: String,
    pub source: LocationSource,
}

#[derive(Debug, Clone)]
pub struct Gazetteer {
    /// Leftmost-longest, so "黄宅镇" is one match, not also "黄宅".
    automaton: AhoCorasick,
    /// The area code of each pattern.
    codes: Vec<String>,
    home_division: String,
}

impl Gazetteer {
    pub fn new(catalogue: &CatalogueSettings) -> Gazetteer {
        let mut names = Vec::new();
        let mut codes = Vec::new();
        for area in &catalogue.areas {
            // An empty name would match everywhere.
            for name in area.names.iter().filter(|n| !n.is_empty()) {
                names.push(name.as_str());
                codes.push(area.code.clone());
            }
        }
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&names)
            .expect("a gazetteer of configuration size fits the automaton's limits");
        Gazetteer {
            automaton,
            codes,
            home_division: catalogue.home_division.clone(),
        }
    }

    /// `division_code` is the channel's, already checked by the gateway; empty when it sent none.
    pub fn locate(&self, division_code: &str, address: &str, title: &str, body: &str) -> Located {
        let (division_code, source) = if !division_code.is_empty() {
            (division_code, LocationSource::ChannelCode)
        } else if let Some(code) = self.find(&[address]) {
            (code, LocationSource::AddressText)
        } else if let Some(code) = self.find(&[title, body]) {
            (code, LocationSource::BodyText)
        } else {
            (self.home_division.as_str(), LocationSource::DefaultArea)
        };
        Located {
            division_code: division_code.to_owned(),
            source,
        }
    }

    /// The most specific area named in `texts`: "浦江县黄宅镇" is in 黄宅镇, not just the county.
    /// Between equally specific areas, the first named. The texts are searched one by one, so no
    /// name is read across the join of two of them.
    fn find(&self, texts: &[&str]) -> Option<&str> {
        let mut best: Option<&str> = None;
        for text in texts {
            for found in self.automaton.find_iter(*text) {
                let code = self.codes[found.pattern().as_usize()].as_str();
                if best.is_none_or(|b| code.len() > b.len()) {
                    best = Some(code);
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minhu_core::config::{AreaSettings, Settings};

    use LocationSource::{AddressText, BodyText, ChannelCode, DefaultArea};

    #[test]
    fn locates_by_the_most_reliable_source() {
        let gazetteer = Gazetteer::new(&Settings::defaults().catalogue);
        let cases = [
            // (channel code, address, title, body, code, source)
            (
                "330726104",
                "浦江县黄宅镇某村",
                "",
                "白马镇",
                "330726104",
                ChannelCode,
            ),
            ("330726104001", "", "", "", "330726104001", ChannelCode),
            ("", "浦江县黄宅镇某村", "", "", "330726101", AddressText),
            ("", "浦江县城东路8号", "", "白马镇", "330726", AddressText),
            ("", "黄宅", "", "", "330726101", AddressText),
            (
                "",
                "杭州市西湖区",
                "",
                "我家在白马，村口路灯坏了",
                "330726102",
                BodyText,
            ),
            ("", "", "白马镇路灯不亮", "", "330726102", BodyText),
            ("", "", "", "", "330726", DefaultArea),
            (
                "",
                "某小区3幢",
                "路灯坏了",
                "请尽快修理。",
                "330726",
                DefaultArea,
            ),
        ];
        for (channel, address, title, body, code, source) in cases {
            let located = gazetteer.locate(channel, address, title, body);
            assert_eq!(
                located,
                Located {
                    division_code: code.to_owned(),
                    source
                },
                "{channel:?} / {address:?} / {title:?} / {body:?}"
            );
        }
    }

    #[test]
    fn the_most_specific_then_the_first_named_area_wins() {
        let gazetteer = Gazetteer::new(&Settings::defaults().catalogue);
        let cases = [
            // (title, body, code)
            ("", "浦江县黄宅镇", "330726101"),
            ("", "黄宅镇，浦江县", "330726101"),
            ("", "郑宅和郑家坞", "330726104"),
            ("", "郑家坞和郑宅", "330726103"),
            ("黄宅", "白马", "330726101"),
            ("浦江", "白马", "330726102"),
        ];
        for (title, body, code) in cases {
            let located = gazetteer.locate("", "", title, body);
            assert_eq!(located.division_code, code, "{title:?} / {body:?}");
            assert_eq!(located.source, BodyText);
        }
    }

    #[test]
    fn no_name_is_read_across_title_and_body() {
        let mut catalogue = Settings::defaults().catalogue;
        catalogue.areas.push(AreaSettings {
            code: "330726105001".into(),
            names: vec!["岩头村".into(), String::new()],
        });
        let gazetteer = Gazetteer::new(&catalogue);
        let located = gazetteer.locate("", "", "岩头", "村里停水");
        assert_eq!(located.division_code, "330726105");
        assert_eq!(
            gazetteer.locate("", "岩头村", "", "").division_code,
            "330726105001"
        );
        // The empty name matches nothing.
        assert_eq!(gazetteer.locate("", "", "", "无").source, DefaultArea);
    }
}
