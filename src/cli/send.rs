//! `dbalert send`: one message, from arguments or stdin, to a receiver or a webhook URL.

use std::io::Read;

use anyhow::anyhow;
use clap::Args;

use super::{Cli, Failure, Outcome, load_config, runtime};
use crate::alert::Severity;
use crate::config::secret::Secret;
use crate::render::notification::Layout;
use crate::render::text::CUT_MARKER;
use crate::render::{Message, blockkit};
use crate::sink::slack::{SlackReceiverConfig, check_webhook_url};
use crate::sink::stdout::print_payload;
use crate::sink::{Encoder, SendError, Sink};
use crate::sink::{ReceiverKind, ReceiverName};

/// The most read from stdin. Past it, text is cut with a marker (Slack shows far less anyway)
/// and `--json` is refused (a payload Slack takes is far smaller).
const STDIN_MAX_BYTES: u64 = 1 << 20;
/// How much more is read and dropped after a cut, so that a writer with a little more to say
/// does not get a broken pipe; past it dbalert stops reading, so endless input cannot hang it.
const STDIN_DRAIN_BYTES: u64 = 16 << 20;

/// The environment variable that holds a webhook URL for `send` without a config file.
pub const WEBHOOK_ENV: &str = "DBALERT_WEBHOOK_URL";

#[derive(Debug, Args)]
pub struct SendArgs {
    /// The message; read from stdin when absent or `-`.
    #[arg(value_name = "TEXT")]
    pub text: Vec<String>,
    /// Send through this receiver of the config file.
    #[arg(long, value_name = "RECEIVER", conflicts_with = "webhook")]
    pub to: Option<String>,
    /// Send to this Slack Incoming Webhook URL; needs no config file. Prefer $DBALERT_WEBHOOK_URL:
    /// other users can read command lines.
    #[arg(long, value_name = "URL")]
    pub webhook: Option<String>,
    /// How urgent: shown as emoji and colour.
    #[arg(long, value_enum, default_value_t = Severity::Info)]
    pub severity: Severity,
    /// A bold headline above the text.
    #[arg(long)]
    pub title: Option<String>,
    /// A KEY=VALUE pair shown under the text (repeatable).
    #[arg(long = "field", value_name = "KEY=VALUE", value_parser = parse_field)]
    pub fields: Vec<(String, String)>,
    /// An http(s) link shown under the message (a runbook, a dashboard).
    #[arg(long, value_name = "URL", value_parser = parse_link)]
    pub link: Option<reqwest::Url>,
    /// Read a complete Slack payload (JSON) from stdin; it is checked against Slack's limits and
    /// sent as it is.
    #[arg(long, conflicts_with_all = ["text", "title", "fields", "link"])]
    pub json: bool,
    /// Print the payload instead of sending it.
    #[arg(long)]
    pub dry_run: bool,
}

fn parse_field(arg: &str) -> Result<(String, String), String> {
    match arg.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_owned(), value.to_owned()))
        }
        _ => Err("write the field as KEY=VALUE".to_owned()),
    }
}

fn parse_link(arg: &str) -> Result<reqwest::Url, String> {
    match reqwest::Url::parse(arg) {
        Ok(url) if crate::render::text::link_target(&url).chars().count() > blockkit::MAX_LINK => {
            Err(format!(
                "the link is over {} characters, more than a Slack message holds; shorten it",
                blockkit::MAX_LINK
            ))
        }
        Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(url),
        Ok(_) => Err("only http and https links are allowed".to_owned()),
        Err(e) => Err(format!("not a URL ({e})")),
    }
}

pub fn run(cli: &Cli, args: &SendArgs) -> Result<Outcome, Failure> {
    let payload = build_payload(args)?;
    if args.dry_run {
        print_payload(&payload).map_err(Failure::failed)?;
        return Ok(Outcome::Done);
    }
    let sink = target(cli, args)?;
    runtime()?
        .block_on(sink.send(&payload))
        .map_err(|e: SendError| Failure::failed(anyhow!(e).context("message not sent")))?;
    Ok(Outcome::Done)
}

fn build_payload(args: &SendArgs) -> Result<serde_json::Value, Failure> {
    if args.json {
        let Stdin::Whole(input) = read_stdin()? else {
            return Err(Failure::usage(anyhow!(
                "--json: stdin holds more than {} MiB, far more than a Slack payload (its text is at most {} characters); send a smaller payload",
                STDIN_MAX_BYTES >> 20,
                blockkit::MAX_TEXT
            )));
        };
        let payload: serde_json::Value = serde_json::from_slice(&input).map_err(|e| {
            Failure::usage(anyhow!("--json: stdin is not valid JSON ({e}); send a complete Slack payload such as {{\"text\": \"hi\"}}"))
        })?;
        blockkit::validate(&payload).map_err(|problems| {
            Failure::usage(anyhow!(
                "--json: the payload breaks Slack's limits:\n  {}",
                problems.join("\n  ")
            ))
        })?;
        return Ok(payload);
    }
    let text = match args.text.as_slice() {
        [] => read_stdin()?.into_text(),
        [dash] if dash == "-" => read_stdin()?.into_text(),
        words => words.join(" "),
    };
    let has_title = args.title.as_deref().is_some_and(|t| !t.trim().is_empty());
    if text.trim().is_empty() && !has_title && args.fields.is_empty() {
        return Err(Failure::usage(anyhow!(
            "nothing to send: give the text as arguments or on stdin, or pass --title"
        )));
    }
    Ok(blockkit::message_payload(&Message {
        severity: args.severity,
        title: args.title.clone(),
        text,
        fields: args.fields.clone(),
        link: args.link.clone(),
    }))
}

/// What stdin held: all of it, or its first [`STDIN_MAX_BYTES`] when it held more.
enum Stdin {
    Whole(Vec<u8>),
    Cut(Vec<u8>),
}

impl Stdin {
    /// As text: invalid UTF-8 becomes U+FFFD, and a cut is marked.
    fn into_text(self) -> String {
        match self {
            Self::Whole(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Self::Cut(bytes) => String::from_utf8_lossy(&bytes).into_owned() + CUT_MARKER,
        }
    }
}

/// Reads stdin up to [`STDIN_MAX_BYTES`]; past that, drops up to [`STDIN_DRAIN_BYTES`] more
/// and stops.
fn read_stdin() -> Result<Stdin, Failure> {
    let mut bytes = Vec::new();
    let mut stdin = std::io::stdin().lock();
    let read_error = |e: std::io::Error| Failure::usage(anyhow!("cannot read stdin: {e}"));
    (&mut stdin)
        .take(STDIN_MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 <= STDIN_MAX_BYTES {
        return Ok(Stdin::Whole(bytes));
    }
    bytes.truncate(STDIN_MAX_BYTES as usize);
    std::io::copy(&mut stdin.take(STDIN_DRAIN_BYTES), &mut std::io::sink()).map_err(read_error)?;
    Ok(Stdin::Cut(bytes))
}

/// Where the message goes: `--to`, else `--webhook`, else `$DBALERT_WEBHOOK_URL`.
fn target(cli: &Cli, args: &SendArgs) -> Result<Sink, Failure> {
    if let Some(name) = &args.to {
        let config = load_config(cli)?;
        let Some(receiver) = config.receivers.get(&ReceiverName(name.clone())) else {
            let known: Vec<&str> = config.receivers.keys().map(|r| r.0.as_str()).collect();
            return Err(Failure::usage(anyhow!(
                "no receiver `{name}` in {}; receivers there: {}",
                config.file.display(),
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            )));
        };
        if matches!(
            receiver.kind,
            ReceiverKind::Alertmanager(_) | ReceiverKind::Webhook(_)
        ) {
            return Err(Failure::usage(anyhow!(
                "receiver `{name}` is an {} receiver, which takes alerts, not messages; `send` posts to `slack` and `stdout` receivers (use `poll` to feed it)",
                receiver.kind.name()
            )));
        }
        return Sink::build(receiver).map_err(Failure::usage);
    }
    let (url, from) = match (&args.webhook, std::env::var(WEBHOOK_ENV)) {
        (Some(url), _) => (url.clone(), "--webhook"),
        (None, Ok(url)) if !url.trim().is_empty() => (url, WEBHOOK_ENV),
        _ => {
            return Err(Failure::usage(anyhow!(
                "say where to send: --to RECEIVER (from the config), --webhook URL, or set {WEBHOOK_ENV}"
            )));
        }
    };
    let url = url.trim().to_owned();
    check_webhook_url(&url).map_err(|m| Failure::usage(anyhow!("{from}: {m}")))?;
    let config = SlackReceiverConfig {
        webhook_url: Some(Secret::new(url)),
        ..SlackReceiverConfig::default()
    };
    let transport = config
        .build(&ReceiverName("webhook".to_owned()), &Default::default())
        .map_err(Failure::usage)?;
    Ok(Sink::new(Encoder::Slack(Layout::default()), transport))
}
