//! A stream thread (Kafka Streams' `StreamThread`): the loop poll -> restore -> process ->
//! punctuate -> commit over one consumer ([`InputFlow`]), one producer
//! ([`StreamsProducer`], behind the [`KafkaRecordCollector`]) and the tasks of its assigned
//! partitions ([`TaskManager`]); recovery after an aborted transaction, a migration or a
//! corrupt store; and the thread's state for the client.

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::changelog_reader::ChangelogReader;
use super::client_failure::ClientFailure;
use super::client_supplier::{Member, create_consumer};
use super::control::{ClientControl, ThreadState};
use super::input_flow::InputFlow;
use super::producer::{CommitOutcome, ProducerSpec, StreamsProducer};
use super::rebalance::ConsumerCallbacks;
use super::record_collector::KafkaRecordCollector;
use super::repartition_purger::RepartitionPurger;
use super::shared::ThreadShared;
use super::task_manager::{TaskManager, TaskManagerParams};
use super::thread_metrics::ThreadMetricsPublisher;
use crate::config::StreamsConfig;
use crate::error::{Result, StreamsError};
use crate::metrics::ThreadMetrics;
use crate::store::RestoreListener;
use crate::topology::{Subtopology, Topology};

/// Under exactly-once, transactions aborted in a row (each followed by a rewind) before the
/// thread gives up: the same failure again and again will not mend by retrying.
const MAX_CONSECUTIVE_ABORTS: u32 = 5;

/// How long an at-least-once commit retries an error that passes before it defers to the
/// next commit interval.
const COMMIT_RETRY_TIME: Duration = Duration::from_secs(10);

/// How long passing commit failures last before the thread gives up (`task.timeout.ms`).
const COMMIT_FAILURE_LIMIT: Duration = Duration::from_secs(300);

/// Everything a stream thread is started with.
#[derive(Clone)]
pub(crate) struct ThreadParams {
    pub index: usize,
    pub client_id: String,
    pub topology: Arc<Topology>,
    pub subtopologies: Arc<Vec<Subtopology>>,
    pub config: StreamsConfig,
    pub control: Arc<ClientControl>,
    pub restore_listener: Option<Arc<dyn RestoreListener>>,
    /// The process id in transactional ids (exactly-once).
    pub process_id: Arc<str>,
}

pub(crate) struct StreamThread {
    index: usize,
    name: String,
    config: StreamsConfig,
    control: Arc<ClientControl>,
    input: InputFlow,
    tasks: TaskManager,
    collector: Rc<RefCell<KafkaRecordCollector>>,
    shared: Arc<ThreadShared>,
    /// What the producer is made from, to replace it.
    producer_spec: ProducerSpec,
    purger: RepartitionPurger,
    publisher: ThreadMetricsPublisher,
    last_commit: Instant,
    /// Under at-least-once: since when commits have been deferred by errors that pass.
    commit_failing_since: Option<Instant>,
    /// Transactions aborted since the last successful commit.
    consecutive_aborts: u32,
}

impl StreamThread {
    pub(crate) fn new(p: ThreadParams) -> Result<Self> {
        let name = format!("{}-StreamThread-{}", p.client_id, p.index + 1);
        let metrics = Arc::new(ThreadMetrics::new(&name));
        p.control.metrics.register(metrics.clone());
        let producer_spec = ProducerSpec::for_thread(
            &p.config,
            &name,
            &p.topology,
            &p.process_id,
            p.index,
            metrics.clone(),
            ClientFailure::new(p.config.application_id()),
        );
        let producer = Arc::new(StreamsProducer::new(&producer_spec)?);
        let shared = Arc::new(ThreadShared::new(
            p.config.exactly_once(),
            producer.clone(),
            producer_spec.failure.clone(),
        ));
        let consumer = create_consumer(
            &p.config,
            &format!("{name}-consumer"),
            &Member::of_thread(&p.config, p.index, &p.process_id),
            ConsumerCallbacks {
                shared: shared.clone(),
                thread: name.clone(),
                resets: p
                    .subtopologies
                    .iter()
                    .flat_map(|s| s.source_topics.iter())
                    .filter_map(|t| Some((t.clone(), p.topology.offset_reset(t)?)))
                    .collect(),
                oauth: p.config.oauth_token_provider(),
            },
        )?;
        let input = InputFlow::new(
            name.clone(),
            consumer,
            p.subtopologies.clone(),
            shared.clone(),
        )?;
        let collector = Rc::new(RefCell::new(KafkaRecordCollector::new(producer)));
        let repartition_topics: HashSet<String> = p
            .topology
            .repartition_writers()
            .into_iter()
            .map(|(topic, _)| topic)
            .collect();
        let reader = ChangelogReader::new(
            name.clone(),
            p.config.clone(),
            p.control.clone(),
            p.restore_listener,
            shared.failure.clone(),
        );
        let tasks = TaskManager::new(TaskManagerParams {
            index: p.index,
            thread: name.clone(),
            config: p.config.clone(),
            topology: p.topology,
            subtopologies: p.subtopologies,
            control: p.control.clone(),
            shared: shared.clone(),
            collector: collector.clone(),
            metrics: metrics.clone(),
            reader,
        });
        Ok(StreamThread {
            index: p.index,
            purger: RepartitionPurger::new(name.clone(), p.config.clone(), repartition_topics),
            name,
            config: p.config,
            control: p.control,
            input,
            tasks,
            collector,
            shared,
            producer_spec,
            publisher: ThreadMetricsPublisher::new(metrics),
            last_commit: Instant::now(),
            commit_failing_since: None,
            consecutive_aborts: 0,
        })
    }

    /// Runs until asked to stop or until a fatal error.
    pub(crate) fn run(mut self) -> Result<()> {
        let mut result = self.run_loop();
        if result.is_ok() {
            // Clean shutdown: commit what was processed, then close.
            self.control
                .set_shutdown_step(self.index, "committing what was processed");
            result = self.commit();
            let clean = result.is_ok() && self.commit_failing_since.is_none();
            if result.is_ok() && !clean {
                tracing::warn!(thread = %self.name, "offsets could not be committed at shutdown; closing the tasks without committing their stores");
                // Nor may the revocation callback commit offsets the stores did not reach.
                self.shared.pending_offsets.clear();
            }
            self.control
                .set_shutdown_step(self.index, "closing its tasks");
            self.tasks.close_all(clean);
        }
        if let Err(e) = &result {
            self.control
                .set_shutdown_step(self.index, "closing its tasks after a failure");
            tracing::error!(thread = %self.name, error = %e, "stream thread failed; closing its tasks without committing");
            // Nothing may be committed from here on: not by us, and not by the revocation
            // callback that runs when the consumer leaves the group. Dropping the producer
            // handle also keeps that callback from waiting on a flush.
            if self.shared.exactly_once {
                self.producer()
                    .abort(&self.shared.pending_offsets, &self.name);
            }
            self.shared.pending_offsets.clear();
            *self.shared.producer.lock() = None;
            self.tasks.close_all(false);
        }
        self.control
            .set_shutdown_step(self.index, "leaving the consumer group");
        let leave = self.control.thread_leaves_group(self.index);
        self.input
            .leave_on_stop(self.config.group_instance_id().is_some(), leave);
        // Its tasks are gone: so are their metrics.
        self.tasks.tasks_mut().clear();
        self.publish_metrics();
        // The clients close when `self` drops, on return.
        self.control
            .set_shutdown_step(self.index, "closing its Kafka clients");
        result
    }

    fn run_loop(&mut self) -> Result<()> {
        self.input.subscribe("subscribing to the source topics")?;
        self.control
            .set_thread_state(self.index, ThreadState::Rebalancing);
        while self.control.keeps_running(self.index) {
            match self.round() {
                Ok(()) => {}
                Err(
                    e @ (StreamsError::TaskMigrated { .. }
                    | StreamsError::TransactionAborted { .. }),
                ) if self.shared.exactly_once => self.recover(e)?,
                Err(e @ StreamsError::StoreCorrupted { .. }) if self.tasks.has_corrupted() => {
                    self.repair_corrupted(e)?
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// One turn of the loop: poll, restore, process, punctuate, and commit when due.
    fn round(&mut self) -> Result<()> {
        let m = self.publisher.metrics().clone();
        let started = Instant::now();
        let paused = self
            .control
            .paused
            .load(std::sync::atomic::Ordering::Acquire);
        self.input
            .poll(&mut self.tasks, paused, self.config.poll_interval())?;
        ThreadMetrics::add(&m.polls, &m.poll_nanos, 1, started.elapsed());
        // A refused authentication or a missing ACL does not pass with retries.
        self.shared.failure.check()?;
        if self.collector.borrow().producer().is_broken() {
            // The revocation callback could not abort: the tasks it concerned are closed.
            self.replace_producer()?;
        }
        self.tasks.retry_deferred(&self.input)?;
        self.tasks.restore(&self.input)?;
        self.tasks.check_ready();
        if self
            .control
            .paused
            .load(std::sync::atomic::Ordering::Acquire)
        {
            // Paused: keep the membership and commits, process nothing (full buffers pause).
            if self.last_commit.elapsed() >= self.config.commit_interval() {
                self.commit()?;
            }
            if self.publisher.due() {
                self.publish_metrics();
            }
            return Ok(());
        }
        let started = Instant::now();
        let processed = self.tasks.process(&mut self.input)?;
        if processed > 0 {
            ThreadMetrics::add(
                &m.process_records,
                &m.process_nanos,
                processed,
                started.elapsed(),
            );
        }
        self.collector.borrow().producer().serve_deliveries();
        let started = Instant::now();
        let fired = self.tasks.punctuate()?;
        if fired > 0 {
            ThreadMetrics::add(
                &m.punctuate_calls,
                &m.punctuate_nanos,
                fired,
                started.elapsed(),
            );
        }
        // While commits fail in a way that passes, only the interval tries again (each try
        // may block for a while).
        let failing = self.commit_failing_since.is_some();
        if self.last_commit.elapsed() >= self.config.commit_interval()
            || (!failing
                && (self.tasks.commit_requested()
                    || self.tasks.uncommitted_bytes() > self.config.uncommitted_max_bytes()))
        {
            self.commit()?;
        }
        if self.publisher.due() {
            self.publish_metrics();
        }
        Ok(())
    }

    /// The thread's producer.
    fn producer(&self) -> Arc<StreamsProducer> {
        self.collector.borrow().producer().clone()
    }

    fn publish_metrics(&mut self) {
        let restoration = self.tasks.restoration();
        self.publisher.publish(
            self.tasks.tasks_mut(),
            &restoration,
            &mut self.input,
            &self.shared,
        );
    }

    /// Recovers from a failed transaction (exactly-once). An abortable failure aborts the
    /// transaction and rewinds every task, input and state, to the last commit. A migration
    /// (fenced producer, stale group membership) closes every task without committing,
    /// replaces the producer and rejoins the group, whose next assignment starts the tasks
    /// again from the committed offsets. Either way nothing of the aborted transaction
    /// remains, in Kafka or in the stores.
    fn recover(&mut self, error: StreamsError) -> Result<()> {
        self.consecutive_aborts += 1;
        if self.consecutive_aborts > MAX_CONSECUTIVE_ABORTS {
            return Err(StreamsError::IllegalState(format!(
                "{MAX_CONSECUTIVE_ABORTS} transactions in a row failed to commit; the last: {error}"
            )));
        }
        self.producer()
            .abort(&self.shared.pending_offsets, &self.name);
        match error {
            StreamsError::TaskMigrated { message, .. } => {
                tracing::warn!(thread = %self.name, %message, "tasks migrated: closing them without committing and rejoining the group");
                self.tasks.migrated(&mut self.input)?;
                self.replace_producer()?;
                self.input.unsubscribe();
                self.input
                    .subscribe("subscribing to the source topics again")?;
                self.control
                    .set_thread_state(self.index, ThreadState::Rebalancing);
            }
            other => {
                tracing::warn!(thread = %self.name, error = %other, "transaction aborted: rewinding the tasks to the last commit");
                if self.producer().is_broken() {
                    self.replace_producer()?;
                }
                self.tasks.rewind_all(&mut self.input)?;
            }
        }
        self.last_commit = Instant::now();
        Ok(())
    }

    /// A store of some task reported corruption while running (a damaged block read, a
    /// commit refused by a database that found damage): those tasks are closed without
    /// committing, their state is moved aside, and they start again from the committed
    /// offsets, restoring their stores from the changelogs. Under exactly-once the open
    /// transaction is aborted and every task rewinds, as after any abort.
    fn repair_corrupted(&mut self, error: StreamsError) -> Result<()> {
        let exactly_once = self.shared.exactly_once;
        self.tasks
            .repair_corrupted(&mut self.input, &error, !exactly_once)?;
        if exactly_once {
            self.producer()
                .abort(&self.shared.pending_offsets, &self.name);
            if self.producer().is_broken() {
                self.replace_producer()?;
            }
            self.tasks.rewind_all(&mut self.input)?;
        }
        Ok(())
    }

    /// Replaces the thread's producer (same transactional id: initialising it fences the
    /// old one and aborts its transaction).
    fn replace_producer(&mut self) -> Result<()> {
        let producer = Arc::new(StreamsProducer::new(&self.producer_spec)?);
        *self.shared.producer.lock() = Some(producer.clone());
        self.collector.borrow_mut().set_producer(producer);
        tracing::info!(thread = %self.name, "replaced the producer");
        Ok(())
    }

    /// Commits what the tasks processed. At-least-once: flush the producer, check
    /// deliveries, commit exactly the offsets of records fully processed. Exactly-once:
    /// the same inside the thread's transaction, offsets sent with the consumer's group
    /// metadata, then the transaction commits. Either way the stores commit last, with the
    /// changelog offsets their changes reached.
    fn commit(&mut self) -> Result<()> {
        let started = Instant::now();
        let result = self.commit_now();
        let elapsed = started.elapsed();
        let m = self.publisher.metrics();
        ThreadMetrics::add(&m.commits, &m.commit_nanos, 1, elapsed);
        tracing::debug!(thread = %self.name, elapsed_ms = elapsed.as_millis() as u64, ok = result.is_ok(), "commit");
        result
    }

    fn commit_now(&mut self) -> Result<()> {
        self.tasks.prepare_commit();
        let committing = self.purger.select(&self.shared.pending_offsets);
        let production = self.config.task_settings().production;
        let result = {
            let collector = self.collector.borrow();
            collector.producer().commit(
                self.input.consumer(),
                &self.shared.pending_offsets,
                COMMIT_RETRY_TIME,
                || collector.check_deliveries(&*production),
            )
        };
        self.last_commit = Instant::now();
        match result {
            Ok(CommitOutcome::Committed) => {
                if let Some(since) = self.commit_failing_since.take() {
                    tracing::info!(thread = %self.name, failing_ms = since.elapsed().as_millis() as u64, "offsets committed again");
                }
                self.consecutive_aborts = 0;
                self.purger.committed(committing);
                let committed = self.tasks.commit_stores();
                self.purger.maybe_purge();
                committed
            }
            // At-least-once, nothing committed for a reason that passes: the offsets stay
            // pending (newer ones replace them per partition) and the stores keep their
            // staged writes, since they commit only after the offsets. The next commit
            // interval tries again, for up to `COMMIT_FAILURE_LIMIT`.
            Ok(CommitOutcome::Deferred(e)) => {
                let since = *self.commit_failing_since.get_or_insert_with(|| {
                    tracing::warn!(thread = %self.name, error = %e, "committing offsets failed in a way that passes (group coordinator moving, loading or unreachable); they stay pending and the next commit tries again");
                    Instant::now()
                });
                if since.elapsed() > COMMIT_FAILURE_LIMIT {
                    return Err(StreamsError::kafka(
                        format!("committing offsets (failing for {:?})", since.elapsed()),
                        e,
                    ));
                }
                tracing::debug!(thread = %self.name, error = %e, "offsets still not committed");
                Ok(())
            }
            // Under at-least-once the offsets commit again after the rebalance; under
            // exactly-once the open transaction must not commit later: recovery aborts it.
            Err(StreamsError::TaskMigrated { message, .. }) if !self.shared.exactly_once => {
                tracing::info!(thread = %self.name, %message, "commit skipped: the group is rebalancing");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}
