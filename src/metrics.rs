//! `--metrics-file`: the outcome of a poll in Prometheus' text format, for node_exporter's
//! textfile collector (a cron job cannot be scraped). The file is written beside its final name
//! and renamed over it, so the collector never reads half a file.
//!
//! Format: <https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format>.

use std::fmt::Write;
use std::path::Path;

use jiff::Timestamp;

use crate::poll::Summary;

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
    let mut metric = |name: &str, help: &str, samples: Vec<(String, f64)>| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    metric(
        "dbalert_last_run_timestamp_seconds",
        "When the last poll ran.",
        vec![(String::new(), now)],
    );
    if let Some(at) = last_success {
        metric(
            LAST_SUCCESS,
            "When the last poll ran with every check and notification succeeding.",
            vec![(String::new(), at)],
        );
    }
    metric(
        "dbalert_alerts_firing",
        "Alerts firing after the last poll.",
        vec![(String::new(), summary.alerts_firing as f64)],
    );
    metric(
        "dbalert_check_up",
        "1 when the check's query succeeded in the last poll, 0 when it failed.",
        summary
            .checks
            .iter()
            .map(|c| {
                (
                    labels(&[("check", &c.name), ("source", &c.source.0)]),
                    if c.ok { 1.0 } else { 0.0 },
                )
            })
            .collect(),
    );
    metric(
        "dbalert_check_duration_seconds",
        "How long the check's query took in the last poll.",
        summary
            .checks
            .iter()
            .map(|c| {
                (
                    labels(&[("check", &c.name), ("source", &c.source.0)]),
                    c.duration.as_secs_f64(),
                )
            })
            .collect(),
    );
    metric(
        "dbalert_notifications",
        "Notifications in the last poll, per receiver, by result (sent or failed).",
        summary
            .deliveries
            .iter()
            .flat_map(|(receiver, d)| {
                [
                    (
                        labels(&[("receiver", &receiver.0), ("result", "sent")]),
                        d.sent as f64,
                    ),
                    (
                        labels(&[("receiver", &receiver.0), ("result", "failed")]),
                        d.failed as f64,
                    ),
                ]
            })
            .collect(),
    );
    out
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
    use crate::poll::{CheckOutcome, Deliveries};
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
}
