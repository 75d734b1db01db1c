//! `--metrics-file`: the outcome of a poll in Prometheus' text format, for node_exporter's
//! textfile collector (a cron job cannot be scraped); under `run`, each check's last outcome
//! and lateness, rewritten within a second of each batch ([`Running`]). The file is written
//! beside its final name and renamed over it, so the collector never reads half a file.
//!
//! Format: <https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format>.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use jiff::Timestamp;

use crate::poll::{CheckOutcome, Summary};

const LAST_SUCCESS: &str = "dbalert_last_success_timestamp_seconds";

/// The metrics text for one poll. `last_success` is the time of the last poll that fully
/// succeeded before this one, carried over when this one did not or ran only some checks
/// (`full` is false).
pub fn render(summary: &Summary, now: Timestamp, last_success: Option<f64>, full: bool) -> String {
    let now = now.as_millisecond() as f64 / 1000.0;
    let last_success = if full && summary.all_ok() {
        Some(now)
    } else {
        last_success
    };
    let mut out = String::new();
    metric(
        &mut out,
        "dbalert_last_run_timestamp_seconds",
        "When the last poll ran.",
        vec![(String::new(), now)],
    );
    if let Some(at) = last_success {
        metric(
            &mut out,
            LAST_SUCCESS,
            "When the last poll ran with every check and notification succeeding.",
            vec![(String::new(), at)],
        );
    }
    metric(
        &mut out,
        "dbalert_alerts_firing",
        "Alerts firing after the last poll.",
        vec![(String::new(), summary.alerts_firing as f64)],
    );
    check_metrics(&mut out, &summary.checks);
    let deliveries = summary.deliveries.iter().flat_map(|(receiver, d)| {
        [("sent", d.sent), ("failed", d.failed)].map(|(result, count)| {
            let labels = labels(&[("receiver", &receiver.0), ("result", result)]);
            (labels, count as f64)
        })
    });
    metric(
        &mut out,
        "dbalert_notifications",
        "Notifications in the last poll (under `run`: since it started), per receiver, by result (sent or failed).",
        deliveries.collect(),
    );
    out
}

/// One gauge: its help, type and samples (labels, value).
fn metric(out: &mut String, name: &str, help: &str, samples: Vec<(String, f64)>) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
    for (labels, value) in samples {
        let _ = writeln!(out, "{name}{labels} {value}");
    }
}

/// Each check's last run: up, how long it took, and (under `run`) how late it began.
fn check_metrics(out: &mut String, checks: &[CheckOutcome]) {
    let per_check = |value: &dyn Fn(&CheckOutcome) -> Option<f64>| {
        checks
            .iter()
            .filter_map(|c| {
                let labels = labels(&[("check", &c.name), ("source", &c.source.0)]);
                value(c).map(|v| (labels, v))
            })
            .collect()
    };
    metric(
        out,
        "dbalert_check_up",
        "1 when the check's query succeeded in the last poll, 0 when it failed.",
        per_check(&|c| Some(if c.ok { 1.0 } else { 0.0 })),
    );
    metric(
        out,
        "dbalert_check_duration_seconds",
        "How long the check's query took in the last poll.",
        per_check(&|c| Some(c.duration.as_secs_f64())),
    );
    if checks.iter().any(|c| c.lateness.is_some()) {
        metric(
            out,
            "dbalert_check_lateness_seconds",
            "Under `run`: how long after its scheduled time the check's last scheduled run began.",
            per_check(&|c| c.lateness.map(|l| l.as_secs_f64())),
        );
    }
}

/// The metrics of `dbalert run`: each check's latest outcome, the alerts firing after the last
/// batch, and the notifications since the service started. Batches are taken in as they end
/// and the file is written apart from them, at most once a second: a fleet of checks ends
/// dozens of batches a second, and the collector reads the file far less often.
#[derive(Debug, Default)]
pub struct Running {
    checks: BTreeMap<String, CheckOutcome>,
    view: Summary,
    /// Whether a batch came in since the file was last written.
    unwritten: bool,
}

impl Running {
    /// Takes in one batch's summary.
    pub fn record(&mut self, batch: &Summary) {
        for outcome in &batch.checks {
            let mut outcome = outcome.clone();
            // A woken queue check has no slot: keep the lateness of its last scheduled run.
            if outcome.lateness.is_none() {
                let last = self.checks.get(&outcome.name);
                outcome.lateness = last.and_then(|c| c.lateness);
            }
            self.checks.insert(outcome.name.clone(), outcome);
        }
        let view = &mut self.view;
        view.alerts_firing = batch.alerts_firing;
        // Whether the last batch delivered everything, for the last success.
        view.notifications_failed = batch.notifications_failed;
        for (receiver, d) in &batch.deliveries {
            let total = view.deliveries.entry(receiver.clone()).or_default();
            total.sent += d.sent;
            total.failed += d.failed;
        }
        self.unwritten = true;
    }

    /// Writes the metrics file as it stands after the last batch, unless no batch came in
    /// since it was last written.
    pub fn write(&mut self, path: &Path, now: Timestamp) -> std::io::Result<()> {
        if !self.unwritten {
            return Ok(());
        }
        write(path, self.view(), now, true)?;
        self.unwritten = false;
        Ok(())
    }

    /// Every check's latest outcome, with the rest of the last batch's summary.
    fn view(&mut self) -> &Summary {
        let view = &mut self.view;
        view.checks = self.checks.values().cloned().collect();
        view.checks_failed = view.checks.iter().filter(|c| !c.ok).count();
        view.checks_ok = view.checks.len() - view.checks_failed;
        view
    }
}

/// Writes the metrics of `summary` to `path` atomically.
pub fn write(path: &Path, summary: &Summary, now: Timestamp, full: bool) -> std::io::Result<()> {
    let previous = std::fs::read_to_string(path).ok().and_then(|text| {
        text.lines()
            .find_map(|line| line.strip_prefix(&format!("{LAST_SUCCESS} ")))
            .and_then(|v| v.trim().parse().ok())
    });
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    std::fs::write(&temporary, render(summary, now, previous, full))?;
    std::fs::rename(&temporary, path)
}

fn labels(pairs: &[(&str, &str)]) -> String {
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| {
            let v = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}=\"{v}\"")
        })
        .collect();
    format!("{{{}}}", inner.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::poll::Deliveries;
    use crate::sink::ReceiverName;
    use crate::source::SourceName;

    fn summary(ok: bool) -> Summary {
        Summary {
            checks_ok: usize::from(ok),
            checks_failed: usize::from(!ok),
            alerts_firing: 3,
            checks: vec![CheckOutcome {
                name: "dead\"lock".into(),
                source: SourceName("prod".into()),
                ok,
                duration: std::time::Duration::from_millis(250),
                lateness: None,
            }],
            deliveries: [(
                ReceiverName("dba".into()),
                Deliveries { sent: 2, failed: 0 },
            )]
            .into(),
            ..Summary::default()
        }
    }

    #[test]
    fn renders_the_text_format() {
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let text = render(&summary(true), now, None, true);
        for line in [
            "# TYPE dbalert_last_run_timestamp_seconds gauge",
            "dbalert_last_run_timestamp_seconds 1800000000",
            "dbalert_last_success_timestamp_seconds 1800000000",
            "dbalert_alerts_firing 3",
            "dbalert_check_up{check=\"dead\\\"lock\",source=\"prod\"} 1",
            "dbalert_check_duration_seconds{check=\"dead\\\"lock\",source=\"prod\"} 0.25",
            "dbalert_notifications{receiver=\"dba\",result=\"sent\"} 2",
            "dbalert_notifications{receiver=\"dba\",result=\"failed\"} 0",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing `{line}` in:\n{text}"
            );
        }
    }

    #[test]
    fn a_failed_poll_keeps_the_last_success() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dbalert.prom");
        write(
            &path,
            &summary(true),
            Timestamp::from_second(1_800_000_000).unwrap(),
            true,
        )
        .unwrap();
        write(
            &path,
            &summary(true),
            Timestamp::from_second(1_800_000_030).unwrap(),
            false,
        )
        .unwrap();
        write(
            &path,
            &summary(false),
            Timestamp::from_second(1_800_000_060).unwrap(),
            true,
        )
        .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("dbalert_last_run_timestamp_seconds 1800000060"),
            "{text}"
        );
        assert!(
            text.contains("dbalert_last_success_timestamp_seconds 1800000000"),
            "{text}"
        );
        assert!(
            text.contains("dbalert_check_up{check=\"dead\\\"lock\",source=\"prod\"} 0"),
            "{text}"
        );
        assert!(!dir.path().join("dbalert.prom.tmp").exists());
    }

    #[test]
    fn run_keeps_each_checks_last_outcome_and_lateness_and_counts_notifications() {
        let outcome = |name: &str, ok: bool, late_ms: Option<u64>| CheckOutcome {
            name: name.into(),
            source: SourceName("prod".into()),
            ok,
            duration: std::time::Duration::from_millis(20),
            lateness: late_ms.map(std::time::Duration::from_millis),
        };
        let batch = |checks: Vec<CheckOutcome>, sent: usize| Summary {
            checks,
            deliveries: [(ReceiverName("dba".into()), Deliveries { sent, failed: 0 })].into(),
            ..Summary::default()
        };
        let mut running = Running::default();
        running.record(&batch(vec![outcome("a", false, Some(1500))], 1));
        running.record(&batch(vec![outcome("b", true, Some(3))], 2));
        // `a` again, woken (no slot): its last lateness stays.
        running.record(&batch(vec![outcome("a", true, None)], 0));
        let text = render(
            running.view(),
            Timestamp::from_second(1_800_000_000).unwrap(),
            None,
            true,
        );
        for line in [
            "dbalert_check_up{check=\"a\",source=\"prod\"} 1",
            "dbalert_check_up{check=\"b\",source=\"prod\"} 1",
            "dbalert_check_lateness_seconds{check=\"a\",source=\"prod\"} 1.5",
            "dbalert_check_lateness_seconds{check=\"b\",source=\"prod\"} 0.003",
            "dbalert_check_duration_seconds{check=\"b\",source=\"prod\"} 0.02",
            "dbalert_notifications{receiver=\"dba\",result=\"sent\"} 3",
            "dbalert_last_success_timestamp_seconds 1800000000",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing `{line}` in:\n{text}"
            );
        }
        let poll = render(
            &summary(true),
            Timestamp::from_second(1_800_000_000).unwrap(),
            None,
            true,
        );
        assert!(!poll.contains("lateness"), "{poll}");
    }
}
