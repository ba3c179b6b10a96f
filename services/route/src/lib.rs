//! minhu-route: the pure routing core. Given a classified petition, it finds where the matter
//! arose and which unit must handle it (属地管理、分级负责，谁主管、谁负责), and keeps
//! accusations away from the accused (检举控告保护). No I/O: the triage role calls
//! [`Router::route`]; a configuration reload builds a new [`Router`] and swaps it in.
//!
//! - [`RouterConfig`]: the unit directory, the gazetteer's area names and the dispatch
//!   catalogue (派单目录), as configuration; [`RouterConfig::demo`] is 浦江县.
//! - [`Router`]: validated and indexed; [`Router::route`] → [`RouteOutcome`].
//! - [`Directory`]: the units and their supervision hierarchy.
//! - [`mod@bench`]: a synthetic province and the routing latency measurement.

pub mod bench;
mod catalogue;
mod code;
mod config;
mod directory;
mod gazetteer;
mod guard;
mod hash;
mod router;
mod scan;
#[cfg(test)]
mod tests;

pub use config::{
    AreaConfig, DEMO_TOML, DeliveryConfig, Level, RequestType, RouterConfig, RuleConfig, UnitConfig,
};
pub use directory::Directory;
pub use guard::Redirect;
pub use router::{
    CentreQueue, CentreReason, Dispatch, GuardInfo, Location, LocationSource, RouteInput,
    RouteOutcome, Router,
};

/// The category of a rule that matches every category.
pub const ANY_CATEGORY: &str = "*";
/// The rule id of a decision where no rule matched and the area's government took the case.
pub const FALLBACK_RULE_ID: &str = "fallback";
/// The rule id of a decision where the accusation guard chose the lead unit.
pub const GUARD_RULE_ID: &str = "accusation-guard";

/// Every problem of a routing configuration, so an operator fixes it in one go.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("routing configuration is invalid:\n  - {}", problems.join("\n  - "))]
pub struct ConfigErrors {
    /// One line per problem, each naming where it is (`units[pujiang-baima].supervisor ...`).
    pub problems: Vec<String>,
}

impl ConfigErrors {
    fn check(problems: Vec<String>) -> Result<(), ConfigErrors> {
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors { problems })
        }
    }
}
