//! Slack's Block Kit payload and its limits, kept in one place.
//!
//! Limits (<https://docs.slack.dev/reference/block-kit/blocks>,
//! <https://docs.slack.dev/reference/methods/chat.postMessage#truncating-content>):
//! 50 blocks per message; section text 1–3000 characters; at most 10 section fields of 2000
//! characters each; header text 150 characters of `plain_text`; at most 10 context elements;
//! `block_id` at most 255 characters and unique; an actions block holds 1 to 25 elements, a
//! button 75 characters of text, a URL of 3000 and a value of 2000, a select menu 1 to 100
//! options with values of at most 150 characters; at most 100 attachments; top-level `text` is
//! advised under 4000 characters and truncated by Slack past 40,000. A message over a limit is
//! refused as a whole (`invalid_blocks`), so dbalert cuts text itself, with a visible marker.
//!
//! Layout: the top-level `blocks` hold the headline (severity emoji and title); one attachment
//! carries the severity colour bar and the details, since only attachments have a colour.

use serde_json::{Value, json};

use super::Message;
use super::text;

pub const MAX_BLOCKS: usize = 50;
pub const MAX_SECTION_TEXT: usize = 3000;
pub const MAX_FIELDS: usize = 10;
pub const MAX_FIELD_TEXT: usize = 2000;
pub const MAX_HEADER_TEXT: usize = 150;
pub const MAX_CONTEXT_ELEMENTS: usize = 10;
pub const MAX_BLOCK_ID: usize = 255;
pub const MAX_ATTACHMENTS: usize = 100;
pub const MAX_ACTIONS: usize = 25;
pub const MAX_BUTTON_TEXT: usize = 75;
pub const MAX_BUTTON_URL: usize = 3000;
pub const MAX_BUTTON_VALUE: usize = 2000;
/// A select menu: its placeholder, its options, and an option's value.
pub const MAX_PLACEHOLDER: usize = 150;
pub const MAX_OPTIONS: usize = 100;
pub const MAX_OPTION_VALUE: usize = 150;
/// Slack truncates top-level `text` past this many characters.
pub const MAX_TEXT: usize = 40_000;
/// What dbalert puts in the top-level `text` fallback at most (Slack advises under 4000).
pub const FALLBACK_TEXT: usize = 3000;
/// The longest link `send --link` takes, once encoded: it goes in a context element as
/// `<link|host>`, which holds at most [`MAX_SECTION_TEXT`] characters, and a host name takes
/// up to 253 of them. A cut link would lead nowhere, so a longer one is refused.
pub const MAX_LINK: usize = 2700;
/// A field's name is cut shorter than its value so both fit one field.
const FIELD_NAME: usize = 100;
/// Field sections after which the remaining fields are counted instead of shown.
const MAX_FIELD_SECTIONS: usize = 4;

fn section(text: String) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})
}

/// The Slack payload for one message from `dbalert send`.
pub fn message_payload(message: &Message) -> Value {
    let emoji = message.severity.emoji();
    let title = message
        .title
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let body = message.text.trim();

    let headline = match title {
        Some(title) => format!("{emoji} *{}*", text::mrkdwn(title, MAX_HEADER_TEXT)),
        None => format!(
            "{emoji} {}",
            text::mrkdwn(body, MAX_SECTION_TEXT - emoji.len() - 1)
        ),
    };
    let fallback = match title {
        Some(title) => format!("{emoji} {}: {}", title, body),
        None => format!("{emoji} {body}"),
    };

    let mut details = Vec::new();
    if title.is_some() && !body.is_empty() {
        details.push(section(text::mrkdwn(body, MAX_SECTION_TEXT)));
    }
    details.extend(field_sections(&message.fields));
    if let Some(url) = &message.link {
        let label = text::escape(url.host_str().unwrap_or("link"));
        details.push(json!({
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": format!("<{}|{label}>", text::link_target(url))}],
        }));
    }

    let mut payload = json!({
        "text": text::mrkdwn(&fallback, FALLBACK_TEXT),
        "blocks": [section(headline)],
        "unfurl_links": false,
        "unfurl_media": false,
    });
    let mut attachment = json!({"color": message.severity.color()});
    if !details.is_empty() {
        attachment["blocks"] = Value::Array(details);
    } else {
        // An attachment with only a colour shows nothing; give it the bar next to the headline.
        attachment["fallback"] = json!(message.severity.as_str());
    }
    payload["attachments"] = json!([attachment]);
    payload
}

/// Fields as sections of at most ten, the rest counted in a last line.
fn field_sections(fields: &[(String, String)]) -> Vec<Value> {
    let shown = fields.len().min(MAX_FIELDS * MAX_FIELD_SECTIONS);
    let mut sections: Vec<Value> = fields[..shown]
        .chunks(MAX_FIELDS)
        .map(|chunk| {
            let items: Vec<Value> = chunk
                .iter()
                .map(|(name, value)| {
                    let name = text::mrkdwn(name, FIELD_NAME);
                    let budget = MAX_FIELD_TEXT - name.chars().count() - 3;
                    json!({"type": "mrkdwn", "text": format!("*{name}*\n{}", text::mrkdwn(value, budget))})
                })
                .collect();
            json!({"type": "section", "fields": items})
        })
        .collect();
    if fields.len() > shown {
        sections.push(json!({
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": format!("and {} more fields", fields.len() - shown)}],
        }));
    }
    sections
}

/// Checks a payload against Slack's documented limits; used on `send --json` input before it
/// goes out, and in tests on everything dbalert renders. Returns every violation found.
pub fn validate(payload: &Value) -> Result<(), Vec<String>> {
    let mut errors = Vec::new();
    let Some(object) = payload.as_object() else {
        return Err(vec!["the payload must be a JSON object".to_owned()]);
    };
    let text = object.get("text");
    match text {
        Some(Value::String(t)) if t.chars().count() > MAX_TEXT => errors.push(format!(
            "text: {} characters, over Slack's {MAX_TEXT}",
            t.chars().count()
        )),
        Some(Value::String(_)) | None => {}
        Some(_) => errors.push("text: must be a string".to_owned()),
    }
    let has_text = matches!(text, Some(Value::String(t)) if !t.trim().is_empty());
    let blocks = object.get("blocks");
    let attachments = object.get("attachments");
    if !has_text && blocks.is_none() && attachments.is_none() {
        errors.push("the payload needs a non-empty `text` (and may add `blocks`)".to_owned());
    }
    if let Some(blocks) = blocks {
        check_blocks("blocks", blocks, &mut errors);
    }
    if let Some(attachments) = attachments {
        match attachments.as_array() {
            Some(list) => {
                if list.len() > MAX_ATTACHMENTS {
                    errors.push(format!(
                        "attachments: {} items, over Slack's {MAX_ATTACHMENTS}",
                        list.len()
                    ));
                }
                for (i, attachment) in list.iter().enumerate() {
                    if let Some(blocks) = attachment.get("blocks") {
                        check_blocks(&format!("attachments[{i}].blocks"), blocks, &mut errors);
                    }
                }
            }
            None => errors.push("attachments: must be a list".to_owned()),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn check_blocks(at: &str, blocks: &Value, errors: &mut Vec<String>) {
    let Some(list) = blocks.as_array() else {
        errors.push(format!("{at}: must be a list"));
        return;
    };
    if list.len() > MAX_BLOCKS {
        errors.push(format!(
            "{at}: {} blocks, over Slack's {MAX_BLOCKS}",
            list.len()
        ));
    }
    let mut ids = std::collections::HashSet::new();
    for (i, block) in list.iter().enumerate() {
        let at = format!("{at}[{i}]");
        if let Some(id) = block.get("block_id").and_then(Value::as_str) {
            if id.chars().count() > MAX_BLOCK_ID {
                errors.push(format!("{at}.block_id: over {MAX_BLOCK_ID} characters"));
            }
            if !ids.insert(id.to_owned()) {
                errors.push(format!("{at}.block_id: `{id}` is used twice"));
            }
        }
        match block.get("type").and_then(Value::as_str) {
            Some("section") => check_section(&at, block, errors),
            Some("header") => match block.get("text") {
                Some(text) => {
                    check_text(&format!("{at}.text"), text, MAX_HEADER_TEXT, true, errors)
                }
                None => errors.push(format!("{at}: a header needs `text`")),
            },
            Some("context") => check_context(&at, block, errors),
            Some("actions") => check_actions(&at, block, errors),
            Some("divider" | "image" | "rich_text" | "markdown" | "file" | "video" | "input") => {}
            Some(other) => errors.push(format!(
                "{at}.type: `{other}` is not a Block Kit block type"
            )),
            None => errors.push(format!("{at}: a block needs a `type`")),
        }
    }
}

/// A section: `text` of at most 3000 characters, or at most 10 `fields` of 2000, or both.
fn check_section(at: &str, block: &Value, errors: &mut Vec<String>) {
    let text = block.get("text");
    let fields = block.get("fields");
    if text.is_none() && fields.is_none() {
        errors.push(format!("{at}: a section needs `text` or `fields`"));
    }
    if let Some(text) = text {
        check_text(&format!("{at}.text"), text, MAX_SECTION_TEXT, false, errors);
    }
    if let Some(fields) = fields {
        let list = fields.as_array().map(Vec::as_slice).unwrap_or_default();
        if list.len() > MAX_FIELDS {
            errors.push(format!(
                "{at}.fields: {} items, over Slack's {MAX_FIELDS}",
                list.len()
            ));
        }
        for (j, field) in list.iter().enumerate() {
            let at = format!("{at}.fields[{j}]");
            check_text(&at, field, MAX_FIELD_TEXT, false, errors);
        }
    }
}

/// A context block: 1 to 10 elements, text ones of at most 3000 characters.
fn check_context(at: &str, block: &Value, errors: &mut Vec<String>) {
    let list = block
        .get("elements")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if list.is_empty() || list.len() > MAX_CONTEXT_ELEMENTS {
        errors.push(format!(
            "{at}.elements: {} items; Slack takes 1 to {MAX_CONTEXT_ELEMENTS}",
            list.len()
        ));
    }
    for (j, element) in list.iter().enumerate() {
        if element.get("type").and_then(Value::as_str) != Some("image") {
            let at = format!("{at}.elements[{j}]");
            check_text(&at, element, MAX_SECTION_TEXT, false, errors);
        }
    }
}

/// An actions block: 1 to 25 elements; a button's text at most 75 characters of
/// `plain_text`, its URL at most 3000, its value at most 2000
/// (<https://docs.slack.dev/reference/block-kit/block-elements/button-element>).
fn check_actions(at: &str, block: &Value, errors: &mut Vec<String>) {
    let list = block
        .get("elements")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if list.is_empty() || list.len() > MAX_ACTIONS {
        errors.push(format!(
            "{at}.elements: {} items; Slack takes 1 to {MAX_ACTIONS}",
            list.len()
        ));
    }
    for (j, element) in list.iter().enumerate() {
        let at = format!("{at}.elements[{j}]");
        match element.get("type").and_then(Value::as_str) {
            Some("button") => {}
            Some("static_select") => {
                check_select(&at, element, errors);
                continue;
            }
            _ => continue,
        }
        match element.get("text") {
            Some(text) => check_text(&format!("{at}.text"), text, MAX_BUTTON_TEXT, true, errors),
            None => errors.push(format!("{at}: a button needs `text`")),
        }
        if let Some(url) = element.get("url").and_then(Value::as_str)
            && url.chars().count() > MAX_BUTTON_URL
        {
            errors.push(format!(
                "{at}.url: over Slack's {MAX_BUTTON_URL} characters"
            ));
        }
        if let Some(value) = element.get("value").and_then(Value::as_str)
            && value.chars().count() > MAX_BUTTON_VALUE
        {
            errors.push(format!(
                "{at}.value: over Slack's {MAX_BUTTON_VALUE} characters"
            ));
        }
    }
}

/// A `static_select` menu: a `plain_text` placeholder of at most 150 characters, 1 to 100
/// options, each with `plain_text` of at most 75 characters and a value of at most 150
/// (<https://docs.slack.dev/reference/block-kit/block-elements/select-menu-element>).
fn check_select(at: &str, element: &Value, errors: &mut Vec<String>) {
    if let Some(placeholder) = element.get("placeholder") {
        check_text(
            &format!("{at}.placeholder"),
            placeholder,
            MAX_PLACEHOLDER,
            true,
            errors,
        );
    }
    let options = element
        .get("options")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if options.is_empty() || options.len() > MAX_OPTIONS {
        errors.push(format!(
            "{at}.options: {} items; Slack takes 1 to {MAX_OPTIONS}",
            options.len()
        ));
    }
    for (k, option) in options.iter().enumerate() {
        let at = format!("{at}.options[{k}]");
        match option.get("text") {
            Some(text) => check_text(&format!("{at}.text"), text, MAX_BUTTON_TEXT, true, errors),
            None => errors.push(format!("{at}: an option needs `text`")),
        }
        let value = option
            .get("value")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if value.chars().count() > MAX_OPTION_VALUE {
            errors.push(format!(
                "{at}.value: over Slack's {MAX_OPTION_VALUE} characters"
            ));
        }
    }
}

fn check_text(at: &str, object: &Value, max: usize, plain_only: bool, errors: &mut Vec<String>) {
    let kind = object.get("type").and_then(Value::as_str);
    match kind {
        Some("plain_text") => {}
        Some("mrkdwn") if !plain_only => {}
        Some(other) => errors.push(format!("{at}.type: `{other}` is not allowed here")),
        None => errors.push(format!("{at}: a text object needs a `type`")),
    }
    match object.get("text").and_then(Value::as_str) {
        Some("") => errors.push(format!(
            "{at}.text: empty; Slack needs at least 1 character"
        )),
        Some(t) if t.chars().count() > max => errors.push(format!(
            "{at}.text: {} characters, over Slack's {max}",
            t.chars().count()
        )),
        Some(_) => {}
        None => errors.push(format!("{at}.text: missing")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Severity;

    fn message(text: &str) -> Message {
        Message {
            severity: Severity::Critical,
            title: Some("Deadlock in ORDERS".into()),
            text: text.into(),
            fields: vec![("db".into(), "PROD".into())],
            link: Some(reqwest::Url::parse("https://runbooks.example/deadlock").unwrap()),
        }
    }

    #[test]
    fn rendered_message_is_within_limits() {
        for body in ["short", &"x".repeat(100_000), &"<&>".repeat(20_000), ""] {
            let payload = message_payload(&message(body));
            validate(&payload).unwrap_or_else(|e| panic!("{e:?}"));
        }
    }

    #[test]
    fn many_long_fields_stay_within_limits() {
        let mut m = message("body");
        m.fields = (0..100)
            .map(|i| (format!("k{i}{}", "&".repeat(500)), "v".repeat(5000)))
            .collect();
        let payload = message_payload(&m);
        validate(&payload).unwrap_or_else(|e| panic!("{e:?}"));
        assert!(payload.to_string().contains("and 60 more fields"));
    }

    #[test]
    fn shape_of_a_message() {
        let payload = message_payload(&message("ORA-00060 <!channel>"));
        assert_eq!(
            payload["text"],
            ":red_circle: Deadlock in ORDERS: ORA-00060 &lt;!channel&gt;"
        );
        assert_eq!(
            payload["blocks"][0]["text"]["text"],
            ":red_circle: *Deadlock in ORDERS*"
        );
        assert_eq!(payload["attachments"][0]["color"], "#E01E5A");
        assert_eq!(
            payload["attachments"][0]["blocks"][0]["text"]["text"],
            "ORA-00060 &lt;!channel&gt;"
        );
        assert_eq!(
            payload["attachments"][0]["blocks"][1]["fields"][0]["text"],
            "*db*\nPROD"
        );
        assert_eq!(
            payload["attachments"][0]["blocks"][2]["elements"][0]["text"],
            "<https://runbooks.example/deadlock|runbooks.example>"
        );
        assert_eq!(payload["unfurl_links"], false);
    }

    #[test]
    fn validator_enforces_each_limit() {
        let cases = [
            json!({"text": ""}),
            json!({"text": "x", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x".repeat(3001)}}]}),
            json!({"text": "x", "blocks": vec![json!({"type": "divider"}); 51]}),
            json!({"text": "x", "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "x".repeat(151)}}]}),
            json!({"text": "x", "blocks": [{"type": "header", "text": {"type": "mrkdwn", "text": "x"}}]}),
            json!({"text": "x", "blocks": [{"type": "section", "fields": vec![json!({"type": "mrkdwn", "text": "f"}); 11]}]}),
            json!({"text": "x", "blocks": [{"type": "section", "fields": [{"type": "mrkdwn", "text": "x".repeat(2001)}]}]}),
            json!({"text": "x", "blocks": [{"type": "context", "elements": vec![json!({"type": "mrkdwn", "text": "c"}); 11]}]}),
            json!({"text": "x", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": ""}}]}),
            json!({"text": "x", "blocks": [{"type": "divider", "block_id": "a"}, {"type": "divider", "block_id": "a"}]}),
            json!({"text": "x", "blocks": [{"type": "bogus"}]}),
            json!({"text": "x", "blocks": [{"type": "actions", "elements": []}]}),
            json!({"text": "x", "blocks": [{"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "x".repeat(76)}, "url": "https://x"}]}]}),
            json!({"text": "x", "blocks": [{"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "x"}, "url": "x".repeat(3001)}]}]}),
            json!({"text": "x", "blocks": [{"type": "actions", "elements": [{"type": "static_select", "action_id": "a", "options": []}]}]}),
            json!({"text": "x", "blocks": [{"type": "actions", "elements": [{"type": "static_select", "action_id": "a", "options": [{"text": {"type": "plain_text", "text": "x"}, "value": "v".repeat(151)}]}]}]}),
            json!({"text": "x", "attachments": vec![json!({}); 101]}),
            json!({"text": "x".repeat(40_001)}),
            json!([1, 2]),
        ];
        for case in cases {
            assert!(validate(&case).is_err(), "should be refused: {case}");
        }
        let at_limits = json!({"text": "x", "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": "x".repeat(3000)}},
            {"type": "header", "text": {"type": "plain_text", "text": "x".repeat(150)}},
            {"type": "section", "fields": vec![json!({"type": "mrkdwn", "text": "x".repeat(2000)}); 10]},
        ]});
        validate(&at_limits).unwrap();
    }
}
