//! Windowed stream-stream joins (inner, left, outer): both sides wait in window stores for
//! the other side's records within the join window; a left or outer join emits unmatched
//! records once their window has closed.

use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

use state_stores::typed::{TypedKeyValueStore, TypedWindowStore};
use state_stores::{KeyValueStoreBuilder, StoreKind, WindowStoreBuilder};
use streams_core::processor::{Processor, ProcessorContext, ProcessorError};
use streams_core::serde::{BytesSerde, SharedSerde};
use streams_core::{Record, StreamsError};

use super::stream_joined::{StreamJoinNames, StreamJoined};
use super::{REPARTITION_HINT, lower_join};
use crate::options::Changelogged;
use crate::store_slot::StoreSlot;
use crate::stream::{KStream, PassThrough};

/// `KSTREAM-WINDOWED`: keeps each record of one side of a stream-stream join in that side's
/// window store (duplicates retained) and passes it on.
struct JoinWindow<K, V> {
    store: StoreSlot<TypedWindowStore<K, V>>,
}

impl<K: 'static, V: 'static> JoinWindow<K, V> {
    /// Makes the node that keeps one side's records in `store`.
    fn supplier(store: &str) -> impl Fn() -> Self + Send + Sync + 'static {
        let store = store.to_owned();
        move || JoinWindow {
            store: StoreSlot::new(&store),
        }
    }
}

/// The window store of one side of a stream-stream join: RocksDB, changelogged, duplicates
/// retained.
fn window_store<K: 'static, V: 'static>(
    name: &str,
    retention: Duration,
    window: Duration,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
) -> streams_core::Result<WindowStoreBuilder<K, V>> {
    WindowStoreBuilder::new(
        name,
        StoreKind::RocksDb,
        retention,
        window,
        true,
        key_serde,
        value_serde,
    )
}

impl<K: Clone + 'static, V: Clone + 'static> Processor<K, V, K, V> for JoinWindow<K, V> {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, V>) -> Result<(), ProcessorError> {
        self.store.init(ctx)
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, V>,
        r: Record<K, V>,
    ) -> Result<(), ProcessorError> {
        let store = self.store.get()?;
        // Every record is kept, late ones too (as Kafka Streams): the store's retention drops
        // what is too old to matter.
        store.borrow_mut().put(&r.key, &r.value, r.timestamp)?;
        ctx.forward(r)?;
        Ok(())
    }
}

/// Joins a record of this side with the other side's record (`None` for a left or outer
/// join's unmatched record), oriented this side first.
pub(crate) type StreamJoiner<VThis, VOther, VR> =
    dyn Fn(Option<&VThis>, Option<&VOther>) -> VR + Send + Sync;

/// Which stream-stream join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JoinKind {
    Inner,
    Left,
    Outer,
}

/// The unmatched records of a left or outer stream-stream join, kept until their window
/// closes, in a store shared by both sides. Keys are `timestamp (8 bytes, big-endian) ++ side
/// (0 right, 1 left) ++ key bytes ++ sequence number (8 bytes)`, so a scan in key order goes
/// oldest first, the right side before the left at one timestamp and keys in byte order, as
/// Kafka Streams' outer join store sorts them; records with the same key and time are all
/// kept; values are the record value's bytes.
struct Unmatched<K, VThis, VR> {
    /// This side is the user's left side.
    this_is_left: bool,
    /// This side's unmatched records are kept (left: the left side; outer: both).
    keep_this: bool,
    /// The other side's unmatched records are kept, so a match must remove them.
    other_kept: bool,
    key_serde: SharedSerde<K>,
    this_serde: SharedSerde<VThis>,
    /// Emits an unmatched record of either side once its window closed: (key bytes, is left,
    /// value bytes) -> the key and the joiner's result.
    emit: Arc<EmitUnmatched<K, VR>>,
    store: StoreSlot<TypedKeyValueStore<Vec<u8>, Vec<u8>>>,
    /// Sequence numbers that keep records with the same key and time apart.
    next_seq: Cell<u64>,
}

/// What one side of a left or outer join needs to keep its unmatched records in the shared
/// store and emit them (see [`Unmatched`]).
struct UnmatchedSide<K, VThis, VR> {
    store_name: String,
    key_serde: SharedSerde<K>,
    this_serde: SharedSerde<VThis>,
    emit: Arc<EmitUnmatched<K, VR>>,
}

impl<K, VThis, VR> Clone for UnmatchedSide<K, VThis, VR> {
    fn clone(&self) -> Self {
        UnmatchedSide {
            store_name: self.store_name.clone(),
            key_serde: self.key_serde.clone(),
            this_serde: self.this_serde.clone(),
            emit: self.emit.clone(),
        }
    }
}

/// Turns an unmatched record's key bytes, side (true: left) and value bytes into the key and
/// the joiner's result.
type EmitUnmatched<K, VR> =
    dyn Fn(&[u8], bool, &[u8]) -> Result<(K, VR), ProcessorError> + Send + Sync;

/// The prefix of the unmatched entries of `key` at `timestamp` on one side:
/// `timestamp ++ side ++ key`; an entry of exactly that key is the prefix and 8 bytes of
/// sequence number (a longer key may begin with the same bytes).
fn unmatched_prefix(timestamp: i64, left: bool, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + key.len() + 8);
    out.extend_from_slice(&timestamp.to_be_bytes());
    out.push(u8::from(left));
    out.extend_from_slice(key);
    out
}

/// `KSTREAM-JOINTHIS` / `-OUTERTHIS` / `-JOINOTHER` / `-OUTEROTHER`: joins each record with
/// every record of the other side's window store within the join window, each result
/// timestamped with the later of the two. In a left or outer join a record without a match
/// waits in the shared unmatched store; a later match removes it, and once its window plus
/// grace has closed it is emitted joined with `None`, never earlier. As in Kafka Streams,
/// out-of-order records are never dropped here: they join what the stores still hold, and an
/// unmatched one whose window is already behind stream time is emitted at once.
struct StreamStreamJoin<K, VThis, VOther, VR> {
    /// How far back and ahead of a record of this side the other side's records join.
    back: i64,
    ahead: i64,
    grace: i64,
    joiner: Arc<StreamJoiner<VThis, VOther, VR>>,
    /// The other side's window store.
    other: StoreSlot<TypedWindowStore<K, VOther>>,
    unmatched: Option<Unmatched<K, VThis, VR>>,
}

impl<K, VThis, VOther, VR> StreamStreamJoin<K, VThis, VOther, VR>
where
    K: 'static,
    VThis: 'static,
    VOther: 'static,
    VR: 'static,
{
    /// Makes the processor of one side of a `kind` join (`this_is_left`: of the user's left
    /// stream). It joins the records of `other_store` from `back` before to `ahead` after its
    /// own record, for `grace` after that; a left or outer join keeps unmatched records as
    /// `unmatched` says.
    fn supplier(
        (this_is_left, kind): (bool, JoinKind),
        other_store: &str,
        (back, ahead, grace): (i64, i64, i64),
        joiner: Arc<StreamJoiner<VThis, VOther, VR>>,
        unmatched: Option<UnmatchedSide<K, VThis, VR>>,
    ) -> impl Fn() -> Self + Send + Sync + 'static {
        let other_store = other_store.to_owned();
        move || StreamStreamJoin {
            back,
            ahead,
            grace,
            joiner: joiner.clone(),
            other: StoreSlot::new(&other_store),
            unmatched: unmatched.clone().map(|side| Unmatched {
                this_is_left,
                // A left join keeps the left side's unmatched records, an outer join both's.
                keep_this: this_is_left || kind == JoinKind::Outer,
                other_kept: !this_is_left || kind == JoinKind::Outer,
                key_serde: side.key_serde,
                this_serde: side.this_serde,
                emit: side.emit,
                store: StoreSlot::new(&side.store_name),
                next_seq: Cell::new(0),
            }),
        }
    }
}

impl<K, VThis, VOther, VR> StreamStreamJoin<K, VThis, VOther, VR>
where
    K: Clone + 'static,
    VThis: 'static,
    VR: Clone + 'static,
{
    /// Emits, oldest first, the unmatched records whose window plus grace has closed.
    fn emit_closed_unmatched(
        &self,
        ctx: &mut ProcessorContext<'_, K, VR>,
    ) -> Result<(), ProcessorError> {
        let Some(u) = &self.unmatched else {
            return Ok(());
        };
        let store = u.store.get()?;
        // A record of this side at `ts` can still match until `ts + ahead`, one of the other
        // side until `ts + back` (windows may be asymmetric); it is final once that plus
        // grace is behind stream time. The scan goes up to the later of the two bounds and
        // skips the other side's records still open, in store order, as Kafka Streams does.
        let bound_after = |reach: i64| {
            ctx.stream_time()
                .saturating_sub(reach)
                .saturating_sub(self.grace)
        };
        let (this_bound, other_bound) = (bound_after(self.ahead), bound_after(self.back));
        let bound = this_bound.max(other_bound);
        if bound <= 0 {
            return Ok(());
        }
        let candidates: Vec<(Vec<u8>, Vec<u8>)> = store
            .borrow_mut()
            .bytes()
            .range(None, Some(&bound.to_be_bytes()))?
            .collect::<streams_core::Result<_>>()?;
        for (binary, value) in candidates {
            if binary.len() < 17 {
                continue;
            }
            let timestamp = i64::from_be_bytes(binary[..8].try_into().map_err(|_| "key")?);
            let left = binary[8] == 1;
            let side_bound = if left == u.this_is_left {
                this_bound
            } else {
                other_bound
            };
            if timestamp >= side_bound {
                continue;
            }
            let key_bytes = &binary[9..binary.len() - 8];
            let (key, joined) = (u.emit)(key_bytes, left, &value)?;
            store.borrow_mut().bytes().put(&binary, None)?;
            ctx.forward(Record::new(key, joined, timestamp))?;
        }
        Ok(())
    }
}

impl<K, VThis, VOther, VR> Processor<K, VThis, K, VR> for StreamStreamJoin<K, VThis, VOther, VR>
where
    K: Clone + 'static,
    VThis: 'static,
    VOther: 'static,
    VR: Clone + 'static,
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, VR>) -> Result<(), ProcessorError> {
        self.other.init(ctx)?;
        if let Some(u) = &mut self.unmatched {
            u.store.init(ctx)?;
        }
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, VR>,
        r: Record<K, VThis>,
    ) -> Result<(), ProcessorError> {
        let t = r.timestamp;
        let matches = self
            .other
            .get()?
            .borrow()
            .fetch_range(
                &r.key,
                t.saturating_sub(self.back).max(0),
                t.saturating_add(self.ahead).max(0),
            )?
            .collect::<streams_core::Result<Vec<_>>>()?;
        if let Some(u) = &self.unmatched {
            let unmatched = u.store.get()?;
            let mut key = Vec::new();
            u.key_serde
                .serialize_into(u.store.name(), &r.key, &mut key)
                .map_err(|e| e.to_string())?;
            // As Kafka Streams: a record at stream time first emits the unmatched records
            // whose windows closed, then its own results.
            if t >= ctx.stream_time() {
                self.emit_closed_unmatched(ctx)?;
            }
            if matches.is_empty()
                && u.keep_this
                && t.saturating_add(self.ahead).max(0) < ctx.stream_time()
            {
                // Past its own window (out of order, or a window that ends before the
                // record): nothing can match it any more, so its unmatched result goes out
                // now (as Kafka Streams).
                let joined = (self.joiner)(Some(&r.value), None);
                ctx.forward(r.map_value(|_| joined))?;
                return Ok(());
            }
            if matches.is_empty() {
                if u.keep_this {
                    let mut value = Vec::new();
                    u.this_serde
                        .serialize_into(u.store.name(), &r.value, &mut value)
                        .map_err(|e| e.to_string())?;
                    let seq = u.next_seq.get();
                    u.next_seq.set(seq.wrapping_add(1));
                    let mut entry = unmatched_prefix(t, u.this_is_left, &key);
                    entry.extend_from_slice(&seq.to_be_bytes());
                    unmatched.borrow_mut().bytes().put(&entry, Some(&value))?;
                }
            } else if u.other_kept {
                // The other side's records this one matches are matched now.
                for (t2, _) in &matches {
                    let prefix = unmatched_prefix(*t2, !u.this_is_left, &key);
                    let mut store = unmatched.borrow_mut();
                    let matched: Vec<Vec<u8>> = store
                        .bytes()
                        .prefix_scan(&prefix)?
                        .map(|e| e.map(|(k, _)| k))
                        .filter(|e| e.as_ref().map_or(true, |k| k.len() == prefix.len() + 8))
                        .collect::<streams_core::Result<_>>()?;
                    for entry in matched {
                        store.bytes().put(&entry, None)?;
                    }
                }
            }
        }
        for (t2, other) in matches {
            let joined = (self.joiner)(Some(&r.value), Some(&other));
            ctx.forward(Record {
                key: r.key.clone(),
                value: joined,
                timestamp: t.max(t2),
                headers: r.headers.clone(),
            })?;
        }
        Ok(())
    }
}

impl<K, V> KStream<K, V>
where
    K: Clone + 'static,
    V: Clone + 'static,
{
    pub(crate) fn stream_join<V2, VR>(
        &self,
        other: &KStream<K, V2>,
        joiner: Arc<StreamJoiner<V, V2, VR>>,
        windows: crate::windows::JoinWindows,
        kind: JoinKind,
        joined: StreamJoined<K, V, V2>,
    ) -> KStream<K, VR>
    where
        V2: Clone + 'static,
        VR: Clone + 'static,
    {
        let builder = self.builder.clone();
        let mut inner = builder.borrow_mut();
        // As Kafka Streams: a key-changed side is repartitioned first, through a topic named
        // after the join's given name or else that stream's own node; the join's nodes are
        // named after.
        let key_serde = joined.key_serde.clone().or_else(|| self.key_serde.clone());
        let this_serde = joined
            .value_serde
            .clone()
            .or_else(|| self.value_serde.clone());
        let other_serde = (joined.other_value_serde.clone()).or_else(|| other.value_serde.clone());
        let (this_base, other_base) = joined.repartition_bases(&self.node, &other.node);
        let this_source = self.partitioned_by_key(
            &mut inner,
            &this_base,
            key_serde.clone(),
            this_serde.clone(),
            REPARTITION_HINT,
        );
        let other_source = other.partitioned_by_key(
            &mut inner,
            &other_base,
            key_serde.clone(),
            other_serde.clone(),
            REPARTITION_HINT,
        );
        let StreamJoinNames {
            this_window,
            other_window,
            this_join,
            other_join,
            merge,
            this_store,
            other_store,
            shared_store,
        } = joined.names(&mut inner, kind != JoinKind::Inner, kind == JoinKind::Outer);
        let checked = windows.check();
        let serdes = (key_serde, this_serde, other_serde);
        let logging = joined.logging;
        // A side whose keys changed is repartitioned by the join key first.
        match (checked, serdes) {
            (Err(e), _) => inner.fail(e),
            (Ok((before, after, grace)), (Some(k), Some(v1), Some(v2))) => {
                // `check` refuses windows whose size overflows; the grace may still be huge.
                let size = before + after;
                let retention = Duration::from_millis(size.saturating_add(grace).max(1) as u64);
                let window = Duration::from_millis(size.max(1) as u64);
                let this_window_store =
                    window_store(&this_store, retention, window, k.clone(), v1.clone())
                        .map(|s| if logging { s } else { s.without_changelog() });
                let other_window_store =
                    window_store(&other_store, retention, window, k.clone(), v2.clone())
                        .map(|s| if logging { s } else { s.without_changelog() });
                // Emitting an unmatched record of either side, in the user's orientation.
                let emit: Option<Arc<EmitUnmatched<K, VR>>> = shared_store.as_ref().map(|store| {
                    let (k, v1, v2, joiner, store) = (
                        k.clone(),
                        v1.clone(),
                        v2.clone(),
                        joiner.clone(),
                        store.clone(),
                    );
                    Arc::new(move |key: &[u8], left: bool, value: &[u8]| {
                        let key = k
                            .deserialize(&store, Some(key))
                            .map_err(|e| e.to_string())?;
                        let joined = if left {
                            let v = v1
                                .deserialize(&store, Some(value))
                                .map_err(|e| e.to_string())?;
                            joiner(Some(&v), None)
                        } else {
                            let v = v2
                                .deserialize(&store, Some(value))
                                .map_err(|e| e.to_string())?;
                            joiner(None, Some(&v))
                        };
                        Ok((key, joined))
                    }) as Arc<_>
                });
                let shared = shared_store.clone().zip(emit);
                let this_unmatched = shared.clone().map(|(store_name, emit)| UnmatchedSide {
                    store_name,
                    key_serde: k.clone(),
                    this_serde: v1.clone(),
                    emit,
                });
                let other_unmatched = shared.map(|(store_name, emit)| UnmatchedSide {
                    store_name,
                    key_serde: k.clone(),
                    this_serde: v2.clone(),
                    emit,
                });
                let flipped = joiner.clone();
                let flipped: Arc<StreamJoiner<V2, V, VR>> = Arc::new(move |b, a| flipped(a, b));
                inner.claim_store(&this_store);
                inner.claim_store(&other_store);
                if let Some(shared) = &shared_store {
                    inner.claim_store(shared);
                }
                inner.apply(|t| {
                    t.add_state_store(this_window_store?, &[])?
                        .add_state_store(other_window_store?, &[])?;
                    if let Some(shared) = &shared_store {
                        let store = KeyValueStoreBuilder::rocksdb(shared, BytesSerde, BytesSerde);
                        let store = if logging {
                            store
                        } else {
                            store.without_changelog()
                        };
                        t.add_state_store(store, &[])?;
                    }
                    Ok(())
                });
                // A join side looks up the other side's window store and the unmatched store.
                let lookups = |other: &str| -> Vec<String> {
                    std::iter::once(other.to_owned())
                        .chain(shared_store.clone())
                        .collect()
                };
                let (this_lookups, other_lookups) = (lookups(&other_store), lookups(&this_store));
                lower_join::<K, V, K, V, _, _>(
                    &mut inner,
                    &this_window,
                    &[&this_source],
                    &[&this_store],
                    JoinWindow::supplier(&this_store),
                );
                lower_join::<K, V2, K, V2, _, _>(
                    &mut inner,
                    &other_window,
                    &[&other_source],
                    &[&other_store],
                    JoinWindow::supplier(&other_store),
                );
                lower_join::<K, V, K, VR, _, _>(
                    &mut inner,
                    &this_join,
                    &[&this_window],
                    &this_lookups.iter().map(String::as_str).collect::<Vec<_>>(),
                    StreamStreamJoin::supplier(
                        (true, kind),
                        &other_store,
                        (before, after, grace),
                        joiner,
                        this_unmatched,
                    ),
                );
                lower_join::<K, V2, K, VR, _, _>(
                    &mut inner,
                    &other_join,
                    &[&other_window],
                    &other_lookups.iter().map(String::as_str).collect::<Vec<_>>(),
                    StreamStreamJoin::supplier(
                        (false, kind),
                        &this_store,
                        (after, before, grace),
                        flipped,
                        other_unmatched,
                    ),
                );
                lower_join::<K, VR, K, VR, _, _>(
                    &mut inner,
                    &merge,
                    &[&this_join, &other_join],
                    &[],
                    || PassThrough,
                );
            }
            (Ok(_), _) => inner.fail(StreamsError::Topology(format!(
                "join `{this_join}`: its window stores need the key serde and both value \
                 serdes; read both streams with Consumed serdes (or repartition them with \
                 Repartitioned serdes) before joining"
            ))),
        }
        drop(inner);
        KStream::new(builder, merge, self.key_serde.clone(), None)
    }
}

/// The joiners above are only called with what their join kind provides.
#[cold]
pub(crate) fn unreachable_join() -> ! {
    unreachable!("a stream-stream joiner was called with a side its join kind never omits")
}
