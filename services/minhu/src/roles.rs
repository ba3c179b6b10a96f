//! The roles one `minhu` binary can run (like Grafana Loki's targets): all of them in one
//! process on one machine, or one role per process to scale out on a NATS cluster.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// gRPC IntakeService: authenticates channels, stores petitions, answers Track.
    Gateway,
    /// Consumes the intake stream: classify, dedup, route, dispatch.
    Triage,
    /// gRPC CaseService (the unit workflow) and the unit feeds.
    Dispatch,
    /// gRPC OpsService (QueueHealth) and the queue and unit gauges.
    Ops,
    /// The 接诉即办 clock: deadlines from the SLA policies, warnings, overdue, escalation.
    Clock,
    /// Pull connectors: polls HTTP JSON sources and submits their items through the intake.
    Connector,
}

impl Role {
    /// Every role: what `--roles all` (the default of `minhu serve`) runs.
    pub const ALL: [Role; 6] = [
        Role::Gateway,
        Role::Triage,
        Role::Dispatch,
        Role::Ops,
        Role::Clock,
        Role::Connector,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Role::Gateway => "gateway",
            Role::Triage => "triage",
            Role::Dispatch => "dispatch",
            Role::Ops => "ops",
            Role::Clock => "clock",
            Role::Connector => "connector",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Role::Gateway => {
                "gRPC intake for channels: authenticate, validate, store, receipt, Track"
            }
            Role::Triage => "classify, recognise duplicates, route and dispatch each petition once",
            Role::Dispatch => "CaseService for units, the centre and petitioners; unit feeds",
            Role::Ops => {
                "QueueHealth and UnitPerformance over gRPC, queue and per-unit gauges for /metrics"
            }
            Role::Clock => {
                "statutory deadlines on the working-day calendar; timers, warnings, overdue, 督办"
            }
            Role::Connector => {
                "polls the configured HTTP JSON sources ([[connectors]]) and submits their items; idles without any"
            }
        }
    }

    /// Whether the role serves gRPC (and so needs the listener).
    pub fn serves_grpc(self) -> bool {
        matches!(self, Role::Gateway | Role::Dispatch | Role::Ops)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.name() == s.trim())
            .ok_or_else(|| {
                let known: Vec<_> = Role::ALL.iter().map(|r| r.name()).collect();
                format!("unknown role {s:?}; roles are: {}", known.join(", "))
            })
    }
}

/// Parses `gateway,triage` (or `all`) into a sorted, distinct list.
pub fn parse_roles(list: &str) -> Result<Vec<Role>, String> {
    if list.trim() == "all" {
        return Ok(Role::ALL.to_vec());
    }
    let mut roles = list
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(Role::from_str)
        .collect::<Result<Vec<_>, _>>()?;
    roles.sort();
    roles.dedup();
    if roles.is_empty() {
        return Err("no role given".into());
    }
    Ok(roles)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_lists_parse_and_unknown_roles_are_named() {
        assert_eq!(parse_roles("all").unwrap(), Role::ALL);
        assert_eq!(
            parse_roles("clock,triage").unwrap(),
            [Role::Triage, Role::Clock]
        );
        assert_eq!(
            parse_roles("triage, gateway,triage").unwrap(),
            [Role::Gateway, Role::Triage]
        );
        let err = parse_roles("gateway,clerk").unwrap_err();
        assert!(
            err.contains("clerk") && err.contains("gateway, triage"),
            "{err}"
        );
        assert!(parse_roles("").is_err());
    }
}
