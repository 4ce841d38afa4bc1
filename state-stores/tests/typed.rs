//! The typed stores: reads through `&self`, scans as iterators decoded as they advance, in
//! the byte stores' order.

use std::sync::Arc;

use state_stores::memory::InMemoryKeyValueStore;
use state_stores::typed::{TypedKeyValueStore, TypedSessionStore, TypedWindowStore};
use state_stores::{Retention, SegmentedSessionStore, SegmentedWindowStore};
use streams_core::serde::{I64Serde, StringSerde};
use streams_core::{Result, Window, Windowed};

fn s(v: &str) -> String {
    v.to_owned()
}

fn key_values() -> Result<TypedKeyValueStore<String, i64>> {
    let mut store = TypedKeyValueStore::new(
        Box::new(InMemoryKeyValueStore::new("kv")),
        Arc::new(StringSerde),
        Arc::new(I64Serde),
    );
    for (i, k) in ["a1", "a2", "b1", "b2", "c1"].iter().enumerate() {
        store.put(&s(k), &(i as i64))?;
    }
    Ok(store)
}

#[test]
fn key_value_reads_take_a_shared_reference_and_scans_are_iterators() -> Result<()> {
    let store = key_values()?;
    let shared = &store;
    assert_eq!(shared.get(&s("b1"))?, Some(2));
    assert_eq!(shared.get(&s("zz"))?, None);

    // A scan is lazy: take two, and read the store while the scan is open.
    let mut scan = shared.range(Some(&s("a2")), None)?;
    let first: Vec<(String, i64)> = scan.by_ref().take(2).collect::<Result<_>>()?;
    assert_eq!(first, vec![(s("a2"), 1), (s("b1"), 2)]);
    assert_eq!(shared.get(&s("c1"))?, Some(4));
    assert_eq!(
        scan.collect::<Result<Vec<_>>>()?,
        vec![(s("b2"), 3), (s("c1"), 4)]
    );

    let reversed = shared
        .reverse_range(Some(&s("a2")), Some(&s("b2")))?
        .collect::<Result<Vec<_>>>()?;
    assert_eq!(reversed, vec![(s("b2"), 3), (s("b1"), 2), (s("a2"), 1)]);
    let last = shared.reverse_all()?.next().transpose()?;
    assert_eq!(last, Some((s("c1"), 4)));
    assert_eq!(shared.all()?.count(), 5);

    // A prefix through its own serde: the string serde writes no length, so "b" is a prefix
    // of "b1" and "b2".
    let b = shared
        .prefix_scan(&s("b"), &StringSerde)?
        .collect::<Result<Vec<_>>>()?;
    assert_eq!(b, vec![(s("b1"), 2), (s("b2"), 3)]);
    Ok(())
}

#[test]
fn window_reads_take_a_shared_reference_and_scans_are_iterators() -> Result<()> {
    let retention = Retention::with_segment_interval("w", 1000, 500)?;
    let mut store = TypedWindowStore::new(
        Box::new(SegmentedWindowStore::in_memory("w", retention, 100, false)?),
        Arc::new(StringSerde),
        Arc::new(I64Serde),
    );
    store.put(&s("a"), &1, 0)?;
    store.put(&s("a"), &2, 100)?;
    store.put(&s("b"), &3, 100)?;
    let shared = &store;
    assert_eq!(shared.fetch(&s("a"), 100)?, Some(2));
    let a = shared
        .fetch_range(&s("a"), 0, 100)?
        .collect::<Result<Vec<_>>>()?;
    assert_eq!(a, vec![(0, 1), (100, 2)]);
    let back = shared
        .backward_fetch_range(&s("a"), 0, 100)?
        .collect::<Result<Vec<_>>>()?;
    assert_eq!(back, vec![(100, 2), (0, 1)]);
    let at_100 = shared.fetch_all(100, 100)?.collect::<Result<Vec<_>>>()?;
    let w = |k: &str, start: i64| Windowed::new(s(k), Window::new(start, start + 100));
    assert_eq!(at_100, vec![(w("a", 100), 2), (w("b", 100), 3)]);
    let of_b = shared
        .fetch_key_range(Some(&s("b")), Some(&s("b")), 0, 1000)?
        .collect::<Result<Vec<_>>>()?;
    assert_eq!(of_b, vec![(w("b", 100), 3)]);
    assert_eq!(shared.all()?.count(), 3);
    Ok(())
}

#[test]
fn session_reads_take_a_shared_reference_and_scans_are_iterators() -> Result<()> {
    let retention = Retention::with_segment_interval("s", 1000, 500)?;
    let mut store = TypedSessionStore::new(
        Box::new(SegmentedSessionStore::in_memory("s", retention)?),
        Arc::new(StringSerde),
        Arc::new(I64Serde),
    );
    let session = |k: &str, start: i64, end: i64| Windowed::new(s(k), Window::new(start, end));
    store.put(&session("a", 0, 10), &1)?;
    store.put(&session("a", 50, 60), &2)?;
    store.put(&session("b", 5, 5), &3)?;
    let shared = &store;
    assert_eq!(shared.fetch_session(&s("a"), 50, 60)?, Some(2));
    let found = shared
        .find_sessions(&s("a"), 5, 55)?
        .collect::<Result<Vec<_>>>()?;
    assert_eq!(
        found,
        vec![(session("a", 0, 10), 1), (session("a", 50, 60), 2)]
    );
    let back = shared
        .backward_find_sessions(&s("a"), 0, 100)?
        .collect::<Result<Vec<_>>>()?;
    assert_eq!(
        back,
        vec![(session("a", 50, 60), 2), (session("a", 0, 10), 1)]
    );
    assert_eq!(
        shared.fetch(&s("b"))?.collect::<Result<Vec<_>>>()?,
        vec![(session("b", 5, 5), 3)]
    );
    assert_eq!(shared.all()?.count(), 3);
    Ok(())
}

#[test]
fn sessions_past_retention_in_a_kept_segment_are_read_by_end_time_for_emit_on_close() -> Result<()>
{
    // Retention 1000 in segments of 500.
    let retention = Retention::with_segment_interval("s", 1000, 500)?;
    let mut store = TypedSessionStore::new(
        Box::new(SegmentedSessionStore::in_memory("s", retention)?),
        Arc::new(StringSerde),
        Arc::new(I64Serde),
    );
    let session = |k: &str, start: i64, end: i64| Windowed::new(s(k), Window::new(start, end));
    store.put(&session("b", 0, 10), &1)?;
    store.put(&session("a", 5, 10), &2)?;
    store.put(&session("a", 20, 30), &3)?;
    // Stream time 1200: ends before 201 are past retention, but segment 0 (0..500) is kept.
    store.put(&session("c", 1200, 1200), &4)?;
    assert_eq!(store.find_sessions(&s("a"), 0, 100)?.count(), 0);
    let ending = store
        .sessions_ending_between(10, 30)?
        .collect::<Result<Vec<_>>>()?;
    assert_eq!(
        ending,
        vec![
            (session("a", 5, 10), 2),
            (session("a", 20, 30), 3),
            (session("b", 0, 10), 1)
        ]
    );
    assert_eq!(store.sessions_ending_between(11, 29)?.count(), 0);
    Ok(())
}
