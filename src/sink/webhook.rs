//! The `webhook` receiver: each group notification as one JSON document POSTed to any URL, for
//! ticketing systems and custom bots.
//!
//! The document is versioned (`"version": "1"`) and pinned by a snapshot test; its fields
//! follow Alertmanager's webhook payload where they mean the same, so code written for that
//! reads this with few changes. `docs/webhook.md` documents it. A change that could break a
//! reader gets a new version.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};

use super::delivery::ConfigProblem;
use super::delivery::{Delivery, ReceiverName};
use super::http::{self, TransportConfig};
use super::pacer::Pacer;
use super::{BuildError, SendError, headers, retry};
use crate::alert::{AlertView, GroupMessage};
use crate::config::secret::{Secret, redact_url};
use crate::render::notification::Layout;
use crate::render::template::common;

/// The version of the document this build sends.
pub const VERSION: &str = "1";

/// `webhook:` in a receiver.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookReceiverConfig {
    /// Where to POST. It may hold a credential: write `${env:NAME}` or `${file:PATH}`.
    pub url: Secret,
    /// Extra request headers, e.g. `Authorization: "${env:TICKETS_AUTH}"`.
    #[serde(default)]
    pub headers: BTreeMap<String, Secret>,
    /// The most alerts one document lists; the rest are counted in `truncatedAlerts`.
    /// Default 0: all of them.
    #[serde(default)]
    pub max_alerts: usize,
    pub ca_file: Option<std::path::PathBuf>,
    pub proxy: Option<Secret>,
}

impl WebhookReceiverConfig {
    pub fn check(&self) -> Result<(), ConfigProblem> {
        http::check_url(self.url.expose()).map_err(|problem| ConfigProblem::new("url", problem))?;
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

    pub fn build(&self, name: &ReceiverName, delivery: &Delivery) -> Result<Webhook, BuildError> {
        let transport = TransportConfig {
            ca_file: self.ca_file.clone(),
            proxy: self.proxy.clone(),
        };
        Ok(Webhook {
            receiver: name.clone(),
            endpoint: redact_url(self.url.expose()),
            pacer: Pacer::for_destination(self.url.expose()),
            url: self.url.clone(),
            headers: headers::build(name, &self.headers)?,
            client: http::client(name, &transport, delivery.timeout.get())?,
            delivery: delivery.clone(),
        })
    }
}

/// A webhook, paced like Slack's to one request a second: a ticketing system is rarely
/// sized for more, and a storm is already grouped into few documents.
#[derive(Debug)]
pub struct Webhook {
    receiver: ReceiverName,
    url: Secret,
    endpoint: String,
    headers: reqwest::header::HeaderMap,
    client: reqwest::Client,
    delivery: Delivery,
    pacer: Arc<Pacer>,
}

impl Webhook {
    /// Posts one document (see [`document`]), retrying as the receiver's delivery settings
    /// allow.
    pub async fn send(&self, document: &Value) -> Result<(), SendError> {
        retry::with_retries(&self.receiver, &self.delivery, &self.pacer, || {
            self.post(document)
        })
        .await
    }

    async fn post(&self, document: &Value) -> Result<(), SendError> {
        let request = self
            .client
            .post(self.url.expose())
            .headers(self.headers.clone())
            .json(document);
        let answer = http::exchange(request, &self.endpoint).await?;
        http::classify_status(
            &self.endpoint,
            answer.status,
            answer.retry_after,
            &answer.body,
            "the endpoint refused the notification; check its URL, credentials and log",
        )
    }
}

/// The document for one group notification. `max_alerts` 0 lists every alert; `layout`
/// makes its `text`.
pub fn document(
    receiver: &ReceiverName,
    group_key: &str,
    message: &GroupMessage,
    max_alerts: usize,
    layout: &Layout,
) -> Value {
    let all: Vec<(&AlertView, &str)> = message
        .firing
        .iter()
        .map(|a| (a, "firing"))
        .chain(message.resolved.iter().map(|a| (a, "resolved")))
        .collect();
    let listed = match max_alerts {
        0 => all.len(),
        max => all.len().min(max),
    };
    let alerts: Vec<Value> = all[..listed]
        .iter()
        .map(|(alert, status)| {
            json!({
                "status": status,
                "fingerprint": alert.fingerprint,
                "labels": alert.labels,
                "annotations": alert.annotations,
                "startsAt": alert.starts_at.to_string(),
                "endsAt": alert.ends_at.map(|t| t.to_string()),
            })
        })
        .collect();
    let views: Vec<&AlertView> = all.iter().map(|(a, _)| *a).collect();
    json!({
        "version": VERSION,
        "receiver": receiver.0,
        "status": if message.firing.is_empty() { "resolved" } else { "firing" },
        "text": layout.text(message),
        "groupKey": group_key,
        "groupLabels": message.group_labels,
        "commonLabels": common(views.iter().map(|a| &a.labels)),
        "commonAnnotations": common(views.iter().map(|a| &a.annotations)),
        "counts": {"firing": message.firing.len(), "resolved": message.resolved.len()},
        "truncatedAlerts": all.len() - listed,
        "alerts": alerts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(
        fingerprint: &str,
        labels: &[(&str, &str)],
        starts: &str,
        ends: Option<&str>,
    ) -> AlertView {
        AlertView {
            fingerprint: crate::alert::Fingerprint::parse(fingerprint).unwrap(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            annotations: [(
                "summary".to_owned(),
                format!("{} {}", labels[0].1, labels[1].1),
            )]
            .into(),
            starts_at: starts.parse().unwrap(),
            ends_at: ends.map(|e| e.parse().unwrap()),
        }
    }

    fn sample() -> GroupMessage {
        GroupMessage {
            group_labels: [("alertname".to_owned(), "tablespace_full".to_owned())].into(),
            firing: vec![view(
                "e6552a7fda19e6f8",
                &[
                    ("alertname", "tablespace_full"),
                    ("tablespace", "USERS"),
                    ("owner", "ORDERS"),
                ],
                "2026-11-23T10:00:00Z",
                None,
            )],
            resolved: vec![view(
                "0123456789abcdef",
                &[
                    ("alertname", "tablespace_full"),
                    ("tablespace", "DATA"),
                    ("owner", "ORDERS"),
                ],
                "2026-11-23T09:00:00Z",
                Some("2026-11-23T10:30:00Z"),
            )],
        }
    }

    /// The schema is a contract with code we do not see: this pins it field by field.
    #[test]
    fn the_version_1_document_is_pinned() {
        let document = document(
            &ReceiverName("tickets".to_owned()),
            "{}:{alertname=\"tablespace_full\"}",
            &sample(),
            0,
            &Layout::default(),
        );
        let pinned: Value =
            serde_json::from_str(include_str!("../../tests/fixtures/webhook/v1.json"))
                .expect("the snapshot is JSON");
        assert_eq!(document, pinned);
    }

    #[test]
    fn max_alerts_lists_the_first_and_counts_the_rest() {
        let document = document(
            &ReceiverName("t".to_owned()),
            "k",
            &sample(),
            1,
            &Layout::default(),
        );
        assert_eq!(document["alerts"].as_array().unwrap().len(), 1);
        assert_eq!(document["alerts"][0]["status"], "firing");
        assert_eq!(document["truncatedAlerts"], 1);
        assert_eq!(document["counts"]["resolved"], 1);
    }
}
