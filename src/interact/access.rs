//! Who may do what from Slack: the person asking is matched against the `access:` principals a
//! receiver's `allow:` (or an action's) names. Deny by default: no `allow:`, an unknown
//! principal, another workspace or a user group that could not be looked up all refuse.
//!
//! The decision is pure; the members of user groups are looked up by the caller (Slack's
//! `usergroups.users.list`) and handed in, so a decision is re-made on every click.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::config::Access;

/// The person asking, as Slack's payload says.
#[derive(Debug, Clone, Copy)]
pub struct Requester<'a> {
    /// The user ID (`U…`).
    pub user: &'a str,
    /// The workspace the request came from (`T…`).
    pub team: &'a str,
    /// The channel the click or command came from, if any.
    pub channel: Option<&'a str>,
}

/// The members of the user groups looked up, by group ID.
pub type GroupMembers = HashMap<String, HashSet<String>>;

/// The answer, with the reason shown to the person and written to the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Allowed through this principal.
    Allowed {
        principal: String,
    },
    Denied {
        reason: String,
    },
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Allowed { .. })
    }
}

/// Whether `who` may act where `allow` names the principals that may (`None`: not given).
/// `team_id` is the workspace of `slack_app:`; requests from any other are refused.
pub fn decide(
    access: &Access,
    team_id: &str,
    allow: Option<&[String]>,
    who: &Requester,
    groups: &GroupMembers,
) -> Decision {
    let denied = |reason: String| Decision::Denied { reason };
    if who.team != team_id {
        return denied(format!(
            "requests from workspace {} are not accepted here",
            who.team
        ));
    }
    let Some(allow) = allow.filter(|allow| !allow.is_empty()) else {
        return denied(
            "nobody is allowed to do this here yet: the config names no `allow:` principals"
                .to_owned(),
        );
    };
    for name in allow {
        let Some(principal) = access.get(name) else {
            continue;
        };
        let is_member = principal.users.iter().any(|u| u == who.user)
            || who
                .channel
                .is_some_and(|c| principal.channels.iter().any(|p| p == c))
            || principal.groups.iter().any(|g| {
                groups
                    .get(g)
                    .is_some_and(|members| members.contains(who.user))
            });
        if is_member {
            return Decision::Allowed {
                principal: name.clone(),
            };
        }
    }
    denied(format!(
        "<@{}> is not in {}",
        who.user,
        allow
            .iter()
            .map(|name| format!("`{name}`"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// The user groups whose members a decision over `allow` may need.
pub fn groups_to_look_up(access: &Access, allow: Option<&[String]>) -> BTreeSet<String> {
    allow
        .unwrap_or_default()
        .iter()
        .filter_map(|name| access.get(name))
        .flat_map(|principal| principal.groups.iter().cloned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interact::Principal;

    fn access() -> Access {
        Access::from([
            (
                "dba".to_owned(),
                Principal {
                    users: vec!["UDBA".into()],
                    groups: vec!["SORACLE".into()],
                    ..Principal::default()
                },
            ),
            (
                "orders".to_owned(),
                Principal {
                    channels: vec!["CORDERS".into()],
                    ..Principal::default()
                },
            ),
        ])
    }

    #[test]
    fn decisions_by_user_group_channel_and_workspace() {
        let groups = GroupMembers::from([("SORACLE".to_owned(), HashSet::from(["UGRP".into()]))]);
        let both = ["dba".to_owned(), "orders".to_owned()];
        let dba = ["dba".to_owned()];
        let ghost = ["ghost".to_owned()];
        let none: [String; 0] = [];
        for (allow, user, team, channel, want) in [
            (Some(&both[..]), "UDBA", "T1", None, Some("dba")),
            (Some(&both[..]), "UGRP", "T1", Some("CX"), Some("dba")),
            (
                Some(&both[..]),
                "UANY",
                "T1",
                Some("CORDERS"),
                Some("orders"),
            ),
            (Some(&dba[..]), "UANY", "T1", Some("CORDERS"), None),
            (Some(&both[..]), "UANY", "T1", Some("CX"), None),
            // Another workspace, even a listed user.
            (Some(&both[..]), "UDBA", "T2", None, None),
            // Deny by default.
            (None, "UDBA", "T1", None, None),
            (Some(&none[..]), "UDBA", "T1", None, None),
            (Some(&ghost[..]), "UDBA", "T1", None, None),
        ] {
            let who = Requester {
                user,
                team,
                channel,
            };
            let decision = decide(&access(), "T1", allow, &who, &groups);
            let got = match &decision {
                Decision::Allowed { principal } => Some(principal.as_str()),
                Decision::Denied { .. } => None,
            };
            assert_eq!(got, want, "{allow:?} {user} {team} {channel:?}");
        }
    }

    #[test]
    fn a_group_not_looked_up_allows_nobody() {
        let who = Requester {
            user: "UGRP",
            team: "T1",
            channel: None,
        };
        let decision = decide(
            &access(),
            "T1",
            Some(&["dba".to_owned()]),
            &who,
            &GroupMembers::new(),
        );
        assert_eq!(
            decision,
            Decision::Denied {
                reason: "<@UGRP> is not in `dba`".into()
            }
        );
    }

    #[test]
    fn only_the_allowed_principals_groups_are_looked_up() {
        let allow = ["dba".to_owned(), "orders".to_owned()];
        assert_eq!(
            groups_to_look_up(&access(), Some(&allow)),
            BTreeSet::from(["SORACLE".to_owned()])
        );
        assert!(groups_to_look_up(&access(), Some(&allow[1..])).is_empty());
        assert!(groups_to_look_up(&access(), None).is_empty());
    }
}
