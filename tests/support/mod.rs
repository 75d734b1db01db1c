//! Shared test helpers: the `dbalert` command with a clean environment, and the peers it talks
//! to: the fake Slack webhooks, Web API and Socket Mode endpoint, and the real Alertmanager.

pub mod alertmanager;
pub mod clock;
pub mod connect_proxy;
pub mod db;
pub mod fake_slack;
pub mod fake_slack_api;
pub mod server;
pub mod socket_peer;

use std::path::Path;

/// The real binary, with an environment that cannot leak in from the developer's shell: no
/// config search outside `cwd`, no `DBALERT_*`, no proxy (loopback is not exempt from
/// `HTTPS_PROXY`), no `RUST_LOG`.
pub fn dbalert(cwd: &Path) -> assert_cmd::Command {
    assert_cmd::Command::from_std(dbalert_process(cwd))
}

/// [`dbalert`] as a plain process, for commands that run until they are stopped.
pub fn dbalert_process(cwd: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin!("dbalert"));
    cmd.current_dir(cwd)
        .env("HOME", cwd)
        .env("XDG_CONFIG_HOME", cwd.join(".config"))
        .env("XDG_STATE_HOME", cwd.join(".state"))
        .env_remove("DBALERT_CONFIG")
        .env_remove("DBALERT_WEBHOOK_URL")
        .env_remove("RUST_LOG")
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .env_remove("ALL_PROXY")
        .env_remove("all_proxy");
    cmd
}

/// A fresh directory to run in, with `files` written into it.
pub fn workdir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, contents) in files {
        let path = dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent");
        }
        std::fs::write(path, contents).expect("write fixture");
    }
    dir
}

pub fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn stdout_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}
