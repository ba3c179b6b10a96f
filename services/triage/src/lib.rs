//! The triage role: every stored petition is classified, checked for duplicates, routed and
//! dispatched to its unit, once.
//!
//! Pure cores, no I/O:
//! - [`classify`]: keyword classifier over the configured taxonomy.
//! - [`locate`]: where the matter arose (division code), and how that was found.
//! - [`route`]: the dispatch catalogue (派单目录): category × area → lead and assisting units.
//! - [`near`]: the near-duplicate index on KV (the pure detector is the minhu-dedup crate).
//!
//! The edge: [`worker`], the durable consumer of the intake stream.

pub mod classify;
pub mod locate;
pub mod near;
pub mod route;
pub mod worker;

use minhu_contracts::v1::{Petition, RequestType, Triaged};
use minhu_core::config::Settings;

use crate::classify::KeywordClassifier;
use crate::locate::Gazetteer;
use crate::route::Catalogue;

/// The pure decision pipeline, built once from configuration.
pub struct Triage {
    pub classifier: KeywordClassifier,
    pub gazetteer: Gazetteer,
    pub catalogue: Catalogue,
}

impl Triage {
    pub fn new(settings: &Settings) -> Triage {
        Triage {
            classifier: KeywordClassifier::new(&settings.taxonomy),
            gazetteer: Gazetteer::new(&settings.catalogue),
            catalogue: Catalogue::new(&settings.catalogue),
        }
    }

    /// Classification and route for a petition, before duplicates are considered.
    pub fn assess(&self, petition: &Petition) -> Triaged {
        let mut classification = self.classifier.classify(&petition.title, &petition.body);
        let hints = petition.hints.clone().unwrap_or_default();
        // The channel's category counts only where the text gave no signal at all, and only
        // if it is one of our labels.
        if classification.category.is_empty()
            && self.classifier.labels().any(|l| l == hints.category)
        {
            classification.category = hints.category.clone();
        }
        classification.request_type = RequestType::try_from(hints.request_type)
            .unwrap_or_default()
            .into();
        let location = petition.location.clone().unwrap_or_default();
        let located = self.gazetteer.locate(
            &location.division_code,
            &location.address,
            &petition.title,
            &petition.body,
        );
        let route = self.catalogue.route(
            &classification.category,
            &located.division_code,
            located.source,
        );
        Triaged {
            classification: Some(classification),
            route: Some(route),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minhu_contracts::v1::{ChannelHints, Location, LocationSource};

    fn triage() -> Triage {
        Triage::new(&Settings::defaults())
    }

    #[test]
    fn a_township_construction_matter_goes_to_the_township() {
        let petition = Petition {
            title: "小区违章搭建".into(),
            body: "我们小区有业主违章搭建，物业不管。".into(),
            location: Some(Location {
                address: "浦江县黄宅镇某小区".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let triaged = triage().assess(&petition);
        let route = triaged.route.unwrap();
        assert_eq!(triaged.classification.unwrap().category, "城乡建设");
        assert_eq!(route.lead_unit_id, "pujiang-huangzhai");
        assert_eq!(route.assisting_unit_ids, ["pujiang-housing"]);
        assert_eq!(route.location_source, LocationSource::AddressText as i32);
    }

    #[test]
    fn the_channel_hint_only_fills_a_silent_text() {
        let mut petition = Petition {
            body: "请尽快处理。".into(),
            hints: Some(ChannelHints {
                category: "卫生计生".into(),
                request_type: RequestType::Help as i32,
            }),
            ..Default::default()
        };
        let triaged = triage().assess(&petition);
        let classification = triaged.classification.unwrap();
        assert_eq!(classification.category, "卫生计生");
        assert_eq!(classification.request_type, RequestType::Help as i32);
        assert_eq!(triaged.route.unwrap().lead_unit_id, "pujiang-health");

        petition.body = "公司拖欠工资三个月。".into();
        let classification = triage().assess(&petition).classification.unwrap();
        assert_eq!(classification.category, "劳动和社会保障");
    }

    #[test]
    fn an_unclassifiable_petition_falls_back_to_the_county_government() {
        let petition = Petition {
            body: "请尽快处理。".into(),
            ..Default::default()
        };
        let route = triage().assess(&petition).route.unwrap();
        assert!(route.fallback);
        assert_eq!(route.lead_unit_id, "pujiang-county");
    }
}
