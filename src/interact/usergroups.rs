//! The members of Slack user groups (`usergroups.users.list`, bot token with the
//! `usergroups:read` scope), for `access:` principals that name `groups`. Looked up only for the
//! groups a decision needs, and kept for [`TTL`], so that a burst of clicks costs one call per
//! group while a change of membership counts within minutes. A lookup that fails is logged and
//! not kept: its group allows nobody (deny by default) until a lookup succeeds.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tracing::warn;

use super::access::GroupMembers;
use crate::config::secret::Secret;
use crate::sink::web_api::WebApi;

/// How long a group's members are kept.
pub const TTL: Duration = Duration::from_secs(5 * 60);

/// User groups' members, looked up and cached.
#[derive(Debug)]
pub struct UserGroups {
    api: WebApi,
    token: Secret,
    cache: Mutex<HashMap<String, (Instant, HashSet<String>)>>,
}

impl UserGroups {
    pub fn new(api: WebApi, token: Secret) -> Self {
        Self {
            api,
            token,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The members of `groups`; a group whose lookup failed is left out.
    pub async fn members(&self, groups: &BTreeSet<String>) -> GroupMembers {
        let mut found = GroupMembers::new();
        for group in groups {
            let cached = self
                .lock()
                .get(group)
                .filter(|(at, _)| at.elapsed() < TTL)
                .map(|(_, members)| members.clone());
            let members = match cached {
                Some(members) => members,
                None => match self.look_up(group).await {
                    Some(members) => {
                        self.lock()
                            .insert(group.clone(), (Instant::now(), members.clone()));
                        members
                    }
                    None => continue,
                },
            };
            found.insert(group.clone(), members);
        }
        found
    }

    async fn look_up(&self, group: &str) -> Option<HashSet<String>> {
        let answer = self
            .api
            .call_form(
                "usergroups.users.list",
                &self.token,
                &[("usergroup", group)],
            )
            .await;
        let error = match answer {
            Ok(answer) => match answer["users"].as_array() {
                Some(users) => {
                    return Some(
                        users
                            .iter()
                            .filter_map(|u| u.as_str().map(str::to_owned))
                            .collect(),
                    );
                }
                None => "the answer has no `users`".to_owned(),
            },
            Err(error) => error.to_string(),
        };
        warn!(group, %error, "Cannot look up the members of a user group; its members are refused until a lookup works.");
        None
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, HashSet<String>)>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}
