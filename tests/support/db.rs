//! PostgreSQL for tests: a schema of the test's own on the server that
//! `DBALERT_TEST_POSTGRES_URL` names, dropped when the test ends, even if it fails.
//!
//! Without the variable the PostgreSQL tests are skipped, and say so on stderr; under `CI=true`
//! a missing variable fails them, and so does a server that cannot be reached, always.

use std::io::Write;

use tokio_postgres::{Client, NoTls};

pub struct TestSchema {
    pub name: String,
    /// The server URL with this schema as the search path and the schema's name as the
    /// application name, so that a test can find its source's sessions in pg_stat_activity.
    pub url: String,
    /// An administrative connection with the same search path.
    pub client: Client,
    base_url: String,
}

/// Creates a schema for `test`, or returns `None` after saying why the test is skipped.
pub async fn schema(test: &str) -> Option<TestSchema> {
    let Ok(base_url) = std::env::var("DBALERT_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "DBALERT_TEST_POSTGRES_URL is not set, and CI=true needs the PostgreSQL tests to run; \
             set it to postgres://postgres@127.0.0.1:5432/test"
        );
        // Straight to stderr, not through eprintln!, which the test harness captures and hides.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {test}: set DBALERT_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test) to run it"
        );
        return None;
    };
    let name = format!("dbalert_test_{:016x}", fastrand::u64(..));
    let separator = if base_url.contains('?') { '&' } else { '?' };
    let url =
        format!("{base_url}{separator}options=-c%20search_path%3D{name}&application_name={name}");
    let client = connect(&base_url).await;
    client
        .batch_execute(&format!("CREATE SCHEMA {name}"))
        .await
        .expect("create the test schema");
    client
        .batch_execute(&format!("SET search_path = {name}"))
        .await
        .expect("use the test schema");
    Some(TestSchema {
        name,
        url,
        client,
        base_url,
    })
}

impl TestSchema {
    /// The server URL changed by `edit` (another database, a user with a password).
    pub fn url_with(&self, edit: impl FnOnce(&mut reqwest::Url)) -> String {
        let mut url =
            reqwest::Url::parse(&self.base_url).expect("DBALERT_TEST_POSTGRES_URL is a URL");
        edit(&mut url);
        url.to_string()
    }
}

async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|err| {
            panic!("cannot reach the server in DBALERT_TEST_POSTGRES_URL: {err:?}")
        });
    tokio::spawn(connection);
    client
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        // Drop cannot await, and the test's runtime may be gone: use a runtime of our own, on
        // a thread of its own so that it does not nest in the test's.
        let url = self.base_url.clone();
        // The test's own sessions may still be open (their drivers ran on the test's runtime,
        // which this blocks), some inside a transaction holding locks: end them first.
        let drop_schema = format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{name}';
             DROP SCHEMA IF EXISTS {name} CASCADE",
            name = self.name
        );
        let outcome = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                let (client, connection) = tokio_postgres::connect(&url, NoTls).await?;
                let driver = tokio::spawn(connection);
                let outcome = client.batch_execute(&drop_schema).await;
                drop(client);
                let _ = driver.await;
                outcome
            })
        })
        .join();
        if !matches!(outcome, Ok(Ok(()))) {
            let _ = writeln!(
                std::io::stderr(),
                "could not drop test schema {}: {outcome:?}",
                self.name
            );
        }
    }
}
