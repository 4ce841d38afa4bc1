//! The repartition purger: deletes the records of repartition topics below the offsets a
//! stream thread committed (they were processed; nothing reads them again), as Kafka Streams
//! does every `repartition.purge.interval.ms`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::admin::AdminOptions;
use rdkafka::{Offset, TopicPartitionList};

use super::admin_client::AdminHandle;
use super::client_failure::ClientFailure;
use super::producer::PendingOffsets;
use crate::config::StreamsConfig;

/// Purges the committed records of the repartition topics one stream thread reads.
pub(crate) struct RepartitionPurger {
    thread: String,
    config: StreamsConfig,
    /// The repartition topics (full names) the application reads.
    topics: HashSet<String>,
    /// Committed offsets of repartition partitions not yet purged below.
    purgeable: HashMap<(String, i32), i64>,
    last_purge: Instant,
    /// Created when first needed.
    admin: Option<Arc<AdminHandle>>,
    /// True while a purge request is under way.
    purging: Arc<AtomicBool>,
}

impl RepartitionPurger {
    pub(crate) fn new(thread: String, config: StreamsConfig, topics: HashSet<String>) -> Self {
        RepartitionPurger {
            thread,
            config,
            topics,
            purgeable: HashMap::new(),
            last_purge: Instant::now(),
            admin: None,
            purging: Arc::default(),
        }
    }

    /// The offsets among `pending` that belong to repartition topics: what a commit of
    /// `pending` makes purgeable.
    pub(crate) fn select(&self, pending: &PendingOffsets) -> Vec<((String, i32), i64)> {
        if self.topics.is_empty() {
            return Vec::new();
        }
        pending
            .snapshot()
            .into_iter()
            .filter(|((topic, _), _)| self.topics.contains(topic))
            .collect()
    }

    /// Records offsets that were committed.
    pub(crate) fn committed(&mut self, offsets: Vec<((String, i32), i64)>) {
        self.purgeable.extend(offsets);
    }

    /// Every `repartition.purge.interval.ms`, deletes the records below the committed
    /// offsets. The request runs on a helper thread, one at a time; every request carries all
    /// the offsets committed so far (deleting below an offset twice is harmless), so a failed
    /// one is made good by the next. Failures are logged, never fatal.
    pub(crate) fn maybe_purge(&mut self) {
        if self.purgeable.is_empty()
            || self.last_purge.elapsed() < self.config.repartition_purge_interval()
            || self.purging.load(Ordering::Acquire)
        {
            return;
        }
        self.last_purge = Instant::now();
        let admin = match &self.admin {
            Some(a) => a.clone(),
            None => match AdminHandle::new(&self.config, &ClientFailure::default()) {
                Ok(admin) => {
                    let admin = Arc::new(admin);
                    self.admin = Some(admin.clone());
                    admin
                }
                Err(e) => {
                    tracing::warn!(thread = %self.thread, error = %e, "cannot create the admin client that purges repartition topics");
                    return;
                }
            },
        };
        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), offset) in &self.purgeable {
            if let Err(e) = tpl.add_partition_offset(topic, *partition, Offset::Offset(*offset)) {
                tracing::warn!(thread = %self.thread, error = %e, "building a purge request failed");
                return;
            }
        }
        let thread = self.thread.clone();
        let purging = self.purging.clone();
        purging.store(true, Ordering::Release);
        let spawned = std::thread::Builder::new()
            .name(format!("{}-purge", self.thread))
            .spawn(move || {
                let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
                match futures::executor::block_on(admin.delete_records(&tpl, &opts)) {
                    Ok(_) => tracing::debug!(%thread, "purged committed repartition records"),
                    Err(e) => tracing::warn!(%thread, error = %e, "purging repartition records failed; the next purge retries"),
                }
                purging.store(false, Ordering::Release);
            });
        if let Err(e) = spawned {
            self.purging.store(false, Ordering::Release);
            tracing::warn!(thread = %self.thread, error = %e, "cannot start a purge thread");
        }
    }
}
