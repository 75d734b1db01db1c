//! `dbalert slack manifest`: the Slack app manifest for this config's `slack_app:`.

use anyhow::anyhow;
use clap::{Args, Subcommand};

use super::serve::slack_app;
use super::{Cli, Failure, Outcome, load_config_with};
use crate::config::References;
use crate::interact::manifest;

#[derive(Debug, Args)]
pub struct SlackArgs {
    #[command(subcommand)]
    pub command: SlackCommand,
}

#[derive(Debug, Subcommand)]
pub enum SlackCommand {
    /// Print the Slack app manifest (YAML) for this config: paste it into "Create New App >
    /// From a manifest" at <https://api.slack.com/apps> (see docs/slack-app.md).
    Manifest(ManifestArgs),
}

#[derive(Debug, Args)]
pub struct ManifestArgs {
    /// The app's name, as Slack shows it.
    #[arg(long, default_value = "dbalert")]
    pub name: String,
    /// HTTP mode only: the public HTTPS address Slack posts clicks and commands to.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
}

pub fn run(cli: &Cli, args: &SlackArgs) -> Result<Outcome, Failure> {
    match &args.command {
        SlackCommand::Manifest(args) => {
            // The manifest holds no secret, so the tokens need not be at hand.
            let config = load_config_with(cli, References::Deferred)?;
            let app = slack_app(&config)?;
            let text = manifest::manifest(app, &args.name, args.url.as_deref())
                .map_err(|e| Failure::usage(anyhow!(e)))?;
            out!("{text}");
            Ok(Outcome::Done)
        }
    }
}
