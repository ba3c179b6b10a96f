//! `minhu channels ...`: the channel registry from a shell, through ChannelAdmin with the admin
//! token (create, list, suspend, resume, rotate a token).

use crate::client::{ClientTls, describe};
use anyhow::Context;
use minhu_contracts::v1::channel_admin_client::ChannelAdminClient;
use minhu_contracts::v1::{
    Channel, ChannelKind, ChannelStatus, CreateChannelRequest, ListChannelsRequest,
    ResumeChannelRequest, RotateTokenRequest, SuspendChannelRequest,
};
use minhu_core::channels::kind_name;
use minhu_core::config::ChannelKindSetting;
use tonic::Request;

/// Where ChannelAdmin is and the admin credential, for every `minhu channels` command.
#[derive(Debug, Clone, clap::Args)]
pub struct AdminConnection {
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    pub addr: String,
    /// The admin token (`[admin]` in the configuration).
    #[arg(long, env = "MINHU_ADMIN_TOKEN", default_value = "demo-admin-token")]
    pub token: String,
    #[command(flatten)]
    pub tls: ClientTls,
}

#[derive(Debug, clap::Subcommand)]
pub enum ChannelsCommand {
    /// Register a channel; prints its token (shown this once).
    Create {
        #[command(flatten)]
        connection: AdminConnection,
        /// Channel id: letters, digits, '-' and '_'.
        id: String,
        #[arg(long)]
        name: String,
        /// web, app, mini-program, hotline, mailbox, email, letter, visit or connector.
        #[arg(long, value_parser = parse_kind)]
        kind: ChannelKindSetting,
        #[arg(long, default_value = "")]
        owner: String,
        /// 行政区划代码 of the area the channel serves.
        #[arg(long, default_value = "")]
        division_code: String,
        /// Petitions per second (0: the gateway's default) and burst.
        #[arg(long, default_value_t = 0)]
        rate: u32,
        #[arg(long, default_value_t = 0)]
        burst: u32,
    },
    /// Every registered channel, one line each.
    List {
        #[command(flatten)]
        connection: AdminConnection,
    },
    /// Refuse the channel's tokens (PERMISSION_DENIED "channel suspended") until resumed.
    Suspend {
        #[command(flatten)]
        connection: AdminConnection,
        id: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
    Resume {
        #[command(flatten)]
        connection: AdminConnection,
        id: String,
    },
    /// A new token (printed once); the current ones stay valid for the overlap.
    Rotate {
        #[command(flatten)]
        connection: AdminConnection,
        id: String,
        /// Seconds the current tokens stay valid (0: revoke them at once).
        #[arg(long, default_value_t = 86_400)]
        overlap_seconds: u32,
    },
}

fn parse_kind(value: &str) -> Result<ChannelKindSetting, String> {
    serde::Deserialize::deserialize(
        serde::de::value::StrDeserializer::<serde::de::value::Error>::new(value),
    )
    .map_err(|_| {
        "one of web, app, mini-program, hotline, mailbox, email, letter, visit, connector"
            .to_owned()
    })
}

impl ChannelsCommand {
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            ChannelsCommand::Create {
                connection,
                id,
                name,
                kind,
                owner,
                division_code,
                rate,
                burst,
            } => {
                let (mut client, token) = connect(&connection).await?;
                let created = client
                    .create_channel(authorized(
                        &token,
                        CreateChannelRequest {
                            channel_id: id,
                            name,
                            kind: minhu_core::channels::kind_of(kind) as i32,
                            owner,
                            division_code,
                            rate_per_second: rate,
                            burst,
                        },
                    ))
                    .await
                    .map_err(describe)?
                    .into_inner();
                if let Some(channel) = &created.channel {
                    println!("{}", line(channel));
                }
                println!(
                    "token={}  (shown this once; minhu keeps its SHA-256 only)",
                    created.token
                );
            }
            ChannelsCommand::List { connection } => {
                let (mut client, token) = connect(&connection).await?;
                let mut page_token = String::new();
                loop {
                    let page = client
                        .list_channels(authorized(
                            &token,
                            ListChannelsRequest {
                                page_size: 1000,
                                page_token,
                            },
                        ))
                        .await
                        .map_err(describe)?
                        .into_inner();
                    for channel in &page.channels {
                        println!("{}", line(channel));
                    }
                    if page.next_page_token.is_empty() {
                        break;
                    }
                    page_token = page.next_page_token;
                }
            }
            ChannelsCommand::Suspend {
                connection,
                id,
                reason,
            } => {
                let (mut client, token) = connect(&connection).await?;
                let channel = client
                    .suspend_channel(authorized(
                        &token,
                        SuspendChannelRequest {
                            channel_id: id,
                            reason,
                        },
                    ))
                    .await
                    .map_err(describe)?
                    .into_inner();
                println!("{}", line(&channel));
            }
            ChannelsCommand::Resume { connection, id } => {
                let (mut client, token) = connect(&connection).await?;
                let channel = client
                    .resume_channel(authorized(&token, ResumeChannelRequest { channel_id: id }))
                    .await
                    .map_err(describe)?
                    .into_inner();
                println!("{}", line(&channel));
            }
            ChannelsCommand::Rotate {
                connection,
                id,
                overlap_seconds,
            } => {
                let (mut client, token) = connect(&connection).await?;
                let rotated = client
                    .rotate_token(authorized(
                        &token,
                        RotateTokenRequest {
                            channel_id: id,
                            overlap_seconds: Some(overlap_seconds),
                        },
                    ))
                    .await
                    .map_err(describe)?
                    .into_inner();
                if let Some(channel) = &rotated.channel {
                    println!("{}", line(channel));
                }
                println!(
                    "token={}  (shown this once; the previous tokens hold for {overlap_seconds} s)",
                    rotated.token
                );
            }
        }
        Ok(())
    }
}

async fn connect(
    connection: &AdminConnection,
) -> anyhow::Result<(ChannelAdminClient<tonic::transport::Channel>, String)> {
    let channel = connection
        .tls
        .endpoint(&connection.addr)?
        .connect()
        .await
        .with_context(|| format!("cannot connect to {}", connection.addr))?;
    Ok((ChannelAdminClient::new(channel), connection.token.clone()))
}

fn authorized<T>(token: &str, message: T) -> Request<T> {
    let mut request = Request::new(message);
    if let Ok(value) = format!("Bearer {token}").parse() {
        request.metadata_mut().insert("authorization", value);
    }
    request
}

/// One channel on one line: id, kind, status, tokens, limits, area, name.
fn line(c: &Channel) -> String {
    let status = match ChannelStatus::try_from(c.status) {
        Ok(ChannelStatus::Suspended) => "suspended",
        Ok(ChannelStatus::Active) => "active",
        _ => "unknown",
    };
    let kind = kind_name(ChannelKind::try_from(c.kind).unwrap_or_default());
    let rate = if c.rate_per_second == 0 {
        "default".to_owned()
    } else {
        format!("{}/s burst {}", c.rate_per_second, c.burst)
    };
    format!(
        "{:<24} {:<12} {:<9} tokens={} rate={} area={} name={}",
        c.channel_id,
        kind,
        status,
        c.tokens.len(),
        rate,
        if c.division_code.is_empty() {
            "-"
        } else {
            &c.division_code
        },
        c.name
    )
}
