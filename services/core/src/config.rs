//! Configuration: embedded defaults, then an optional TOML file, then `MINHU_*` environment
//! variables (`__` separates levels: `MINHU_NATS__URL`). Every struct refuses unknown keys, so a
//! typo is an error at start, not a silently ignored setting.

use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::{Deserialize, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::domain::{ChannelId, DivisionCode, UnitId};
/// The SLA policy configuration `[clock.sla]` holds (minhu-clock's), for callers building
/// settings in code.
pub use minhu_clock::SlaConfig;
use minhu_clock::{Calendar, ChannelType};

/// The default configuration, compiled in so `minhu serve` runs from anywhere.
pub const DEFAULT_TOML: &str = include_str!("default.toml");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration could not be read: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("configuration is invalid:\n  - {}", .0.join("\n  - "))]
    Invalid(Vec<String>),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub nats: NatsSettings,
    pub gateway: GatewaySettings,
    pub triage: TriageSettings,
    pub dedup: DedupSettings,
    pub ops: OpsSettings,
    pub centre: CentreSettings,
    pub identity: IdentitySettings,
    pub channels: Vec<ChannelSettings>,
    pub deadlines: DeadlineSettings,
    pub taxonomy: TaxonomySettings,
    pub catalogue: CatalogueSettings,
    pub clock: ClockSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsSettings {
    /// An existing NATS to use; unset means `minhu serve` manages a local server.
    #[serde(default)]
    pub url: Option<String>,
    pub managed_listen: SocketAddr,
    pub managed_store_dir: PathBuf,
    /// Replicas of every stream and bucket (1 on one server, 3 on a cluster).
    pub replicas: usize,
    pub request_timeout_ms: u64,
    /// NKey seed this process authenticates to NATS with (deploy/nats/accounts.conf).
    #[serde(default)]
    pub nkey_seed: Option<Secret>,
    /// The reply-subject prefix NATS permissions allow this process (e.g. `_INBOX_triage`).
    #[serde(default)]
    pub inbox_prefix: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySettings {
    pub listen: SocketAddr,
    pub max_title_chars: usize,
    pub max_body_chars: usize,
    pub max_address_chars: usize,
    pub max_channel_message_id_chars: usize,
    pub max_attachments: usize,
    pub max_attachment_bytes: u64,
    pub max_attachment_uri_chars: usize,
    pub max_clock_skew_secs: u64,
    /// Petitions per second each channel may submit (a channel may set its own).
    pub submit_rate_per_channel: u32,
    /// Burst above the rate a channel may submit at once.
    pub submit_burst: u32,
    /// Wrong query codes tolerated per tracking number within the window.
    pub track_failures_per_case: u32,
    pub track_failure_window_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriageSettings {
    pub ack_wait_secs: u64,
    pub max_deliver: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DedupSettings {
    /// A petitioner's closed case is re-examined (复查/复核) rather than taken as a new matter
    /// when the same matter comes back within this many days.
    pub repeat_window_days: u32,
    /// Petitions of different people are one matter (并单) only within this many days.
    pub cluster_window_days: u32,
    /// A cluster with this many distinct petitioners within the window is a hotspot.
    pub hotspot_min_petitioners: usize,
    pub hotspot_window_secs: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CentreSettings {
    /// SHA-256 (hex) of the centre's token.
    #[serde(default)]
    pub token_sha256: Option<String>,
    /// A clear demo centre token, printed at start.
    #[serde(default)]
    pub demo_token: Option<Secret>,
    /// Working days after dispatch within which a unit may return a case (退单).
    pub objection_working_days: u32,
    /// Days after the reply within which a petitioner may ask for review (复查).
    pub review_window_days: u32,
}

impl CentreSettings {
    pub fn token_digest(&self) -> Option<[u8; 32]> {
        credential_digest(&self.token_sha256, &self.demo_token)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpsSettings {
    /// Where this process serves Prometheus `/metrics` (every role); unset: no endpoint.
    #[serde(default)]
    pub metrics_listen: Option<SocketAddr>,
    /// How often the ops role refreshes the queue and unit gauges.
    pub gauge_interval_ms: u64,
    /// SHA-256 (hex) of the ops token that OpsService requires.
    #[serde(default)]
    pub token_sha256: Option<String>,
    /// A clear demo ops token, printed at start.
    #[serde(default)]
    pub demo_token: Option<Secret>,
}

impl OpsSettings {
    pub fn token_digest(&self) -> Option<[u8; 32]> {
        credential_digest(&self.token_sha256, &self.demo_token)
    }
}

/// The SHA-256 of a credential: the configured digest, or else the clear demo token's. A
/// digest set by a file or the environment replaces the embedded demo token, which a file
/// cannot remove.
fn credential_digest(
    token_sha256: &Option<String>,
    demo_token: &Option<Secret>,
) -> Option<[u8; 32]> {
    if let Some(hex_digest) = token_sha256 {
        let bytes = hex::decode(hex_digest).ok()?;
        return bytes.try_into().ok();
    }
    demo_token
        .as_ref()
        .map(|t| Sha256::digest(t.expose().as_bytes()).into())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentitySettings {
    pub tracking_prefix: String,
    pub query_code_key: Secret,
    pub petitioner_hash_key: Secret,
    pub sealing_keys: Vec<SealingKeySettings>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealingKeySettings {
    pub id: String,
    pub key_hex: Secret,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelSettings {
    pub id: String,
    pub name: String,
    /// SHA-256 of the bearer token, hex. The clear token is never stored.
    #[serde(default)]
    pub token_sha256: Option<String>,
    /// A clear demo token, for trying minhu out; printed at start.
    #[serde(default)]
    pub demo_token: Option<Secret>,
    /// This channel's own submit rate (per second) and burst, instead of the gateway's.
    #[serde(default)]
    pub rate_per_second: Option<u32>,
    #[serde(default)]
    pub burst: Option<u32>,
}

impl ChannelSettings {
    /// The SHA-256 of the channel's token, whichever way it was configured.
    pub fn token_digest(&self) -> Option<[u8; 32]> {
        credential_digest(&self.token_sha256, &self.demo_token)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadlineSettings {
    pub acceptance_notice_days: u32,
    pub handling_days: u32,
}

/// The 接诉即办 clock: which SLA policies and which holiday calendar set the deadlines, and how
/// the clock role takes its timers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockSettings {
    /// Channels whose cases run on the 12345 hotline's clock (渠道类型 hotline); every other
    /// channel's cases are 信访.
    pub hotline_channels: Vec<String>,
    /// The SLA profiles to apply, replacing the policies' own `active` list (e.g.
    /// `["xinfang-national", "hotline-12345"]` outside 浙江).
    #[serde(default)]
    pub active_profiles: Option<Vec<String>>,
    /// SLA policies replacing the embedded ones (minhu-clock's policies.toml), as a table of the
    /// same shape: `[clock.sla]` with `active` and `[[clock.sla.profiles]]`.
    #[serde(default)]
    pub sla: Option<SlaConfig>,
    /// A holiday calendar file (the shape of minhu-clock's calendar.toml) replacing the embedded
    /// 2024–2026 one, e.g. once next year's State Council notice is out.
    #[serde(default)]
    pub calendar_file: Option<PathBuf>,
    /// A fired timer a clock instance has not finished within this time goes to another one.
    pub ack_wait_secs: u64,
}

impl ClockSettings {
    /// The SLA policies in force: the configured or embedded ones, with `active_profiles`.
    pub fn sla_config(&self) -> SlaConfig {
        let mut config = self.sla.clone().unwrap_or_else(SlaConfig::embedded);
        if let Some(active) = &self.active_profiles {
            config.active = active.clone();
        }
        config
    }

    /// The working-day calendar in force: the configured file, else the embedded one.
    pub fn calendar(&self) -> Result<Calendar, String> {
        let Some(path) = &self.calendar_file else {
            return Ok(Calendar::embedded());
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("clock.calendar_file {}: {e}", path.display()))?;
        Calendar::from_toml(&text)
            .map_err(|e| format!("clock.calendar_file {}: {e}", path.display()))
    }

    /// 渠道类型 of a channel's cases.
    pub fn channel_type(&self, channel_id: &str) -> ChannelType {
        if self.hotline_channels.iter().any(|c| c == channel_id) {
            ChannelType::Hotline
        } else {
            ChannelType::Petition
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaxonomySettings {
    pub labels: Vec<LabelSettings>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelSettings {
    pub name: String,
    pub keywords: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogueSettings {
    pub version: String,
    /// The deployment's own area, assumed when a petition names none.
    pub home_division: String,
    /// The unit that takes a case no rule matches (the area's government).
    pub fallback_unit: String,
    pub units: Vec<UnitSettings>,
    #[serde(default)]
    pub areas: Vec<AreaSettings>,
    pub rules: Vec<RuleSettings>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitSettings {
    pub id: String,
    pub name: String,
    pub division_code: String,
    /// The unit one level up (上级主管): decides this unit's extensions, takes its reviews.
    #[serde(default)]
    pub supervisor: Option<String>,
    /// SHA-256 (hex) of the unit's CaseService token.
    #[serde(default)]
    pub token_sha256: Option<String>,
    /// A clear demo token for the unit.
    #[serde(default)]
    pub demo_token: Option<Secret>,
}

impl UnitSettings {
    pub fn token_digest(&self) -> Option<[u8; 32]> {
        credential_digest(&self.token_sha256, &self.demo_token)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AreaSettings {
    pub code: String,
    pub names: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSettings {
    pub id: String,
    /// A taxonomy label, or "*" for any.
    pub category: String,
    pub area_prefix: String,
    pub lead: String,
    #[serde(default)]
    pub assist: Vec<String>,
}

impl Settings {
    /// Defaults, then `file` if given, then `MINHU_*` variables; checked as a whole.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        let mut figment = Figment::from(Toml::string(DEFAULT_TOML));
        if let Some(path) = file {
            figment = figment.merge(Toml::file_exact(path));
        }
        // MINHU_CONFIG, MINHU_LOG_FORMAT and the client tokens (MINHU_TOKEN, MINHU_OPS_TOKEN)
        // are command-line settings, not configuration keys.
        figment = figment.merge(Env::prefixed("MINHU_").split("__").ignore(&[
            "config",
            "log_format",
            "token",
            "ops_token",
        ]));
        let settings: Settings = figment.extract().map_err(Box::new)?;
        settings.validate()?;
        Ok(settings)
    }

    /// The embedded defaults alone, ignoring the environment (tests start from these).
    pub fn defaults() -> Settings {
        let settings: Settings = Figment::from(Toml::string(DEFAULT_TOML))
            .extract()
            .expect("embedded default configuration parses");
        settings
            .validate()
            .expect("embedded default configuration is valid");
        settings
    }

    /// Every problem at once, so an operator fixes the file in one go.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        if self.nats.replicas == 0 || self.nats.replicas > 5 {
            problems.push(format!(
                "nats.replicas must be 1..=5, got {}",
                self.nats.replicas
            ));
        }
        if self.identity.sealing_keys.is_empty() {
            problems.push("identity.sealing_keys needs at least one key".into());
        }
        for key in &self.identity.sealing_keys {
            match hex::decode(key.key_hex.expose()) {
                Ok(bytes) if bytes.len() == 32 => {}
                _ => problems.push(format!(
                    "identity.sealing_keys[{}].key_hex must be 64 hex digits",
                    key.id
                )),
            }
        }
        if self.identity.tracking_prefix.is_empty()
            || !self
                .identity
                .tracking_prefix
                .chars()
                .all(|c| c.is_ascii_uppercase())
        {
            problems.push("identity.tracking_prefix must be ASCII capital letters".into());
        }
        let mut channel_ids = HashSet::new();
        let mut token_digests = HashSet::new();
        for channel in &self.channels {
            if let Err(e) = ChannelId::parse(&channel.id) {
                problems.push(format!("channels[{}]: {e}", channel.id));
            }
            if !channel_ids.insert(channel.id.as_str()) {
                problems.push(format!("channels[{}] is defined twice", channel.id));
            }
            match (&channel.token_sha256, &channel.demo_token) {
                (None, None) => problems.push(format!(
                    "channels[{}] needs token_sha256 (or demo_token)",
                    channel.id
                )),
                _ => match channel.token_digest() {
                    None => problems.push(format!(
                        "channels[{}].token_sha256 must be 64 hex digits",
                        channel.id
                    )),
                    Some(d) if !token_digests.insert(d) => problems.push(format!(
                        "channels[{}] shares its token with another channel",
                        channel.id
                    )),
                    Some(_) => {}
                },
            }
        }
        if self.centre.token_digest().is_none() {
            problems.push("centre needs token_sha256 (64 hex digits) or demo_token".into());
        }
        if self.ops.token_digest().is_none() {
            problems.push("ops needs token_sha256 (64 hex digits) or demo_token".into());
        }
        let labels: HashSet<&str> = self
            .taxonomy
            .labels
            .iter()
            .map(|l| l.name.as_str())
            .collect();
        if labels.len() != self.taxonomy.labels.len() || labels.is_empty() {
            problems.push("taxonomy.labels must be non-empty and distinct".into());
        }
        let cat = &self.catalogue;
        let mut unit_ids = HashSet::new();
        for unit in &cat.units {
            if let Err(e) = UnitId::parse(&unit.id) {
                problems.push(format!("catalogue.units[{}]: {e}", unit.id));
            }
            if DivisionCode::parse(&unit.division_code).is_err() {
                problems.push(format!(
                    "catalogue.units[{}].division_code {:?} is not a 6, 9 or 12 digit code",
                    unit.id, unit.division_code
                ));
            }
            if !unit_ids.insert(unit.id.as_str()) {
                problems.push(format!("catalogue.units[{}] is defined twice", unit.id));
            }
            if unit.token_sha256.is_some() && unit.token_digest().is_none() {
                problems.push(format!(
                    "catalogue.units[{}].token_sha256 must be 64 hex digits",
                    unit.id
                ));
            }
        }
        for unit in &cat.units {
            if let Some(supervisor) = &unit.supervisor
                && !unit_ids.contains(supervisor.as_str())
            {
                problems.push(format!(
                    "catalogue.units[{}].supervisor {supervisor:?} is not a configured unit",
                    unit.id
                ));
            }
            // Walk up: a cycle would send a review round in circles.
            let mut seen = HashSet::new();
            let mut current = Some(unit);
            while let Some(u) = current {
                if !seen.insert(u.id.as_str()) {
                    problems.push(format!(
                        "catalogue.units[{}]: the supervisor chain loops",
                        unit.id
                    ));
                    break;
                }
                current = u
                    .supervisor
                    .as_ref()
                    .and_then(|s| cat.units.iter().find(|x| &x.id == s));
            }
        }
        if DivisionCode::parse(&cat.home_division).is_err() {
            problems.push("catalogue.home_division is not a division code".into());
        }
        if !unit_ids.contains(cat.fallback_unit.as_str()) {
            problems.push(format!(
                "catalogue.fallback_unit {:?} is not a configured unit",
                cat.fallback_unit
            ));
        }
        for area in &cat.areas {
            if DivisionCode::parse(&area.code).is_err() {
                problems.push(format!(
                    "catalogue.areas: {:?} is not a division code",
                    area.code
                ));
            }
        }
        let mut rule_ids = HashSet::new();
        for rule in &cat.rules {
            if !rule_ids.insert(rule.id.as_str()) {
                problems.push(format!("catalogue.rules[{}] is defined twice", rule.id));
            }
            if rule.category != "*" && !labels.contains(rule.category.as_str()) {
                problems.push(format!(
                    "catalogue.rules[{}].category {:?} is not a taxonomy label",
                    rule.id, rule.category
                ));
            }
            if rule.area_prefix.is_empty() || !rule.area_prefix.bytes().all(|b| b.is_ascii_digit())
            {
                problems.push(format!(
                    "catalogue.rules[{}].area_prefix must be digits",
                    rule.id
                ));
            }
            for unit in std::iter::once(&rule.lead).chain(&rule.assist) {
                if !unit_ids.contains(unit.as_str()) {
                    problems.push(format!(
                        "catalogue.rules[{}] names unknown unit {unit:?}",
                        rule.id
                    ));
                }
            }
        }
        for channel in &self.clock.hotline_channels {
            if !channel_ids.contains(channel.as_str()) {
                problems.push(format!(
                    "clock.hotline_channels: {channel:?} is not a configured channel"
                ));
            }
        }
        if let Err(minhu_clock::PolicyError::Invalid(policy_problems)) =
            self.clock.sla_config().validate()
        {
            problems.extend(
                policy_problems
                    .into_iter()
                    .map(|p| format!("clock.sla: {p}")),
            );
        }
        if let Err(e) = self.clock.calendar() {
            problems.push(e);
        }
        if self.clock.ack_wait_secs == 0 {
            problems.push("clock.ack_wait_secs must be at least 1".into());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    /// Whether any demo secret or demo token is still in use (a deployment must replace them).
    pub fn uses_demo_secrets(&self) -> bool {
        let default = Self::defaults();
        self.identity.query_code_key.expose() == default.identity.query_code_key.expose()
            || self.identity.petitioner_hash_key.expose()
                == default.identity.petitioner_hash_key.expose()
            || self.channels.iter().any(|c| c.token_sha256.is_none())
            || self.ops.token_sha256.is_none()
            || self.centre.token_sha256.is_none()
            || self
                .catalogue
                .units
                .iter()
                .any(|u| u.token_sha256.is_none())
    }
}

/// A secret value: usable in code, masked whenever printed or serialized.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_parse_and_validate() {
        let settings = Settings::defaults();
        assert_eq!(settings.taxonomy.labels.len(), 7);
        assert_eq!(settings.catalogue.home_division, "330726");
        assert!(settings.uses_demo_secrets());
    }

    #[test]
    fn printing_masks_every_secret() {
        let printed = toml::to_string(&Settings::defaults()).unwrap();
        assert!(!printed.contains("demo-web-portal-token"));
        assert!(!printed.contains("demo-query-code-key"));
        assert!(!printed.contains("6d696e6875"));
        assert!(printed.contains("***"));
    }

    #[test]
    fn a_file_overrides_defaults_and_unknown_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("minhu.toml");
        std::fs::write(&path, "[gateway]\nlisten = \"127.0.0.1:9999\"\n").unwrap();
        let settings = Settings::load(Some(&path)).unwrap();
        assert_eq!(settings.gateway.listen.port(), 9999);
        assert_eq!(settings.gateway.max_body_chars, 20000);

        std::fs::write(&path, "[gateway]\nlistne = \"127.0.0.1:9999\"\n").unwrap();
        let err = Settings::load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("listne"), "{err}");
    }

    #[test]
    fn a_configured_digest_replaces_the_demo_token() {
        let mut settings = Settings::defaults();
        let digest = hex::encode(Sha256::digest(b"production-ops-token"));
        settings.ops.token_sha256 = Some(digest);
        assert_eq!(
            settings.ops.token_digest(),
            Some(Sha256::digest(b"production-ops-token").into())
        );
        settings.validate().unwrap();
    }

    #[test]
    fn the_clock_knows_hotline_channels_and_checks_its_policies() {
        let mut settings = Settings::defaults();
        assert_eq!(
            settings.clock.channel_type("hotline-12345"),
            ChannelType::Hotline
        );
        assert_eq!(
            settings.clock.channel_type("web-portal"),
            ChannelType::Petition
        );
        settings.clock.hotline_channels.push("fax".into());
        settings.clock.active_profiles = Some(vec!["xinfang-national".into(), "nope".into()]);
        let err = settings.validate().unwrap_err().to_string();
        assert!(err.contains("\"fax\" is not a configured channel"), "{err}");
        assert!(
            err.contains("clock.sla: active profile nope is not defined"),
            "{err}"
        );
    }

    #[test]
    fn a_supervisor_loop_is_refused() {
        let mut settings = Settings::defaults();
        let city = settings
            .catalogue
            .units
            .iter_mut()
            .find(|u| u.id == "jinhua-city")
            .unwrap();
        city.supervisor = Some("pujiang-county".into());
        let err = settings.validate().unwrap_err().to_string();
        assert!(err.contains("loops"), "{err}");
    }

    #[test]
    fn invalid_catalogue_reports_every_problem() {
        let mut settings = Settings::defaults();
        settings.catalogue.fallback_unit = "nowhere".into();
        settings.catalogue.rules[0].lead = "ghost-unit".into();
        let err = settings.validate().unwrap_err().to_string();
        assert!(err.contains("nowhere"), "{err}");
        assert!(err.contains("ghost-unit"), "{err}");
    }
}
