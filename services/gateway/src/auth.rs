//! Channel authentication: the bearer token decides the channel, never the request body.
//!
//! The channels are the live registry ([`minhu_core::channels::Registry`]), kept current by its
//! watch: a channel created, suspended or given a new token through ChannelAdmin is in force on
//! every gateway within a second. Only SHA-256 digests of tokens are held (see the registry for
//! the lookup and its constant-time final check).

use std::sync::Arc;

use minhu_core::channels::{LiveChannel, Refusal, Registry};
use minhu_core::credentials::bearer;
use tonic::Status;
use tonic::metadata::MetadataMap;

#[derive(Clone)]
pub struct ChannelRegistry {
    registry: Arc<Registry>,
}

/// An authentication refused for a known channel (suspended, or an expired token): the
/// channel's figures count it.
pub struct ChannelRefused {
    pub channel: Option<String>,
    pub outcome: &'static str,
    pub status: Status,
}

impl ChannelRegistry {
    pub fn new(registry: Arc<Registry>) -> ChannelRegistry {
        ChannelRegistry { registry }
    }

    /// The channel whose token is in the `authorization` metadata; UNAUTHENTICATED for a
    /// missing, unknown or expired token, PERMISSION_DENIED for a suspended channel.
    pub fn authenticate(&self, metadata: &MetadataMap) -> Result<Arc<LiveChannel>, ChannelRefused> {
        let unauthenticated = |message: &str| ChannelRefused {
            channel: None,
            outcome: "unauthenticated",
            status: Status::unauthenticated(message),
        };
        let header = metadata
            .get("authorization")
            .ok_or_else(|| unauthenticated("missing authorization: Bearer <channel token>"))?
            .to_str()
            .map_err(|_| unauthenticated("authorization is not valid text"))?;
        let token = bearer(header)
            .ok_or_else(|| unauthenticated("authorization must be: Bearer <channel token>"))?;
        self.registry.authenticate(token).map_err(|refusal| match refusal {
            Refusal::Unknown => unauthenticated("unknown channel token"),
            Refusal::Expired(channel) => ChannelRefused {
                channel: Some(channel.to_string()),
                outcome: "token_expired",
                status: Status::unauthenticated(
                    "this channel token was rotated and its overlap has ended; use the new token",
                ),
            },
            Refusal::Suspended(channel) => ChannelRefused {
                channel: Some(channel.to_string()),
                outcome: "suspended",
                status: Status::permission_denied("channel suspended"),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minhu_contracts::v1::ChannelStatus;
    use minhu_core::channels::seed_record;
    use minhu_core::config::Settings;

    fn metadata(value: &str) -> MetadataMap {
        let mut m = MetadataMap::new();
        m.insert("authorization", value.parse().unwrap());
        m
    }

    fn registry() -> ChannelRegistry {
        let registry = Registry::default();
        let now = time::OffsetDateTime::now_utc();
        for channel in &Settings::defaults().channels {
            registry.apply(seed_record(channel, now), 1);
        }
        ChannelRegistry::new(Arc::new(registry))
    }

    #[test]
    fn the_token_decides_the_channel() {
        let channel = registry()
            .authenticate(&metadata("Bearer demo-hotline-token"))
            .unwrap_or_else(|r| panic!("{:?}", r.status));
        assert_eq!(channel.id.as_str(), "hotline-12345");
    }

    #[test]
    fn missing_malformed_and_unknown_tokens_are_unauthenticated() {
        let registry = registry();
        let code = |m: &MetadataMap| registry.authenticate(m).err().unwrap().status.code();
        assert_eq!(code(&MetadataMap::new()), tonic::Code::Unauthenticated);
        for bad in [
            "demo-hotline-token",
            "Bearer ",
            "Bearer demo-hotline-tokem",
            "Basic abc",
        ] {
            assert_eq!(code(&metadata(bad)), tonic::Code::Unauthenticated, "{bad}");
        }
    }

    #[test]
    fn a_suspended_channel_is_permission_denied() {
        let registry = registry();
        let mut record = registry.registry.get("web-portal").unwrap().record.clone();
        record.status = ChannelStatus::Suspended as i32;
        registry.registry.apply(record, 2);
        let refused = registry
            .authenticate(&metadata("Bearer demo-web-portal-token"))
            .err()
            .unwrap();
        assert_eq!(refused.status.code(), tonic::Code::PermissionDenied);
        assert_eq!(refused.status.message(), "channel suspended");
        assert_eq!(refused.channel.as_deref(), Some("web-portal"));
    }
}
