//! A stream thread's standby tasks (Kafka Streams' `StandbyTask`): warm copies of tasks
//! another instance runs. A standby task has the stores of its task and nothing else running:
//! the thread's restore consumer follows its changelog partitions (read-committed under
//! exactly-once) and applies each batch to the stores with the offset reached, so the copy is
//! never more than a poll behind. When the task comes to this thread as active, the standby
//! becomes it and restores only what it had not read yet; when it goes to another thread of
//! this client, the standby closes (its checkpoint saved) so that thread can open the state.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::changelog_reader::ChangelogReader;
use super::control::ClientControl;
use super::task_creator::TaskCreator;
use crate::error::{Result, StreamsError};
use crate::ids::TaskId;
use crate::task::StreamTask;

/// How long a standby whose state is locked (its active copy still closing on this machine)
/// waits before the thread tries again.
const LOCKED_RETRY: Duration = Duration::from_millis(200);

/// The standby tasks of one stream thread.
pub(crate) struct StandbyTasks {
    /// The thread's index: its share of the client's standby plan.
    index: usize,
    /// The standby plan, and the registry of stores for stale queries.
    control: Arc<ClientControl>,
    tasks: BTreeMap<TaskId, StreamTask>,
    /// The version of the plan last applied.
    seen: Option<u64>,
    /// When a standby could not be opened yet, when to try again.
    retry_at: Option<Instant>,
}

impl StandbyTasks {
    pub(crate) fn new(index: usize, control: Arc<ClientControl>) -> Self {
        StandbyTasks {
            index,
            control,
            tasks: BTreeMap::new(),
            seen: None,
            retry_at: None,
        }
    }

    /// The standby tasks, for the changelog reader to apply records to.
    pub(crate) fn tasks_mut(&mut self) -> &mut BTreeMap<TaskId, StreamTask> {
        &mut self.tasks
    }

    /// How many standby tasks the thread keeps.
    pub(crate) fn len(&self) -> usize {
        self.tasks.len()
    }

    /// The standby tasks' ids.
    fn ids(&self) -> BTreeSet<TaskId> {
        self.tasks.keys().copied().collect()
    }

    /// Takes standby `id` out, to run as active: its changelog partitions are no longer read
    /// as a standby's.
    pub(crate) fn take(
        &mut self,
        id: TaskId,
        reader: &mut ChangelogReader,
    ) -> Result<Option<StreamTask>> {
        let Some(task) = self.tasks.remove(&id) else {
            return Ok(None);
        };
        self.control.stores.remove_standby(id);
        self.control.standbys.set_kept(self.index, self.ids());
        reader.unregister_standby(id)?;
        Ok(Some(task))
    }

    /// Applies the thread's share of the plan when it changed (or a retry is due): closes
    /// the standbys no longer wanted, opens the new ones. A standby whose state is locked
    /// (the active copy closing on another thread of this machine) is tried again shortly.
    pub(crate) fn update(
        &mut self,
        creator: &TaskCreator,
        reader: &mut ChangelogReader,
    ) -> Result<()> {
        let plan = &self.control.standbys;
        let version = plan.version();
        let retry = self.retry_at.is_some_and(|at| Instant::now() >= at);
        if self.seen == Some(version) && !retry {
            return Ok(());
        }
        self.seen = Some(version);
        self.retry_at = None;
        let wanted = plan.wanted(self.index);
        let gone: Vec<TaskId> = self
            .tasks
            .keys()
            .filter(|id| !wanted.contains(id))
            .copied()
            .collect();
        for id in gone {
            self.close(id, reader, &creator.thread);
        }
        for id in wanted {
            if self.tasks.contains_key(&id) {
                continue;
            }
            let Some(sub) = creator.sub_of(id) else {
                continue;
            };
            match creator.open(id, sub, None, reader) {
                Ok((task, ranges)) => {
                    reader.register_standby(id, ranges)?;
                    tracing::info!(thread = %creator.thread, task = %id, "created standby task");
                    self.control
                        .stores
                        .register_standby(id, task.queryable_stores());
                    self.tasks.insert(id, task);
                }
                Err(StreamsError::TaskLocked { .. }) => {
                    tracing::debug!(thread = %creator.thread, task = %id, "standby task's state locked; trying again shortly");
                    self.retry_at = Some(Instant::now() + LOCKED_RETRY);
                }
                Err(e) => return Err(e),
            }
        }
        self.control.standbys.set_kept(self.index, self.ids());
        Ok(())
    }

    /// Closes standby `id`: its stores keep what they applied, with its offset.
    fn close(&mut self, id: TaskId, reader: &mut ChangelogReader, thread: &str) {
        let Some(mut task) = self.tasks.remove(&id) else {
            return;
        };
        self.control.stores.remove_standby(id);
        if let Err(e) = reader.unregister_standby(id) {
            tracing::warn!(%thread, task = %id, error = %e, "forgetting a standby's changelogs failed");
        }
        if let Err(e) = task.close() {
            tracing::warn!(%thread, task = %id, error = %e, "closing a standby task failed");
        }
        tracing::info!(%thread, task = %id, "closed standby task");
    }

    /// Closes every standby task.
    pub(crate) fn close_all(&mut self, reader: &mut ChangelogReader, thread: &str) {
        let ids: Vec<TaskId> = self.tasks.keys().copied().collect();
        for id in ids {
            self.close(id, reader, thread);
        }
    }
}
