//! State stores for kstreams-rs.
//!
//! Stores work on bytes; typed views ([`typed::TypedKeyValueStore`] and its window and
//! session siblings) put serdes on top. Implementations:
//! - [`memory::InMemoryKeyValueStore`]: an ordered map, for small state and tests;
//! - [`rocks::RocksDbKeyValueStore`]: RocksDB, one instance per task and store under
//!   `<state.dir>/<application.id>/<task id>/rocksdb/<store>`, memory bounded per application
//!   instance by a shared block cache and write-buffer manager ([`rocks::RocksDbMemory`]).
//!
//! Every implementation passes the same conformance suite (`tests/key_value.rs`): ordering of
//! range and prefix scans (unsigned byte order), inclusive range ends, tombstones.
//!
//! [`logging::ChangeLoggingKeyValueStore`] wraps any of them and writes every change to the
//! store's changelog topic `<application.id>-<store>-changelog` (partition = task partition,
//! compacted, created by the runtime at start-up). Builders log by default.
//!
//! Commit and restore. A RocksDB store holds the writes made since its last commit in
//! memory (reads see them over RocksDB). The runtime calls [`StateStore::commit`] once the
//! task's offsets (at-least-once) or its transaction (exactly-once) are committed; the store
//! then applies the writes in one atomic RocksDB batch together with the changelog offset
//! before which it holds every change (window and session stores add their stream time). The
//! batch goes through RocksDB's write-ahead log, not synced: it survives a killed process,
//! and the changelog restores what a crashed machine loses. There is no checkpoint file: the
//! committed offset lives in the store itself, and [`StateStore::committed_offset`] reads it
//! back. A close drops the writes not committed, so a store on disk is at its last commit.
//!
//! When a task starts, the runtime restores each logged RocksDB store from its committed
//! offset on, through [`StateStore::restore_batch`] (restored records go straight to
//! RocksDB), committing each batch with the offset after it. A task directory that already
//! existed but has a logged RocksDB store without a readable committed offset, or with one
//! outside the changelog's offsets, is wiped and restored from the changelog's start.
//! In-memory stores keep nothing across restarts: they restore their whole changelog
//! whenever their task is created.
//!
//! Window and session stores ([`window::SegmentedWindowStore`],
//! [`session::SegmentedSessionStore`]) are facades over one segmented store ([`segmented`]),
//! generic over the key schema that lays out their binary keys (Kafka Streams' window and
//! session key schemas). It keeps entries in time segments, in memory or in RocksDB (a column
//! family per segment), dropped whole when they fall out of retention; their builders
//! ([`WindowStoreBuilder`], [`SessionStoreBuilder`]) ask for `compact,delete` changelogs with
//! the store's retention plus one day. Suites: `tests/window.rs`, `tests/session.rs`, and
//! `tests/format.rs` for the bytes they leave in changelogs and on disk.
//!
//! [`StateStore::commit`]: streams_core::store::StateStore::commit
//! [`StateStore::committed_offset`]: streams_core::store::StateStore::committed_offset
//! [`StateStore::restore_batch`]: streams_core::store::StateStore::restore_batch

#![deny(missing_docs)]

pub mod builder;
pub mod committed;
mod delegate;
mod key_schema;
pub mod key_value;
pub mod logging;
pub mod memory;
pub mod query;
pub mod rocks;
mod rocks_instance;
mod rocks_segments;
pub mod segmented;
mod segments;
pub mod session;
mod staging;
pub mod timestamped;
pub mod typed;
pub mod window;

pub use builder::{KeyValueStoreBuilder, SessionStoreBuilder, StoreKind, WindowStoreBuilder};
pub use key_value::{KeyValueStore, KvEntry, KvIter};
pub use segmented::Retention;
pub use session::{SegmentedSessionStore, SessionStore};
pub use window::{SegmentedWindowStore, WindowStore};
