//! The loop every durable pull consumer of minhu runs: pull, handle messages concurrently,
//! acknowledge only finished work. While NATS is away it waits (capped exponential backoff)
//! instead of failing: the durable consumer keeps the place on the server. On shutdown it stops
//! pulling and lets the messages in hand finish before returning; messages pulled but not
//! finished are not acknowledged and come back to another instance.
//!
//! And [`follow`], for what every instance folds on its own (the ops projections, the dedup
//! journal): a whole stream in order through ordered consumers, which keep no place on the
//! server, so the follower keeps it.

use std::future::Future;
use std::time::Duration;

use async_nats::jetstream::consumer::pull;
use async_nats::jetstream::stream::Stream;
use async_nats::jetstream::{self, AckKind};
use futures::StreamExt;
use futures::future::{BoxFuture, Shared};

/// Delay before a message that failed on a transient error is delivered again.
const RETRY_DELAY: Duration = Duration::from_secs(1);

/// What became of one message.
#[derive(Debug)]
pub enum Verdict {
    /// Finished: acknowledged (and the acknowledgement confirmed by the server).
    Done,
    /// Failed for now (the bus, a case not written yet): delivered again shortly.
    Retry(String),
    /// Can never be handled: terminated, left in its stream for an operator.
    Poison(String),
}

/// Runs the durable consumer `name` on `stream` until `shutdown`.
pub async fn run<F, Fut>(
    stream: Stream,
    name: &str,
    config: pull::Config,
    concurrency: usize,
    shutdown: Shared<BoxFuture<'static, ()>>,
    handle: F,
) where
    F: Fn(jetstream::Message) -> Fut,
    Fut: Future<Output = Verdict>,
{
    let mut backoff = Duration::from_millis(100);
    loop {
        let pulled = tokio::select! {
            _ = shutdown.clone() => return,
            pulled = async {
                let consumer = stream.get_or_create_consumer(name, config.clone()).await?;
                Ok::<_, async_nats::Error>(consumer.messages().await?)
            } => pulled,
        };
        let messages = match pulled {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(consumer = name, error = %e, retry_in = ?backoff, "cannot pull");
                tokio::select! {
                    _ = shutdown.clone() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        messages
            .take_until(shutdown.clone())
            .for_each_concurrent(concurrency, |message| async {
                let message = match message {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::warn!(consumer = name, error = %e, "pull interrupted");
                        return;
                    }
                };
                let ack = match handle(message.clone()).await {
                    // double_ack waits for the server's confirmation, so a lost ack shows up
                    // here and the (idempotent) redelivery follows instead of passing unnoticed.
                    Verdict::Done => message.double_ack().await,
                    Verdict::Poison(reason) => {
                        tracing::error!(consumer = name, %reason, "message cannot be handled; left in its stream");
                        message.ack_with(AckKind::Term).await
                    }
                    Verdict::Retry(reason) => {
                        tracing::debug!(consumer = name, %reason, "step failed; will retry");
                        message.ack_with(AckKind::Nak(Some(RETRY_DELAY))).await
                    }
                };
                if let Err(e) = ack {
                    tracing::warn!(consumer = name, error = %e, "acknowledgement not confirmed; the message will be redelivered");
                }
            })
            .await;
    }
}

/// Hands every message of `stream` from `start_sequence` on to `apply` with its stream
/// sequence, in stream order, until `shutdown`. After an interruption it resumes after the last
/// message handed on, with capped exponential backoff while the bus is away; `what` names the
/// follower in the logs.
pub async fn follow(
    stream: &Stream,
    start_sequence: u64,
    what: &'static str,
    shutdown: impl Future<Output = ()>,
    mut apply: impl FnMut(u64, &jetstream::Message),
) {
    use async_nats::jetstream::consumer::DeliverPolicy;

    tokio::pin!(shutdown);
    let mut next_sequence = start_sequence.max(1);
    let mut backoff = Duration::from_millis(200);
    loop {
        let config = pull::OrderedConfig {
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: next_sequence,
            },
            ..Default::default()
        };
        let messages = async {
            let consumer = stream.create_consumer(config).await?;
            Ok::<_, async_nats::Error>(consumer.messages().await?)
        };
        let mut messages = tokio::select! {
            _ = &mut shutdown => return,
            m = messages => match m {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, follower = what, "cannot follow the stream; retrying");
                    tokio::select! {
                        _ = &mut shutdown => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            },
        };
        backoff = Duration::from_millis(200);
        loop {
            let next = tokio::select! {
                _ = &mut shutdown => return,
                next = messages.next() => next,
            };
            match next {
                Some(Ok(message)) => {
                    let Ok(info) = message.info() else {
                        continue;
                    };
                    next_sequence = info.stream_sequence + 1;
                    apply(info.stream_sequence, &message);
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, follower = what, "stream feed interrupted");
                    break;
                }
                None => break,
            }
        }
    }
}
