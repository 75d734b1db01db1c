//! Seeded mutations of the shipped configs through `config::parse_bytes`, in process: whatever
//! the bytes, loading ends in a config or in errors that each carry `FILE:LINE:COLUMN`, never in
//! a panic, a hang or a runaway allocation. The seed is fixed (`DBALERT_FUZZ_SEED` picks
//! another), so a failure reproduces; its message holds the mutated text.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use dbalert::config::{self, References};
use dbalert::settings::{self, ConfigError};

/// Mutated configs checked per run, spread over the shipped files.
const CASES: usize = 400;
/// The longest one load may take (debug build, a loaded CI machine).
const TIME_LIMIT: Duration = Duration::from_secs(10);
/// The most the process may hold after a load: the caps on files, templates and YAML keep a
/// load to a few megabytes, so this is only passed by something unbounded.
const RSS_LIMIT_BYTES: u64 = 1 << 30;

/// What a config may hold in place of a value: other types, edge values, references, syntax.
const VALUES: &[&str] = &[
    "[]",
    "{}",
    "~",
    "''",
    "0",
    "-1",
    "0s",
    "1h1h1h",
    "true",
    "99999999999999999999",
    "[a, [b, {c: d}]]",
    "${file:/dev/zero}",
    "${env:UNSET}",
    "${vault:x}",
    "&anchor x",
    "*nowhere",
    "\"\\u202Eevil\"",
    "'{{ row.x | uper }}'",
    "'{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}'",
    "\"a\\nb\"",
    "\t",
    ": :",
    "- - -",
];

fn shipped_configs() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("alerts.yaml")];
    for entry in std::fs::read_dir(root.join("examples")).unwrap() {
        let file = entry.unwrap().path().join("alerts.yaml");
        if file.is_file() {
            files.push(file);
        }
    }
    files.sort();
    files
}

/// One mutation of `bytes`, chosen and placed by `rng`.
fn mutate(rng: &mut fastrand::Rng, bytes: &mut Vec<u8>) {
    let lines: Vec<(usize, usize)> = line_spans(bytes);
    let (start, end) = lines[rng.usize(..lines.len())];
    match rng.u8(..6) {
        // A byte flipped, anywhere: not UTF-8, not YAML, a wrong indent.
        0 if !bytes.is_empty() => {
            let at = rng.usize(..bytes.len());
            bytes[at] = rng.u8(..);
        }
        // A run of bytes gone.
        1 if !bytes.is_empty() => {
            let at = rng.usize(..bytes.len());
            let len = rng.usize(1..=40).min(bytes.len() - at);
            bytes.drain(at..at + len);
        }
        // A line twice: a duplicate key, or a list item more.
        2 => {
            let line = bytes[start..end].to_vec();
            bytes.splice(end..end, line);
        }
        // A line gone: a missing key, a broken block.
        3 => {
            bytes.drain(start..end);
        }
        // A value of another type.
        4 => {
            let line = &bytes[start..end];
            let at = line
                .windows(2)
                .position(|w| w == b": ")
                .map_or(end, |i| start + i + 2);
            let value = VALUES[rng.usize(..VALUES.len())].as_bytes();
            let newline = bytes[at..end].ends_with(b"\n");
            let mut replacement = value.to_vec();
            if newline {
                replacement.push(b'\n');
            }
            bytes.splice(at..end, replacement);
        }
        // A line moved to another indent.
        _ => {
            let depth = rng.usize(..8);
            bytes.splice(start..start, std::iter::repeat_n(b' ', depth));
        }
    }
}

/// The byte ranges of the lines of `bytes`, each with its line break.
fn line_spans(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = 0;
    for (i, byte) in bytes.iter().enumerate() {
        if *byte == b'\n' {
            spans.push((start, i + 1));
            start = i + 1;
        }
    }
    spans.push((start, bytes.len()));
    spans
}

/// Words of the libraries underneath that mean nothing to someone writing a config.
const JARGON: &[&str] = &[
    "<input>",
    "DuplicateKeyPolicy",
    "Options",
    "budget",
    "Option<",
    "expected struct",
    "expected u32",
];

/// Every error names a position, as `FILE:LINE:COLUMN:` with both at least 1, in words a user
/// knows.
fn assert_positioned(file: &Path, error: &ConfigError, input: &[u8]) {
    let text = error.to_string();
    let context = || format!("{text}\n--- input:\n{}", String::from_utf8_lossy(input));
    for word in JARGON {
        assert!(!text.contains(word), "`{word}` in: {}", context());
    }
    let file = file.display();
    match error {
        ConfigError::Syntax { position, .. } => {
            assert!(position.line >= 1 && position.column >= 1, "{}", context());
            let want = format!("{file}:{}:{}: ", position.line, position.column);
            assert!(text.starts_with(&want), "{}", context());
        }
        ConfigError::Invalid { problems, .. } => {
            assert!(!problems.is_empty(), "{}", context());
            for p in problems {
                assert!(p.line >= 1 && p.column >= 1, "{}", context());
                let want = format!("{file}:{}:{}: {}: ", p.line, p.column, p.path);
                assert!(text.contains(&want), "{}", context());
            }
        }
        other => panic!("parsing cannot fail with {other}: {}", context()),
    }
}

/// The process's resident memory, from /proc.
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// Loads `bytes` on its own thread, so that a hang fails the test instead of stalling it;
/// `None` when the load panicked or did not finish in time.
fn load(file: &Path, bytes: Vec<u8>) -> Option<Result<(), ConfigError>> {
    let (done, result) = mpsc::channel();
    let file = file.to_owned();
    std::thread::spawn(move || {
        // Every reference resolves, so that mutations reach past interpolation.
        let env: config::EnvLookup =
            Box::new(|_| Some("https://hooks.slack.com/services/T0/B0/fuzz".to_owned()));
        let outcome = settings::parse_bytes(&bytes, &file, env, References::Required).map(drop);
        let _ = done.send(outcome);
    });
    result.recv_timeout(TIME_LIMIT).ok()
}

#[test]
fn mutated_configs_load_or_fail_with_positions() {
    let started = Instant::now();
    let files = shipped_configs();
    assert!(files.len() >= 3, "{files:?}");
    let seed = std::env::var("DBALERT_FUZZ_SEED").map_or(11, |s| s.parse().unwrap());
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut failed = 0;
    for case in 0..CASES {
        let file = &files[case % files.len()];
        let mut bytes = std::fs::read(file).unwrap();
        for _ in 0..rng.usize(1..=3) {
            mutate(&mut rng, &mut bytes);
        }
        let case_started = Instant::now();
        let Some(outcome) = load(file, bytes.clone()) else {
            panic!(
                "case {case}: the load panicked or hung on:\n{}",
                String::from_utf8_lossy(&bytes)
            );
        };
        if let Err(error) = outcome {
            failed += 1;
            assert_positioned(file, &error, &bytes);
        }
        assert!(
            case_started.elapsed() < TIME_LIMIT,
            "case {case} took {:?}",
            case_started.elapsed()
        );
        assert!(
            rss_bytes() < RSS_LIMIT_BYTES,
            "case {case}: {} bytes",
            rss_bytes()
        );
    }
    // Most mutations break something; if none did, the mutations are not reaching the loader.
    assert!(failed > CASES / 2, "only {failed} of {CASES} failed");
    eprintln!(
        "{CASES} mutated configs, {failed} refused, in {:?}",
        started.elapsed()
    );
}
