//! `minhu top`: a live terminal view of `OpsService.QueueHealth` for an ops person on a shell.
//!
//! Every second it asks the ops role for the queue health and redraws one screen: the intake
//! rate (the intake stream's last sequence counts accepted petitions, so its growth per second
//! is the rate), stream sizes, consumer lag, the channels' recent figures, the pull connectors
//! and the units with the most overdue and unsigned cases. Plain ANSI: the alternate screen, the cursor sent home
//! and every line rewritten in place, so nothing flickers and the shell comes back as it was.
//! `--once` prints one frame without escape codes (colour only on a terminal) and exits.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use anyhow::Context;
use minhu_contracts::bus;
use minhu_contracts::v1::ops_service_client::OpsServiceClient;
use minhu_contracts::v1::{ChannelHealth, ChannelStatus, QueueHealthRequest, QueueHealthResponse};
use time::OffsetDateTime;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Channel;

use crate::client::ClientTls;

/// Units listed when the terminal's height is not known yet (or at all).
const UNIT_ROWS_FALLBACK: usize = 10;
/// A QueueHealth call that takes longer than this is shown as failed.
const CALL_TIMEOUT: Duration = Duration::from_secs(3);

pub struct Top {
    /// The ops role's gRPC address, e.g. `http://127.0.0.1:50051`.
    pub addr: String,
    pub token: String,
    /// Units to list; `None` fits the list to the terminal.
    pub units: Option<u32>,
    pub interval: Duration,
    pub once: bool,
    pub tls: ClientTls,
}

impl Top {
    pub async fn run(self) -> anyhow::Result<()> {
        let endpoint = self
            .tls
            .endpoint(&self.addr)?
            .connect_timeout(CALL_TIMEOUT)
            .timeout(CALL_TIMEOUT);
        // Lazy: the view starts (and keeps running) while the ops role is away.
        let mut source = Source {
            client: OpsServiceClient::new(endpoint.connect_lazy())
                .max_decoding_message_size(16 << 20),
            authorization: format!("Bearer {}", self.token)
                .parse()
                .context("the ops token must be printable ASCII")?,
        };
        if self.once {
            self.once(&mut source).await
        } else {
            self.live(&mut source).await
        }
    }

    /// Two samples one interval apart, so the frame has a rate; then one frame on stdout.
    async fn once(&self, source: &mut Source) -> anyhow::Result<()> {
        let units = self.units.map_or(UNIT_ROWS_FALLBACK, |n| n as usize);
        let mut rate = IntakeRate::default();
        let first = source.fetch(units).await?;
        rate.observe(Instant::now(), &first);
        tokio::time::sleep(self.interval).await;
        let health = source.fetch(units).await?;
        let frame = Frame {
            addr: &self.addr,
            health: Some(&health),
            error: None,
            intake_rate: rate.observe(Instant::now(), &health),
            live: false,
        };
        let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        let mut out = std::io::stdout().lock();
        for line in frame.lines(units) {
            writeln!(out, "{}", line.render(usize::MAX, color))?;
        }
        Ok(())
    }

    /// Redraws every interval until Ctrl-C or SIGTERM.
    async fn live(&self, source: &mut Source) -> anyhow::Result<()> {
        let terminal = std::io::stdout().is_terminal();
        let color = terminal && std::env::var_os("NO_COLOR").is_none();
        let _screen = terminal.then(Screen::enter).transpose()?;
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("SIGTERM handler")?;
        let stop = async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        };
        tokio::pin!(stop);
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut rate = IntakeRate::default();
        let mut last: Option<QueueHealthResponse> = None;
        loop {
            tokio::select! {
                _ = &mut stop => return Ok(()),
                _ = ticker.tick() => {}
            }
            let size = terminal.then(terminal_size).flatten();
            let units = match (self.units, size) {
                (Some(n), _) => n as usize,
                (None, Some((rows, _))) => last.as_ref().map_or(UNIT_ROWS_FALLBACK, |h| {
                    rows.saturating_sub(Frame::lines_without_units(h)).max(1)
                }),
                (None, None) => UNIT_ROWS_FALLBACK,
            };
            let fetched = tokio::select! {
                _ = &mut stop => return Ok(()),
                fetched = source.fetch(units) => fetched,
            };
            let error = match fetched {
                Ok(health) => {
                    rate.observe(Instant::now(), &health);
                    last = Some(health);
                    None
                }
                Err(e) => Some(format!("{e:#}")),
            };
            let frame = Frame {
                addr: &self.addr,
                health: last.as_ref(),
                error,
                intake_rate: rate.current(),
                live: true,
            };
            let width = size.map_or(usize::MAX, |(_, cols)| cols);
            let mut text = String::new();
            if terminal {
                text.push_str(CURSOR_HOME);
            }
            for (i, line) in frame.lines(units).iter().enumerate() {
                // No newline after the last line on a terminal: a full screen would scroll.
                if i > 0 {
                    text.push('\n');
                }
                text.push_str(&line.render(width, color));
                if terminal {
                    text.push_str(CLEAR_TO_END_OF_LINE);
                }
            }
            text.push_str(if terminal { CLEAR_BELOW } else { "\n\n" });
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
        }
    }
}

struct Source {
    client: OpsServiceClient<Channel>,
    authorization: MetadataValue<Ascii>,
}

impl Source {
    async fn fetch(&mut self, units: usize) -> anyhow::Result<QueueHealthResponse> {
        let mut request = tonic::Request::new(QueueHealthRequest {
            top_units: u32::try_from(units).unwrap_or(u32::MAX),
        });
        request
            .metadata_mut()
            .insert("authorization", self.authorization.clone());
        match self.client.queue_health(request).await {
            Ok(response) => Ok(response.into_inner()),
            Err(status) if status.code() == tonic::Code::Cancelled => Err(anyhow::anyhow!(
                "QueueHealth failed: no answer within {}s",
                CALL_TIMEOUT.as_secs()
            )),
            Err(status) => Err(anyhow::anyhow!(
                "QueueHealth failed: {:?}: {}",
                status.code(),
                status.message()
            )),
        }
    }
}

/// Accepted petitions per second, from the growth of the intake stream's last sequence
/// between two answers.
#[derive(Default)]
pub struct IntakeRate {
    last: Option<(Instant, u64)>,
    rate: Option<f64>,
}

impl IntakeRate {
    /// Records one answer received at `at`; returns the rate since the previous one.
    pub fn observe(&mut self, at: Instant, health: &QueueHealthResponse) -> Option<f64> {
        let Some(sequence) = health
            .streams
            .iter()
            .find(|s| s.name == bus::INTAKE_STREAM)
            .map(|s| s.last_sequence)
        else {
            return self.rate;
        };
        if let Some((before, previous)) = self.last {
            let elapsed = at.saturating_duration_since(before).as_secs_f64();
            if elapsed > 0.0 {
                self.rate = Some(sequence.saturating_sub(previous) as f64 / elapsed);
            }
        }
        self.last = Some((at, sequence));
        self.rate
    }

    pub fn current(&self) -> Option<f64> {
        self.rate
    }
}

/// Everything one screen shows.
pub struct Frame<'a> {
    pub addr: &'a str,
    /// The latest answer, if any arrived yet.
    pub health: Option<&'a QueueHealthResponse>,
    /// Why the latest call failed (the figures shown are then the previous ones).
    pub error: Option<String>,
    pub intake_rate: Option<f64>,
    /// Live view (title says how to quit) or a single printed frame.
    pub live: bool,
}

impl Frame<'_> {
    /// The frame's lines, listing at most `units` units.
    pub fn lines(&self, units: usize) -> Vec<Line> {
        let mut lines = vec![self.title()];
        if let Some(error) = &self.error {
            let shown = match self.health.and_then(|h| h.at.as_ref()) {
                Some(at) => format!("; figures below are from {}", clock(at)),
                None => String::new(),
            };
            lines.push(Line::styled(format!("{error}{shown}"), Style::Bad));
        }
        let Some(health) = self.health else {
            lines.push(Line::plain(format!("waiting for {} ...", self.addr)));
            return lines;
        };
        lines.push(self.intake(health));
        lines.push(Line::default());
        lines.extend(streams(health));
        lines.push(Line::default());
        lines.extend(consumers(health));
        if !health.channels.is_empty() {
            lines.push(Line::default());
            lines.extend(channels(health));
        }
        if !health.connectors.is_empty() {
            lines.push(Line::default());
            lines.extend(connectors(health));
        }
        lines.push(Line::default());
        lines.extend(unit_rows(health, units));
        lines
    }

    /// How many lines a frame of `health` can have besides its unit rows.
    fn lines_without_units(health: &QueueHealthResponse) -> usize {
        // Title, error (kept free), intake, blank, stream header, blank, consumer header,
        // blank, unit header.
        let channel_lines = if health.channels.is_empty() {
            0
        } else {
            3 + shown_channels(health).len()
        };
        let connector_lines = if health.connectors.is_empty() {
            0
        } else {
            2 + health.connectors.len()
        };
        9 + health.streams.len() + health.consumers.len().max(1) + channel_lines + connector_lines
    }

    fn title(&self) -> Line {
        let mut line = Line::default();
        line.push("minhu top", Style::Bold);
        line.push(format!("  {}", self.addr), Style::Plain);
        if let Some(at) = self.health.and_then(|h| h.at.as_ref()) {
            line.push(format!("  {}", clock(at)), Style::Plain);
        }
        // After a failed call the last answer's NATS state is stale: the error line speaks.
        match self
            .health
            .filter(|_| self.error.is_none())
            .map(|h| h.nats_connected)
        {
            Some(true) => line.push("  NATS connected", Style::Good),
            Some(false) => line.push("  NATS DISCONNECTED", Style::Bad),
            None => {}
        }
        if self.live {
            line.push("  Ctrl-C quits", Style::Dim);
        }
        line
    }

    fn intake(&self, health: &QueueHealthResponse) -> Line {
        let mut line = Line::default();
        let rate = match self.intake_rate {
            Some(r) => format!("{r:.1}/s"),
            None => "-/s".to_owned(),
        };
        line.push(format!("intake {rate}"), Style::Bold);
        let submitted: u64 = health.channels.iter().map(|c| c.submissions).sum();
        let retries: u64 = health.channels.iter().map(|c| c.retries).sum();
        let rejected: u64 = health
            .channels
            .iter()
            .flat_map(|c| c.rejections.values())
            .sum();
        line.push(
            format!(
                "   last {}s: {submitted} accepted, {retries} retries, ",
                health.channel_window_seconds
            ),
            Style::Plain,
        );
        line.push(
            format!("{rejected} rejected"),
            if rejected > 0 {
                Style::Warn
            } else {
                Style::Plain
            },
        );
        line
    }
}

fn streams(health: &QueueHealthResponse) -> Vec<Line> {
    let mut table = Table::new(
        &["STREAM", "MESSAGES", "BYTES", "FIRST SEQ", "LAST SEQ"],
        "lrrrr",
    );
    for s in &health.streams {
        table.row(vec![
            Cell::plain(&s.name),
            Cell::plain(s.messages.to_string()),
            Cell::plain(bytes(s.bytes)),
            Cell::plain(s.first_sequence.to_string()),
            Cell::plain(s.last_sequence.to_string()),
        ]);
    }
    table.lines()
}

fn consumers(health: &QueueHealthResponse) -> Vec<Line> {
    let mut table = Table::new(
        &[
            "CONSUMER",
            "STREAM",
            "PENDING",
            "UNACKED",
            "REDELIVERED",
            "OLDEST",
        ],
        "llrrrr",
    );
    // The server lists consumers in no fixed order; a view that reshuffles is hard to read.
    let stream_rank = |name: &str| {
        health
            .streams
            .iter()
            .position(|s| s.name == name)
            .unwrap_or(usize::MAX)
    };
    let mut listed: Vec<_> = health.consumers.iter().collect();
    listed
        .sort_by(|a, b| (stream_rank(&a.stream), &a.name).cmp(&(stream_rank(&b.stream), &b.name)));
    for c in listed {
        table.row(vec![
            Cell::plain(&c.name),
            Cell::plain(&c.stream),
            Cell::count(c.pending, Style::Warn),
            Cell::count(c.ack_pending, Style::Warn),
            Cell::count(c.redelivered, Style::Bad),
            Cell::new(
                age(c.oldest_unprocessed_age_seconds),
                if c.oldest_unprocessed_age_seconds > 0.0 {
                    Style::Warn
                } else {
                    Style::Plain
                },
            ),
        ]);
    }
    if health.consumers.is_empty() {
        return vec![Line::styled("no consumers", Style::Dim)];
    }
    table.lines()
}

/// The channels worth a row: those with figures in the window, and suspended ones. At province
/// scale most of the thousands of registered channels are idle at any moment.
fn shown_channels(health: &QueueHealthResponse) -> Vec<&ChannelHealth> {
    health
        .channels
        .iter()
        .filter(|c| {
            c.submissions > 0
                || c.retries > 0
                || !c.rejections.is_empty()
                || c.status == ChannelStatus::Suspended as i32
        })
        .collect()
}

fn channels(health: &QueueHealthResponse) -> Vec<Line> {
    let shown = shown_channels(health);
    let suspended = health
        .channels
        .iter()
        .filter(|c| c.status == ChannelStatus::Suspended as i32)
        .count();
    let mut lines = vec![Line::styled(
        format!(
            "{} channels registered, {suspended} suspended, {} idle (not listed)",
            health.channels.len(),
            health.channels.len() - shown.len()
        ),
        Style::Dim,
    )];
    let window = format!("LAST {}s", health.channel_window_seconds);
    let mut table = Table::new(
        &[
            "CHANNEL",
            &window,
            "PER MIN",
            "RETRIES",
            "REJECTED",
            "LAST ACCEPTED",
            "BY REASON",
        ],
        "lrrrrrl",
    );
    for c in shown {
        let per_minute = if health.channel_window_seconds == 0 {
            0.0
        } else {
            c.submissions as f64 * 60.0 / f64::from(health.channel_window_seconds)
        };
        let mut reasons: Vec<_> = c.rejections.iter().collect();
        reasons.sort();
        let reasons: Vec<String> = reasons.iter().map(|(r, n)| format!("{r}={n}")).collect();
        let rejected: u64 = c.rejections.values().sum();
        let id = if c.status == ChannelStatus::Suspended as i32 {
            format!("{} (suspended)", c.channel_id)
        } else {
            c.channel_id.clone()
        };
        table.row(vec![
            Cell::plain(id),
            Cell::plain(c.submissions.to_string()),
            Cell::plain(format!("{per_minute:.1}")),
            Cell::plain(c.retries.to_string()),
            Cell::count(rejected, Style::Warn),
            Cell::plain(c.last_accepted_at.as_ref().map_or("-".to_owned(), clock)),
            Cell::plain(reasons.join(" ")),
        ]);
    }
    lines.extend(table.lines());
    lines
}

/// The pull connectors: failing ones in red with their last error, the others with where
/// they read next.
fn connectors(health: &QueueHealthResponse) -> Vec<Line> {
    let mut table = Table::new(
        &[
            "CONNECTOR",
            "CHANNEL",
            "STATE",
            "LAST OK",
            "SUBMITTED",
            "REPLAYED",
            "REJECTED",
            "NEXT / LAST ERROR",
        ],
        "llllrrrl",
    );
    for c in &health.connectors {
        let (state, detail) = match (c.consecutive_failures, &c.last_success_at) {
            (0, None) => (Cell::new("waiting", Style::Dim), Cell::plain("-")),
            (0, Some(_)) => (Cell::new("ok", Style::Good), Cell::plain(&c.position)),
            (n, _) => (
                Cell::new(format!("failing x{n}"), Style::Bad),
                Cell::new(
                    format!("{}: {}", c.last_error_kind, c.last_error),
                    Style::Bad,
                ),
            ),
        };
        table.row(vec![
            Cell::plain(&c.connector_id),
            Cell::plain(&c.channel_id),
            state,
            Cell::plain(c.last_success_at.as_ref().map_or("-".to_owned(), clock)),
            Cell::plain(c.items_submitted.to_string()),
            Cell::plain(c.items_replayed.to_string()),
            Cell::count(c.items_rejected, Style::Warn),
            detail,
        ]);
    }
    table.lines()
}

fn unit_rows(health: &QueueHealthResponse, units: usize) -> Vec<Line> {
    if health.units.is_empty() {
        return vec![Line::styled("no open cases", Style::Dim)];
    }
    // Figures first, in the order the units are ranked by: a narrow terminal cuts names only.
    let mut table = Table::new(
        &[
            "OVERDUE",
            "UNSIGNED",
            "OPEN",
            "OLDEST UNSIGNED",
            "UNIT",
            "NAME",
        ],
        "rrrrll",
    );
    for u in health.units.iter().take(units) {
        table.row(vec![
            Cell::count(u.overdue, Style::Bad),
            Cell::count(u.unsigned, Style::Warn),
            Cell::plain(u.open.to_string()),
            Cell::plain(age(u.oldest_unsigned_age_seconds)),
            Cell::plain(&u.unit_id),
            Cell::plain(&u.unit_name),
        ]);
    }
    table.lines()
}

/// The time of day of a timestamp, `08:15:03Z` (UTC, like every time minhu prints): the view
/// is about the last minutes, the date would only take room.
fn clock(at: &prost_types::Timestamp) -> String {
    let format = time::macros::format_description!("[hour]:[minute]:[second]Z");
    OffsetDateTime::from_unix_timestamp(at.seconds)
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_else(|| "-".to_owned())
}

/// An age as a person reads it: `-` for none, then `42s`, `12m05s`, `3h04m`, `5d03h`.
fn age(seconds: f64) -> String {
    if seconds <= 0.0 || !seconds.is_finite() {
        return "-".to_owned();
    }
    let s = seconds.round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3_600 => format!("{}m{:02}s", s / 60, s % 60),
        3_600..86_400 => format!("{}h{:02}m", s / 3_600, s % 3_600 / 60),
        _ => format!("{}d{:02}h", s / 86_400, s % 86_400 / 3_600),
    }
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    Bold,
    Dim,
    Good,
    Warn,
    Bad,
}

impl Style {
    fn code(self) -> Option<&'static str> {
        match self {
            Style::Plain => None,
            Style::Bold => Some("\x1b[1m"),
            Style::Dim => Some("\x1b[2m"),
            Style::Good => Some("\x1b[32m"),
            Style::Warn => Some("\x1b[33m"),
            Style::Bad => Some("\x1b[1;31m"),
        }
    }
}

/// One screen line: styled segments.
#[derive(Debug, Default, Clone)]
pub struct Line {
    segments: Vec<(String, Style)>,
}

impl Line {
    fn plain(text: impl Into<String>) -> Line {
        Line::styled(text, Style::Plain)
    }

    fn styled(text: impl Into<String>, style: Style) -> Line {
        Line {
            segments: vec![(text.into(), style)],
        }
    }

    fn push(&mut self, text: impl Into<String>, style: Style) {
        self.segments.push((text.into(), style));
    }

    /// The line cut to `width` columns (a wrapped line would break the layout), with colour
    /// codes if `color`.
    pub fn render(&self, width: usize, color: bool) -> String {
        let mut out = String::new();
        let mut used = 0;
        for (text, style) in &self.segments {
            let mut kept = String::new();
            for ch in text.chars() {
                let w = char_width(ch);
                if used + w > width {
                    break;
                }
                used += w;
                kept.push(ch);
            }
            match style.code().filter(|_| color && !kept.is_empty()) {
                Some(code) => {
                    out.push_str(code);
                    out.push_str(&kept);
                    out.push_str(RESET);
                }
                None => out.push_str(&kept),
            }
            if kept.len() < text.len() {
                break;
            }
        }
        out.trim_end().to_owned()
    }

    /// The text without styles.
    pub fn text(&self) -> String {
        self.render(usize::MAX, false)
    }
}

struct Cell {
    text: String,
    style: Style,
}

impl Cell {
    fn new(text: impl Into<String>, style: Style) -> Cell {
        Cell {
            text: text.into(),
            style,
        }
    }

    fn plain(text: impl Into<String>) -> Cell {
        Cell::new(text, Style::Plain)
    }

    /// A count that draws the eye only when it is not zero.
    fn count(n: u64, style: Style) -> Cell {
        Cell::new(n.to_string(), if n > 0 { style } else { Style::Plain })
    }
}

/// Columns sized to their widest cell.
struct Table {
    header: Vec<String>,
    /// One letter per column: `l` left-aligned (names), `r` right-aligned (figures).
    align: &'static [u8],
    rows: Vec<Vec<Cell>>,
}

impl Table {
    fn new(header: &[&str], align: &'static str) -> Table {
        debug_assert_eq!(header.len(), align.len());
        Table {
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            align: align.as_bytes(),
            rows: Vec::new(),
        }
    }

    fn row(&mut self, cells: Vec<Cell>) {
        self.rows.push(cells);
    }

    fn lines(self) -> Vec<Line> {
        let widths: Vec<usize> = (0..self.header.len())
            .map(|i| {
                self.rows
                    .iter()
                    .map(|r| text_width(&r[i].text))
                    .chain([text_width(&self.header[i])])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let pad = |text: &str, i: usize| {
            let fill = " ".repeat(widths[i] - text_width(text));
            if self.align[i] == b'r' {
                format!("{fill}{text}")
            } else {
                format!("{text}{fill}")
            }
        };
        let mut header = Line::default();
        for (i, h) in self.header.iter().enumerate() {
            let sep = if i == 0 { "" } else { "  " };
            header.push(format!("{sep}{}", pad(h, i)), Style::Bold);
        }
        let mut lines = vec![header];
        for row in &self.rows {
            let mut line = Line::default();
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    line.push("  ", Style::Plain);
                }
                line.push(pad(&cell.text, i), cell.style);
            }
            lines.push(line);
        }
        lines
    }
}

/// Columns a character takes on a terminal: CJK and fullwidth forms take two.
fn char_width(ch: char) -> usize {
    match ch as u32 {
        0x1100..=0x115F
        | 0x2E80..=0x303E
        | 0x3041..=0x33FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x20000..=0x3FFFD => 2,
        _ => 1,
    }
}

fn text_width(text: &str) -> usize {
    text.chars().map(char_width).sum()
}

const RESET: &str = "\x1b[0m";
const CURSOR_HOME: &str = "\x1b[H";
const CLEAR_TO_END_OF_LINE: &str = "\x1b[K";
const CLEAR_BELOW: &str = "\x1b[J";

/// The alternate screen with the cursor hidden, for as long as the value lives.
struct Screen;

impl Screen {
    fn enter() -> std::io::Result<Screen> {
        let mut out = std::io::stdout().lock();
        out.write_all(b"\x1b[?1049h\x1b[?25l\x1b[2J")?;
        out.flush()?;
        Ok(Screen)
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(b"\x1b[?25h\x1b[?1049l");
        let _ = out.flush();
    }
}

/// (rows, columns) of the terminal on stdout.
fn terminal_size() -> Option<(usize, usize)> {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` into `size`, which lives across the call.
    let result = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) };
    (result == 0 && size.ws_row > 0 && size.ws_col > 0)
        .then(|| (usize::from(size.ws_row), usize::from(size.ws_col)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use minhu_contracts::v1::{ChannelHealth, ConsumerHealth, StreamHealth, UnitHealth};

    fn health(last_sequence: u64) -> QueueHealthResponse {
        QueueHealthResponse {
            at: Some(prost_types::Timestamp {
                seconds: 1_795_740_903,
                nanos: 0,
            }),
            nats_connected: true,
            streams: vec![StreamHealth {
                name: bus::INTAKE_STREAM.into(),
                messages: last_sequence,
                bytes: 3 * 1024 * 1024 + 512 * 1024,
                first_sequence: 1,
                last_sequence,
            }],
            consumers: vec![
                ConsumerHealth {
                    stream: "ELSEWHERE".into(),
                    name: "a-first".into(),
                    ..Default::default()
                },
                ConsumerHealth {
                    stream: bus::INTAKE_STREAM.into(),
                    name: bus::TRIAGE_CONSUMER.into(),
                    pending: 12,
                    ack_pending: 3,
                    redelivered: 0,
                    oldest_unprocessed_age_seconds: 75.0,
                },
            ],
            units: vec![
                UnitHealth {
                    unit_id: "pujiang-huangzhai".into(),
                    unit_name: "黄宅镇人民政府".into(),
                    open: 40,
                    unsigned: 7,
                    overdue: 2,
                    oldest_unsigned_age_seconds: 3.0 * 86_400.0 + 7_200.0,
                },
                UnitHealth {
                    unit_id: "pujiang-xianhua".into(),
                    unit_name: "仙华街道办事处".into(),
                    open: 5,
                    unsigned: 0,
                    overdue: 0,
                    oldest_unsigned_age_seconds: 0.0,
                },
            ],
            channels: vec![ChannelHealth {
                channel_id: "web-portal".into(),
                submissions: 30,
                retries: 2,
                rejections: [("invalid".to_owned(), 3), ("conflict".to_owned(), 1)].into(),
                ..Default::default()
            }],
            channel_window_seconds: 60,
            connectors: Vec::new(),
        }
    }

    #[test]
    fn intake_rate_is_the_growth_of_the_last_sequence_per_second() {
        let mut rate = IntakeRate::default();
        let start = Instant::now();
        assert_eq!(rate.observe(start, &health(100)), None);
        assert_eq!(
            rate.observe(start + Duration::from_secs(2), &health(130)),
            Some(15.0)
        );
        assert_eq!(rate.current(), Some(15.0));
        // An answer without the intake stream keeps the last rate.
        let mut empty = health(0);
        empty.streams.clear();
        assert_eq!(
            rate.observe(start + Duration::from_secs(3), &empty),
            Some(15.0)
        );
    }

    #[test]
    fn a_frame_shows_every_figure_aligned() {
        let health = health(1234);
        let frame = Frame {
            addr: "http://127.0.0.1:50051",
            health: Some(&health),
            error: None,
            intake_rate: Some(12.5),
            live: true,
        };
        let text: Vec<String> = frame.lines(10).iter().map(Line::text).collect();
        let all = text.join("\n");
        assert_eq!(
            text[0],
            "minhu top  http://127.0.0.1:50051  00:55:03Z  NATS connected  Ctrl-C quits"
        );
        assert!(
            text[1].starts_with("intake 12.5/s   last 60s: 30 accepted, 2 retries, 4 rejected"),
            "{}",
            text[1]
        );
        for wanted in [
            "MINHU_INTAKE      1234  3.5 MiB          1      1234",
            "minhu-triage  MINHU_INTAKE       12        3            0   1m15s",
            "web-portal        30     30.0        2         4              -  conflict=1 invalid=3",
            "      2         7    40            3d02h  pujiang-huangzhai  黄宅镇人民政府",
            "      0         0     5                -  pujiang-xianhua    仙华街道办事处",
        ] {
            assert!(all.contains(wanted), "missing {wanted:?} in:\n{all}");
        }
        // Consumers go in the order of their streams, those of unknown streams last.
        let position = |name: &str| text.iter().position(|l| l.starts_with(name));
        assert!(position("minhu-triage") < position("a-first"));
        // Two-column characters are counted as two: the unit columns line up.
        let unit_lines: Vec<&String> = text.iter().filter(|l| l.contains("pujiang-")).collect();
        assert_eq!(
            text_width(unit_lines[0]),
            text_width(unit_lines[1]),
            "{unit_lines:?}"
        );
        assert_eq!(frame.lines(1).len(), text.len() - 1);
        // Room is kept for an error line.
        assert_eq!(Frame::lines_without_units(&health) + 2, text.len() + 1);
    }

    #[test]
    fn a_failed_call_is_said_above_the_last_figures() {
        let mut health = health(5);
        health.nats_connected = false;
        let frame = Frame {
            addr: "http://ops:50051",
            health: Some(&health),
            error: Some("QueueHealth failed: Unavailable: JetStream state is unavailable".into()),
            intake_rate: None,
            live: false,
        };
        let lines = frame.lines(5);
        assert!(lines[0].text().ends_with("http://ops:50051  00:55:03Z"));
        assert!(
            lines[1]
                .text()
                .ends_with("figures below are from 00:55:03Z")
        );
        assert!(lines[2].text().starts_with("intake -/s"));
        assert!(lines[1].render(usize::MAX, true).starts_with("\x1b[1;31m"));
        let answered = Frame {
            error: None,
            ..frame
        };
        assert!(answered.lines(5)[0].text().ends_with("NATS DISCONNECTED"));
        let waiting = Frame {
            health: None,
            error: None,
            ..answered
        };
        assert_eq!(waiting.lines(5).len(), 2);
    }

    #[test]
    fn connectors_show_their_state_and_a_failing_ones_last_error() {
        let mut health = health(5);
        health.connectors = vec![
            minhu_contracts::v1::ConnectorHealth {
                connector_id: "pujiang-mailbox".into(),
                channel_id: "county-mailbox".into(),
                last_success_at: health.at,
                items_submitted: 40,
                items_replayed: 6,
                position: "cursor 9".into(),
                ..Default::default()
            },
            minhu_contracts::v1::ConnectorHealth {
                connector_id: "forum".into(),
                channel_id: "forum".into(),
                consecutive_failures: 3,
                last_error_kind: "http_status".into(),
                last_error: "HTTP 503 Service Unavailable".into(),
                items_rejected: 2,
                ..Default::default()
            },
        ];
        let frame = Frame {
            addr: "http://ops:50051",
            health: Some(&health),
            error: None,
            intake_rate: None,
            live: false,
        };
        let text: Vec<String> = frame.lines(5).iter().map(Line::text).collect();
        let row = |id: &str| text.iter().find(|l| l.starts_with(id)).unwrap().clone();
        let ok = row("pujiang-mailbox");
        assert!(
            ok.contains(" ok ") && ok.contains("00:55:03Z") && ok.ends_with("cursor 9"),
            "{ok}"
        );
        let failing = row("forum");
        assert!(failing.contains("failing x3"), "{failing}");
        assert!(
            failing.ends_with("http_status: HTTP 503 Service Unavailable"),
            "{failing}"
        );
        assert!(text.iter().any(|l| l.starts_with("CONNECTOR")));
        assert_eq!(
            Frame::lines_without_units(&health),
            Frame::lines_without_units(&{
                let mut h = health.clone();
                h.connectors.clear();
                h
            }) + 4
        );
    }

    #[test]
    fn lines_are_cut_to_the_terminal_width_by_columns() {
        let mut line = Line::default();
        line.push("黄宅镇", Style::Bad);
        line.push("abc", Style::Plain);
        assert_eq!(line.render(5, false), "黄宅");
        assert_eq!(line.render(7, false), "黄宅镇a");
        assert_eq!(line.render(7, true), "\x1b[1;31m黄宅镇\x1b[0ma");
    }

    #[test]
    fn ages_and_sizes_read_like_a_person_writes_them() {
        assert_eq!(age(0.0), "-");
        assert_eq!(age(42.4), "42s");
        assert_eq!(age(725.0), "12m05s");
        assert_eq!(age(11_040.0), "3h04m");
        assert_eq!(age(442_800.0), "5d03h");
        assert_eq!(bytes(900), "900 B");
        assert_eq!(bytes(1536), "1.5 KiB");
    }
}
