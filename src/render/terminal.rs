//! A Slack payload as a terminal shows it: the `stdout` receiver's `text` format and
//! `dbalert preview`. Blocks become paragraphs, fields two columns, buttons `[ title ] url`;
//! Slack's syntax is read the way Slack shows it (`<url|label>` as `label (url)`, a date as its
//! UTC fallback, entities as their characters). Bold and emoji codes stay as written.

use serde_json::Value;

/// The width of the left column of fields.
const COLUMN: usize = 40;

/// `payload` as text: the top-level blocks, then each attachment's, one block a paragraph;
/// the top-level `text` when there are no blocks. Ends with an empty line.
pub fn as_text(payload: &Value) -> String {
    let mut out = String::new();
    let blocks = list(&payload["blocks"])
        .chain(list(&payload["attachments"]).flat_map(|attachment| list(&attachment["blocks"])));
    for block in blocks {
        out.push_str(&block_text(block));
    }
    if out.is_empty() {
        out.push_str(&readable(payload["text"].as_str().unwrap_or_default()));
        out.push('\n');
    }
    out.push('\n');
    out
}

fn list(value: &Value) -> impl Iterator<Item = &Value> {
    value.as_array().into_iter().flatten()
}

/// One block's lines, each ending in a newline.
fn block_text(block: &Value) -> String {
    let mut out = String::new();
    let mut line = |text: &str| {
        out.push_str(text);
        out.push('\n');
    };
    match block["type"].as_str() {
        Some("divider") => line("───"),
        Some("actions") => {
            for element in list(&block["elements"]) {
                let title = readable(element["text"]["text"].as_str().unwrap_or("button"));
                match element["url"].as_str() {
                    Some(url) => line(&format!("[ {title} ] {url}")),
                    None => line(&format!("[ {title} ]")),
                }
            }
        }
        _ => {
            if let Some(text) = block["text"]["text"].as_str() {
                line(&readable(text));
            }
            let fields: Vec<String> = list(&block["fields"])
                .filter_map(|f| f["text"].as_str())
                .map(readable)
                .collect();
            for pair in fields.chunks(2) {
                line(&columns(pair));
            }
            let elements: Vec<String> = list(&block["elements"])
                .filter_map(|e| e["text"].as_str())
                .map(readable)
                .collect();
            if !elements.is_empty() {
                line(&elements.join("  "));
            }
        }
    }
    out
}

/// One or two fields side by side, the first padded to [`COLUMN`].
fn columns(pair: &[String]) -> String {
    let left: Vec<&str> = pair[0].lines().collect();
    let right: Vec<&str> = pair.get(1).map_or(Vec::new(), |r| r.lines().collect());
    let rows = left.len().max(right.len());
    (0..rows)
        .map(|i| {
            let l = left.get(i).copied().unwrap_or_default();
            match right.get(i) {
                Some(r) => {
                    let pad = COLUMN.saturating_sub(l.chars().count()).max(2);
                    format!("{l}{}{r}", " ".repeat(pad))
                }
                None => l.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// mrkdwn as Slack shows it: `<…>` sequences read, then the three entities undone.
pub fn readable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('>') else {
            break;
        };
        out.push_str(&sequence(&rest[open + 1..open + close]));
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// One `<…>` sequence: a date's fallback, a mention, or a link.
fn sequence(inner: &str) -> String {
    let (target, label) = match inner.split_once('|') {
        Some((target, label)) => (target, Some(label)),
        None => (inner, None),
    };
    if target.starts_with("!date^") {
        return label.unwrap_or(target).to_owned();
    }
    if let Some(special) = target.strip_prefix('!') {
        return label.map_or_else(|| format!("@{special}"), str::to_owned);
    }
    if target.starts_with('@') || target.starts_with('#') {
        return label.unwrap_or(target).to_owned();
    }
    match label {
        Some(label) if label != target => format!("{label} ({target})"),
        _ => target.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn slack_syntax_reads_as_slack_shows_it() {
        assert_eq!(
            readable(
                "at <!date^1795421642^{date_short_pretty} {time}|2026-11-23 08:14 UTC> see <https://x.example/r|runbook> &lt;!channel&gt; &amp; <!here>"
            ),
            "at 2026-11-23 08:14 UTC see runbook (https://x.example/r) <!channel> & @here"
        );
    }

    #[test]
    fn fields_are_two_columns_and_buttons_a_line_each() {
        let payload = json!({"blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": "*Title*"},
             "fields": [{"type": "mrkdwn", "text": "*owner*\nORDERS"}, {"type": "mrkdwn", "text": "*pct*\n97"},
                        {"type": "mrkdwn", "text": "*ts*\nUSERS"}]},
            {"type": "divider"},
            {"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Runbook"}, "url": "https://r.example"}]},
        ]});
        assert_eq!(
            as_text(&payload),
            format!(
                "*Title*\n*owner*{}*pct*\nORDERS{}97\n*ts*\nUSERS\n───\n[ Runbook ] https://r.example\n\n",
                " ".repeat(33),
                " ".repeat(34)
            )
        );
    }
}
