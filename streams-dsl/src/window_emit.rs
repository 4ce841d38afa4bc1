//! Emit-on-close for window aggregations: forwarding the windows stream time has closed
//! (`emit_closed_windows`), and remembering what was emitted across restarts
//! (`EmitProgress`, kept in the store `<store>-emit-progress`). Time windows, sliding
//! windows and sessions use it.

use state_stores::typed::{TypedKeyValueStore, TypedSessionStore, TypedWindowStore};
use streams_core::processor::{ProcessorContext, ProcessorError};
use streams_core::store::StoreHandle;
use streams_core::{Headers, Record, Windowed};

use crate::table::Change;
use crate::timestamped::ValueAndTimestamp;

/// The store a windowed aggregation keeps its windows in.
pub(crate) type WindowAggregates<K, A> = TypedWindowStore<K, ValueAndTimestamp<A>>;

/// Emitting on close, what has been emitted: windows closed at or before `last` were.
///
/// A restarted task must neither lose final results nor, ideally, emit them twice. Outputs
/// are durable once the input record that triggered them is below the committed offset (a
/// commit flushes the producer first), so the progress store (`<store>-emit-progress`,
/// logged, one row per task) keeps the recent emissions with the input position that
/// triggered each: `(topic, partition, offset, close)`. After a restart, the first record of
/// a partition shows where processing resumed: emissions triggered below that offset are
/// durable and count; the others will be made again by the reprocessing. Whatever is unknown
/// counts as not emitted, so the worst case is a duplicate, never a loss.
pub(crate) struct EmitProgress {
    store_name: Option<String>,
    store: Option<StoreHandle<TypedKeyValueStore<String, String>>>,
    pub(crate) last: i64,
    entries: Vec<Emission>,
    resumed: Vec<(std::sync::Arc<str>, i32)>,
}

/// One emission: the input position that triggered it and the close time it reached.
#[derive(Debug, Clone, PartialEq)]
struct Emission {
    topic: String,
    partition: i32,
    offset: i64,
    close: i64,
}

const EMIT_PROGRESS_KEY: &str = "emissions";
/// How many recent emissions the progress row keeps; older ones only matter after more
/// emissions than this between two commits, and then the cost is duplicates.
const EMIT_PROGRESS_KEPT: usize = 64;

impl EmitProgress {
    pub(crate) fn new(store_name: Option<String>) -> Self {
        EmitProgress {
            store_name,
            store: None,
            last: -1,
            entries: Vec::new(),
            resumed: Vec::new(),
        }
    }

    /// Reads the emissions of a previous run of the task.
    pub(crate) fn init<KO: Clone + 'static, VO: Clone + 'static>(
        &mut self,
        ctx: &mut ProcessorContext<'_, KO, VO>,
    ) -> Result<(), ProcessorError> {
        if let Some(name) = &self.store_name {
            let store = ctx.state_store::<TypedKeyValueStore<String, String>>(name)?;
            let row = store.borrow().get(&EMIT_PROGRESS_KEY.to_owned())?;
            self.entries = row.as_deref().map(decode_emissions).unwrap_or_default();
            self.store = Some(store);
        }
        Ok(())
    }

    /// Called with each input record's position before emitting: the first record of a
    /// partition since the task started tells which earlier emissions are durable.
    pub(crate) fn observe(&mut self, position: Option<&streams_core::RecordMetadata>) {
        let Some(p) = position else { return };
        if self
            .resumed
            .iter()
            .any(|(t, n)| *n == p.partition && **t == *p.topic)
        {
            return;
        }
        self.resumed.push((p.topic.clone(), p.partition));
        let mine = |e: &Emission| e.partition == p.partition && e.topic == *p.topic;
        for e in self
            .entries
            .iter()
            .filter(|e| mine(e) && e.offset < p.offset)
        {
            self.last = self.last.max(e.close);
        }
        // Emissions at or after the resume point are made again by the reprocessing.
        self.entries.retain(|e| !(mine(e) && e.offset >= p.offset));
    }

    /// Notes that every window closed at `close` was emitted, triggered at `position`.
    pub(crate) fn record(
        &mut self,
        close: i64,
        position: Option<&streams_core::RecordMetadata>,
    ) -> Result<(), ProcessorError> {
        self.last = close;
        let (Some(store), Some(p)) = (&self.store, position) else {
            return Ok(());
        };
        self.entries.push(Emission {
            topic: p.topic.to_string(),
            partition: p.partition,
            offset: p.offset,
            close,
        });
        if self.entries.len() > EMIT_PROGRESS_KEPT {
            self.entries.remove(0);
        }
        store.borrow_mut().put(
            &EMIT_PROGRESS_KEY.to_owned(),
            &encode_emissions(&self.entries),
        )?;
        Ok(())
    }
}

/// One emission per line: topic, partition, offset, close, tab-separated (topic names never
/// hold tabs or newlines).
fn encode_emissions(entries: &[Emission]) -> String {
    entries
        .iter()
        .map(|e| format!("{}\t{}\t{}\t{}\n", e.topic, e.partition, e.offset, e.close))
        .collect()
}

/// Reads [`encode_emissions`]' format; lines that do not parse are skipped (they can only
/// make the task emit again, never skip).
fn decode_emissions(text: &str) -> Vec<Emission> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split('\t');
            Some(Emission {
                topic: f.next()?.to_owned(),
                partition: f.next()?.parse().ok()?,
                offset: f.next()?.parse().ok()?,
                close: f.next()?.parse().ok()?,
            })
        })
        .collect()
}

/// The name of the progress store of an emit-on-close aggregation over `store`.
pub(crate) fn emit_progress_store(store: &str) -> String {
    format!("{store}-emit-progress")
}

/// Emitting on close: the progress store of the aggregation over `store` (its name, claimed
/// in `inner`, and its builder); nothing when emitting every update.
pub(crate) fn progress_store_for(
    inner: &mut crate::shared::Inner,
    store: &str,
    emit: crate::windows::EmitStrategy,
) -> (
    Option<String>,
    Option<state_stores::KeyValueStoreBuilder<String, String>>,
) {
    if emit != crate::windows::EmitStrategy::OnWindowClose {
        return (None, None);
    }
    let name = emit_progress_store(store);
    inner.claim_store(&name);
    let builder = state_stores::KeyValueStoreBuilder::in_memory(
        &name,
        streams_core::serde::StringSerde,
        streams_core::serde::StringSerde,
    );
    (Some(name), Some(builder))
}

/// Emitting on close: forwards every window starting in `[from, to]` (inclusive), by start
/// time, each with its aggregate's timestamp. The windows are read first and the store is
/// released before forwarding, so that a node downstream in the same task can read it.
pub(crate) fn emit_closed_windows<K, A>(
    ctx: &mut ProcessorContext<'_, Windowed<K>, Change<A>>,
    store: &StoreHandle<WindowAggregates<K, A>>,
    from: i64,
    to: i64,
) -> Result<(), ProcessorError>
where
    K: Clone + 'static,
    A: Clone + 'static,
{
    if to < from {
        return Ok(());
    }
    let mut closed = store
        .borrow()
        .fetch_key_range(None, None, from, to)?
        .collect::<streams_core::Result<Vec<_>>>()?;
    closed.sort_by_key(|(w, _)| w.window.start);
    for (windowed, vt) in closed {
        ctx.forward(Record::new(
            windowed,
            Change {
                new: Some(vt.value),
                old: None,
            },
            vt.timestamp,
        ))?;
    }
    Ok(())
}

/// Emitting on close for sessions: forwards every session ending in `[from, to]`
/// (inclusive), ordered as Kafka Streams' time-ordered session store holds them (by end,
/// then start, then key bytes), each with its end as timestamp and `headers`. The sessions
/// are read first and the store released before forwarding.
pub(crate) fn emit_closed_sessions<K, A>(
    ctx: &mut ProcessorContext<'_, Windowed<K>, Change<A>>,
    store: &StoreHandle<TypedSessionStore<K, A>>,
    from: i64,
    to: i64,
    headers: &Headers,
) -> Result<(), ProcessorError>
where
    K: Clone + 'static,
    A: Clone + 'static,
{
    // In key-byte order within each segment of session ends.
    let mut closed: Vec<(Windowed<K>, A)> = store
        .borrow()
        .sessions_ending_between(from, to)?
        .collect::<streams_core::Result<_>>()?;
    closed.sort_by_key(|(s, _)| (s.window.end, s.window.start));
    for (session, value) in closed {
        let end = session.window.end;
        ctx.forward(Record {
            key: session,
            value: Change {
                new: Some(value),
                old: None,
            },
            timestamp: end,
            headers: headers.clone(),
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(topic: &str, partition: i32, offset: i64) -> streams_core::RecordMetadata {
        streams_core::RecordMetadata {
            topic: topic.into(),
            partition,
            offset,
        }
    }

    #[test]
    fn only_emissions_below_the_resume_offset_count_as_done() {
        let mut p = EmitProgress::new(None);
        p.entries = ["5\t10", "8\t20", "12\t30"]
            .iter()
            .map(|e| {
                let (offset, close) = e.split_once('\t').expect("pair");
                Emission {
                    topic: "in".into(),
                    partition: 0,
                    offset: offset.parse().expect("offset"),
                    close: close.parse().expect("close"),
                }
            })
            .collect();
        // Processing resumes at offset 8: the emission at 8 was not committed and will be
        // made again; the one at 5 was.
        p.observe(Some(&at("in", 0, 8)));
        assert_eq!(p.last, 10);
        assert_eq!(p.entries.len(), 1, "the redone emissions are forgotten");
        // Another partition's first record does not change what partition 0 said.
        p.observe(Some(&at("in", 1, 0)));
        p.observe(Some(&at("in", 0, 9)));
        assert_eq!(p.last, 10);
    }

    #[test]
    fn emissions_round_trip_and_bad_lines_are_skipped() {
        let entries = vec![
            Emission {
                topic: "app-x-repartition".into(),
                partition: 3,
                offset: 42,
                close: 3_600_000,
            },
            Emission {
                topic: "t".into(),
                partition: 0,
                offset: 7,
                close: -1,
            },
        ];
        let text = encode_emissions(&entries);
        assert_eq!(decode_emissions(&text), entries);
        assert_eq!(decode_emissions("garbage\nt\t0\t1\t2\n").len(), 1);
    }
}
