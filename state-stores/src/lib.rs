//! State stores for kstreams-rs.
//!
//! Stores work on bytes; typed views ([`typed::TypedKeyValueStore`]) put serdes on top.
//! Implementations:
//! - [`memory::InMemoryKeyValueStore`]: an ordered map, for small state and tests;
//! - [`rocks::RocksDbKeyValueStore`]: RocksDB, one instance per task and store under
//!   `<state.dir>/<application.id>/<task id>/rocksdb/<store>`, write-ahead log off (the
//!   changelog topic is the log), memory bounded per application instance by a shared block
//!   cache and write-buffer manager ([`rocks::RocksDbMemory`]).
//!
//! Every implementation passes the same conformance suite (`tests/key_value.rs`): ordering of
//! range and prefix scans (unsigned byte order), inclusive range ends, tombstones.
//!
//! [`logging::ChangeLoggingKeyValueStore`] wraps any of them and writes every change to the
//! store's changelog topic `<application.id>-<store>-changelog` (partition = task partition,
//! compacted, created by the runtime at start-up). Builders log by default.
//!
//! The runtime restores logged stores from their changelogs through
//! `StateStore::restore_batch` (from the task's checkpoint when the local state is known
//! good).
//!
//! Window and session stores ([`window::SegmentedWindowStore`],
//! [`session::SegmentedSessionStore`]) keep their entries in time segments
//! ([`segmented`]), in memory or in RocksDB, dropped whole when they fall out of retention;
//! their builders ([`WindowStoreBuilder`], [`SessionStoreBuilder`]) ask for `compact,delete`
//! changelogs with the store's retention plus one day. Suites: `tests/window.rs`,
//! `tests/session.rs`.

#![deny(missing_docs)]

pub mod builder;
mod delegate;
mod key_schema;
pub mod key_value;
pub mod logging;
pub mod memory;
pub mod rocks;
mod rocks_instance;
mod rocks_segments;
pub mod segmented;
mod segments;
pub mod session;
mod staging;
pub mod typed;
pub mod window;

pub use builder::{KeyValueStoreBuilder, SessionStoreBuilder, StoreKind, WindowStoreBuilder};
pub use key_value::{KeyValueStore, KvEntry, KvIter};
pub use segmented::Retention;
pub use session::{SegmentedSessionStore, SessionStore};
pub use window::{SegmentedWindowStore, WindowStore};
