//! ChannelAdmin: registering channels, suspending and resuming them, rotating their tokens.
//!
//! Every change is a write to the channel's entry in the registry bucket; every gateway's watch
//! puts it in force. A change is a compare-and-set on the entry's revision: two admins changing
//! one channel at once never lose each other's change (the second one is applied again to what
//! the first wrote). A new token is generated here, returned once and stored only as its
//! SHA-256. The gateway answering applies its own write at once, so its next answer already
//! shows it.

use std::sync::Arc;
use std::time::Duration;

use crate::error::internal;
use async_nats::jetstream::kv;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use minhu_contracts::v1::channel_admin_server::{ChannelAdmin, ChannelAdminServer};
use minhu_contracts::v1::{
    Channel, ChannelKind, ChannelRecord, ChannelStatus, CreateChannelRequest,
    CreateChannelResponse, GetChannelRequest, ListChannelsRequest, ListChannelsResponse,
    ResumeChannelRequest, RotateTokenRequest, RotateTokenResponse, SuspendChannelRequest,
    TokenDigest, UpdateChannelRequest,
};
use minhu_core::channels::{Registry, public_view, rotate};
use minhu_core::credentials::bearer;
use minhu_core::deadlines::timestamp;
use minhu_core::domain::{ChannelId, DivisionCode};
use minhu_core::grpc::{FieldViolation, invalid_argument};
use prost::Message;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;
use tonic::{Request, Response, Status};

/// How long the tokens held before a rotation stay valid when the request does not say.
pub const DEFAULT_OVERLAP: Duration = Duration::from_secs(24 * 3600);
/// The longest overlap a rotation may give.
pub const MAX_OVERLAP: Duration = Duration::from_secs(30 * 24 * 3600);
const MAX_NAME_CHARS: usize = 200;
const MAX_REASON_CHARS: usize = 500;
const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;
/// Compare-and-set attempts before a change is given up as contended.
const ATTEMPTS: usize = 10;

#[derive(Clone)]
pub struct ChannelAdminApi {
    store: kv::Store,
    registry: Arc<Registry>,
    admin_digest: [u8; 32],
}

impl ChannelAdminApi {
    pub fn new(store: kv::Store, registry: Arc<Registry>, admin_digest: [u8; 32]) -> Self {
        ChannelAdminApi {
            store,
            registry,
            admin_digest,
        }
    }

    pub fn into_service(self) -> ChannelAdminServer<ChannelAdminApi> {
        ChannelAdminServer::new(self)
    }

    fn authorize<T>(&self, request: &Request<T>) -> Result<(), Status> {
        let token = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(bearer)
            .ok_or_else(|| {
                Status::unauthenticated("missing authorization: Bearer <admin token>")
            })?;
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if bool::from(digest.ct_eq(&self.admin_digest)) {
            Ok(())
        } else {
            Err(Status::unauthenticated("unknown admin token"))
        }
    }

    /// Reads the channel's entry, applies `change` and writes it back if nobody wrote in
    /// between; otherwise reads again and repeats. The answer is the channel as written, as
    /// the public sees it: never its token digests.
    async fn modify(
        &self,
        channel_id: &str,
        mut change: impl FnMut(&mut ChannelRecord, OffsetDateTime),
    ) -> Result<Channel, Status> {
        let id = parse_id(channel_id)?;
        for _ in 0..ATTEMPTS {
            let entry = self
                .store
                .entry(id.as_str())
                .await
                .map_err(|e| unavailable(e.into()))?
                .filter(|e| e.operation == kv::Operation::Put)
                .ok_or_else(|| Status::not_found(format!("no channel {id}")))?;
            let mut record = ChannelRecord::decode(entry.value)
                .map_err(|e| internal("channel record does not decode", e.into()))?;
            let now = OffsetDateTime::now_utc();
            change(&mut record, now);
            record.updated_at = Some(timestamp(now));
            match self
                .store
                .update(id.as_str(), record.encode_to_vec().into(), entry.revision)
                .await
            {
                Ok(revision) => {
                    let channel = public_view(&record, now);
                    self.registry.apply(record, revision);
                    return Ok(channel);
                }
                Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => continue,
                Err(e) => return Err(unavailable(e.into())),
            }
        }
        Err(Status::aborted(
            "the channel is being changed by others right now; retry",
        ))
    }
}

#[tonic::async_trait]
impl ChannelAdmin for ChannelAdminApi {
    async fn create_channel(
        &self,
        request: Request<CreateChannelRequest>,
    ) -> Result<Response<CreateChannelResponse>, Status> {
        self.authorize(&request)?;
        let r = request.into_inner();
        let mut violations = Vec::new();
        if let Err(e) = ChannelId::parse(&r.channel_id) {
            violations.push(FieldViolation::new("channel_id", e.to_string()));
        }
        check_name(&r.name, true, &mut violations);
        check_kind(r.kind, true, &mut violations);
        check_common(
            &r.owner,
            &r.division_code,
            r.rate_per_second,
            r.burst,
            &mut violations,
        );
        if !violations.is_empty() {
            return Err(invalid_argument(violations));
        }
        let now = OffsetDateTime::now_utc();
        let token = new_token();
        let record = ChannelRecord {
            channel_id: r.channel_id.clone(),
            name: r.name.trim().to_owned(),
            kind: r.kind,
            owner: r.owner.trim().to_owned(),
            division_code: r.division_code,
            tokens: vec![TokenDigest {
                sha256: Sha256::digest(token.as_bytes()).to_vec(),
                created_at: Some(timestamp(now)),
                not_after: None,
            }],
            rate_per_second: r.rate_per_second,
            burst: effective_burst(r.rate_per_second, r.burst),
            status: ChannelStatus::Active as i32,
            created_at: Some(timestamp(now)),
            updated_at: Some(timestamp(now)),
            suspended_reason: String::new(),
        };
        match self
            .store
            .create(&r.channel_id, record.encode_to_vec().into())
            .await
        {
            Ok(revision) => {
                self.registry.apply(record.clone(), revision);
                tracing::info!(channel = %r.channel_id, "channel created");
                Ok(Response::new(CreateChannelResponse {
                    channel: Some(public_view(&record, now)),
                    token,
                }))
            }
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => Err(
                Status::already_exists(format!("channel {} exists already", r.channel_id)),
            ),
            Err(e) => Err(unavailable(e.into())),
        }
    }

    async fn get_channel(
        &self,
        request: Request<GetChannelRequest>,
    ) -> Result<Response<Channel>, Status> {
        self.authorize(&request)?;
        let id = parse_id(&request.get_ref().channel_id)?;
        let entry = self
            .store
            .entry(id.as_str())
            .await
            .map_err(|e| unavailable(e.into()))?
            .filter(|e| e.operation == kv::Operation::Put)
            .ok_or_else(|| Status::not_found(format!("no channel {id}")))?;
        let record = ChannelRecord::decode(entry.value)
            .map_err(|e| internal("channel record does not decode", e.into()))?;
        Ok(Response::new(public_view(
            &record,
            OffsetDateTime::now_utc(),
        )))
    }

    async fn list_channels(
        &self,
        request: Request<ListChannelsRequest>,
    ) -> Result<Response<ListChannelsResponse>, Status> {
        self.authorize(&request)?;
        let r = request.into_inner();
        if r.page_size as usize > MAX_PAGE {
            return Err(invalid_argument([(
                "page_size",
                format!("at most {MAX_PAGE}"),
            )]));
        }
        let size = match r.page_size {
            0 => DEFAULT_PAGE,
            n => n as usize,
        };
        let now = OffsetDateTime::now_utc();
        // The registry this gateway holds: current within a second, and with this gateway's
        // own writes in it at once.
        let all = self.registry.all();
        let start = all.partition_point(|c| c.id.as_str() <= r.page_token.as_str());
        let page: Vec<Channel> = all[start..]
            .iter()
            .take(size)
            .map(|c| public_view(&c.record, now))
            .collect();
        let next_page_token = if start + page.len() < all.len() {
            page.last()
                .map(|c| c.channel_id.clone())
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(ListChannelsResponse {
            channels: page,
            next_page_token,
        }))
    }

    async fn update_channel(
        &self,
        request: Request<UpdateChannelRequest>,
    ) -> Result<Response<Channel>, Status> {
        self.authorize(&request)?;
        let r = request.into_inner();
        let mut violations = Vec::new();
        check_name(&r.name, false, &mut violations);
        check_kind(r.kind, false, &mut violations);
        check_common(
            &r.owner,
            &r.division_code,
            r.rate_per_second,
            r.burst,
            &mut violations,
        );
        if !violations.is_empty() {
            return Err(invalid_argument(violations));
        }
        let channel = self
            .modify(&r.channel_id, |record, _| {
                if !r.name.trim().is_empty() {
                    record.name = r.name.trim().to_owned();
                }
                if !r.owner.trim().is_empty() {
                    record.owner = r.owner.trim().to_owned();
                }
                if !r.division_code.is_empty() {
                    record.division_code = r.division_code.clone();
                }
                if r.kind != ChannelKind::Unspecified as i32 {
                    record.kind = r.kind;
                }
                if r.rate_per_second > 0 {
                    record.rate_per_second = r.rate_per_second;
                    record.burst = effective_burst(r.rate_per_second, r.burst);
                }
            })
            .await?;
        tracing::info!(channel = %r.channel_id, "channel updated");
        Ok(Response::new(channel))
    }

    async fn suspend_channel(
        &self,
        request: Request<SuspendChannelRequest>,
    ) -> Result<Response<Channel>, Status> {
        self.authorize(&request)?;
        let r = request.into_inner();
        if r.reason.chars().count() > MAX_REASON_CHARS {
            return Err(invalid_argument([(
                "reason",
                format!("at most {MAX_REASON_CHARS} characters"),
            )]));
        }
        let channel = self
            .modify(&r.channel_id, |record, _| {
                record.status = ChannelStatus::Suspended as i32;
                record.suspended_reason = r.reason.trim().to_owned();
            })
            .await?;
        tracing::info!(channel = %r.channel_id, "channel suspended");
        Ok(Response::new(channel))
    }

    async fn resume_channel(
        &self,
        request: Request<ResumeChannelRequest>,
    ) -> Result<Response<Channel>, Status> {
        self.authorize(&request)?;
        let r = request.into_inner();
        let channel = self
            .modify(&r.channel_id, |record, _| {
                record.status = ChannelStatus::Active as i32;
                record.suspended_reason.clear();
            })
            .await?;
        tracing::info!(channel = %r.channel_id, "channel resumed");
        Ok(Response::new(channel))
    }

    async fn rotate_token(
        &self,
        request: Request<RotateTokenRequest>,
    ) -> Result<Response<RotateTokenResponse>, Status> {
        self.authorize(&request)?;
        let r = request.into_inner();
        let overlap = r
            .overlap_seconds
            .map_or(DEFAULT_OVERLAP, |s| Duration::from_secs(u64::from(s)));
        if overlap > MAX_OVERLAP {
            return Err(invalid_argument([(
                "overlap_seconds",
                format!("at most {} (30 days)", MAX_OVERLAP.as_secs()),
            )]));
        }
        let token = new_token();
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let channel = self
            .modify(&r.channel_id, |record, now| {
                rotate(record, digest, overlap, now)
            })
            .await?;
        tracing::info!(
            channel = %r.channel_id,
            overlap_seconds = overlap.as_secs(),
            "channel token rotated"
        );
        Ok(Response::new(RotateTokenResponse {
            channel: Some(channel),
            token,
        }))
    }
}

/// A new channel token: 256 random bits, URL-safe, with a prefix that says what it is (and
/// lets secret scanners find a leaked one).
fn new_token() -> String {
    format!("mhc_{}", URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>()))
}

fn effective_burst(rate: u32, burst: u32) -> u32 {
    if rate == 0 { 0 } else { burst.max(rate) }
}

fn parse_id(channel_id: &str) -> Result<ChannelId, Status> {
    ChannelId::parse(channel_id).map_err(|e| invalid_argument([("channel_id", e.to_string())]))
}

fn check_name(name: &str, required: bool, violations: &mut Vec<FieldViolation>) {
    let name = name.trim();
    if required && name.is_empty() {
        violations.push(FieldViolation::new("name", "required"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        violations.push(FieldViolation::new(
            "name",
            format!("at most {MAX_NAME_CHARS} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        violations.push(FieldViolation::new(
            "name",
            "one line, no control characters",
        ));
    }
}

fn check_kind(kind: i32, required: bool, violations: &mut Vec<FieldViolation>) {
    match ChannelKind::try_from(kind) {
        Ok(ChannelKind::Unspecified) if required => violations.push(FieldViolation::new(
            "kind",
            "required: web, app, mini-program, hotline, mailbox, email, letter, visit or connector",
        )),
        Ok(_) => {}
        Err(_) => violations.push(FieldViolation::new("kind", "not a channel kind")),
    }
}

fn check_common(
    owner: &str,
    division_code: &str,
    rate: u32,
    burst: u32,
    violations: &mut Vec<FieldViolation>,
) {
    if owner.trim().chars().count() > MAX_NAME_CHARS || owner.chars().any(char::is_control) {
        violations.push(FieldViolation::new(
            "owner",
            format!("one line of at most {MAX_NAME_CHARS} characters"),
        ));
    }
    if !division_code.is_empty()
        && let Err(e) = DivisionCode::parse(division_code)
    {
        violations.push(FieldViolation::new("division_code", e.to_string()));
    }
    if rate == 0 && burst > 0 {
        violations.push(FieldViolation::new(
            "burst",
            "a burst needs a rate_per_second (0 for both: the gateway's defaults)",
        ));
    }
    if rate > 0 && burst > 0 && burst < rate {
        violations.push(FieldViolation::new(
            "burst",
            "at least rate_per_second (or 0: the rate)",
        ));
    }
}

fn unavailable(e: async_nats::Error) -> Status {
    tracing::warn!(error = %e, "channel registry unavailable");
    Status::unavailable("the channel registry is unavailable; retry later")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_input_is_named_field_by_field() {
        let mut violations = Vec::new();
        check_name("", true, &mut violations);
        check_kind(0, true, &mut violations);
        check_kind(99, false, &mut violations);
        check_common("ok", "33", 0, 5, &mut violations);
        let fields: Vec<_> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            ["name", "kind", "kind", "division_code", "burst"],
            "{violations:?}"
        );
        let mut none = Vec::new();
        check_name("浦江县民呼小程序", true, &mut none);
        check_kind(ChannelKind::MiniProgram as i32, true, &mut none);
        check_common("县信访局", "330726", 20, 0, &mut none);
        assert!(none.is_empty(), "{none:?}");
    }

    #[test]
    fn tokens_are_long_random_and_distinct() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert!(a.starts_with("mhc_") && a.len() == 47, "{a}");
        assert_eq!(effective_burst(10, 0), 10);
        assert_eq!(effective_burst(0, 0), 0);
        assert_eq!(effective_burst(10, 30), 30);
    }
}
