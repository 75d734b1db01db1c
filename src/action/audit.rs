//! The two audit rows of every request, intent then outcome, written to the state file's audit
//! trail and logged, one line each; and, with `action_audit:`, copied into a table in a database
//! (`sql/oracle/chatops_audit.sql`, `sql/postgres/chatops_audit.sql`).

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use jiff::Timestamp;
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use crate::config::duration::Duration;
use crate::source::SourceKind;
use crate::source::{Access, Bind, Source, SourceConfig, SourceName, Statement};
use crate::state::{AuditEntry, AuditPhase, StateError, StateStore};

/// How long a copy to the database audit table may take.
const COPY_TIMEOUT: Duration = Duration::from_secs(10);
/// The most characters of params JSON the database table takes (Oracle's VARCHAR2(4000)).
const MAX_PARAMS_CHARS: usize = 4000;

/// `action_audit:` as written and checked: the table in one of `sources:` that gets a copy of
/// every audit row of an action.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditTableConfig {
    /// The source whose database holds the table; its account needs INSERT on it only.
    pub source: SourceName,
    /// The table, `schema.table` or `table`, with the columns the shipped scripts create.
    pub table: String,
}

/// The database audit table, ready to write to. Rows are handed to one writer task and
/// written in order, so a slow or unreachable audit database never holds up an answer to Slack.
#[derive(Debug)]
pub struct DatabaseAudit {
    source: Arc<Source>,
    sql: Arc<str>,
    writer: OnceLock<mpsc::UnboundedSender<Copy>>,
}

/// One row for the writer, or a request to say when everything before it was written.
#[derive(Debug)]
enum Copy {
    Row(Statement),
    Flush(oneshot::Sender<()>),
}

impl DatabaseAudit {
    /// Prepares the table's source; nothing connects yet.
    pub fn build(config: &AuditTableConfig, source: &SourceConfig) -> Result<Self, String> {
        let binds = match source.kind() {
            SourceKind::Postgres => (1..=8).map(|n| format!("${n}")).collect::<Vec<_>>(),
            _ => [
                "request_id",
                "phase",
                "actor",
                "channel",
                "action",
                "params",
                "outcome",
                "detail",
            ]
            .map(|name| format!(":{name}"))
            .to_vec(),
        };
        // The table name comes from the config, checked as an identifier at load; it is the
        // one part of an audit statement that is not bound.
        let sql = format!(
            "INSERT INTO {} (request_id, phase, actor, slack_channel_id, action_name, params_json, outcome, detail) VALUES ({})",
            config.table,
            binds.join(", ")
        );
        let source = source
            .build(config.source.clone())
            .map_err(|e| e.to_string())?;
        Ok(Self {
            source: Arc::new(source),
            sql: sql.into(),
            writer: OnceLock::new(),
        })
    }

    /// Waits until every row handed over so far was written (or failed and was logged).
    pub async fn flush(&self) {
        let (done, written) = oneshot::channel();
        if self.send(Copy::Flush(done)) {
            let _ = written.await;
        }
    }

    fn copy(&self, entry: &AuditEntry, phase: &str) {
        let params = if entry.target.chars().count() > MAX_PARAMS_CHARS {
            r#"{"cut": "the params were longer than the table takes"}"#.to_owned()
        } else {
            entry.target.clone()
        };
        let text = |name: &str, value: &str| (name.to_owned(), Bind::Text(value.to_owned()));
        let statement = Statement {
            sql: self.sql.to_string(),
            binds: vec![
                text("request_id", &entry.request_id),
                text("phase", phase),
                text("actor", &entry.actor),
                text("channel", entry.channel.as_deref().unwrap_or_default()),
                text("action", entry.what.trim_start_matches("action:")),
                text("params", &params),
                text("outcome", &entry.outcome),
                text("detail", &entry.detail),
            ],
            access: Access::Commit,
            max_rows: 0,
            timeout: COPY_TIMEOUT,
            client_identifier: entry.actor.clone(),
            tag: "chatops:audit".to_owned(),
        };
        self.send(Copy::Row(statement));
    }

    /// Hands `copy` to the writer, started at the first row; false when it is gone.
    fn send(&self, copy: Copy) -> bool {
        let writer = self.writer.get_or_init(|| {
            let (sender, receiver) = mpsc::unbounded_channel();
            tokio::spawn(write_copies(self.source.clone(), receiver));
            sender
        });
        writer.send(copy).is_ok()
    }
}

async fn write_copies(source: Arc<Source>, mut copies: mpsc::UnboundedReceiver<Copy>) {
    while let Some(copy) = copies.recv().await {
        match copy {
            Copy::Row(statement) => {
                if let Err(error) = source.execute(&statement).await {
                    let request_id = statement.bind("request_id").map(ToString::to_string);
                    warn!(request_id = request_id.as_deref().unwrap_or("-"), %error, "An audit row was not copied to the database audit table; the state file has it.");
                }
            }
            Copy::Flush(done) => {
                let _ = done.send(());
            }
        }
    }
}

/// The state file's audit table, written through one connection that is kept open. The rows of
/// requests handled at the same time take turns here rather than in SQLite's busy handler,
/// which sleeps 1, 2, 5… ms between tries, and no row pays for opening the file.
#[derive(Debug)]
pub struct AuditTrail {
    path: PathBuf,
    /// Opened at the first row; dropped after a failed write, so that the next row reopens it.
    store: Mutex<Option<StateStore>>,
}

impl AuditTrail {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            store: Mutex::new(None),
        }
    }

    fn write(&self, entry: &AuditEntry) -> Result<(), StateError> {
        let mut kept = self.store.lock().unwrap_or_else(|p| p.into_inner());
        let mut store = match kept.take() {
            Some(store) => store,
            None => StateStore::open(&self.path)?,
        };
        store.audit(entry)?;
        *kept = Some(store);
        Ok(())
    }
}

/// Who asked for which action, with what; each row written adds what happened.
#[derive(Debug, Clone)]
pub struct Audit<'a> {
    pub trail: &'a AuditTrail,
    /// Where rows are copied, with `action_audit:`.
    pub database: Option<&'a DatabaseAudit>,
    pub request_id: String,
    /// A Slack user ID, or `cli:<unix user>`.
    pub actor: String,
    pub channel: Option<String>,
    /// `action:<name>`.
    pub what: String,
    /// The arguments as JSON, secrets redacted.
    pub target: String,
}

impl Audit<'_> {
    /// The intent row: what was asked, before anything runs. An action must not run when this
    /// cannot be written to the state file.
    pub fn intent(&self, detail: &str) -> Result<(), StateError> {
        self.write(AuditPhase::Intent, "requested", detail)
    }

    /// The outcome row. A failure to write it is logged: what happened cannot be undone.
    pub fn outcome(&self, outcome: &str, detail: &str) {
        if let Err(error) = self.write(AuditPhase::Outcome, outcome, detail) {
            tracing::error!(request_id = %self.request_id, %error, "The outcome of an action could not be written to the audit trail.");
        }
    }

    fn write(&self, phase: AuditPhase, outcome: &str, detail: &str) -> Result<(), StateError> {
        let entry = AuditEntry {
            at: Timestamp::now(),
            request_id: self.request_id.clone(),
            phase,
            actor: self.actor.clone(),
            channel: self.channel.clone(),
            what: self.what.clone(),
            target: self.target.clone(),
            outcome: outcome.to_owned(),
            detail: detail.to_owned(),
        };
        self.trail.write(&entry)?;
        let phase = if phase == AuditPhase::Intent {
            "intent"
        } else {
            "outcome"
        };
        info!(
            request_id = %entry.request_id,
            actor = %entry.actor,
            channel = entry.channel.as_deref().unwrap_or("-"),
            what = %entry.what,
            params = %entry.target,
            outcome = %entry.outcome,
            detail = %entry.detail,
            "Action {}.",
            if phase == "intent" { "requested" } else { "ended" }
        );
        if let Some(database) = self.database {
            database.copy(&entry, phase);
        }
        Ok(())
    }
}
