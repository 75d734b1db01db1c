//! Every alert maker: a row of a check, a check that returned no rows, a check that failed, a
//! queue message. Each gives its alert a [`Fingerprint`] from the check, the source and the
//! columns or fields that identify it, and the labels and annotations a message shows.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::template::{Context, Templates, Text};
use super::{Check, CheckFailure, CheckKind};
use crate::alert::{Alert, Fingerprint, Fnv, Labels};
use crate::source::{QueueMessage, Rows, Value};

/// The `alertname` of the alert dbalert raises for a check that fails.
pub const CHECK_FAILED: &str = "dbalert_check_failed";

/// Makes the alerts of one result's rows: the columns, the key and the check's labels and
/// annotations, known once for every row.
pub struct Maker<'a> {
    check: &'a Check,
    templates: &'a Templates,
    columns: Vec<String>,
    key: Vec<usize>,
    /// The digest of everything an alert is made from but its row (see [`RowAlert::digest`]).
    seed: Fnv,
}

/// A row and the identity of its alert, whose labels and annotations are made only when they
/// are needed: an alert that is still firing from the same row needs none of them.
pub struct RowAlert<'m> {
    maker: &'m Maker<'m>,
    row: Vec<Value>,
    pub fingerprint: Fingerprint,
    /// A hash of what the alert is made from: the check's name, source, labels and annotations
    /// as configured, the columns, and the row's values with their kinds. Templates see nothing
    /// else, so an equal digest means an equal alert, and a run that returns it unchanged
    /// compares this instead of making it.
    pub digest: u64,
}

impl RowAlert<'_> {
    /// The alert, with its labels and annotations.
    pub fn into_alert(self) -> Alert {
        self.maker.make(&self.row, self.fingerprint)
    }
}

/// An alert that a state check's run returns: one of its rows, or one dbalert made.
pub enum Returned<'m> {
    Row(RowAlert<'m>),
    Made(Alert),
}

impl Returned<'_> {
    pub fn fingerprint(&self) -> Fingerprint {
        match self {
            Self::Row(row) => row.fingerprint,
            Self::Made(alert) => alert.fingerprint,
        }
    }

    /// What the alert is made from, hashed ([`RowAlert::digest`]); `None` for one dbalert made.
    pub fn digest(&self) -> Option<u64> {
        match self {
            Self::Row(row) => Some(row.digest),
            Self::Made(_) => None,
        }
    }

    pub fn into_alert(self) -> Alert {
        match self {
            Self::Row(row) => row.into_alert(),
            Self::Made(alert) => alert,
        }
    }
}

/// Changes every digest when what an alert is made of changes in a release (a label's form,
/// say); the first run after it then compares each alert in full, once.
const DIGEST_VERSION: &str = "1";

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
        let maker = self.maker(rows.columns.clone(), templates)?;
        Ok(rows.rows.iter().map(|row| maker.alert(row)).collect())
    }

    /// The maker of the alerts of a result with `columns`, once the columns the check needs
    /// are known to be there; [`Maker::row`] gives each row's alert identity, and its labels
    /// and annotations only when asked.
    pub fn maker<'a>(
        &'a self,
        columns: Vec<String>,
        templates: &'a Templates,
    ) -> Result<Maker<'a>, RowError> {
        let key = self.usable_columns(&columns)?;
        let mut seed = Fnv::new();
        seed.field(DIGEST_VERSION, &self.name);
        seed.field(&self.source.0, "");
        let texts = self.labels.iter().chain(&self.annotations);
        for (i, (name, text)) in texts.enumerate() {
            let (kind, text) = match text {
                Text::Plain(text) => ("plain", text),
                Text::Template { source, .. } => ("template", source),
            };
            // Labels and annotations apart: the same name and text as one or the other.
            let part = if i < self.labels.len() { "l" } else { "a" };
            seed.field(part, name);
            seed.field(kind, text);
        }
        columns.iter().for_each(|c| seed.field(c, ""));
        Ok(Maker {
            check: self,
            templates,
            columns,
            key,
            seed,
        })
    }

    /// The key columns' indices, once the columns the check needs are known to be there.
    fn usable_columns(&self, columns: &[String]) -> Result<Vec<usize>, RowError> {
        let position = |name: &str| columns.iter().position(|c| c == name);
        let missing = || columns.join(", ");
        if let CheckKind::Events { cursor, .. } = &self.kind
            && position(cursor).is_none()
        {
            return Err(RowError::MissingCursor {
                check: self.name.clone(),
                column: cursor.clone(),
                columns: missing(),
            });
        }
        let Some(key) = &self.key else {
            return Ok((0..columns.len()).collect());
        };
        key.iter()
            .map(|column| {
                position(column).ok_or_else(|| RowError::MissingKey {
                    check: self.name.clone(),
                    column: column.clone(),
                    columns: missing(),
                })
            })
            .collect()
    }
}

impl Maker<'_> {
    /// The row's alert identity and digest; its labels and annotations wait.
    pub fn row(&self, row: Vec<Value>) -> RowAlert<'_> {
        let mut digest = self.seed;
        for value in &row {
            digest.bytes(value.kind().as_str().as_bytes());
            digest.bytes(&[0xff]);
            let _ = write!(digest, "{value}");
            digest.bytes(&[0xff]);
        }
        RowAlert {
            fingerprint: self.fingerprint(&row),
            digest: digest.finish(),
            maker: self,
            row,
        }
    }

    fn fingerprint(&self, row: &[Value]) -> Fingerprint {
        let identity = (self.key.iter()).map(|&i| (self.columns[i].as_str(), row[i].to_label()));
        Fingerprint::of(&self.check.name, &self.check.source.0, identity)
    }

    /// The row's alert, in full.
    pub fn alert(&self, row: &[Value]) -> Alert {
        self.make(row, self.fingerprint(row))
    }

    /// The alert of `row`, whose fingerprint is known.
    fn make(&self, row: &[Value], fingerprint: Fingerprint) -> Alert {
        let check = self.check;
        let source = &check.source.0;
        let columns = &self.columns;
        let mut labels = Labels::new();
        for (name, value) in columns.iter().zip(row) {
            let text = value.to_label();
            if !text.is_empty() {
                labels.insert(name.clone(), text);
            }
        }
        let context = (!check.labels.is_empty() || !check.annotations.is_empty())
            .then(|| Context::new(&check.name, source, columns, row));
        let render = |text: &Text| {
            match &context {
            Some(context) => self.templates.render(text, context).unwrap_or_else(|error| {
                tracing::warn!(check = %check.name, %error, "Template failed on a row; using its text.");
                match text {
                    Text::Plain(plain) | Text::Template { source: plain, .. } => plain.clone(),
                }
            }),
            None => String::new(),
        }
        };
        for (name, text) in &check.labels {
            labels.insert(name.clone(), render(text));
        }
        labels.insert("alertname".to_owned(), check.name.clone());
        labels.insert("source".to_owned(), source.clone());
        let annotations = (check.annotations.iter())
            .map(|(name, text)| (name.clone(), render(text)))
            .collect();
        Alert {
            fingerprint,
            check: check.name.clone(),
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
