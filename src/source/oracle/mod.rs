//! Oracle sources, on the `oracle` crate (ODPI-C). Instant Client is loaded with `dlopen` at
//! the first connection, never linked: a dbalert built with Oracle support runs every other
//! source without it, and an Oracle check on a machine without it fails that check with
//! DPI-1047 and the way to install it.
//!
//! The driver layer here is thin: connect (EZConnect, a TNS alias found through `TNS_ADMIN`,
//! external auth with `"/"` when no user is given, a proxy user written `user[target]`),
//! tag the session, run one query with `:cursor` bound, and read every column as text with its
//! Oracle type. Turning (type, text) into a [`crate::source::Value`] is pure (`value::value_of`) and tested without
//! a database. The crate's calls block, so they run on tokio's blocking pool, one connection
//! per source kept between runs and reopened after an error.
//!
//! AQ queue checks dequeue here too (feature `aq_unstable` of the crate, pinned to 0.6.3, whose
//! pitfalls are avoided by construction): one message per dequeue up to the batch limit, never
//! `dequeue_many` (OCI array dequeue leaks client memory on every call); RAW payloads through
//! the crate's `dequeue`, whose NULL handle on an empty queue ends the batch; object payloads
//! (and `SYS.ALERT_TYPE`) through a PL/SQL block calling `DBMS_AQ.DEQUEUE` ([`aq::ObjectDequeue`]),
//! never through the crate's `Object` payload, which is released twice; never `message_id()`,
//! which frees memory it does not own; the wait always set, since the default is forever; the
//! `Queue`, which is not `Send`, built and dropped inside one blocking call. A batch is dequeued
//! with visibility ON_COMMIT on a connection of its own, which the [`AqTransaction`] keeps until
//! the poll engine commits or rolls it back. Decoding the payloads is pure and lives in [`aq`].
//!
//! Limits of what runs here: no Oracle server or client exists on the build machines, so the
//! connection path is exercised only by the opt-in live tests (`DBALERT_TEST_ORACLE_DSN`).
//!
//! The files: `driver.rs` (the crate's calls, behind the `oracle` feature), `value.rs` (column
//! values), `aq.rs` (AQ payloads and server alerts) and `trace.rs` (deadlock trace files, built
//! without the feature too, for `dbalert deadlock`).

#[cfg(feature = "oracle")]
pub mod aq;
#[cfg(feature = "oracle")]
mod driver;
pub mod trace;
#[cfg(feature = "oracle")]
mod value;

#[cfg(feature = "oracle")]
pub use driver::{AqTransaction, OracleSource, OracleSourceConfig};
