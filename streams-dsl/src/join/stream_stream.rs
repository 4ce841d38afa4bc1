//! Windowed stream-stream joins (inner, left, outer): both sides wait in window stores for
//! the other side's records within the join window; a left or outer join emits unmatched
//! records once their window has closed.

use std::sync::Arc;

use state_stores::typed::TypedKeyValueStore;
use streams_core::processor::{Processor, ProcessorContext, ProcessorError};
use streams_core::store::StoreHandle;
use streams_core::{Record, StreamsError};

use crate::stream::KStream;

/// `KSTREAM-WINDOWED`: keeps each record of one side of a stream-stream join in that side's
/// window store (duplicates retained) and passes it on.
struct JoinWindow<K, V> {
    store_name: String,
    store: Option<StoreHandle<state_stores::typed::TypedWindowStore<K, V>>>,
}

impl<K: Clone + 'static, V: Clone + 'static> Processor<K, V, K, V> for JoinWindow<K, V> {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, V>) -> Result<(), ProcessorError> {
        self.store =
            Some(ctx.state_store::<state_stores::typed::TypedWindowStore<K, V>>(&self.store_name)?);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, V>,
        r: Record<K, V>,
    ) -> Result<(), ProcessorError> {
        let store = self.store.as_ref().ok_or("init did not run")?;
        // Every record is kept, late ones too (as Kafka Streams): the store's retention drops
        // what is too old to matter.
        store.borrow_mut().put(&r.key, &r.value, r.timestamp)?;
        ctx.forward(r)?;
        Ok(())
    }
}

/// Joins a record of this side with the other side's record (`None` for a left or outer
/// join's unmatched record), oriented this side first.
type StreamJoiner<VThis, VOther, VR> = dyn Fn(Option<&VThis>, Option<&VOther>) -> VR + Send + Sync;

/// Which stream-stream join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JoinKind {
    Inner,
    Left,
    Outer,
}

/// The unmatched records of a left or outer stream-stream join, kept until their window
/// closes, in a store shared by both sides. Keys are `timestamp (8 bytes, big-endian) ++ side
/// (0 left, 1 right) ++ key length (4 bytes) ++ key bytes ++ sequence number (8 bytes)`, so a
/// scan in key order goes oldest first and records with the same key and time are all kept;
/// values are the record value's bytes.
struct Unmatched<K, VThis, VR> {
    store_name: String,
    /// This side is the user's left side.
    this_is_left: bool,
    /// This side's unmatched records are kept (left: the left side; outer: both).
    keep_this: bool,
    /// The other side's unmatched records are kept, so a match must remove them.
    other_kept: bool,
    key_serde: streams_core::serde::SharedSerde<K>,
    this_serde: streams_core::serde::SharedSerde<VThis>,
    /// Emits an unmatched record of either side once its window closed: (key bytes, is left,
    /// value bytes, timestamp) -> the joiner's result.
    emit: Arc<EmitUnmatched<K, VR>>,
    store: Option<StoreHandle<TypedKeyValueStore<Vec<u8>, Vec<u8>>>>,
    /// Sequence numbers that keep records with the same key and time apart.
    next_seq: std::cell::Cell<u64>,
}

/// Turns an unmatched record's key bytes, side (true: left) and value bytes into the key and
/// the joiner's result.
type EmitUnmatched<K, VR> =
    dyn Fn(&[u8], bool, &[u8]) -> Result<(K, VR), ProcessorError> + Send + Sync;

/// The prefix of the unmatched entries of `key` at `timestamp` on one side:
/// `timestamp ++ side ++ len(key) ++ key` (the length keeps one key from prefixing another).
fn unmatched_prefix(timestamp: i64, left: bool, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(13 + key.len() + 8);
    out.extend_from_slice(&timestamp.to_be_bytes());
    out.push(u8::from(!left));
    out.extend_from_slice(&(key.len() as u32).to_be_bytes());
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
    other_store: String,
    /// How far back and ahead of a record of this side the other side's records join.
    back: i64,
    ahead: i64,
    grace: i64,
    joiner: Arc<StreamJoiner<VThis, VOther, VR>>,
    store: Option<StoreHandle<state_stores::typed::TypedWindowStore<K, VOther>>>,
    unmatched: Option<Unmatched<K, VThis, VR>>,
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
        let Some(store) = &u.store else {
            return Err("init did not run".into());
        };
        // Windows are symmetric: a record at `ts` can still match until `ts + ahead`; it is
        // final once that plus grace is behind stream time.
        let bound = ctx
            .stream_time()
            .saturating_sub(self.ahead)
            .saturating_sub(self.grace);
        if bound <= 0 {
            return Ok(());
        }
        let closed: Vec<(Vec<u8>, Vec<u8>)> = store
            .borrow_mut()
            .bytes()
            .range(None, Some(&bound.to_be_bytes()))?
            .collect::<streams_core::Result<_>>()?;
        for (binary, value) in closed {
            if binary.len() < 9 {
                continue;
            }
            let timestamp = i64::from_be_bytes(binary[..8].try_into().map_err(|_| "key")?);
            let left = binary[8] == 0;
            let Some(len) = binary
                .get(9..13)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_be_bytes)
            else {
                continue;
            };
            let Some(key_bytes) = binary.get(13..13 + len as usize) else {
                continue;
            };
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
        self.store = Some(
            ctx.state_store::<state_stores::typed::TypedWindowStore<K, VOther>>(&self.other_store)?,
        );
        if let Some(u) = &mut self.unmatched {
            u.store = Some(ctx.state_store::<TypedKeyValueStore<Vec<u8>, Vec<u8>>>(&u.store_name)?);
        }
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, VR>,
        r: Record<K, VThis>,
    ) -> Result<(), ProcessorError> {
        let store = self.store.as_ref().ok_or("init did not run")?;
        let t = r.timestamp;
        let matches = store.borrow_mut().fetch_range(
            &r.key,
            t.saturating_sub(self.back).max(0),
            t.saturating_add(self.ahead),
        )?;
        if let Some(u) = &self.unmatched {
            let unmatched = u.store.as_ref().ok_or("init did not run")?;
            let mut key = Vec::new();
            u.key_serde
                .serialize_into(&u.store_name, &r.key, &mut key)
                .map_err(|e| e.to_string())?;
            if matches.is_empty() && u.keep_this && t.saturating_add(self.ahead) < ctx.stream_time()
            {
                // Out of order past its own window: nothing can match it any more, so its
                // unmatched result goes out now (as Kafka Streams).
                let joined = (self.joiner)(Some(&r.value), None);
                ctx.forward(r.map_value(|_| joined))?;
                return self.emit_closed_unmatched(ctx);
            }
            if matches.is_empty() {
                if u.keep_this {
                    let mut value = Vec::new();
                    u.this_serde
                        .serialize_into(&u.store_name, &r.value, &mut value)
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
        self.emit_closed_unmatched(ctx)
    }
}

impl<K, V> KStream<K, V>
where
    K: Clone + 'static,
    V: Clone + 'static,
{
    /// Inner stream-stream join: each record joins every record of `other` with the same
    /// key whose timestamp is within `windows` of its own, as soon as the second of the two
    /// arrives; the result's timestamp is the later of the two. Both sides are kept in window
    /// stores (duplicates retained, changelogged) for the window plus grace; both streams
    /// need known serdes and must be co-partitioned.
    pub fn join<V2, VR>(
        &self,
        other: &KStream<K, V2>,
        joiner: impl Fn(&V, &V2) -> VR + Send + Sync + 'static,
        windows: crate::windows::JoinWindows,
    ) -> KStream<K, VR>
    where
        V2: Clone + 'static,
        VR: Clone + 'static,
    {
        let joiner: Arc<StreamJoiner<V, V2, VR>> = Arc::new(move |a, b| match (a, b) {
            (Some(a), Some(b)) => joiner(a, b),
            // An inner join only ever joins two records.
            _ => unreachable_join(),
        });
        self.stream_join(other, joiner, windows, JoinKind::Inner)
    }

    /// Left stream-stream join: as [`Self::join`], and each record of this stream that no
    /// record of `other` matched is emitted joined with `None` once its window plus grace has
    /// closed (never earlier), with its own timestamp.
    pub fn left_join<V2, VR>(
        &self,
        other: &KStream<K, V2>,
        joiner: impl Fn(&V, Option<&V2>) -> VR + Send + Sync + 'static,
        windows: crate::windows::JoinWindows,
    ) -> KStream<K, VR>
    where
        V2: Clone + 'static,
        VR: Clone + 'static,
    {
        let joiner: Arc<StreamJoiner<V, V2, VR>> = Arc::new(move |a, b| match a {
            Some(a) => joiner(a, b),
            None => unreachable_join(),
        });
        self.stream_join(other, joiner, windows, JoinKind::Left)
    }

    /// Outer stream-stream join: as [`Self::left_join`] for the records of both streams.
    pub fn outer_join<V2, VR>(
        &self,
        other: &KStream<K, V2>,
        joiner: impl Fn(Option<&V>, Option<&V2>) -> VR + Send + Sync + 'static,
        windows: crate::windows::JoinWindows,
    ) -> KStream<K, VR>
    where
        V2: Clone + 'static,
        VR: Clone + 'static,
    {
        self.stream_join(other, Arc::new(joiner), windows, JoinKind::Outer)
    }

    fn stream_join<V2, VR>(
        &self,
        other: &KStream<K, V2>,
        joiner: Arc<StreamJoiner<V, V2, VR>>,
        windows: crate::windows::JoinWindows,
        kind: JoinKind,
    ) -> KStream<K, VR>
    where
        V2: Clone + 'static,
        VR: Clone + 'static,
    {
        let builder = self.builder.clone();
        let mut inner = builder.borrow_mut();
        let this_window = inner.new_name("KSTREAM-WINDOWED");
        let other_window = inner.new_name("KSTREAM-WINDOWED");
        let this_join = inner.new_name(if kind == JoinKind::Outer {
            "KSTREAM-OUTERTHIS"
        } else {
            "KSTREAM-JOINTHIS"
        });
        let other_join = inner.new_name(if kind == JoinKind::Inner {
            "KSTREAM-JOINOTHER"
        } else {
            "KSTREAM-OUTEROTHER"
        });
        let merge = inner.new_name("KSTREAM-MERGE");
        let (this_store, other_store) =
            (format!("{this_join}-store"), format!("{other_join}-store"));
        let shared_store = match kind {
            JoinKind::Inner => None,
            JoinKind::Left => Some(format!("{this_join}-left-shared-join-store")),
            JoinKind::Outer => Some(format!("{this_join}-outer-shared-join-store")),
        };
        let checked = windows.check();
        let serdes = (
            self.key_serde.clone(),
            self.value_serde.clone(),
            other.value_serde.clone(),
        );
        // A side whose keys changed is repartitioned by the join key first.
        let hint = "the operation before the join changed the key or value type; give them \
                    with KStream::repartition(Repartitioned::with(..)) before joining";
        let this_source = if self.key_changed {
            self.through_repartition(
                &mut inner,
                &format!("{this_join}-left"),
                self.key_serde.clone(),
                self.value_serde.clone(),
                hint,
            )
        } else {
            self.node.clone()
        };
        let other_source = if other.key_changed {
            other.through_repartition(
                &mut inner,
                &format!("{other_join}-right"),
                other.key_serde.clone(),
                other.value_serde.clone(),
                hint,
            )
        } else {
            other.node.clone()
        };
        match (checked, serdes) {
            (Err(e), _) => inner.fail(e),
            (Ok((before, after, grace)), (Some(k), Some(v1), Some(v2))) => {
                // `check` refuses windows whose size overflows; the grace may still be huge.
                let size = before + after;
                let retention =
                    std::time::Duration::from_millis(size.saturating_add(grace).max(1) as u64);
                let window = std::time::Duration::from_millis(size.max(1) as u64);
                let window_store = |name: &str, v| {
                    state_stores::WindowStoreBuilder::new(
                        name,
                        state_stores::StoreKind::RocksDb,
                        retention,
                        window,
                        true,
                        k.clone(),
                        v,
                    )
                };
                let stores = (window_store(&this_store, v1.clone()), {
                    state_stores::WindowStoreBuilder::new(
                        &other_store,
                        state_stores::StoreKind::RocksDb,
                        retention,
                        window,
                        true,
                        k.clone(),
                        v2.clone(),
                    )
                });
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
                let flipped = joiner.clone();
                let flipped: Arc<StreamJoiner<V2, V, VR>> = Arc::new(move |b, a| flipped(a, b));
                let (this_parent, other_parent) = (this_source, other_source);
                inner.claim_store(&this_store);
                inner.claim_store(&other_store);
                if let Some(shared) = &shared_store {
                    inner.claim_store(shared);
                }
                inner.apply(|t| {
                    let (this_builder, other_builder) = (stores.0?, stores.1?);
                    let (ts, os) = (this_store.clone(), other_store.clone());
                    t.add_processor::<K, V, K, V, _, _>(
                        &this_window,
                        move || JoinWindow {
                            store_name: ts.clone(),
                            store: None,
                        },
                        &[&this_parent],
                    )?
                    .add_processor::<K, V2, K, V2, _, _>(
                        &other_window,
                        move || JoinWindow {
                            store_name: os.clone(),
                            store: None,
                        },
                        &[&other_parent],
                    )?
                    .add_state_store(this_builder, &[&this_window])?
                    .add_state_store(other_builder, &[&other_window])?;
                    let (os, shared, kt, vt, emit_this) = (
                        other_store.clone(),
                        shared_store.clone(),
                        k.clone(),
                        v1.clone(),
                        emit.clone(),
                    );
                    t.add_processor::<K, V, K, VR, _, _>(
                        &this_join,
                        move || StreamStreamJoin {
                            other_store: os.clone(),
                            back: before,
                            ahead: after,
                            grace,
                            joiner: joiner.clone(),
                            store: None,
                            unmatched: shared.clone().zip(emit_this.clone()).map(
                                |(store_name, emit)| Unmatched {
                                    store_name,
                                    this_is_left: true,
                                    keep_this: true,
                                    other_kept: kind == JoinKind::Outer,
                                    key_serde: kt.clone(),
                                    this_serde: vt.clone(),
                                    emit,
                                    store: None,
                                    next_seq: std::cell::Cell::new(0),
                                },
                            ),
                        },
                        &[&this_window],
                    )?
                    .connect_processor_and_state_stores(&this_join, &[&other_store])?;
                    let (ts, shared, kt, vt, emit_other) = (
                        this_store.clone(),
                        shared_store.clone(),
                        k.clone(),
                        v2.clone(),
                        emit.clone(),
                    );
                    t.add_processor::<K, V2, K, VR, _, _>(
                        &other_join,
                        move || StreamStreamJoin {
                            other_store: ts.clone(),
                            back: after,
                            ahead: before,
                            grace,
                            joiner: flipped.clone(),
                            store: None,
                            unmatched: shared.clone().zip(emit_other.clone()).map(
                                |(store_name, emit)| Unmatched {
                                    store_name,
                                    this_is_left: false,
                                    keep_this: kind == JoinKind::Outer,
                                    other_kept: true,
                                    key_serde: kt.clone(),
                                    this_serde: vt.clone(),
                                    emit,
                                    store: None,
                                    next_seq: std::cell::Cell::new(0),
                                },
                            ),
                        },
                        &[&other_window],
                    )?
                    .connect_processor_and_state_stores(&other_join, &[&this_store])?
                    .add_processor::<K, VR, K, VR, _, _>(
                        &merge,
                        || crate::stream::PassThrough,
                        &[&this_join, &other_join],
                    )?;
                    if let Some(shared) = &shared_store {
                        t.add_state_store(
                            state_stores::KeyValueStoreBuilder::rocksdb(
                                shared,
                                streams_core::serde::BytesSerde,
                                streams_core::serde::BytesSerde,
                            ),
                            &[&this_join, &other_join],
                        )?;
                    }
                    Ok(())
                });
            }
            (Ok(_), _) => inner.fail(StreamsError::Topology(format!(
                "join `{this_join}`: its window stores need the key serde and both value \
                 serdes; read both streams with Consumed serdes (or repartition them with \
                 Repartitioned serdes) before joining"
            ))),
        }
        drop(inner);
        KStream {
            builder,
            node: merge,
            key_serde: self.key_serde.clone(),
            value_serde: None,
            key_changed: false,
            next_name: None,
        }
    }
}

/// The joiners above are only called with what their join kind provides.
#[cold]
fn unreachable_join() -> ! {
    unreachable!("a stream-stream joiner was called with a side its join kind never omits")
}
