//! Connecting to NATS and provisioning the bus layout named in [`minhu_contracts::bus`].
//!
//! Every record stream keeps its messages forever and refuses deletes and purges: the intake
//! stream is the permanent archive and idempotency index, the event and dispatch streams are the
//! record of what minhu decided, the dead-letter stream the record of what could not be
//! delivered, the reception stream the record of what was announced. Retention is an operator's
//! decision, made on the server, not here. The timers stream is working state, not a record: it
//! holds the clock's and the reception sessions' message schedules (nats-server 2.12 and later)
//! and forgets each fired timer once it is handled.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, kv, stream};
use async_nats::{Client, ConnectOptions};
use minhu_contracts::bus;

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("cannot connect to NATS at {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: async_nats::ConnectError,
    },
    #[error("cannot provision stream {name}: {source}")]
    Stream {
        name: String,
        #[source]
        source: async_nats::Error,
    },
    #[error("cannot provision KV bucket {name}: {source}")]
    Bucket {
        name: String,
        #[source]
        source: async_nats::Error,
    },
}

/// Connects with unlimited reconnects: a NATS restart must not need a minhu restart.
pub async fn connect(url: &str, name: &str) -> Result<Client, BusError> {
    connect_with(url, name, &NatsSettingsRef::default()).await
}

/// Credentials and inbox prefix for a connection to a secured cluster.
#[derive(Default)]
pub struct NatsSettingsRef<'a> {
    pub nkey_seed: Option<&'a str>,
    pub inbox_prefix: Option<&'a str>,
}

pub async fn connect_with(
    url: &str,
    name: &str,
    secured: &NatsSettingsRef<'_>,
) -> Result<Client, BusError> {
    let mut options = ConnectOptions::new()
        .name(name)
        .max_reconnects(None)
        .retry_on_initial_connect()
        .connection_timeout(Duration::from_secs(5));
    if let Some(seed) = secured.nkey_seed {
        options = options.nkey(seed.to_owned());
    }
    if let Some(prefix) = secured.inbox_prefix {
        options = options.custom_inbox_prefix(prefix);
    }
    // A cluster is given as a comma-separated list; the client picks among them and follows
    // the cluster's own view of its members.
    let servers = url
        .split(',')
        .map(|u| u.trim().parse::<async_nats::ServerAddr>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| BusError::Connect {
            url: url.to_owned(),
            source: async_nats::ConnectError::with_source(
                async_nats::ConnectErrorKind::ServerParse,
                e,
            ),
        })?;
    options
        .connect(servers)
        .await
        .map_err(|source| BusError::Connect {
            url: url.to_owned(),
            source,
        })
}

/// Handles on every stream and bucket of the bus, provisioned and ready. Cheap to clone: the
/// handles (each stream's carries its whole info, 1.5 KB) sit behind one `Arc`, since every
/// role's futures hold a `Bus` by value.
#[derive(Clone)]
pub struct Bus(Arc<Handles>);

impl std::ops::Deref for Bus {
    type Target = Handles;

    fn deref(&self) -> &Handles {
        &self.0
    }
}

/// What a [`Bus`] holds.
pub struct Handles {
    pub client: Client,
    pub js: jetstream::Context,
    pub intake: stream::Stream,
    pub case_events: stream::Stream,
    pub dispatch: stream::Stream,
    pub timers: stream::Stream,
    pub cases: kv::Store,
    pub dedup: kv::Store,
    pub ops: kv::Store,
    pub unit_cases: kv::Store,
    pub dead_letter: stream::Stream,
    pub webhook_deliveries: kv::Store,
    /// 领导下访接访: the sessions (with their registrations) and the announcements.
    pub reception_sessions: kv::Store,
    pub reception: stream::Stream,
    /// Pull connectors: cursors, leases and health.
    pub connectors: kv::Store,
    /// How long a request to JetStream may take (`nats.request_timeout_ms`).
    pub request_timeout: Duration,
    /// The channel registry, watched by every gateway.
    pub channels: kv::Store,
}

impl Bus {
    /// Creates what is missing and opens the rest; safe to call from any number of processes.
    pub async fn provision(
        client: Client,
        replicas: usize,
        request_timeout: Duration,
    ) -> Result<Bus, BusError> {
        let js = jetstream::ContextBuilder::new()
            .timeout(request_timeout)
            .build(client.clone());
        let deadline = Instant::now() + PROVISION_PATIENCE;
        let archive =
            |name: &'static str, subjects: &'static str, description: &str| stream::Config {
                name: name.to_owned(),
                description: Some(description.to_owned()),
                subjects: vec![subjects.to_owned()],
                retention: stream::RetentionPolicy::Limits,
                storage: stream::StorageType::File,
                num_replicas: replicas,
                deny_delete: true,
                deny_purge: true,
                ..Default::default()
            };
        let ensure_stream = |config: stream::Config| {
            let js = js.clone();
            async move {
                let name = config.name.clone();
                patiently(&name, deadline, || js.get_or_create_stream(config.clone()))
                    .await
                    .map_err(|e| BusError::Stream {
                        name,
                        source: e.into(),
                    })
            }
        };
        let intake = ensure_stream(archive(
            bus::INTAKE_STREAM,
            bus::INTAKE_SUBJECTS,
            "minhu: every accepted petition, one subject per submission (archive and idempotency index)",
        ))
        .await?;
        let case_events = ensure_stream(archive(
            bus::CASE_EVENTS_STREAM,
            bus::CASE_EVENTS_SUBJECTS,
            "minhu: case events, one subject per case and event kind",
        ))
        .await?;
        let dispatch = ensure_stream(archive(
            bus::DISPATCH_STREAM,
            bus::DISPATCH_SUBJECTS,
            "minhu: cases dispatched to handling units",
        ))
        .await?;
        let timers = ensure_stream(stream::Config {
            name: bus::TIMERS_STREAM.to_owned(),
            description: Some(
                "minhu clock: one message schedule per case with a deadline to watch, and the fired timers"
                    .to_owned(),
            ),
            subjects: vec![bus::TIMERS_SUBJECTS.to_owned()],
            // A fired timer is removed once a clock instance acknowledges it; the schedules
            // themselves match no consumer and stay until they fire or are replaced or purged.
            retention: stream::RetentionPolicy::WorkQueue,
            storage: stream::StorageType::File,
            num_replicas: replicas,
            allow_message_schedules: true,
            ..Default::default()
        })
        .await?;
        let bucket = |name: &'static str, description: &str, history: i64| kv::Config {
            bucket: name.to_owned(),
            description: description.to_owned(),
            history,
            storage: stream::StorageType::File,
            num_replicas: replicas,
            ..Default::default()
        };
        let ensure_bucket = |config: kv::Config| {
            let js = js.clone();
            async move {
                let name = config.bucket.clone();
                if let Ok(store) = js.get_key_value(&name).await {
                    return Ok(store);
                }
                // Another process may have created it in between: open it rather than fail.
                match patiently(&name, deadline, || js.create_key_value(config.clone())).await {
                    Ok(store) => Ok(store),
                    Err(create) => js.get_key_value(&name).await.map_err(|_| BusError::Bucket {
                        name,
                        source: create.into(),
                    }),
                }
            }
        };
        let cases = ensure_bucket(bucket(
            bus::CASES_BUCKET,
            "minhu: current state of each case",
            5,
        ))
        .await?;
        let dedup = ensure_bucket(bucket(
            bus::DEDUP_BUCKET,
            "minhu: the near-duplicate journal, one entry per decided petition",
            1,
        ))
        .await?;
        let ops = ensure_bucket(kv::Config {
            // Figures of a gateway that stopped reporting vanish on their own.
            max_age: Duration::from_secs(60),
            ..bucket(
                bus::OPS_BUCKET,
                "minhu: live ops figures of each instance",
                1,
            )
        })
        .await?;
        let unit_cases = ensure_bucket(bucket(
            bus::UNIT_CASES_BUCKET,
            "minhu: each unit's cases and their status",
            1,
        ))
        .await?;
        let dead_letter = ensure_stream(archive(
            bus::DEAD_LETTER_STREAM,
            bus::DEAD_LETTER_SUBJECTS,
            "minhu: what could not be delivered (webhooks), kept for an operator",
        ))
        .await?;
        let webhook_deliveries = ensure_bucket(bucket(
            bus::WEBHOOK_DELIVERIES_BUCKET,
            "minhu: webhook delivery state of each unit event",
            1,
        ))
        .await?;
        let reception_sessions = ensure_bucket(bucket(
            bus::RECEPTION_SESSIONS_BUCKET,
            "minhu: reception sessions (领导下访接访) and their registrations",
            5,
        ))
        .await?;
        let reception = ensure_stream(archive(
            bus::RECEPTION_STREAM,
            bus::RECEPTION_SUBJECTS,
            "minhu: reception session announcements (公告, 更正, 取消)",
        ))
        .await?;
        let connectors = ensure_bucket(bucket(
            bus::CONNECTORS_BUCKET,
            "minhu: pull connectors' cursors, leases and health",
            1,
        ))
        .await?;
        let channels = ensure_bucket(bucket(
            bus::CHANNELS_BUCKET,
            "minhu: the channel registry (id, kind, token digests, limits, status)",
            5,
        ))
        .await?;
        Ok(Bus(Arc::new(Handles {
            client,
            js,
            intake,
            case_events,
            dispatch,
            timers,
            cases,
            dedup,
            ops,
            unit_cases,
            dead_letter,
            webhook_deliveries,
            reception_sessions,
            reception,
            connectors,
            request_timeout,
            channels,
        })))
    }
}

/// How long provisioning waits out a cluster that is still forming or electing: minhu and its
/// NATS cluster are often started together (a Kubernetes rollout, a whole-site restart).
const PROVISION_PATIENCE: Duration = Duration::from_secs(60);

/// Runs `attempt` until it succeeds, fails for good, or `deadline` passes, pausing between
/// attempts that failed only because the cluster is not ready yet.
async fn patiently<T, E, Attempt, Fut>(
    what: &str,
    deadline: Instant,
    mut attempt: Attempt,
) -> Result<T, E>
where
    Attempt: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::error::Error + 'static,
{
    let mut pause = Duration::from_millis(100);
    loop {
        match attempt().await {
            Err(e) if cluster_not_ready(&e) && Instant::now() + pause < deadline => {
                tracing::warn!(%what, error = %e, "JetStream cannot place it yet; trying again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
            outcome => return outcome,
        }
    }
}

/// Whether `error` says the cluster is not ready yet rather than that the request is wrong: no
/// metadata leader or not enough current peers for the replicas asked for (the moments after
/// a cluster starts or loses a node), or no answer in time.
fn cluster_not_ready(error: &(dyn std::error::Error + 'static)) -> bool {
    use async_nats::jetstream::ErrorCode;
    use async_nats::jetstream::context::{
        CreateKeyValueError, CreateKeyValueErrorKind, CreateStreamError, CreateStreamErrorKind,
    };
    const NOT_READY: [ErrorCode; 5] = [
        ErrorCode::CLUSTER_INCOMPLETE,
        ErrorCode::CLUSTER_NO_PEERS,
        ErrorCode::CLUSTER_NOT_ACTIVE,
        ErrorCode::CLUSTER_NOT_AVAILABLE,
        ErrorCode::CLUSTER_NOT_LEADER,
    ];
    let mut cause = Some(error);
    while let Some(e) = cause {
        if let Some(e) = e.downcast_ref::<async_nats::jetstream::Error>() {
            return NOT_READY.contains(&e.error_code());
        }
        if let Some(e) = e.downcast_ref::<CreateStreamError>() {
            match e.kind() {
                CreateStreamErrorKind::TimedOut | CreateStreamErrorKind::JetStreamUnavailable => {
                    return true;
                }
                CreateStreamErrorKind::JetStream(e) => return NOT_READY.contains(&e.error_code()),
                _ => {}
            }
        }
        if let Some(e) = e.downcast_ref::<CreateKeyValueError>()
            && e.kind() == CreateKeyValueErrorKind::TimedOut
        {
            return true;
        }
        cause = e.source();
    }
    false
}

/// Whether a publish failed its expected-last-sequence check: someone else wrote first. A
/// clustered stream reports it with either of two codes (10071, or 10164 from a replicated
/// stream's leader), and async-nats names only the first.
pub fn lost_first_write(error: &async_nats::jetstream::context::PublishError) -> bool {
    use async_nats::jetstream::context::PublishErrorKind;
    if error.kind() == PublishErrorKind::WrongLastSequence {
        return true;
    }
    std::error::Error::source(error)
        .and_then(|source| source.downcast_ref::<async_nats::jetstream::Error>())
        .is_some_and(|e| {
            e.error_code() == async_nats::jetstream::ErrorCode::STREAM_WRONG_LAST_SEQUENCE_CONSTANT
        })
}

/// Writes `payload` on `subject` unless something is there already (expected last subject
/// sequence 0): true if this call wrote it, false if an earlier write stands.
pub async fn write_once(
    js: &jetstream::Context,
    subject: String,
    payload: bytes::Bytes,
) -> Result<bool, async_nats::jetstream::context::PublishError> {
    let publish = async_nats::jetstream::message::PublishMessage::build()
        .payload(payload)
        .expected_last_subject_sequence(0);
    let acked = match js.send_publish(subject, publish).await {
        Ok(ack) => ack.await,
        Err(e) => Err(e),
    };
    match acked {
        Ok(_) => Ok(true),
        Err(e) if lost_first_write(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The subject a KV entry of `key` is stored on.
pub fn kv_subject(store: &kv::Store, key: &str) -> String {
    format!("{}{key}", store.prefix)
}
