//! The routing tree: which routes an alert goes to, and with which options.
//!
//! The semantics are Alertmanager's (`dispatch/route.go`):
//! - **Matching** is a depth-first, left-to-right search. A node whose matchers do not all match
//!   yields nothing. Otherwise its children are tried in order, every matching child adds its own
//!   result, and the search stops after the first matching child unless that child has
//!   `continue: true`. A node is itself the result only when none of its children matched, so
//!   the root catches what nothing else takes. The alert goes to every route returned, in order.
//! - **Inheritance**: a node starts from its parent's options (the root from the defaults:
//!   `group_wait` 30s, `group_interval` 5m, `repeat_interval` 4h, no grouping labels) and
//!   overrides those it sets. `group_by: []` overrides with "no labels"; `group_by: ['...']`
//!   groups by every label. `mute_time_intervals` and `active_time_intervals` are not inherited.
//! - **Identity**: [`RouteNode::key`] is the node's and its ancestors' matchers joined with `/`
//!   (`{}/{owner="A"}/{env="prod"}`), which, like Alertmanager's `Route.Key()`, keys the
//!   notification log; [`RouteNode::id`] adds the sibling index so identical siblings differ.
//!
//! Checking a config into these types is `route::config`'s job; this module never fails.

use std::collections::BTreeSet;
use std::sync::Arc;

use jiff::Timestamp;

use super::matcher::{Matcher, Matchers};
use super::time_interval::TimeInterval;
use crate::alert::Labels;
use crate::config::ReceiverName;
use crate::config::duration::Duration;

/// Alertmanager's `group_wait` for the root route.
pub const DEFAULT_GROUP_WAIT: Duration = Duration::from_secs(30);
/// Alertmanager's `group_interval` for the root route.
pub const DEFAULT_GROUP_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// Alertmanager's `repeat_interval` for the root route.
pub const DEFAULT_REPEAT_INTERVAL: Duration = Duration::from_secs(4 * 3600);

/// Which labels split a route's alerts into groups (one notification per group).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupBy {
    /// These labels (none: one group for the whole route).
    Labels(Vec<String>),
    /// Every label: each distinct alert is its own group (`group_by: ['...']`).
    All,
}

/// A route's effective options, after inheritance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteOpts {
    /// Where the alerts this route handles are sent.
    pub receiver: ReceiverName,
    /// How they are grouped.
    pub group_by: GroupBy,
    /// How long a new group waits for more alerts before its first notification (`run` only).
    pub group_wait: Duration,
    /// How long a group waits between notifications about changes (`run` only).
    pub group_interval: Duration,
    /// How long before an unchanged group is notified again.
    pub repeat_interval: Duration,
}

/// What one route node of the file sets itself, checked but before inheritance.
#[derive(Debug, Clone, Default)]
pub struct RouteSpec {
    /// The node's matchers (legacy `match`/`match_re` included).
    pub matchers: Matchers,
    /// `continue`: whether later siblings are tried after this node matched.
    pub continue_matching: bool,
    /// `receiver`, when set.
    pub receiver: Option<ReceiverName>,
    /// `group_by`, when set.
    pub group_by: Option<GroupBy>,
    /// `group_wait`, when set.
    pub group_wait: Option<Duration>,
    /// `group_interval`, when set.
    pub group_interval: Option<Duration>,
    /// `repeat_interval`, when set.
    pub repeat_interval: Option<Duration>,
    /// `mute_time_intervals`, resolved.
    pub mute_time_intervals: Vec<Arc<TimeInterval>>,
    /// `active_time_intervals`, resolved.
    pub active_time_intervals: Vec<Arc<TimeInterval>>,
    /// `routes`: the children, in order.
    pub routes: Vec<RouteSpec>,
}

/// One node of the routing tree, with its effective options.
#[derive(Debug, Clone)]
pub struct RouteNode {
    /// The alerts this node considers: all of them must match.
    pub matchers: Matchers,
    /// Whether later siblings are tried after this node matched (`continue`).
    pub continue_matching: bool,
    /// The effective options.
    pub opts: RouteOpts,
    /// While any of these contains the current time, the route sends nothing.
    pub mute_time_intervals: Vec<Arc<TimeInterval>>,
    /// When not empty, the route sends only while one of these contains the current time.
    pub active_time_intervals: Vec<Arc<TimeInterval>>,
    /// The children, tried in order.
    pub routes: Vec<RouteNode>,
    key: String,
    id: String,
}

impl RouteNode {
    /// Adds the label names this node and its children read; false when one groups by every
    /// label.
    fn label_names<'a>(&'a self, names: &mut BTreeSet<&'a str>) -> bool {
        names.extend(self.matchers.iter().map(Matcher::name));
        match &self.opts.group_by {
            GroupBy::All => false,
            GroupBy::Labels(by) => {
                names.extend(by.iter().map(String::as_str));
                self.routes.iter().all(|child| child.label_names(names))
            }
        }
    }

    fn new(spec: RouteSpec, parent: Option<&RouteNode>, opts: RouteOpts, index: usize) -> Self {
        let (key, id) = match parent {
            None => (spec.matchers.to_string(), spec.matchers.to_string()),
            Some(parent) => (
                format!("{}/{}", parent.key, spec.matchers),
                format!("{}/{}/{index}", parent.id, spec.matchers),
            ),
        };
        let mut node = Self {
            matchers: spec.matchers,
            continue_matching: spec.continue_matching,
            opts,
            mute_time_intervals: spec.mute_time_intervals,
            active_time_intervals: spec.active_time_intervals,
            routes: Vec::new(),
            key,
            id,
        };
        node.routes = spec
            .routes
            .into_iter()
            .enumerate()
            .map(|(i, child)| {
                let opts = node.opts.inherit(&child);
                RouteNode::new(child, Some(&node), opts, i)
            })
            .collect();
        node
    }

    /// The key of the node's groups in the notification log, as Alertmanager's `Route.Key()`:
    /// the matchers from the root down, joined with `/`. Identical siblings share it.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// A unique id: the key with each node's index among its siblings (`Route.ID()`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether the route sends nothing at `now` because of its `mute_time_intervals` or
    /// `active_time_intervals` (it still matches alerts and still stops its siblings).
    pub fn is_muted(&self, now: Timestamp) -> bool {
        let muted = self.mute_time_intervals.iter().any(|i| i.contains(now));
        let inactive = !self.active_time_intervals.is_empty()
            && !self.active_time_intervals.iter().any(|i| i.contains(now));
        muted || inactive
    }

    /// Adds the nodes that handle `labels` under this node to `found`; false when this node
    /// does not match at all.
    fn collect<'a>(&'a self, labels: &Labels, found: &mut Vec<&'a RouteNode>) -> bool {
        if !self.matchers.matches(labels) {
            return false;
        }
        let before = found.len();
        for child in &self.routes {
            if child.collect(labels, found) && !child.continue_matching {
                break;
            }
        }
        if found.len() == before {
            found.push(self);
        }
        true
    }
}

impl RouteOpts {
    /// The root's options: Alertmanager's defaults, with what the root sets.
    fn root(receiver: ReceiverName, spec: &RouteSpec) -> Self {
        Self {
            receiver,
            group_by: GroupBy::Labels(Vec::new()),
            group_wait: DEFAULT_GROUP_WAIT,
            group_interval: DEFAULT_GROUP_INTERVAL,
            repeat_interval: DEFAULT_REPEAT_INTERVAL,
        }
        .inherit(spec)
    }

    /// A child's options: these, overridden by what the child sets.
    fn inherit(&self, child: &RouteSpec) -> Self {
        Self {
            receiver: child
                .receiver
                .clone()
                .unwrap_or_else(|| self.receiver.clone()),
            group_by: child
                .group_by
                .clone()
                .unwrap_or_else(|| self.group_by.clone()),
            group_wait: child.group_wait.unwrap_or(self.group_wait),
            group_interval: child.group_interval.unwrap_or(self.group_interval),
            repeat_interval: child.repeat_interval.unwrap_or(self.repeat_interval),
        }
    }
}

/// The whole routing tree.
#[derive(Debug, Clone)]
pub struct Route {
    root: RouteNode,
}

impl Route {
    /// Builds the tree from the root's spec; `receiver` is the root's, which is required (the
    /// spec's own `receiver` is ignored).
    pub fn new(receiver: ReceiverName, root: RouteSpec) -> Self {
        let opts = RouteOpts::root(receiver, &root);
        Self {
            root: RouteNode::new(root, None, opts, 0),
        }
    }

    /// The root node.
    pub fn root(&self) -> &RouteNode {
        &self.root
    }

    /// Every label name routing and grouping read (the nodes' matchers and `group_by`), or
    /// `None` when a route groups by every label (`...`). Alerts that agree on these labels
    /// are routed into the same groups.
    pub fn label_names(&self) -> Option<BTreeSet<&str>> {
        let mut names = BTreeSet::new();
        self.root.label_names(&mut names).then_some(names)
    }

    /// The nodes that handle an alert with these labels, in match order; never empty, since the
    /// root has no matchers. Each node's `opts.receiver` is a receiver to notify.
    pub fn resolve(&self, labels: &Labels) -> Vec<&RouteNode> {
        let mut found = Vec::new();
        if !self.root.collect(labels, &mut found) {
            // Only a tree built by hand can have a root with matchers; it still catches all.
            found.push(&self.root);
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::testing::{labels, route};

    /// The receivers an alert goes to, comma-separated as `amtool` prints them.
    fn receivers(route: &Route, alert: &[(&str, &str)]) -> String {
        route
            .resolve(&labels(alert))
            .iter()
            .map(|node| node.opts.receiver.0.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    fn group_by(names: &[&str]) -> GroupBy {
        GroupBy::Labels(names.iter().map(|s| s.to_string()).collect())
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    /// Alertmanager's `dispatch/route_test.go` `TestRouteMatch` tree, written the same way.
    const ALERTMANAGER_TEST_TREE: &str = r#"
route:
  receiver: 'notify-def'
  routes:
  - match:
      owner: 'team-A'
    receiver: 'notify-A'
    routes:
    - match:
        env: 'testing'
      receiver: 'notify-testing'
      group_by: [...]
    - match:
        env: "production"
      receiver: 'notify-productionA'
      group_wait: 1m
      continue: true
    - match_re:
        env: "produ.*"
        job: ".*"
      receiver: 'notify-productionB'
      group_wait: 30s
      group_interval: 5m
      repeat_interval: 1h
      group_by: ['job']
  - match_re:
      owner: 'team-(B|C)'
    group_by: ['foo', 'bar']
    group_wait: 2m
    receiver: 'notify-BC'
  - match:
      group_by: 'role'
    group_by: ['role']
    routes:
    - match:
        env: 'testing'
      receiver: 'notify-testing'
      routes:
      - match:
          wait: 'long'
        group_wait: 2m
"#;

    #[test]
    fn alertmanagers_own_route_match_cases_give_the_same_answers() {
        let tree = route(ALERTMANAGER_TEST_TREE);
        // (labels, receivers, group_by, group_wait, group_interval, repeat_interval) per node
        let all = GroupBy::All;
        let none = group_by(&[]);
        type Alert = &'static [(&'static str, &'static str)];
        type Opts = (&'static str, GroupBy, u64, u64, u64);
        let cases: Vec<(Alert, Vec<Opts>)> = vec![
            (
                &[("owner", "team-A")],
                vec![("notify-A", none.clone(), 30, 300, 14400)],
            ),
            (
                &[("owner", "team-A"), ("env", "unset")],
                vec![("notify-A", none.clone(), 30, 300, 14400)],
            ),
            (
                &[("owner", "team-C")],
                vec![("notify-BC", group_by(&["foo", "bar"]), 120, 300, 14400)],
            ),
            (
                &[("owner", "team-A"), ("env", "testing")],
                vec![("notify-testing", all.clone(), 30, 300, 14400)],
            ),
            (
                &[("owner", "team-A"), ("env", "production")],
                vec![
                    ("notify-productionA", none.clone(), 60, 300, 14400),
                    ("notify-productionB", group_by(&["job"]), 30, 300, 3600),
                ],
            ),
            (
                &[("group_by", "role")],
                vec![("notify-def", group_by(&["role"]), 30, 300, 14400)],
            ),
            (
                &[("env", "testing"), ("group_by", "role")],
                vec![("notify-testing", group_by(&["role"]), 30, 300, 14400)],
            ),
            (
                &[("env", "testing"), ("group_by", "role"), ("wait", "long")],
                vec![("notify-testing", group_by(&["role"]), 120, 300, 14400)],
            ),
        ];
        for (alert, expected) in cases {
            let found: Vec<_> = tree
                .resolve(&labels(alert))
                .into_iter()
                .map(|node| {
                    let o = &node.opts;
                    (
                        o.receiver.0.as_str(),
                        o.group_by.clone(),
                        o.group_wait.get().as_secs(),
                        o.group_interval.get().as_secs(),
                        o.repeat_interval.get().as_secs(),
                    )
                })
                .collect();
            assert_eq!(found, expected, "{alert:?}");
        }
    }

    /// Alertmanager's `doc/examples/simple.yml` tree, and the answers `amtool config routes test`
    /// gives for it (its README: `--verify.receivers=team-X-pager service=database owner=team-X`;
    /// the `routes test` help: `--verify.receivers=team-DB-pager service=database`).
    #[test]
    fn alertmanagers_simple_example_routes_as_amtool_says() {
        let tree = route(
            r#"
route:
  group_by: ['alertname', 'cluster', 'service']
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 3h
  receiver: team-X-mails
  routes:
    - matchers:
        - service=~"foo1|foo2|baz"
      receiver: team-X-mails
      routes:
        - matchers:
            - severity="critical"
          receiver: team-X-pager
    - matchers:
        - service="files"
      receiver: team-Y-mails
      routes:
        - matchers:
            - severity="critical"
          receiver: team-Y-pager
    - matchers:
        - service="database"
      receiver: team-DB-pager
      group_by: [alertname, cluster, database]
      routes:
        - matchers:
            - owner="team-X"
          receiver: team-X-pager
          continue: true
        - matchers:
            - owner="team-Y"
          receiver: team-Y-pager
"#,
        );
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[("service", "database"), ("owner", "team-X")],
                "team-X-pager",
            ),
            (&[("service", "database")], "team-DB-pager"),
            (
                &[("service", "database"), ("owner", "team-Y")],
                "team-Y-pager",
            ),
            (
                &[("service", "foo2"), ("severity", "critical")],
                "team-X-pager",
            ),
            (
                &[("service", "foo2"), ("severity", "warning")],
                "team-X-mails",
            ),
            // anchored: `foo` is not `foo1`
            (&[("service", "foo")], "team-X-mails"),
            (
                &[("service", "files"), ("severity", "critical")],
                "team-Y-pager",
            ),
            (&[("alertname", "x")], "team-X-mails"),
        ];
        for (alert, expected) in cases {
            assert_eq!(receivers(&tree, alert), *expected, "{alert:?}");
        }
        let db = tree.resolve(&labels(&[("service", "database"), ("owner", "team-X")]));
        assert_eq!(
            db[0].opts.group_by,
            group_by(&["alertname", "cluster", "database"])
        );
        assert_eq!(db[0].opts.repeat_interval, secs(3 * 3600));
    }

    /// The `<route>` example of Alertmanager's `docs/configuration.md`, with its comments'
    /// promises as assertions (the two time intervals it names are defined here).
    #[test]
    fn alertmanagers_configuration_docs_example_means_what_its_comments_say() {
        let tree = route(
            r#"
time_intervals:
  - name: offhours
    time_intervals: [{times: [{start_time: '00:00', end_time: '09:00'}, {start_time: '17:00', end_time: '24:00'}]}]
  - name: holidays
    time_intervals: [{months: [december], days_of_month: ['25']}]
route:
  receiver: 'default-receiver'
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
  group_by: [cluster, alertname]
  routes:
  - receiver: 'database-pager'
    group_wait: 10s
    matchers:
    - service=~"mysql|cassandra"
  - receiver: 'frontend-pager'
    group_by: [product, environment]
    matchers:
    - team="frontend"
  - receiver: 'dev-pager'
    matchers:
      - service="inhouse-service"
    mute_time_intervals:
      - offhours
      - holidays
    continue: true
  - receiver: 'on-call-pager'
    matchers:
      - service="inhouse-service"
    active_time_intervals:
      - offhours
      - holidays
"#,
        );
        let resolve = |alert: &[(&str, &str)]| tree.resolve(&labels(alert));
        let mysql = resolve(&[("service", "mysql")]);
        assert_eq!(mysql[0].opts.receiver.0, "database-pager");
        assert_eq!(mysql[0].opts.group_wait, secs(10));
        assert_eq!(mysql[0].opts.group_by, group_by(&["cluster", "alertname"]));
        let frontend = resolve(&[("team", "frontend")]);
        assert_eq!(frontend[0].opts.receiver.0, "frontend-pager");
        assert_eq!(
            frontend[0].opts.group_by,
            group_by(&["product", "environment"])
        );
        assert_eq!(frontend[0].opts.group_wait, secs(30));
        assert_eq!(
            receivers(&tree, &[("service", "mysqld")]),
            "default-receiver"
        );
        let inhouse = resolve(&[("service", "inhouse-service")]);
        assert_eq!(
            receivers(&tree, &[("service", "inhouse-service")]),
            "dev-pager,on-call-pager"
        );
        // in office hours the dev pager sends and on-call does not; off hours the reverse
        let office: Timestamp = "2026-03-02T10:00:00Z".parse().unwrap();
        let night: Timestamp = "2026-03-02T22:00:00Z".parse().unwrap();
        let christmas_noon: Timestamp = "2026-12-25T12:00:00Z".parse().unwrap();
        assert_eq!(
            (inhouse[0].is_muted(office), inhouse[1].is_muted(office)),
            (false, true)
        );
        assert_eq!(
            (inhouse[0].is_muted(night), inhouse[1].is_muted(night)),
            (true, false)
        );
        assert_eq!(
            (
                inhouse[0].is_muted(christmas_noon),
                inhouse[1].is_muted(christmas_noon)
            ),
            (true, false)
        );
    }

    /// `amtool`'s `cli/test_routing_test.go` cases: `continue` order follows the tree.
    #[test]
    fn amtool_routing_test_cases_give_the_same_receivers() {
        let forward = route(
            r#"
route:
  receiver: default
  routes:
    - match_re:
        test: ^[12]$
      receiver: test1
      continue: true
    - match:
        test: 2
      receiver: test2
"#,
        );
        let reverted = route(
            r#"
route:
  receiver: default
  routes:
    - match:
        test: 2
      receiver: test2
      continue: true
    - match_re:
        test: ^[12]$
      receiver: test1
      continue: true
"#,
        );
        assert_eq!(receivers(&forward, &[("test", "1")]), "test1");
        assert_eq!(receivers(&forward, &[("test", "2")]), "test1,test2");
        assert_eq!(receivers(&reverted, &[("test", "2")]), "test2,test1");
        assert_eq!(receivers(&forward, &[("test", "volovina")]), "default");
    }

    #[test]
    fn continue_nesting_and_fallback_to_the_parent() {
        let tree = route(
            r#"
route:
  receiver: dba
  group_by: [alertname, source]
  routes:
    - matchers: ['owner=~"ORDERS|ORDERS_.*"']
      receiver: orders
      continue: true
      routes:
        - matchers: [severity="critical"]
          receiver: orders-pager
        - matchers: [env="prod"]
          receiver: orders-prod
          continue: true
        - matchers: [env=~"prod|staging"]
          receiver: orders-prod-staging
    - matchers: [severity="critical"]
      receiver: oncall
    - matchers: [alertname=deadlock]
      receiver: deadlocks
"#,
        );
        let cases: &[(&[(&str, &str)], &str)] = &[
            // no child matches: the root takes it
            (&[("owner", "BILLING")], "dba"),
            // first match wins without continue
            (
                &[
                    ("owner", "BILLING"),
                    ("severity", "critical"),
                    ("alertname", "deadlock"),
                ],
                "oncall",
            ),
            // a child with continue lets later siblings match too; its own children decide
            // where it goes, and the parent is used only when none of them matched
            (&[("owner", "ORDERS")], "orders"),
            (
                &[("owner", "ORDERS_EU"), ("alertname", "deadlock")],
                "orders,deadlocks",
            ),
            (
                &[("owner", "ORDERS"), ("severity", "critical")],
                "orders-pager,oncall",
            ),
            (
                &[("owner", "ORDERS"), ("env", "prod")],
                "orders-prod,orders-prod-staging",
            ),
            (
                &[("owner", "ORDERS"), ("env", "staging")],
                "orders-prod-staging",
            ),
            // anchoring: ORDERSX matches neither alternative
            (&[("owner", "ORDERSX")], "dba"),
        ];
        for (alert, expected) in cases {
            assert_eq!(receivers(&tree, alert), *expected, "{alert:?}");
        }
    }

    #[test]
    fn options_are_inherited_and_overridden() {
        let tree = route(
            r#"
route:
  receiver: dba
  group_by: [alertname]
  group_wait: 10s
  repeat_interval: 1h
  routes:
    - matchers: [team=a]
      group_by: ['...']
      group_interval: 1m
      routes:
        - matchers: [env=prod]
          receiver: a-prod
        - matchers: [env=dev]
          group_by: [instance]
        - matchers: [env=test]
          group_by: []
    - matchers: [team=b]
      receiver: b
"#,
        );
        let opts = |alert: &[(&str, &str)]| tree.resolve(&labels(alert))[0].opts.clone();
        let root = opts(&[]);
        assert_eq!(
            root,
            RouteOpts {
                receiver: ReceiverName("dba".into()),
                group_by: group_by(&["alertname"]),
                group_wait: secs(10),
                group_interval: DEFAULT_GROUP_INTERVAL,
                repeat_interval: secs(3600),
            }
        );
        // `...` and a timer on the parent reach the grandchild; the receiver comes from the root
        let prod = opts(&[("team", "a"), ("env", "prod")]);
        assert_eq!(
            prod,
            RouteOpts {
                receiver: ReceiverName("a-prod".into()),
                group_by: GroupBy::All,
                group_wait: secs(10),
                group_interval: secs(60),
                repeat_interval: secs(3600),
            }
        );
        assert_eq!(opts(&[("team", "a")]).group_by, GroupBy::All);
        assert_eq!(opts(&[("team", "a")]).receiver.0, "dba");
        // a list of its own replaces `...`; an explicit empty list means no grouping labels
        assert_eq!(
            opts(&[("team", "a"), ("env", "dev")]).group_by,
            group_by(&["instance"])
        );
        assert_eq!(
            opts(&[("team", "a"), ("env", "test")]).group_by,
            group_by(&[])
        );
        assert_eq!(opts(&[("team", "b")]).group_by, group_by(&["alertname"]));
        assert_eq!(
            opts(&[("team", "b")]).group_interval,
            DEFAULT_GROUP_INTERVAL
        );
    }

    #[test]
    fn keys_join_matchers_from_the_root_and_ids_add_the_sibling_index() {
        let tree = route(
            r#"
route:
  receiver: r
  routes:
    - matchers: ['owner="team-A"']
      routes:
        - match: {env: testing}
    - matchers: ['owner="team-A"']
"#,
        );
        let root = tree.root();
        assert_eq!(root.key(), "{}");
        assert_eq!(root.id(), "{}");
        let first = &root.routes[0];
        assert_eq!(
            first.routes[0].key(),
            r#"{}/{owner="team-A"}/{env="testing"}"#
        );
        assert_eq!(
            first.routes[0].id(),
            r#"{}/{owner="team-A"}/0/{env="testing"}/0"#
        );
        // identical siblings share a key but not an id
        assert_eq!(root.routes[1].key(), first.key());
        assert_ne!(root.routes[1].id(), first.id());
    }

    #[test]
    fn time_intervals_mute_but_do_not_change_matching() {
        let tree = route(
            r#"
time_intervals:
  - name: weekend
    time_intervals: [{weekdays: [saturday, sunday]}]
  - name: office
    time_intervals: [{times: [{start_time: '09:00', end_time: '17:00'}]}]
route:
  receiver: dba
  routes:
    - matchers: [team=a]
      receiver: a
      mute_time_intervals: [weekend]
      routes:
        - matchers: [env=prod]
    - matchers: [team=a]
      receiver: never
    - matchers: [team=b]
      receiver: b
      active_time_intervals: [office]
"#,
        );
        let saturday_noon: Timestamp = "2026-03-07T12:00:00Z".parse().unwrap();
        let monday_night: Timestamp = "2026-03-02T22:00:00Z".parse().unwrap();
        let node = |alert: &[(&str, &str)]| tree.resolve(&labels(alert))[0];
        // still matched, still stops the sibling
        assert_eq!(receivers(&tree, &[("team", "a")]), "a");
        assert!(node(&[("team", "a")]).is_muted(saturday_noon));
        assert!(!node(&[("team", "a")]).is_muted(monday_night));
        // not inherited by the child
        assert!(!node(&[("team", "a"), ("env", "prod")]).is_muted(saturday_noon));
        assert!(!node(&[("team", "b")]).is_muted(saturday_noon));
        assert!(node(&[("team", "b")]).is_muted(monday_night));
        assert!(!tree.root().is_muted(saturday_noon));
    }
}
