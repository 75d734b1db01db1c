//! Routing throughput: 100,000 alerts through a tree of 50 routes with regex matchers.
//!
//! Run with `cargo bench --bench routing`. The tree is read from YAML by the real config code,
//! so every regex is compiled once, as in `poll` and `run`; the timed loop is
//! `Route::resolve` alone. Prints the median of several runs.

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use dbalert::alert::Labels;

const ALERTS: usize = 100_000;
const TEAMS: usize = 10;
const RUNS: usize = 9;

/// Ten team routes, each with four children: 50 routes under the root, every one with a regex.
fn config() -> String {
    let mut receivers = String::from("receivers:\n  dba: {stdout: {}}\n");
    let mut routes = String::new();
    for team in 0..TEAMS {
        for suffix in ["", "-pager", "-prod", "-capacity", "-ops"] {
            receivers.push_str(&format!("  team{team}{suffix}: {{stdout: {{}}}}\n"));
        }
        routes.push_str(&format!(
            r#"    - matchers: ['owner=~"TEAM{team}|TEAM{team}_.*"']
      receiver: team{team}
      routes:
        - matchers: ['severity="critical"', 'alertname=~"deadlock|tablespace_.*"']
          receiver: team{team}-pager
        - matchers: ['env=~"prod|prod-.*"']
          receiver: team{team}-prod
          continue: true
        - matchers: ['alertname=~".*_full"']
          receiver: team{team}-capacity
        - matchers: ['source!~"dev|test"', 'instance=~"db[0-9]+"']
          receiver: team{team}-ops
"#
        ));
    }
    format!(
        "{receivers}route:\n  receiver: dba\n  group_by: [alertname, source]\n  routes:\n{routes}"
    )
}

/// Deterministic alerts with seven labels; about one in eleven belongs to no team.
fn alerts() -> Vec<Labels> {
    let mut rng = fastrand::Rng::with_seed(3);
    let pick =
        |rng: &mut fastrand::Rng, values: &[&str]| values[rng.usize(..values.len())].to_owned();
    (0..ALERTS)
        .map(|i| {
            let team = rng.usize(..=TEAMS);
            let owner = match (team, rng.bool()) {
                (TEAMS, _) => "BILLING".to_owned(),
                (team, true) => format!("TEAM{team}"),
                (team, false) => format!("TEAM{team}_APP"),
            };
            let labels = [
                (
                    "alertname",
                    pick(
                        &mut rng,
                        &[
                            "deadlock",
                            "tablespace_full",
                            "archive_full",
                            "long_query",
                            "session_limit",
                        ],
                    ),
                ),
                (
                    "source",
                    pick(&mut rng, &["prod", "billing", "dev", "test"]),
                ),
                ("owner", owner),
                ("severity", pick(&mut rng, &["critical", "warning", "info"])),
                (
                    "env",
                    pick(&mut rng, &["prod", "prod-eu", "staging", "dev"]),
                ),
                ("instance", format!("db{}", rng.u8(..40))),
                ("sid", i.to_string()),
            ];
            labels.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
        })
        .collect()
}

fn main() {
    let started = Instant::now();
    let config = dbalert::settings::parse(&config(), Path::new("bench.yaml"), Box::new(|_| None))
        .expect("the benchmark config is valid");
    let route = config.route.expect("the benchmark config has a route");
    let load = started.elapsed();
    let routes = count(route.root()) - 1;
    let alerts = alerts();

    let mut rates = Vec::with_capacity(RUNS);
    let mut deliveries = 0;
    for _ in 0..RUNS {
        let start = Instant::now();
        deliveries = 0;
        for alert in &alerts {
            deliveries += black_box(route.resolve(black_box(alert))).len();
        }
        rates.push(ALERTS as f64 / start.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    let median = rates[RUNS / 2];
    println!("routing: {ALERTS} alerts through {routes} routes with regex matchers");
    println!(
        "  config load (regexes compiled once): {:.1} ms",
        load.as_secs_f64() * 1e3
    );
    println!(
        "  receivers per alert: {:.2} on average",
        deliveries as f64 / ALERTS as f64
    );
    println!(
        "  median of {RUNS} runs: {:.0} alerts/s ({:.0} ns per alert; min {:.0}, max {:.0} alerts/s)",
        median,
        1e9 / median,
        rates[0],
        rates[RUNS - 1]
    );
}

fn count(node: &dbalert::route::RouteNode) -> usize {
    1 + node.routes.iter().map(count).sum::<usize>()
}
