//! Configuration: embedded defaults, then an optional TOML file, then `MINHU_*` environment
//! variables (`__` separates levels: `MINHU_NATS__URL`). Every struct refuses unknown keys, so a
//! typo is an error at start, not a silently ignored setting.

use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::domain::{ChannelId, DivisionCode};
/// The SLA policy configuration `[clock.sla]` holds (minhu-clock's), for callers building
/// settings in code.
pub use minhu_clock::SlaConfig;
use minhu_clock::{Calendar, ChannelType};
/// The routing configuration `[catalogue]` holds (minhu-route's): unit directory, gazetteer
/// areas and the dispatch catalogue (派单目录).
pub use minhu_route::RouterConfig;

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
    /// The ChannelAdmin credential (the people who register channels and rotate their tokens).
    pub admin: AdminSettings,
    pub identity: IdentitySettings,
    pub channels: Vec<ChannelSettings>,
    pub deadlines: DeadlineSettings,
    pub classifier: ClassifierSettings,
    /// The unit directory, the gazetteer's areas and the dispatch catalogue. The embedded
    /// default is minhu-route's 浦江县 demo (`minhu config defaults` prints it).
    pub catalogue: RouterConfig,
    /// CaseService credentials of the units, by unit id.
    #[serde(default)]
    pub unit_tokens: std::collections::BTreeMap<String, UnitToken>,
    pub clock: ClockSettings,
    pub webhooks: WebhookSettings,
    /// TLS on the gRPC listener; unset, it is plaintext (the local demo).
    #[serde(default)]
    pub tls: Option<TlsSettings>,
    /// Browser portals: gRPC-Web and CORS on the gRPC listener, and the demo portal.
    pub web: WebSettings,
    /// 领导下访接访: announcements, registration and the investigation before the day.
    pub reception: crate::reception::ReceptionSettings,
    /// Pull connectors (the connector role): HTTP JSON sources polled for petitions. None by
    /// default.
    #[serde(default)]
    pub connectors: Vec<crate::connectors::ConnectorSettings>,
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

/// TLS (rustls) on the gRPC listener, for every service the process serves there.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// The server's certificate chain, PEM, leaf first.
    pub cert_file: PathBuf,
    /// Its private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// Mutual TLS for unit systems: the CA certificates (PEM) that sign client certificates.
    /// Set, CaseService answers only clients presenting a certificate one of them signed;
    /// IntakeService and OpsService still take clients without one (tokens identify them).
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
}

/// Browser portals on the gRPC listener: gRPC-Web (`application/grpc-web+proto`, over HTTP/1.1
/// or HTTP/2) beside native gRPC, a CORS allow-list for portals served from other origins, and
/// the demo portal at `/portal/`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSettings {
    /// gRPC-Web and CORS on. Off, the listener speaks HTTP/2 gRPC only, as before.
    pub enabled: bool,
    /// Origins (`scheme://host[:port]`, compared exactly) whose pages may call the services
    /// from the browser. No wildcard: each portal is listed. Pages served by the gateway itself
    /// (the demo portal) are same-origin and need no entry.
    pub allow_origins: Vec<String>,
    /// Serve the demo portal (submit, receipt, track) at `/portal/`. Needs `enabled`.
    pub portal: bool,
}

impl WebSettings {
    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.portal && !self.enabled {
            problems.push("web.portal needs web.enabled (the portal speaks gRPC-Web)".into());
        }
        for origin in &self.allow_origins {
            if !is_origin(origin) {
                problems.push(format!(
                    "web.allow_origins: {origin:?} is not an origin like https://portal.example.org[:port] (no wildcard, path or trailing slash)"
                ));
            }
        }
        problems
    }
}

/// `http(s)://host[:port]` as a browser sends it in `Origin`: lower-case scheme, a host of
/// letters, digits, dots, dashes (or a bracketed IPv6 address), nothing after the port.
fn is_origin(origin: &str) -> bool {
    let Some(authority) = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
    else {
        return false;
    };
    let (host_ok, port) = match authority.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((address, port)) => (address.parse::<std::net::Ipv6Addr>().is_ok(), port),
            None => return false,
        },
        None => {
            let (host, port) = authority
                .find(':')
                .map_or((authority, ""), |at| authority.split_at(at));
            let host_ok = !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-');
            (host_ok, port)
        }
    };
    // A browser leaves out a default port and never writes a leading zero.
    let port_ok = port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|digits| !digits.starts_with('0') && digits.parse::<u16>().is_ok());
    host_ok && port_ok
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriageSettings {
    pub ack_wait_secs: u64,
    pub max_deliver: i64,
    /// How often a new model file (`classifier.model_file`) or a changed configuration file
    /// (its `[catalogue]`) is looked for.
    pub reload_check_secs: u64,
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
pub struct AdminSettings {
    /// SHA-256 (hex) of the admin token that ChannelAdmin requires.
    #[serde(default)]
    pub token_sha256: Option<String>,
    /// A clear demo admin token, printed at start.
    #[serde(default)]
    pub demo_token: Option<Secret>,
}

impl AdminSettings {
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
    /// 行政区划代码 of the area the channel serves: a petition that names no place (no code,
    /// no area in its address or text) is taken to have arisen here. Unset: such a petition
    /// waits in the dispatch centre's queue.
    #[serde(default)]
    pub division_code: Option<String>,
    /// What the channel is (渠道类型), for the registry and ops.
    #[serde(default)]
    pub kind: ChannelKindSetting,
    /// Who runs the channel, for the people who manage channels.
    #[serde(default)]
    pub owner: Option<String>,
}

/// A channel's kind as configuration names it (`kind = "mini-program"`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChannelKindSetting {
    #[default]
    Web,
    App,
    MiniProgram,
    Hotline,
    Mailbox,
    Email,
    Letter,
    Visit,
    Connector,
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

/// The domain classifier and the text rules (minhu-classify).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifierSettings {
    /// A model trained with `minhu train`; unset: the embedded default model. Triage loads a
    /// new file at this path without a restart.
    #[serde(default)]
    pub model_file: Option<PathBuf>,
    /// Rules for request type, 信访 category, urgency and legal pathway (TOML, the shape of
    /// minhu-classify's rules.toml); unset: the embedded rules.
    #[serde(default)]
    pub rules_file: Option<PathBuf>,
    /// 置信度门限: a prediction less probable than this goes to the dispatch centre's queue
    /// instead of automatic routing.
    pub min_confidence: f64,
}

/// Webhook delivery to the units with a `delivery.webhook_url` in the catalogue (the dispatch
/// role): how hard to try, and the secrets that sign the bodies.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// POSTs of one event (the first included) before it goes to the dead-letter stream.
    pub attempts: u32,
    /// Wait after the first failed attempt; each further failure doubles it (with jitter).
    pub base_backoff_ms: u64,
    /// The longest wait between two attempts.
    pub max_backoff_ms: u64,
    /// One POST (connect, send, answer) may take this long; then it counts as failed.
    pub request_timeout_ms: u64,
    /// Signing secrets by name: a unit's `delivery.secret_name` picks one. The values belong
    /// in the deployment's configuration file, not in the catalogue.
    #[serde(default)]
    pub secrets: std::collections::BTreeMap<String, Secret>,
}

impl WebhookSettings {
    /// What is wrong with these settings for the units of `catalogue`.
    fn problems(&self, catalogue: &RouterConfig) -> Vec<String> {
        let mut problems = Vec::new();
        if self.attempts == 0 {
            problems.push("webhooks.attempts must be at least 1".into());
        }
        if self.base_backoff_ms == 0 || self.base_backoff_ms > self.max_backoff_ms {
            problems.push(
                "webhooks.base_backoff_ms must be at least 1 and at most max_backoff_ms".into(),
            );
        }
        if self.request_timeout_ms == 0 {
            problems.push("webhooks.request_timeout_ms must be at least 1".into());
        }
        for unit in &catalogue.units {
            let Some(name) = &unit.delivery.secret_name else {
                continue;
            };
            match self.secrets.get(name) {
                Some(secret) if !secret.expose().is_empty() => {}
                _ => problems.push(format!(
                    "catalogue.units[{}].delivery.secret_name {name:?} has no value in webhooks.secrets",
                    unit.id
                )),
            }
        }
        problems
    }
}

/// A unit's CaseService credential.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitToken {
    /// SHA-256 (hex) of the unit's token.
    #[serde(default)]
    pub token_sha256: Option<String>,
    /// A clear demo token for the unit.
    #[serde(default)]
    pub demo_token: Option<Secret>,
}

impl UnitToken {
    pub fn token_digest(&self) -> Option<[u8; 32]> {
        credential_digest(&self.token_sha256, &self.demo_token)
    }
}

/// The dispatch centre's queue is fed like a unit under this id, so no unit may take it.
pub use minhu_contracts::bus::CENTRE_QUEUE_ID;

impl Settings {
    /// Defaults, then `file` if given, then `MINHU_*` variables; checked as a whole.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        let mut figment = Self::embedded();
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
        let settings: Settings = Self::embedded()
            .extract()
            .expect("embedded default configuration parses");
        settings
            .validate()
            .expect("embedded default configuration is valid");
        settings
    }

    /// The embedded configuration: minhu-route's demo catalogue under `catalogue`, then
    /// [`DEFAULT_TOML`].
    fn embedded() -> Figment {
        Figment::from(Serialized::defaults(CatalogueDefault {
            catalogue: RouterConfig::demo(),
        }))
        .merge(Toml::string(DEFAULT_TOML))
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
        if self.admin.token_digest().is_none() {
            problems.push("admin needs token_sha256 (64 hex digits) or demo_token".into());
        }
        for channel in &self.channels {
            if let Some(code) = &channel.division_code
                && DivisionCode::parse(code).is_err()
            {
                problems.push(format!(
                    "channels[{}].division_code {code:?} is not a 6, 9 or 12 digit code",
                    channel.id
                ));
            }
        }
        if !(0.0..=1.0).contains(&self.classifier.min_confidence) {
            problems.push("classifier.min_confidence must be within 0..=1".into());
        }
        if self.triage.reload_check_secs == 0 {
            problems.push("triage.reload_check_secs must be at least 1".into());
        }
        if let Err(e) = minhu_route::Router::new(&self.catalogue) {
            problems.extend(e.problems.into_iter().map(|p| format!("catalogue.{p}")));
        }
        let unit_ids: HashSet<&str> = self.catalogue.units.iter().map(|u| u.id.as_str()).collect();
        if unit_ids.contains(CENTRE_QUEUE_ID) {
            problems.push(format!(
                "catalogue.units[{CENTRE_QUEUE_ID}]: the id names the dispatch centre's queue"
            ));
        }
        for (unit, token) in &self.unit_tokens {
            if !unit_ids.contains(unit.as_str()) {
                problems.push(format!("unit_tokens.{unit}: no such unit in the catalogue"));
            }
            if token.token_digest().is_none() {
                problems.push(format!(
                    "unit_tokens.{unit} needs token_sha256 (64 hex digits) or demo_token"
                ));
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
        problems.extend(self.webhooks.problems(&self.catalogue));
        if let Some(tls) = &self.tls {
            let files = [
                ("cert_file", Some(&tls.cert_file)),
                ("key_file", Some(&tls.key_file)),
                ("client_ca_file", tls.client_ca_file.as_ref()),
            ];
            for (key, path) in files {
                if let Some(path) = path
                    && let Err(e) = std::fs::File::open(path)
                {
                    problems.push(format!("tls.{key} {}: {e}", path.display()));
                }
            }
        }
        problems.extend(self.reception.problems());
        problems.extend(self.web.problems());
        problems.extend(crate::connectors::problems(&self.connectors, &channel_ids));
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
            || self.admin.token_sha256.is_none()
            || self.unit_tokens.values().any(|u| u.token_sha256.is_none())
    }

    /// Each unit's supervising unit (上级主管), by unit id.
    pub fn supervisors(&self) -> std::collections::HashMap<String, String> {
        self.catalogue
            .units
            .iter()
            .filter_map(|u| u.supervisor.clone().map(|s| (u.id.clone(), s)))
            .collect()
    }
}

#[derive(Serialize)]
struct CatalogueDefault {
    catalogue: RouterConfig,
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
        assert_eq!(settings.catalogue.version, "pujiang-demo-2026.1");
        assert!(settings.unit_tokens.contains_key("pujiang-huangzhai"));
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
    fn tls_is_off_by_default_and_its_files_must_be_readable() {
        assert!(Settings::defaults().tls.is_none());
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("server.crt"), dir.path().join("server.key"));
        std::fs::write(&cert, "cert").unwrap();
        std::fs::write(&key, "key").unwrap();
        let path = dir.path().join("minhu.toml");
        let section = format!(
            "[tls]\ncert_file = {:?}\nkey_file = {:?}\n",
            cert.display(),
            key.display()
        );
        std::fs::write(&path, &section).unwrap();
        let tls = Settings::load(Some(&path)).unwrap().tls.unwrap();
        assert_eq!((tls.cert_file, tls.client_ca_file), (cert, None));

        let missing = dir.path().join("units-ca.crt");
        std::fs::write(
            &path,
            format!("{section}client_ca_file = {:?}\n", missing.display()),
        )
        .unwrap();
        let err = Settings::load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("tls.client_ca_file"), "{err}");
    }

    #[test]
    fn the_demo_portal_is_on_by_default_and_origins_are_exact() {
        let web = Settings::defaults().web;
        assert!(web.enabled && web.portal && web.allow_origins.is_empty());

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("minhu.toml");
        let good = [
            "https://xinfang.pujiang.gov.cn",
            "http://127.0.0.1:8080",
            "http://localhost:3000",
            "https://[::1]:8443",
        ];
        std::fs::write(
            &path,
            format!("[web]\nallow_origins = {good:?}\nportal = false\n"),
        )
        .unwrap();
        let web = Settings::load(Some(&path)).unwrap().web;
        assert_eq!(web.allow_origins, good);
        assert!(web.enabled && !web.portal);

        let bad = [
            "*",
            "https://*.pujiang.gov.cn",
            "https://portal.example.org/",
            "https://portal.example.org/path",
            "portal.example.org",
            "ftp://portal.example.org",
            "https://Portal.example.org",
            "https://portal.example.org:0",
            "https://portal.example.org:99999",
            "https://",
        ];
        std::fs::write(
            &path,
            format!("[web]\nenabled = false\nallow_origins = {bad:?}\n"),
        )
        .unwrap();
        let err = Settings::load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("web.portal needs web.enabled"), "{err}");
        for origin in bad {
            assert!(
                err.contains(&format!("{origin:?} is not an origin")),
                "{origin}: {err}"
            );
        }
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
            .find(|u| u.id == "jinhua")
            .unwrap();
        city.supervisor = Some("pujiang-county".into());
        let err = settings.validate().unwrap_err().to_string();
        assert!(err.contains("catalogue.units[jinhua]"), "{err}");
    }

    #[test]
    fn invalid_catalogue_and_credentials_report_every_problem() {
        let mut settings = Settings::defaults();
        settings.catalogue.rules[0].lead = "ghost-unit".into();
        settings.unit_tokens.insert(
            "nowhere".into(),
            UnitToken {
                token_sha256: None,
                demo_token: Some(Secret::new("x")),
            },
        );
        settings.channels[0].division_code = Some("33".into());
        let err = settings.validate().unwrap_err().to_string();
        assert!(err.contains("ghost-unit"), "{err}");
        assert!(err.contains("unit_tokens.nowhere: no such unit"), "{err}");
        assert!(err.contains("channels[web-portal].division_code"), "{err}");
    }

    #[test]
    fn a_webhook_needs_its_secret_and_the_secret_is_masked() {
        let mut settings = Settings::defaults();
        let unit = settings
            .catalogue
            .units
            .iter_mut()
            .find(|u| u.id == "pujiang-housing")
            .unwrap();
        unit.delivery.webhook_url = Some("https://housing.example.gov.cn/minhu".into());
        unit.delivery.secret_name = Some("hook-housing".into());
        let err = settings.validate().unwrap_err().to_string();
        assert!(
            err.contains(
                "units[pujiang-housing].delivery.secret_name \"hook-housing\" has no value"
            ),
            "{err}"
        );
        settings
            .webhooks
            .secrets
            .insert("hook-housing".into(), Secret::new("webhook-signing-secret"));
        settings.validate().unwrap();
        let printed = toml::to_string(&settings).unwrap();
        assert!(!printed.contains("webhook-signing-secret"), "{printed}");
        settings.webhooks.attempts = 0;
        let err = settings.validate().unwrap_err().to_string();
        assert!(err.contains("webhooks.attempts"), "{err}");
    }

    #[test]
    fn connectors_load_from_a_file_checked_against_the_channels_with_the_secret_masked() {
        assert!(Settings::defaults().connectors.is_empty());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("minhu.toml");
        let connector = r#"
[[connectors]]
id = "mailbox"
channel = "web-portal"
url = "https://mailbox.example.gov.cn/api/letters"
interval_secs = 60
auth = { header = "Authorization", value = "Bearer mailbox-secret" }
items = "/data/items"
paging = { next_cursor = "/data/next", cursor_param = "after" }
fields = { id = "/id", body = "/content", title = "/subject" }
"#;
        std::fs::write(&path, connector).unwrap();
        let settings = Settings::load(Some(&path)).unwrap();
        let loaded = &settings.connectors[0];
        assert_eq!(
            (loaded.request_timeout_ms, loaded.max_backoff_ms),
            (10_000, 300_000)
        );
        assert_eq!(loaded.paging.cursor_param.as_deref(), Some("after"));
        let printed = toml::to_string(&settings).unwrap();
        assert!(!printed.contains("mailbox-secret"), "{printed}");

        std::fs::write(&path, connector.replace("web-portal", "fax")).unwrap();
        let err = Settings::load(Some(&path)).unwrap_err().to_string();
        assert!(
            err.contains("connectors[mailbox].channel \"fax\" is not a configured channel"),
            "{err}"
        );
        std::fs::write(
            &path,
            connector.replace("fields = {", "fields = { nmae = \"/n\", "),
        )
        .unwrap();
        let err = Settings::load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("nmae"), "{err}");
    }

    #[test]
    fn a_file_replaces_the_catalogue_parts_it_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("minhu.toml");
        std::fs::write(&path, "[catalogue]\nversion = \"pujiang-2027.1\"\n").unwrap();
        let settings = Settings::load(Some(&path)).unwrap();
        assert_eq!(settings.catalogue.version, "pujiang-2027.1");
        assert_eq!(
            settings.catalogue.units,
            Settings::defaults().catalogue.units
        );
    }
}
