//! The Slack app manifest (<https://docs.slack.dev/reference/app-manifest>) for a `slack_app:`
//! section, as `dbalert slack manifest` prints it: paste it into "Create New App > From a
//! manifest", install, copy the tokens. It asks for the least the app needs: `chat:write` (post
//! and update alert messages), `usergroups:read` (the members of `access:` groups) and
//! `commands` (the slash command); interactivity on; Socket Mode, or request URLs in HTTP mode.

use serde_json::{Value, json};

use super::config::{SlackAppConfig, SlackMode};

/// The bot token's scopes.
pub const BOT_SCOPES: [&str; 3] = ["chat:write", "commands", "usergroups:read"];

/// The manifest as YAML. `url` is the public HTTPS address Slack posts to, required in HTTP
/// mode and refused in Socket Mode (which has no request URL).
pub fn manifest(app: &SlackAppConfig, name: &str, url: Option<&str>) -> Result<String, String> {
    let url = match (app.mode, url) {
        (SlackMode::Socket, None) => None,
        (SlackMode::Socket, Some(_)) => {
            return Err(
                "--url goes with `slack_app.mode: http`; Socket Mode apps have no request URL"
                    .to_owned(),
            );
        }
        (SlackMode::Http, None) => {
            return Err("`slack_app.mode: http` needs --url: the public HTTPS address (of your TLS proxy) that forwards to `slack_app.listen`, such as https://dbalert.example.com/slack/events".to_owned());
        }
        (SlackMode::Http, Some(url)) if !url.starts_with("https://") => {
            return Err(
                "--url must be an https:// address: Slack posts only over HTTPS".to_owned(),
            );
        }
        (SlackMode::Http, Some(url)) => Some(url),
    };
    let mut command = json!({
        "command": app.command,
        "description": "Database alerts: status, silences, acknowledgements",
        "usage_hint": "help",
        "should_escape": false,
    });
    let mut interactivity = json!({ "is_enabled": true });
    if let Some(url) = url {
        command["url"] = json!(url);
        interactivity["request_url"] = json!(url);
    }
    let manifest: Value = json!({
        "display_information": {
            "name": name,
            "description": "Alerts from your databases, with Acknowledge and Silence buttons",
        },
        "features": {
            "bot_user": { "display_name": name, "always_online": false },
            "slash_commands": [command],
        },
        "oauth_config": { "scopes": { "bot": BOT_SCOPES } },
        "settings": {
            "interactivity": interactivity,
            "org_deploy_enabled": false,
            "socket_mode_enabled": app.mode == SlackMode::Socket,
            "token_rotation_enabled": false,
        },
    });
    serde_saphyr::to_string(&manifest).map_err(|e| format!("cannot write the manifest: {e}"))
}
