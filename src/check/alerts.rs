//! Every alert maker: a row of a check, a check that returned no rows, a check that failed, a
//! queue message. Each gives its alert a [`Fingerprint`] from the check, the source and the
//! columns or fields that identify it, and the labels and annotations a message shows.

use std::collections::BTreeMap;

use super::template::{Context, Templates, Text};
use super::{Check, CheckFailure, CheckKind};
use crate::alert::{Alert, Fingerprint, Labels};
use crate::source::{QueueMessage, Rows, Value};

/// The `alertname` of the alert dbalert raises for a check that fails.
pub const CHECK_FAILED: &str = "dbalert_check_failed";

/// A result's alerts, each made from its row when taken ([`Check::into_alerts`]).
pub struct Alerts<'a> {
    check: &'a Check,
    templates: &'a Templates,
    columns: Vec<String>,
    key: Vec<usize>,
    rows: std::vec::IntoIter<Vec<Value>>,
}

impl Iterator for Alerts<'_> {
    type Item = Alert;

    fn next(&mut self) -> Option<Alert> {
        let row = self.rows.next()?;
        Some(
            self.check
                .alert(&self.columns, &row, &self.key, self.templates),
        )
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.rows.size_hint()
    }
}

impl ExactSizeIterator for Alerts<'_> {}

/// Why rows could not be turned into alerts; the check counts as failed.
#[derive(Debug, thiserror::Error)]
pub enum RowError {
    #[error("check `{check}`: key column `{column}` is not in the result (columns: {columns})")]
    MissingKey {
        check: String,
        column: String,
        columns: String,
    },
    #[error("check `{check}`: cursor column `{column}` is not in the result (columns: {columns})")]
    MissingCursor {
        check: String,
        column: String,
        columns: String,
    },
}

impl Check {
    /// Turns each row into an alert: every non-empty column is a label, then the check's
    /// labels, then `alertname` and `source`, which nothing overrides. A template that fails on
    /// a row keeps its source text and is logged, so the alert is still sent.
    pub fn alerts(&self, rows: &Rows, templates: &Templates) -> Result<Vec<Alert>, RowError> {
        let key_columns = self.usable_columns(rows)?;
        Ok(rows
            .rows
            .iter()
            .map(|row| self.alert(&rows.columns, row, &key_columns, templates))
            .collect())
    }

    /// Like [`alerts`](Self::alerts), but takes the rows and makes each alert only when it is
    /// asked for, freeing its row: a large result is never held as rows and as alerts at once.
    pub fn into_alerts<'a>(
        &'a self,
        rows: Rows,
        templates: &'a Templates,
    ) -> Result<Alerts<'a>, RowError> {
        let key = self.usable_columns(&rows)?;
        Ok(Alerts {
            check: self,
            templates,
            columns: rows.columns,
            key,
            rows: rows.rows.into_iter(),
        })
    }

    /// The key columns' indices, once the columns the check needs are known to be there.
    fn usable_columns(&self, rows: &Rows) -> Result<Vec<usize>, RowError> {
        let key_columns = self.key_columns(rows)?;
        if let CheckKind::Events { cursor, .. } = &self.kind
            && rows.column(cursor).is_none()
        {
            return Err(RowError::MissingCursor {
                check: self.name.clone(),
                column: cursor.clone(),
                columns: rows.columns.join(", "),
            });
        }
        Ok(key_columns)
    }

    fn key_columns(&self, rows: &Rows) -> Result<Vec<usize>, RowError> {
        let Some(key) = &self.key else {
            return Ok((0..rows.columns.len()).collect());
        };
        key.iter()
            .map(|column| {
                rows.column(column).ok_or_else(|| RowError::MissingKey {
                    check: self.name.clone(),
                    column: column.clone(),
                    columns: rows.columns.join(", "),
                })
            })
            .collect()
    }

    fn alert(
        &self,
        columns: &[String],
        row: &[Value],
        key: &[usize],
        templates: &Templates,
    ) -> Alert {
        let source = &self.source.0;
        let mut labels = Labels::new();
        for (name, value) in columns.iter().zip(row) {
            let text = value.to_label();
            if !text.is_empty() {
                labels.insert(name.clone(), text);
            }
        }
        let context = (!self.labels.is_empty() || !self.annotations.is_empty())
            .then(|| Context::new(&self.name, source, columns, row));
        let render = |text: &Text| {
            match &context {
            Some(context) => templates.render(text, context).unwrap_or_else(|error| {
                tracing::warn!(check = %self.name, %error, "Template failed on a row; using its text.");
                match text {
                    Text::Plain(plain) | Text::Template { source: plain, .. } => plain.clone(),
                }
            }),
            None => String::new(),
        }
        };
        for (name, text) in &self.labels {
            labels.insert(name.clone(), render(text));
        }
        labels.insert("alertname".to_owned(), self.name.clone());
        labels.insert("source".to_owned(), source.clone());
        let annotations = self
            .annotations
            .iter()
            .map(|(name, text)| (name.clone(), render(text)))
            .collect();
        let identity = key
            .iter()
            .map(|&i| (columns[i].as_str(), row[i].to_label()));
        Alert {
            fingerprint: Fingerprint::of(&self.name, source, identity),
            check: self.name.clone(),
            labels,
            annotations,
        }
    }
}

/// The alert that says `check` failed: one per check, whatever the error, with the kind of
/// failure as its `reason` label.
pub fn failure_alert(check: &Check, failure: &CheckFailure) -> Alert {
    let labels: Labels = [
        ("alertname", CHECK_FAILED),
        ("check", check.name.as_str()),
        ("source", check.source.0.as_str()),
        ("severity", "critical"),
        ("reason", failure.reason.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let annotations = [
        (
            "summary".to_owned(),
            format!("Check {} on source {} failed", check.name, check.source),
        ),
        ("description".to_owned(), failure.message.clone()),
    ]
    .into();
    Alert {
        fingerprint: failure_fingerprint(check),
        check: CHECK_FAILED.to_owned(),
        labels,
        annotations,
    }
}

/// The identity of `check`'s failure alert: one per check, whatever the failure.
pub fn failure_fingerprint(check: &Check) -> Fingerprint {
    let key = [("check", check.name.clone())];
    Fingerprint::of(CHECK_FAILED, &check.source.0, key.into_iter())
}

/// The alert a `no_rows: alert` check raises while its query returns nothing.
pub fn no_rows_alert(check: &Check) -> Alert {
    let labels = [
        ("alertname".to_owned(), check.name.clone()),
        ("source".to_owned(), check.source.0.clone()),
        ("reason".to_owned(), "no_rows".to_owned()),
    ]
    .into();
    Alert {
        fingerprint: Fingerprint::of(
            &check.name,
            &check.source.0,
            [("reason", "no_rows".to_owned())].into_iter(),
        ),
        check: check.name.clone(),
        labels,
        annotations: [(
            "summary".to_owned(),
            format!("Check {} returned no rows", check.name),
        )]
        .into(),
    }
}

/// A queue message as an alert: a JSON object's keys become labels (and `summary` and
/// `description` annotations too); any other payload becomes the summary. The message's
/// identity makes the fingerprint.
pub fn queue_alert(check: &Check, message: &QueueMessage) -> Alert {
    let mut labels = crate::alert::Labels::new();
    let mut annotations = BTreeMap::new();
    match &message.payload {
        Value::Json(serde_json::Value::Object(map)) => {
            for (key, value) in map {
                let text = match value {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Null => continue,
                    other => other.to_string(),
                };
                if matches!(key.as_str(), "summary" | "description") {
                    annotations.insert(key.clone(), text.clone());
                }
                labels.insert(key.to_lowercase(), text);
            }
        }
        // A JSON string (`dbalert_enqueue(to_jsonb('text'))`) is text, not JSON to quote.
        Value::Json(serde_json::Value::String(text)) => {
            annotations.insert("summary".to_owned(), text.clone());
        }
        other => {
            annotations.insert("summary".to_owned(), other.to_label());
        }
    }
    labels.insert("alertname".to_owned(), check.name.clone());
    labels.insert("source".to_owned(), check.source.0.clone());
    let identity = message
        .identity
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()));
    Alert {
        fingerprint: Fingerprint::of(&check.name, &check.source.0, identity),
        check: check.name.clone(),
        labels,
        annotations,
    }
}
