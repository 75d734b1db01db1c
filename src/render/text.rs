//! Making untrusted text safe and short enough for Slack.
//!
//! Slack gives `&`, `<` and `>` a meaning (`<!channel>`, `<@U123>`, `<https://x|label>`); escaping
//! exactly those three as `&amp;`, `&lt;`, `&gt;` shows them literally
//! (<https://docs.slack.dev/messaging/formatting-message-text#escaping>). Lengths are counted in
//! characters after escaping, since `&` grows five-fold.

/// Appended where text was cut, so readers know there was more.
pub const CUT_MARKER: &str = "… (cut)";

/// Removes characters that have no place in a chat message: NUL and the other control
/// characters except newline and tab, a carriage return before a newline, and the invisible
/// format characters that reorder or hide text (see `is_hidden_format`).
pub fn clean(input: &str) -> String {
    input
        .replace("\r\n", "\n")
        .chars()
        .filter(|&c| (c == '\n' || c == '\t' || !c.is_control()) && !is_hidden_format(c))
        .collect()
}

/// Bidirectional controls (U+202E turns the rest of the line around, dbalert's own words
/// included), invisible marks and spaces, and the byte order mark. The zero-width joiner and
/// non-joiner stay: emoji sequences and some scripts need them.
fn is_hidden_format(c: char) -> bool {
    matches!(
        c,
        '\u{061C}'
            | '\u{200B}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
    )
}

/// Escapes `&`, `<`, `>` for Slack mrkdwn.
pub fn escape(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for c in input.chars() {
        push_escaped(&mut out, c);
    }
    out
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        c => out.push(c),
    }
}

fn escaped_len(c: char) -> usize {
    match c {
        '&' => 5,
        '<' | '>' => 4,
        _ => 1,
    }
}

/// Cleans, escapes and cuts `input` to at most `max_chars` characters, never splitting an
/// escape, and marks the cut.
pub fn mrkdwn(input: &str, max_chars: usize) -> String {
    let cleaned = clean(input);
    let full: usize = cleaned.chars().map(escaped_len).sum();
    if full <= max_chars {
        return escape(&cleaned);
    }
    let budget = max_chars.saturating_sub(CUT_MARKER.chars().count());
    let mut out = String::new();
    let mut used = 0;
    for c in cleaned.chars() {
        let len = escaped_len(c);
        if used + len > budget {
            break;
        }
        used += len;
        push_escaped(&mut out, c);
    }
    out.push_str(CUT_MARKER);
    out
}

/// Cleans and cuts `input` for a `plain_text` object, which Slack does not parse.
pub fn plain(input: &str, max_chars: usize) -> String {
    let cleaned = clean(input);
    if cleaned.chars().count() <= max_chars {
        return cleaned;
    }
    let budget = max_chars.saturating_sub(CUT_MARKER.chars().count());
    let mut out: String = cleaned.chars().take(budget).collect();
    out.push_str(CUT_MARKER);
    out
}

/// A link target for `<url|label>`: characters Slack would read as syntax are percent-encoded
/// rather than entity-escaped, since Slack does not decode entities inside link targets.
pub fn link_target(url: &reqwest::Url) -> String {
    url.as_str()
        .replace('|', "%7C")
        .replace('<', "%3C")
        .replace('>', "%3E")
        .replace(' ', "%20")
}

/// Cuts mrkdwn that is already safe (a message template's output: its own markup around data
/// escaped on the way in) to at most `max_chars` characters, and marks the cut. It never
/// splits an entity (`&amp;`) or leaves a `<…>` sequence open, which Slack would show raw.
pub fn cut_markup(input: &str, max_chars: usize) -> String {
    let cleaned = clean(input);
    if cleaned.chars().count() <= max_chars {
        return cleaned;
    }
    end_cut_markup(&cleaned, max_chars)
}

/// Like [`cut_markup`], but always marks the end: for text whose tail is already gone.
pub fn end_cut_markup(input: &str, max_chars: usize) -> String {
    let cleaned = clean(input);
    let budget = max_chars.saturating_sub(CUT_MARKER.chars().count());
    let mut out: String = cleaned.chars().take(budget).collect();
    // An entity is at most `&quot;`-long here (`&amp;`, `&lt;`, `&gt;`): drop a partial one.
    if let Some(amp) = out.rfind('&')
        && !out[amp..].contains(';')
        && out.len() - amp < 6
    {
        out.truncate(amp);
    }
    if let Some(open) = out.rfind('<')
        && !out[open..].contains('>')
    {
        out.truncate(open);
    }
    out.push_str(CUT_MARKER);
    out
}

/// A time in Slack's date syntax, so that each reader sees it in their own time zone; clients
/// that cannot format it show the UTC fallback
/// (<https://docs.slack.dev/messaging/formatting-message-text#date-formatting>).
pub fn slack_date(at: jiff::Timestamp) -> String {
    format!(
        "<!date^{}^{{date_short_pretty}} {{time}}|{}>",
        at.as_second(),
        at.strftime("%Y-%m-%d %H:%M UTC")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_slack_control_sequences() {
        assert_eq!(
            escape("<!channel> <@U1> & <http://x|y>"),
            "&lt;!channel&gt; &lt;@U1&gt; &amp; &lt;http://x|y&gt;"
        );
    }

    #[test]
    fn cuts_after_escaping_without_splitting_an_entity() {
        let out = mrkdwn(&"&".repeat(100), 23);
        assert!(out.chars().count() <= 23, "{out}");
        assert!(out.ends_with(CUT_MARKER));
        let body = out.trim_end_matches(CUT_MARKER);
        assert_eq!(body, "&amp;&amp;&amp;", "whole entities only");
    }

    #[test]
    fn short_text_is_not_marked() {
        assert_eq!(mrkdwn("fine", 10), "fine");
        assert_eq!(plain("fine", 4), "fine");
        assert_eq!(plain("toolong text", 9), "to… (cut)");
    }

    #[test]
    fn control_characters_are_removed() {
        assert_eq!(clean("a\0b\r\nc\u{1b}[31md\te"), "ab\nc[31md\te");
    }

    #[test]
    fn bidi_and_invisible_format_characters_are_removed() {
        assert_eq!(
            clean("a\u{202E}b\u{2066}c\u{2069}d\u{200F}e\u{200B}f\u{FEFF}g"),
            "abcdefg"
        );
        // The joiner inside an emoji sequence stays.
        assert_eq!(
            clean("\u{1F469}\u{200D}\u{1F4BB}"),
            "\u{1F469}\u{200D}\u{1F4BB}"
        );
    }

    #[test]
    fn link_targets_cannot_break_out() {
        let url = reqwest::Url::parse("https://x.example/a?q=1|<b>").unwrap();
        assert!(!link_target(&url).contains(['|', '<', '>']));
    }

    #[test]
    fn markup_is_cut_between_entities_and_links() {
        assert_eq!(cut_markup("*bold* ok", 20), "*bold* ok");
        let cut = cut_markup("ab &amp; <https://x.example|y> tail", 12);
        assert!(cut.chars().count() <= 12, "{cut}");
        assert_eq!(cut, "ab … (cut)");
        let link = cut_markup("see <https://x.example/a/long/path|here> now", 25);
        assert_eq!(link, "see … (cut)");
    }

    #[test]
    fn dates_read_in_the_readers_zone_with_a_utc_fallback() {
        let at: jiff::Timestamp = "2026-11-23T08:14:02Z".parse().unwrap();
        assert_eq!(
            slack_date(at),
            "<!date^1795421642^{date_short_pretty} {time}|2026-11-23 08:14 UTC>"
        );
    }
}
