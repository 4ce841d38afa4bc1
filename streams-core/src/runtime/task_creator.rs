//! Creates a stream thread's tasks (Kafka Streams' `ActiveTaskCreator` and
//! `StandbyTaskCreator` in one): builds a sub-topology for a partition with its stores, and
//! opens its state against its changelogs, wiping a checkpoint that does not belong to them
//! and moving corrupt state aside.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use super::changelog_reader::{ChangelogRange, ChangelogReader};
use super::record_collector::KafkaRecordCollector;
use crate::config::StreamsConfig;
use crate::error::{Result, StreamsError};
use crate::ids::TaskId;
use crate::metrics::ThreadMetrics;
use crate::state_manager::{lock_task_dir, move_state_aside};
use crate::task::StreamTask;
use crate::timestamp::now_ms;
use crate::topology::instantiate::TaskEnv;
use crate::topology::{Subtopology, Topology};

/// What a thread's tasks are made from.
pub(crate) struct TaskCreator {
    pub thread: String,
    pub config: StreamsConfig,
    pub topology: Arc<Topology>,
    pub subtopologies: Arc<Vec<Subtopology>>,
    pub collector: Rc<RefCell<KafkaRecordCollector>>,
    pub metrics: Arc<ThreadMetrics>,
}

impl TaskCreator {
    /// The index of task `id`'s sub-topology.
    pub(crate) fn sub_of(&self, id: TaskId) -> Option<usize> {
        self.subtopologies
            .iter()
            .position(|s| s.id == id.subtopology)
    }

    /// Builds task `id` of sub-topology `sub`: processors, stores (opened, taking the task's
    /// state lock) and input queues.
    pub(crate) fn build(&self, id: TaskId, sub: usize) -> Result<StreamTask> {
        let env = TaskEnv {
            application_id: self.config.application_id().into(),
            state_dir: self.config.state_dir().to_path_buf(),
            collector: self.collector.clone(),
            settings: self.config.task_settings(),
            wall_clock: now_ms(),
        };
        let task = self
            .topology
            .build_task(&self.subtopologies[sub], id.partition, env)?;
        if task.state.state_moved_aside.is_some() {
            self.count_corruption();
        }
        Ok(task)
    }

    /// Builds task `id` (or takes `existing`, a standby copy becoming active) and reads the
    /// watermarks of its changelog partitions. A checkpoint outside them is not this
    /// changelog's (a deleted and recreated topic, foreign state): the task's state is wiped
    /// and built anew, to be restored from the beginning.
    pub(crate) fn open(
        &self,
        id: TaskId,
        sub: usize,
        existing: Option<StreamTask>,
        reader: &mut ChangelogReader,
    ) -> Result<(StreamTask, Vec<ChangelogRange>)> {
        let mut task = match existing {
            Some(task) => task,
            None => self.build(id, sub)?,
        };
        let mut ranges = reader.ranges(&task)?;
        if ranges
            .iter()
            .any(|(c, low, high)| c.checkpoint.is_some_and(|o| o < *low || o > *high))
        {
            tracing::warn!(thread = %self.thread, task = %id, "checkpoint outside the changelog's offsets; wiping the task's state");
            task.close()?;
            let dir = task.task_dir().to_path_buf();
            // Release the task's lock before wiping and rebuilding it.
            drop(task);
            std::fs::remove_dir_all(&dir)
                .map_err(|e| StreamsError::io(format!("wiping {}", dir.display()), e))?;
            task = self.build(id, sub)?;
            for (c, _, _) in &mut ranges {
                c.checkpoint = None;
            }
        }
        Ok((task, ranges))
    }

    /// Moves the state directory of task `id` aside (its store reported corruption).
    pub(crate) fn move_state_aside(&self, id: TaskId) -> Result<()> {
        let dir = self
            .config
            .state_dir()
            .join(self.config.application_id())
            .join(id.to_string());
        if dir.exists() {
            let _lock = lock_task_dir(&dir, id)?;
            let moved = move_state_aside(&dir)?;
            tracing::error!(thread = %self.thread, task = %id, dir = %dir.display(), moved_to = %moved.display(), "moved the task's corrupt state aside");
            self.count_corruption();
        }
        Ok(())
    }

    fn count_corruption(&self) {
        self.metrics
            .state_corruptions
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}
