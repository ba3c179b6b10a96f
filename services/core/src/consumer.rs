//! The loop every durable pull consumer of minhu runs: pull, handle messages concurrently,
//! acknowledge only finished work. While NATS is away it waits (capped exponential backoff)
//! instead of failing: the durable consumer keeps the place on the server. On shutdown it stops
//! pulling and lets the messages in hand finish before returning; messages pulled but not
//! finished are not acknowledged and come back to another instance.

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
