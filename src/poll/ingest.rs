//! Phase 2, ingest: what the checks fetched becomes alert changes, one function per kind of
//! check. State rows fire, refresh and resolve the stored alerts ([`super::lifecycle`]); event
//! rows become events not yet sent, with the cursor they would move to; queue messages become
//! events (or, for Oracle server alerts, state changes) with their batch kept for the commit.
//! A check that failed changes none of its alerts and fires `dbalert_check_failed` instead.

use std::collections::{HashMap, HashSet};

use jiff::Timestamp;
use tracing::{info, warn};

use super::CheckOutcome;
use super::fetch::{Fetch, Fetched};
use super::lifecycle::{self, Changed, Records, Transition};
use super::plan::Event;
use crate::alert::{Alert, Fingerprint};
use crate::check::alerts::{
    Returned, failure_alert, failure_fingerprint, no_rows_alert, queue_alert,
};
use crate::check::template::Templates;
use crate::check::{Check, CheckFailure, CheckKind, NoRows, Start};
use crate::source::{Effect, QueueBatch, Rows, Value};
use crate::state::{CheckState, StateError, StateStore};

/// Everything one run's checks gave, ready to plan.
#[derive(Default)]
pub struct Intake {
    /// Every alert the store remembers, with this run's changes applied.
    pub records: Records,
    /// The records this run changed.
    pub changed: Changed,
    /// Events to announce.
    pub events: Vec<Event>,
    /// The cursor each event check moves to once its events are accepted.
    pub cursors: Vec<(String, Value)>,
    /// Each queue check's batch, to commit or roll back once delivery is known.
    pub batches: Vec<(String, QueueBatch)>,
    /// Events remembered as sent without sending them (history skipped by `start: now`).
    pub skipped: Vec<(String, Fingerprint)>,
    /// How each check went, in `checks` order.
    pub outcomes: Vec<CheckOutcome>,
}

/// Every alert `store` remembers.
pub fn read_records(store: &StateStore) -> Result<Records, StateError> {
    let mut stored = Vec::new();
    store.each_alert(|record| stored.push((record.fingerprint, Box::new(record))))?;
    // Collected at once, the map is built with full nodes (see `Records`).
    Ok(stored.into_iter().collect())
}

/// Ingests what `checks` fetched into `records` (every alert `store` remembers, see
/// [`read_records`]), at `now`.
pub fn ingest(
    store: &StateStore,
    records: Records,
    templates: &Templates,
    checks: &[&Check],
    fetched: Vec<Fetch>,
    now: Timestamp,
) -> Result<Intake, StateError> {
    let mut intake = Intake {
        records,
        ..Intake::default()
    };
    for (check, (fetched, duration)) in checks.iter().zip(fetched) {
        let result = match fetched {
            Ok(Fetched::State(rows)) => state(&mut intake, check, templates, rows, now),
            Ok(Fetched::Events {
                rows,
                cursor,
                start,
            }) => {
                let cursor = Cursor {
                    column: &cursor,
                    start,
                    stored: store.load(&check.name)?,
                };
                events(&mut intake, check, templates, rows, cursor)
            }
            Ok(Fetched::Queue(batch)) => {
                // Messages already sent (redelivered after a crash) are known by their ids.
                let sent = match batch.ids_are_unique() {
                    true => store.load(&check.name)?.seen_events,
                    false => HashSet::new(),
                };
                queue(&mut intake, check, batch, &sent, now);
                Ok(())
            }
            Ok(Fetched::Probed(_)) => unreachable!("a poll fetches, it does not probe"),
            Err(failure) => Err(failure),
        };
        intake.outcomes.push(CheckOutcome {
            name: check.name.clone(),
            source: check.source.clone(),
            ok: result.is_ok(),
            duration,
            lateness: None,
        });
        match result {
            Ok(()) => {
                let failed = failure_fingerprint(check);
                lifecycle::clear(&mut intake.records, failed, now, &mut intake.changed);
            }
            Err(failure) => {
                warn!(check = %check.name, source = %check.source, reason = failure.reason.as_str(), error = %failure, "Check failed; its alerts stay as they were.");
                let alert = failure_alert(check, &failure);
                lifecycle::apply_failure(&mut intake.records, alert, now, &mut intake.changed);
            }
        }
    }
    Ok(intake)
}

/// A state check: its rows are what fires now. Rows become alerts one at a time, as they are
/// applied; a row the check cannot use (a missing key column) fails the check.
fn state(
    intake: &mut Intake,
    check: &Check,
    templates: &Templates,
    rows: Rows,
    now: Timestamp,
) -> Result<(), CheckFailure> {
    let maker = check.maker(rows.columns, templates)?;
    let no_rows = (rows.rows.is_empty() && check.no_rows == NoRows::Alert)
        .then(|| Returned::Made(no_rows_alert(check)));
    let alerts = (rows.rows.into_iter())
        .map(|row| Returned::Row(maker.row(row)))
        .chain(no_rows);
    let (records, changed) = (&mut intake.records, &mut intake.changed);
    let repeated = lifecycle::apply_run(records, &check.name, alerts, now, changed);
    warn_repeated(check, repeated);
    Ok(())
}

/// Where an event check stands before this run.
struct Cursor<'a> {
    column: &'a str,
    start: Start,
    stored: CheckState,
}

/// An event check: rows after the cursor are events, each announced once.
fn events(
    intake: &mut Intake,
    check: &Check,
    templates: &Templates,
    rows: Rows,
    cursor: Cursor,
) -> Result<(), CheckFailure> {
    let alerts = check.alerts(&rows, templates)?;
    let column = rows
        .column(cursor.column)
        .expect("`alerts` fails a result without the cursor column");
    // No cursor row at all means this check never ran successfully. Its first successful run
    // saves one, NULL when it saw no rows, so that the next run does not take real events for
    // history.
    let first_run = cursor.stored.cursor.is_none();
    let previous = cursor.stored.cursor.clone();
    let largest = rows
        .rows
        .iter()
        .map(|row| &row[column])
        .filter(|v| !matches!(v, Value::Null))
        .fold(previous.clone(), |max, v| match max {
            Some(m) if m.compare(v).is_some_and(|o| o.is_ge()) => Some(m),
            _ => Some(v.clone()),
        });
    match largest {
        Some(largest) if Some(&largest) != previous.as_ref() => {
            intake.cursors.push((check.name.clone(), largest));
        }
        None if first_run => intake.cursors.push((check.name.clone(), Value::Null)),
        _ => {}
    }
    if first_run && cursor.start == Start::Now {
        info!(check = %check.name, skipped = alerts.len(), "First run: history skipped (start: now).");
        // Remembered as seen, so a query that reads its last row again (`id >= :cursor`)
        // does not send history on the next run.
        let skipped = alerts
            .into_iter()
            .map(|a| (check.name.clone(), a.fingerprint));
        intake.skipped.extend(skipped);
        return Ok(());
    }
    let mut ids = HashSet::new();
    warn_repeated(
        check,
        alerts.iter().filter(|a| !ids.insert(a.fingerprint)).count(),
    );
    let seen: &HashSet<Fingerprint> = &cursor.stored.seen_events;
    // Announced in cursor order, whatever order the query returned them in.
    let mut fresh: Vec<(&Value, Alert)> = rows
        .rows
        .iter()
        .map(|row| &row[column])
        .zip(alerts)
        .filter(|(_, a)| !seen.contains(&a.fingerprint))
        .collect();
    fresh.sort_by(|(a, _), (b, _)| a.compare(b).unwrap_or(std::cmp::Ordering::Equal));
    intake
        .events
        .extend(fresh.into_iter().map(|(_, alert)| Event { alert }));
    Ok(())
}

/// Says, once per check and run, that rows shared an identity (the same `key` values, NULL
/// ones included), so that their merging into one alert is not silent.
fn warn_repeated(check: &Check, repeated: usize) {
    if repeated > 0 {
        warn!(check = %check.name, rows = repeated, "Rows with the same key as an earlier row merged into one alert; make `key` name columns that tell the rows apart (a NULL key column reads as empty).");
    }
}

/// A queue check: each message is an event, or fires or resolves a state alert (Oracle server
/// alerts); an event `sent` before is left out. The batch is kept until delivery is known.
fn queue(
    intake: &mut Intake,
    check: &Check,
    batch: QueueBatch,
    sent: &HashSet<Fingerprint>,
    now: Timestamp,
) {
    let mut transitions = Vec::new();
    for message in &batch.messages {
        for warning in &message.warnings {
            warn!(check = %check.name, message_id = %message.id, %warning, "Queue message not read as it is; sent anyway.");
        }
        let alert = queue_alert(check, message);
        match message.effect {
            Effect::Event if sent.contains(&alert.fingerprint) => {
                info!(check = %check.name, message_id = %message.id, "Queue message sent before (redelivered after a crash); not sent again.");
            }
            Effect::Event => intake.events.push(Event { alert }),
            Effect::Fire => transitions.push((alert, Transition::Fire)),
            Effect::Resolve => transitions.push((alert, Transition::Resolve)),
        }
    }
    lifecycle::apply_transitions(&mut intake.records, transitions, now, &mut intake.changed);
    intake.batches.push((check.name.clone(), batch));
}

/// The cursor each event check among `checks` binds on its next fetch: the saved one, or its
/// `initial` value until a run has seen a row.
pub fn load_cursors(
    store: &StateStore,
    checks: &[&Check],
) -> Result<HashMap<String, Option<Value>>, StateError> {
    let mut cursors = HashMap::new();
    for check in checks {
        if let CheckKind::Events { initial, .. } = &check.kind {
            // Until a run has seen a row, the check's `initial` value stands in.
            let saved = store.load(&check.name)?.cursor;
            let saved = saved.filter(|v| !matches!(v, Value::Null));
            cursors.insert(check.name.clone(), saved.or_else(|| initial.clone()));
        }
    }
    Ok(cursors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Config;
    use crate::state::AlertRecord;

    fn config(dir: &std::path::Path, summary: &str) -> Config {
        let text = format!(
            "state: {{path: state.db}}\n\
             sources:\n  db: {{sqlite: {{path: db.sqlite}}}}\n\
             receivers:\n  dba: {{stdout: {{format: json}}}}\n\
             route: {{receiver: dba}}\n\
             checks:\n  - name: full\n    source: db\n    sql: select 1\n    key: [id]\n    \
             labels: {{team: \"{{{{ row.owner | lower }}}}\"}}\n    \
             annotations: {{summary: \"{summary}\"}}\n"
        );
        crate::settings::parse(&text, &dir.join("alerts.yaml"), Box::new(|_| None)).unwrap()
    }

    fn rows(pct: &[Value]) -> Rows {
        let mut rows = Rows::new(["id", "owner", "pct"]);
        for (id, pct) in pct.iter().enumerate() {
            let id = Value::Int(id as i64);
            rows.rows
                .push(vec![id, Value::Text("ORDERS".into()), pct.clone()]);
        }
        rows
    }

    fn at(minute: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + minute * 60).unwrap()
    }

    /// One run of the check over `rows` at minute `minute`: the records after it, and which
    /// changed, as (pct label, summary, last seen minute) in id order.
    fn run(
        dir: &std::path::Path,
        config: &Config,
        records: Records,
        rows: Rows,
        minute: i64,
    ) -> (Records, Vec<(String, String, i64)>) {
        let store = StateStore::open(&dir.join("state.db")).unwrap();
        let checks: Vec<&Check> = config.checks.iter().collect();
        let fetched = vec![(Ok(Fetched::State(rows)), std::time::Duration::ZERO)];
        let intake = ingest(
            &store,
            records,
            &config.templates,
            &checks,
            fetched,
            at(minute),
        )
        .unwrap();
        let mut changed: Vec<&AlertRecord> = (intake.changed.iter())
            .map(|f| &*intake.records[f])
            .collect();
        changed.sort_by_key(|r| r.labels.parse()["id"].clone());
        let changed = changed
            .into_iter()
            .map(|r| {
                let seen = (r.last_seen_at.as_second() - 1_800_000_000) / 60;
                let pct = r.labels.parse().get("pct").cloned().unwrap_or_default();
                (pct, r.annotations.parse()["summary"].clone(), seen)
            })
            .collect();
        (intake.records, changed)
    }

    #[test]
    fn an_alert_made_from_the_same_row_is_skipped_and_every_real_change_is_still_seen() {
        let dir = tempfile::tempdir().unwrap();
        let first = config(dir.path(), "{{ row.pct }}% full");
        let pct = |v: &[i64]| v.iter().map(|&p| Value::Int(p)).collect::<Vec<_>>();
        let (records, changed) = run(dir.path(), &first, Records::new(), rows(&pct(&[91, 92])), 0);
        assert_eq!(changed.len(), 2, "both fire");
        assert!(records.values().all(|r| r.digest.is_some()));

        let (records, changed) = run(dir.path(), &first, records, rows(&pct(&[91, 92])), 1);
        assert_eq!(
            changed,
            [],
            "the same rows: nothing changed, nothing to save"
        );

        let (records, changed) = run(dir.path(), &first, records, rows(&pct(&[91, 97])), 2);
        assert_eq!(
            changed,
            [("97".into(), "97% full".into(), 2)],
            "a value changed"
        );

        // The same rows, the check's annotation changed in the config: every alert is made
        // again, and gets the new text.
        let second = config(dir.path(), "at {{ row.pct }}%");
        let (records, changed) = run(dir.path(), &second, records, rows(&pct(&[91, 97])), 3);
        let expected = [
            ("91".into(), "at 91%".into(), 3),
            ("97".into(), "at 97%".into(), 3),
        ];
        assert_eq!(changed, expected);

        // The same text of another kind (a column read as text now): made again, found equal,
        // and only the digest is saved (the alert was not seen to change).
        let text = [Value::Text("91".into()), Value::Text("97".into())];
        let (mut records, changed) = run(dir.path(), &second, records, rows(&text), 4);
        assert_eq!(
            changed, expected,
            "saved with its new digest, last seen unchanged"
        );

        // An alert from a file made before digests (NULL): compared in full once, then skipped.
        records.values_mut().for_each(|r| r.digest = None);
        let (records, changed) = run(dir.path(), &second, records, rows(&text), 5);
        assert_eq!(changed, expected);
        let (_, changed) = run(dir.path(), &second, records, rows(&text), 6);
        assert_eq!(changed, []);
    }
}
