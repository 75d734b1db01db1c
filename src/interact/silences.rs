//! Silences in the Alertmanager clusters too: where the config has `alertmanager` receivers,
//! a silence made from Slack or `dbalert silence add` is also created in each cluster
//! (`POST /api/v2/silences`), so that every replica honours it, and expired there with it
//! (`DELETE /api/v2/silence/{id}`). The state file's silence is the one dbalert obeys: a
//! cluster that refuses is reported, and the local silence still holds.
//!
//! These functions only talk to the clusters; the caller saves the ids they hand back beside
//! the local silence (`StateStore::add_cluster_silence`).

use tracing::{info, warn};

use crate::route::Silence;
use std::collections::BTreeMap;

use crate::sink::alertmanager::Alertmanager;
use crate::sink::{BuildError, Receiver, ReceiverKind, ReceiverName};

/// Every `alertmanager` receiver of a config, ready to take silences.
#[derive(Debug)]
pub struct Clusters(Vec<Alertmanager>);

impl Clusters {
    pub fn build(receivers: &BTreeMap<ReceiverName, Receiver>) -> Result<Self, BuildError> {
        receivers
            .values()
            .filter_map(|r| match &r.kind {
                ReceiverKind::Alertmanager(am) => Some(am.build(&r.name, &r.delivery)),
                _ => None,
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// Creates `silence` in every cluster. Returns the ids the clusters gave it, by receiver,
    /// and a sentence for each cluster that refused.
    pub async fn create(&self, silence: &Silence) -> (Vec<(ReceiverName, String)>, Vec<String>) {
        let mut created = Vec::new();
        let mut refused = Vec::new();
        for cluster in &self.0 {
            let receiver = cluster.receiver();
            match cluster.create_silence(silence).await {
                Ok(cluster_id) => {
                    info!(%receiver, silence = %silence.id, %cluster_id, "Silence created in the Alertmanager cluster.");
                    created.push((receiver.clone(), cluster_id));
                }
                Err(error) => {
                    warn!(%receiver, silence = %silence.id, %error, "The Alertmanager cluster did not take the silence; it holds here only.");
                    refused.push(format!(
                        "the Alertmanager cluster `{receiver}` did not take the silence ({error}); it holds in dbalert only"
                    ));
                }
            }
        }
        (created, refused)
    }

    /// Expires the clusters' silences `ids` (by receiver, as [`Self::create`] gave them).
    /// Returns a sentence for each cluster that refused or is no longer configured.
    pub async fn expire(&self, silence_id: &str, ids: &[(ReceiverName, String)]) -> Vec<String> {
        let mut refused = Vec::new();
        for (receiver, cluster_id) in ids {
            let Some(cluster) = self.0.iter().find(|c| c.receiver() == receiver) else {
                refused.push(format!(
                    "the Alertmanager receiver `{receiver}` is no longer configured; expire silence {cluster_id} there by hand"
                ));
                continue;
            };
            match cluster.expire_silence(cluster_id).await {
                Ok(()) => {
                    info!(%receiver, silence = %silence_id, %cluster_id, "Silence expired in the Alertmanager cluster.");
                }
                Err(error) => {
                    warn!(%receiver, silence = %silence_id, %cluster_id, %error, "The Alertmanager cluster did not expire the silence.");
                    refused.push(format!(
                        "the Alertmanager cluster `{receiver}` did not expire its silence {cluster_id} ({error})"
                    ));
                }
            }
        }
        refused
    }
}
