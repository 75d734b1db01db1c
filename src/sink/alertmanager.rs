//! The `alertmanager` receiver: alerts posted to Alertmanager's v2 API (`POST /api/v2/alerts`,
//! <https://github.com/prometheus/alertmanager/blob/main/api/v2/openapi.yaml>), so that a
//! cluster of Alertmanagers does dedup, silences and routing for many dbalert hosts.
//!
//! Alertmanager's client contract, as Prometheus keeps it: a firing alert is sent again and
//! again while it fires, each time with an `endsAt` a few resend intervals ahead, so that an
//! alert whose sender died resolves by itself; a resolved alert is sent once with its real
//! `endsAt`. Every Alertmanager of an HA cluster gets every alert (they share only silences and
//! the notification log), so each URL is posted to; the notification counts as accepted when
//! at least one of them took it.
//!
//! One run's notifications for the receiver go out as one request per URL: Alertmanager groups
//! alerts itself, so one request per dbalert group would only multiply requests.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::task::JoinSet;
use tracing::warn;

use super::delivery::ConfigProblem;
use super::delivery::{Delivery, ReceiverName};
use super::http::{self, TransportConfig};
use super::pacer::Pacer;
use super::{BuildError, SendError, headers, retry};
use crate::alert::{AlertView, GroupMessage};
use crate::config::duration::Duration;
use crate::config::secret::{Secret, redact_url};
use crate::route::Silence;

/// How often a firing alert is sent again in `run`, unless the receiver says otherwise; `poll`
/// sends every firing alert on every run.
pub const DEFAULT_RESEND_INTERVAL: Duration = Duration::from_secs(60);
/// A firing alert's `endsAt` is this many resend intervals ahead, as Prometheus does: a missed
/// resend or two does not resolve it, a dead dbalert does within minutes.
const ENDS_AT_RESENDS: u32 = 4;

/// `alertmanager:` in a receiver.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerReceiverConfig {
    /// Every Alertmanager of the cluster, e.g. `http://am1:9093`; each gets every alert.
    pub urls: Vec<Secret>,
    /// How often a firing alert is sent again by `run`; `poll` sends it on every run. Set it
    /// to at least the period `poll` runs at: a firing alert ends in Alertmanager four resend
    /// intervals after it was last sent. Default 1m.
    pub resend_interval: Option<Duration>,
    /// Extra request headers, e.g. `Authorization: "Bearer ${env:AM_TOKEN}"`.
    #[serde(default)]
    pub headers: BTreeMap<String, Secret>,
    pub ca_file: Option<std::path::PathBuf>,
    pub proxy: Option<Secret>,
}

impl AlertmanagerReceiverConfig {
    pub fn check(&self) -> Result<(), ConfigProblem> {
        if self.urls.is_empty() {
            return Err(ConfigProblem::new(
                "urls",
                "give at least one Alertmanager URL, e.g. [\"http://alertmanager:9093\"]",
            ));
        }
        for url in &self.urls {
            http::check_url(url.expose()).map_err(|problem| {
                ConfigProblem::new(
                    "urls",
                    format!("{problem}; write each Alertmanager as http://host:9093"),
                )
            })?;
        }
        if self.resend_interval.is_some_and(|d| d.get().is_zero()) {
            return Err(ConfigProblem::new(
                "resend_interval",
                "must be longer than 0s; 1m is Prometheus' default",
            ));
        }
        headers::check(&self.headers)?;
        if let Some(path) = &self.ca_file {
            http::read_ca_file(path).map_err(|message| {
                ConfigProblem::new(
                    "ca_file",
                    format!("cannot use {}: {message}", path.display()),
                )
            })?;
        }
        Ok(())
    }

    pub fn resend_interval(&self) -> Duration {
        self.resend_interval.unwrap_or(DEFAULT_RESEND_INTERVAL)
    }

    pub fn build(
        &self,
        name: &ReceiverName,
        delivery: &Delivery,
    ) -> Result<Alertmanager, BuildError> {
        let transport = TransportConfig {
            ca_file: self.ca_file.clone(),
            proxy: self.proxy.clone(),
        };
        let targets = self
            .urls
            .iter()
            .map(|url| {
                let base = url.expose().trim_end_matches('/');
                Target {
                    base: Secret::new(base.to_owned()),
                    url: Secret::new(format!("{base}/api/v2/alerts")),
                    endpoint: redact_url(base),
                    pacer: Pacer::for_destination(base),
                }
            })
            .collect();
        Ok(Alertmanager {
            receiver: name.clone(),
            targets,
            headers: headers::build(name, &self.headers)?,
            client: http::client(name, &transport, delivery.timeout.get())?,
            delivery: delivery.clone(),
        })
    }
}

#[derive(Debug, Clone)]
struct Target {
    /// The Alertmanager's URL without a trailing `/`.
    base: Secret,
    url: Secret,
    endpoint: String,
    pacer: Arc<Pacer>,
}

#[derive(Debug)]
pub struct Alertmanager {
    receiver: ReceiverName,
    targets: Vec<Target>,
    headers: reqwest::header::HeaderMap,
    client: reqwest::Client,
    delivery: Delivery,
}

impl Alertmanager {
    /// Posts `alerts` (see [`alerts_body`]) to every Alertmanager at once. Accepted when at
    /// least one took them; the others' errors are logged, and they get the alerts again on
    /// the next resend.
    pub async fn send(&self, alerts: &Value) -> Result<(), SendError> {
        let body =
            bytes::Bytes::from(serde_json::to_vec(alerts).expect("JSON values always serialize"));
        let mut posts = JoinSet::new();
        for target in &self.targets {
            let (target, body) = (target.clone(), body.clone());
            let (receiver, delivery) = (self.receiver.clone(), self.delivery.clone());
            let (client, headers) = (self.client.clone(), self.headers.clone());
            posts.spawn(async move {
                retry::with_retries(&receiver, &delivery, &target.pacer, || {
                    post(&client, &target, &headers, body.clone())
                })
                .await
            });
        }
        let mut accepted = false;
        let mut failure = None;
        while let Some(done) = posts.join_next().await {
            match done {
                Ok(Ok(())) => accepted = true,
                Ok(Err(error)) => {
                    warn!(receiver = %self.receiver, %error, "An Alertmanager did not take the alerts.");
                    failure.get_or_insert(error);
                }
                Err(panic) => {
                    warn!(receiver = %self.receiver, error = %panic, "A delivery task failed.")
                }
            }
        }
        match (accepted, failure) {
            (true, _) => Ok(()),
            (false, Some(error)) => Err(error),
            (false, None) => Err(SendError::Transport {
                endpoint: self.receiver.to_string(),
                message: "no Alertmanager could be reached".to_owned(),
            }),
        }
    }
}

impl Alertmanager {
    /// The receiver's name.
    pub fn receiver(&self) -> &ReceiverName {
        &self.receiver
    }

    /// Creates `silence` in the cluster (`POST /api/v2/silences`) and returns the id the cluster
    /// gave it. The replicas share silences among themselves, so the first that takes it is
    /// enough; the others are tried in turn only when one cannot.
    pub async fn create_silence(&self, silence: &Silence) -> Result<String, SendError> {
        let body = json!({
            "matchers": silence.api_matchers(label_name),
            "startsAt": silence.starts_at.to_string(),
            "endsAt": silence.ends_at.to_string(),
            "createdBy": silence.created_by,
            "comment": silence.comment,
        });
        let answer = self
            .each_until_one_takes("/api/v2/silences", reqwest::Method::POST, Some(&body))
            .await?;
        let parsed: Option<String> = serde_json::from_str::<Value>(&answer)
            .ok()
            .and_then(|v| v["silenceID"].as_str().map(str::to_owned));
        parsed.ok_or_else(|| SendError::Unavailable {
            endpoint: self.receiver.to_string(),
            status: 200,
            reason: "the answer has no `silenceID`; is this Alertmanager's v2 API?".to_owned(),
        })
    }

    /// Expires the cluster's silence `id` (`DELETE /api/v2/silence/{id}`).
    pub async fn expire_silence(&self, id: &str) -> Result<(), SendError> {
        let path = format!(
            "/api/v2/silence/{}",
            form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>()
        );
        self.each_until_one_takes(&path, reqwest::Method::DELETE, None)
            .await
            .map(drop)
    }

    /// Sends one request to each Alertmanager in turn until one accepts it; returns its body.
    async fn each_until_one_takes(
        &self,
        path: &str,
        method: reqwest::Method,
        body: Option<&Value>,
    ) -> Result<String, SendError> {
        let mut last = None;
        for target in &self.targets {
            let mut request = self
                .client
                .request(method.clone(), format!("{}{path}", target.base.expose()))
                .headers(self.headers.clone());
            if let Some(body) = body {
                request = request.json(body);
            }
            let answer = match http::exchange(request, &target.endpoint).await {
                Ok(answer) => answer,
                Err(error) => {
                    last = Some(error);
                    continue;
                }
            };
            match http::classify_status(
                &target.endpoint,
                answer.status,
                answer.retry_after,
                &answer.body,
                "Alertmanager refused the silence; check the URL points at Alertmanager (port 9093) and its log",
            ) {
                Ok(()) => return Ok(answer.body),
                Err(error) => last = Some(error),
            }
        }
        Err(last.unwrap_or_else(|| SendError::Transport {
            endpoint: self.receiver.to_string(),
            message: "no Alertmanager URL".to_owned(),
        }))
    }
}

async fn post(
    client: &reqwest::Client,
    target: &Target,
    headers: &reqwest::header::HeaderMap,
    body: bytes::Bytes,
) -> Result<(), SendError> {
    let request = client
        .post(target.url.expose())
        .headers(headers.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body);
    let answer = http::exchange(request, &target.endpoint).await?;
    http::classify_status(
        &target.endpoint,
        answer.status,
        answer.retry_after,
        &answer.body,
        "Alertmanager refused the alerts; check the URL points at Alertmanager (port 9093) and its log",
    )
}

/// The `POST /api/v2/alerts` body for `messages` at `now`: every firing alert with `endsAt`
/// `ENDS_AT_RESENDS` resend intervals ahead, every resolved one with the time it resolved.
pub fn alerts_body(messages: &[&GroupMessage], now: Timestamp, resend_interval: Duration) -> Value {
    let ahead = resend_interval.get() * ENDS_AT_RESENDS;
    let valid_until = now
        .checked_add(jiff::SignedDuration::try_from(ahead).unwrap_or(jiff::SignedDuration::MAX))
        .unwrap_or(Timestamp::MAX);
    let alert = |view: &AlertView, ends_at: Timestamp| {
        // Alertmanager refuses a batch holding an alert that ends before it starts, which a
        // clock stepped back between two runs could make.
        let ends_at = ends_at.max(view.starts_at);
        json!({
            "labels": label_set(&view.labels),
            "annotations": label_set(&view.annotations),
            "startsAt": view.starts_at.to_string(),
            "endsAt": ends_at.to_string(),
        })
    };
    let alerts: Vec<Value> = messages
        .iter()
        .flat_map(|message| {
            let firing = message.firing.iter().map(|v| alert(v, valid_until));
            let resolved = message
                .resolved
                .iter()
                .map(|v| alert(v, v.ends_at.unwrap_or(now)));
            firing.chain(resolved)
        })
        .collect();
    Value::Array(alerts)
}

/// Labels as Alertmanager accepts them: names of letters, digits and `_` not starting with a
/// digit (its classic rule), other characters replaced by `_`; empty values left out, as
/// Prometheus treats an empty label as absent.
fn label_set<'a>(
    labels: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> BTreeMap<String, &'a str> {
    labels
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| (label_name(name), value.as_str()))
        .collect()
}

fn label_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(name: &str, starts: &str, ends: Option<&str>) -> AlertView {
        AlertView {
            fingerprint: crate::alert::Fingerprint(0),
            labels: [
                ("alertname".to_owned(), name.to_owned()),
                ("owner name".to_owned(), "ORDERS".to_owned()),
                ("1st".to_owned(), "x".to_owned()),
                ("empty".to_owned(), String::new()),
            ]
            .into(),
            annotations: [("summary".to_owned(), "<b>hi</b> @channel".to_owned())].into(),
            starts_at: starts.parse().unwrap(),
            ends_at: ends.map(|e| e.parse().unwrap()),
        }
    }

    #[test]
    fn firing_alerts_end_four_resends_ahead_and_resolved_ones_when_they_resolved() {
        let message = GroupMessage {
            group_labels: Default::default(),
            firing: vec![view("deadlock", "2026-11-23T10:00:00Z", None)],
            resolved: vec![view(
                "tablespace_full",
                "2026-11-23T09:00:00Z",
                Some("2026-11-23T10:30:00Z"),
            )],
        };
        let now: Timestamp = "2026-11-23T11:00:00Z".parse().unwrap();
        let body = alerts_body(&[&message], now, Duration::from_secs(60));
        assert_eq!(
            body,
            json!([
                {
                    "labels": {"alertname": "deadlock", "owner_name": "ORDERS", "_1st": "x"},
                    "annotations": {"summary": "<b>hi</b> @channel"},
                    "startsAt": "2026-11-23T10:00:00Z",
                    "endsAt": "2026-11-23T11:04:00Z",
                },
                {
                    "labels": {"alertname": "tablespace_full", "owner_name": "ORDERS", "_1st": "x"},
                    "annotations": {"summary": "<b>hi</b> @channel"},
                    "startsAt": "2026-11-23T09:00:00Z",
                    "endsAt": "2026-11-23T10:30:00Z",
                },
            ])
        );
    }

    #[test]
    fn an_alert_never_ends_before_it_starts() {
        let message = GroupMessage {
            group_labels: Default::default(),
            firing: vec![],
            resolved: vec![view(
                "clock_stepped_back",
                "2026-11-23T10:00:00Z",
                Some("2026-11-23T09:59:00Z"),
            )],
        };
        let now: Timestamp = "2026-11-23T09:59:00Z".parse().unwrap();
        let body = alerts_body(&[&message], now, Duration::from_secs(60));
        assert_eq!(body[0]["endsAt"], "2026-11-23T10:00:00Z");
    }

    #[test]
    fn label_names_follow_alertmanagers_rule() {
        for (name, want) in [
            ("owner", "owner"),
            ("con_id", "con_id"),
            ("Owner-Name", "Owner_Name"),
            ("9lives", "_9lives"),
            ("", "_"),
            ("ünï", "_n_"),
        ] {
            assert_eq!(label_name(name), want);
        }
    }

    #[test]
    fn config_needs_urls_and_a_positive_resend_interval() {
        let config = |urls: Vec<&str>, resend: Option<u64>| AlertmanagerReceiverConfig {
            urls: urls.into_iter().map(Secret::new).collect(),
            resend_interval: resend.map(Duration::from_secs),
            headers: BTreeMap::new(),
            ca_file: None,
            proxy: None,
        };
        assert!(
            config(vec!["http://am1:9093", "http://am2:9093"], None)
                .check()
                .is_ok()
        );
        assert_eq!(config(vec![], None).check().unwrap_err().key, "urls");
        assert_eq!(
            config(vec!["am1:9093"], None).check().unwrap_err().key,
            "urls"
        );
        assert_eq!(
            config(vec!["http://am1:9093"], Some(0))
                .check()
                .unwrap_err()
                .key,
            "resend_interval"
        );
    }
}
