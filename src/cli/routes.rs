//! `dbalert routes`: where an alert with given labels goes (`routes test`), and the routing tree
//! drawn (`routes show`), as `amtool config routes` does for Alertmanager.

use std::fmt::Write;

use anyhow::anyhow;
use clap::{Args, Subcommand};

use super::{Cli, Failure, Outcome, load_config_with};
use crate::alert::Labels;
use crate::config::References;
use crate::route::{GroupBy, MatchOp, Route, RouteNode, parse};

#[derive(Debug, Args)]
pub struct RoutesArgs {
    #[command(subcommand)]
    pub command: Option<RoutesCommand>,
}

#[derive(Debug, Subcommand)]
pub enum RoutesCommand {
    /// Print the receivers an alert with these labels goes to, comma-separated in match order.
    Test(TestArgs),
    /// Draw the routing tree with each route's matchers, receiver, continue and group_by (the
    /// default).
    Show,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// The alert's labels; quote a value that holds a comma: owner="A,B".
    #[arg(value_name = "LABEL=VALUE")]
    pub labels: Vec<String>,
    /// Exit 1 unless the receivers are exactly these, comma-separated, in match order.
    #[arg(long, value_name = "RECEIVERS")]
    pub verify: Option<String>,
    /// Also draw the path the alert takes through the tree.
    #[arg(long)]
    pub tree: bool,
}

pub fn run(cli: &Cli, args: &RoutesArgs) -> Result<Outcome, Failure> {
    // Routing needs labels and receiver names, not webhooks: no secret has to be set.
    let config = load_config_with(cli, References::Deferred)?;
    let route = config.route.as_ref().ok_or_else(|| {
        Failure::usage(anyhow!(
            "{} has no `route:` section; add one with at least `receiver: NAME`",
            config.file.display()
        ))
    })?;
    match &args.command {
        Some(RoutesCommand::Test(test)) => run_test(route, test),
        Some(RoutesCommand::Show) | None => {
            out!("Routing tree:\n{}", draw(&show(route.root())));
            Ok(Outcome::Done)
        }
    }
}

fn run_test(route: &Route, args: &TestArgs) -> Result<Outcome, Failure> {
    let labels = parse_labels(&args.labels).map_err(Failure::usage)?;
    let handling = route.resolve(&labels);
    if args.tree {
        outln!(
            "Matching routes:\n{}",
            draw(&matching(route.root(), &labels, &handling))
        );
    }
    let found = handling
        .iter()
        .map(|node| node.opts.receiver.0.as_str())
        .collect::<Vec<_>>()
        .join(",");
    outln!("{found}");
    if let Some(expected) = &args.verify {
        let expected = expected
            .split(',')
            .map(str::trim)
            .collect::<Vec<_>>()
            .join(",");
        if expected != found {
            return Err(Failure::failed(anyhow!(
                "expected receivers `{expected}`, but the alert goes to `{found}`"
            )));
        }
    }
    Ok(Outcome::Done)
}

/// Reads `LABEL=VALUE` arguments with the matcher syntax, as `amtool` does, so that
/// `owner="A,B"` and `owner=A` both work.
fn parse_labels(args: &[String]) -> anyhow::Result<Labels> {
    let mut labels = Labels::new();
    for arg in args {
        let matcher =
            parse::matcher(arg).map_err(|err| anyhow!("`{arg}` is not LABEL=VALUE: {err}"))?;
        if matcher.op() != MatchOp::Equal {
            return Err(anyhow!(
                "`{arg}` is a matcher, not a label; give labels as LABEL=VALUE"
            ));
        }
        labels.insert(matcher.name().to_owned(), matcher.value().to_owned());
    }
    Ok(labels)
}

/// A line of a drawn tree and the branches below it.
struct Branch {
    text: String,
    children: Vec<Branch>,
}

/// How a node is named in a drawing: its matchers, or `default-route` for the root.
fn node_name(node: &RouteNode) -> String {
    if node.matchers.is_empty() {
        "default-route".to_owned()
    } else {
        node.matchers.to_string()
    }
}

/// The whole tree, every node with its effective options.
fn show(node: &RouteNode) -> Branch {
    let mut text = node_name(node);
    if node.continue_matching {
        text.push_str("  continue: true");
    }
    let _ = write!(text, "  receiver: {}", node.opts.receiver);
    let group_by = match &node.opts.group_by {
        GroupBy::All => "...".to_owned(),
        GroupBy::Labels(names) => names.join(", "),
    };
    let _ = write!(text, "  group_by: [{group_by}]");
    for (key, intervals) in [
        ("mute_time_intervals", &node.mute_time_intervals),
        ("active_time_intervals", &node.active_time_intervals),
    ] {
        if !intervals.is_empty() {
            let names: Vec<&str> = intervals.iter().map(|i| i.name.as_str()).collect();
            let _ = write!(text, "  {key}: [{}]", names.join(", "));
        }
    }
    Branch {
        text,
        children: node.routes.iter().map(show).collect(),
    }
}

/// The nodes an alert passes through, with the receiver on those that handle it.
fn matching(node: &RouteNode, labels: &Labels, handling: &[&RouteNode]) -> Branch {
    let mut text = node_name(node);
    if handling.iter().any(|h| std::ptr::eq(*h, node)) {
        let _ = write!(text, "  receiver: {}", node.opts.receiver);
    }
    let mut children = Vec::new();
    for child in &node.routes {
        if child.matchers.matches(labels) {
            children.push(matching(child, labels, handling));
            if !child.continue_matching {
                break;
            }
        }
    }
    Branch { text, children }
}

/// Draws a tree with box-drawing characters, one node per line.
fn draw(root: &Branch) -> String {
    fn children(out: &mut String, branch: &Branch, prefix: &str) {
        for (i, child) in branch.children.iter().enumerate() {
            let last = i + 1 == branch.children.len();
            let (joint, indent) = if last {
                ("└── ", "    ")
            } else {
                ("├── ", "│   ")
            };
            let _ = writeln!(out, "{prefix}{joint}{}", child.text);
            children(out, child, &format!("{prefix}{indent}"));
        }
    }
    let mut out = format!("{}\n", root.text);
    children(&mut out, root, "");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::testing::route;

    const TREE: &str = r#"
route:
  receiver: dba
  group_by: [alertname, source]
  routes:
    - matchers: ['owner=~"ORDERS|ORDERS_.*"']
      receiver: orders
      continue: true
      routes:
        - matchers: [severity=critical]
          receiver: orders-pager
    - matchers: [severity=critical]
      receiver: oncall
      group_by: ['...']
"#;

    #[test]
    fn show_draws_every_route_with_its_options() {
        let tree = route(TREE);
        assert_eq!(
            draw(&show(tree.root())),
            "default-route  receiver: dba  group_by: [alertname, source]\n\
             ├── {owner=~\"ORDERS|ORDERS_.*\"}  continue: true  receiver: orders  group_by: [alertname, source]\n\
             │   └── {severity=\"critical\"}  receiver: orders-pager  group_by: [alertname, source]\n\
             └── {severity=\"critical\"}  receiver: oncall  group_by: [...]\n"
        );
    }

    #[test]
    fn the_matching_tree_shows_the_path_and_who_handles_the_alert() {
        let tree = route(TREE);
        let labels = parse_labels(&["owner=ORDERS".into(), "severity=critical".into()]).unwrap();
        let handling = tree.resolve(&labels);
        assert_eq!(
            draw(&matching(tree.root(), &labels, &handling)),
            "default-route\n\
             ├── {owner=~\"ORDERS|ORDERS_.*\"}\n\
             │   └── {severity=\"critical\"}  receiver: orders-pager\n\
             └── {severity=\"critical\"}  receiver: oncall\n"
        );
    }

    #[test]
    fn labels_are_read_like_amtool_reads_them() {
        let labels = parse_labels(&[
            "owner=ORDERS".into(),
            r#"msg="a, b""#.into(),
            "empty=".into(),
        ])
        .unwrap();
        assert_eq!(labels["owner"], "ORDERS");
        assert_eq!(labels["msg"], "a, b");
        assert_eq!(labels["empty"], "");
        let err = parse_labels(&["owner=~ORDERS".into()]).unwrap_err();
        assert!(
            err.to_string().contains("give labels as LABEL=VALUE"),
            "{err}"
        );
        let err = parse_labels(&["owner".into()]).unwrap_err();
        assert!(
            err.to_string().contains("`owner` is not LABEL=VALUE"),
            "{err}"
        );
    }
}
