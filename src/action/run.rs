//! Running an action once its values are valid: the statement with every value bound, the
//! result as Slack shows it (a query's rows as a monospace table, cut to Slack's limits with a
//! count of what was cut), and errors in words a chat user can act on.

use std::collections::BTreeMap;

use super::config::{Action, ActionKind};
use crate::render::blockkit::MAX_SECTION_TEXT;
use crate::render::text::{clean, escape};
use crate::source::{Access, Bind, Outcome, Rows, SourceError, Statement};

/// The widest a table cell is shown, in characters.
const MAX_CELL_CHARS: usize = 40;
/// Written in the audit trail and the log in place of a secret parameter's value.
pub const REDACTED: &str = "(redacted)";

/// Validates every value of `args` (one per parameter, from [`super::grammar::assign`]).
pub fn validate(
    action: &Action,
    args: &BTreeMap<String, String>,
) -> Result<Vec<(String, Bind)>, String> {
    let mut binds = Vec::new();
    for param in &action.params {
        let value = args
            .get(&param.name)
            .ok_or_else(|| format!("`{}` is missing", param.name))?;
        binds.extend(param.validate(value)?);
    }
    Ok(binds)
}

/// The statement for validated `binds`, with the reserved binds after them.
pub fn statement(
    action: &Action,
    mut binds: Vec<(String, Bind)>,
    requested_by: &str,
    request_id: &str,
) -> Statement {
    binds.push((
        "requested_by".to_owned(),
        Bind::Text(requested_by.to_owned()),
    ));
    binds.push(("request_id".to_owned(), Bind::Text(request_id.to_owned())));
    Statement {
        sql: action.sql.clone(),
        binds,
        access: match action.kind {
            ActionKind::Query => Access::ReadOnly,
            ActionKind::Call => Access::Commit,
        },
        max_rows: action.max_rows,
        timeout: action.timeout,
        client_identifier: requested_by.to_owned(),
        tag: format!("chatops:{}", action.name),
    }
}

/// The arguments as JSON for the audit trail, secret parameters redacted. Unknown names (a
/// refused request) are kept: they are what was asked.
pub fn audit_target(action: &Action, args: &BTreeMap<String, String>) -> String {
    let shown: BTreeMap<&str, &str> = args
        .iter()
        .map(|(name, value)| {
            let secret = action.params.iter().any(|p| &p.name == name && p.secret);
            (
                name.as_str(),
                if secret { REDACTED } else { value.as_str() },
            )
        })
        .collect();
    serde_json::to_string(&shown).expect("a map of strings always serializes")
}

/// `name ARG…` as it runs (an identifier upper-cased when its parameter says so), secrets
/// redacted, for acks and messages.
pub fn invocation(action: &Action, args: &BTreeMap<String, String>) -> String {
    let shown = |param: &crate::action::params::Param, value: &String| -> String {
        if param.secret {
            return REDACTED.to_owned();
        }
        let value = match param.validate(value).as_deref() {
            Ok([(_, Bind::Text(checked))]) => checked.clone(),
            _ => value.clone(),
        };
        if value.is_empty() || value.contains(char::is_whitespace) {
            format!("\"{value}\"")
        } else {
            value
        }
    };
    std::iter::once(action.name.clone())
        .chain(
            action
                .params
                .iter()
                .filter_map(|p| args.get(&p.name).map(|v| shown(p, v))),
        )
        .collect::<Vec<_>>()
        .join(" ")
}

/// What happened, as Slack mrkdwn: a summary line, then a query's rows as a table in a code
/// block that fits one section, with a count of the rows left out.
pub fn result_text(action: &Action, outcome: &Outcome, elapsed_ms: u128) -> String {
    let shown = outcome.rows.rows.len();
    let summary = match (action.kind, outcome.rows.columns.is_empty()) {
        (ActionKind::Call, true) => format!(
            "done, {} row{} changed",
            outcome.affected,
            plural(outcome.affected as usize)
        ),
        (ActionKind::Call, false) => format!("done, {shown} row{} returned", plural(shown)),
        (ActionKind::Query, _) => format!(
            "{shown}{} row{}",
            if outcome.more { "+" } else { "" },
            plural(shown)
        ),
    };
    let mut text = format!(
        "*{}* on `{}`: {summary} ({elapsed_ms} ms)",
        action.name,
        escape(&action.source.0)
    );
    if outcome.rows.columns.is_empty() {
        return text;
    }
    // The fences and the note after the table share the section's limit with it.
    let budget = MAX_SECTION_TEXT - text.chars().count() - 120;
    let (table, in_table) = table(&outcome.rows, budget);
    text.push_str(&format!("\n```\n{table}\n```"));
    let cut = shown - in_table;
    if cut > 0 {
        text.push_str(&format!(
            "\n… {cut} more row{} not shown (Slack's message limit)",
            plural(cut)
        ));
    }
    if outcome.more {
        text.push_str(&format!(
            "\n… more rows were left unread (`max_rows: {}`)",
            action.max_rows
        ));
    }
    text
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The rows as aligned columns, as many as fit in `max_chars`, and how many that was. Cells are
/// cleaned, escaped and cut, and backticks replaced, so no value can end the code block.
pub fn table(rows: &Rows, max_chars: usize) -> (String, usize) {
    let cell = |text: &str| -> String {
        let one_line: String = clean(text).replace(['\n', '\t'], " ").replace('`', "'");
        let mut cut: String = one_line.chars().take(MAX_CELL_CHARS).collect();
        if one_line.chars().count() > MAX_CELL_CHARS {
            cut.pop();
            cut.push('…');
        }
        cut
    };
    let header: Vec<String> = rows.columns.iter().map(|c| cell(c)).collect();
    let body: Vec<Vec<String>> = rows
        .rows
        .iter()
        .map(|row| row.iter().map(|v| cell(&v.to_label())).collect())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &body {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| -> String {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        escape(padded.join("  ").trim_end())
    };
    let mut text = line(&header);
    let mut count = 0;
    for row in &body {
        let next = line(row);
        if text.chars().count() + 1 + next.chars().count() > max_chars {
            break;
        }
        text.push('\n');
        text.push_str(&next);
        count += 1;
    }
    (text, count)
}

/// A failure as a short code for the audit trail and words for the person who asked. Database
/// text is untrusted: it is cleaned and escaped by the caller's rendering.
pub fn error_text(err: &SourceError) -> (&'static str, String) {
    match err {
        SourceError::Timeout { name, timeout } => (
            "timeout",
            format!(
                "source `{name}`: the statement was cancelled after the action's timeout of {timeout}"
            ),
        ),
        SourceError::Query { name, message } => {
            ("statement", format!("source `{name}`: {message}"))
        }
        SourceError::Connect { .. } => ("connect", err.to_string()),
        SourceError::Authentication { .. } => ("authentication", err.to_string()),
        SourceError::ConnectionLost { .. } => ("connection_lost", err.to_string()),
        _ => ("source", err.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Value;

    #[test]
    fn a_table_fits_its_budget_and_no_cell_ends_the_code_block() {
        let mut rows = Rows::new(["name", "note"]);
        for i in 0..200 {
            rows.rows.push(vec![
                Value::Int(i),
                Value::Text("``` <!channel> & x".into()),
            ]);
        }
        let (text, shown) = table(&rows, 1000);
        assert!(text.chars().count() <= 1000);
        assert!(shown > 5 && shown < 200, "{shown}");
        assert!(
            !text.contains("```") && !text.contains("<!channel>"),
            "{text}"
        );
        assert!(text.starts_with("name  note"), "{text}");
    }
}
