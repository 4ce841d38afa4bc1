//! A task's state manager (Kafka Streams' `ProcessorStateManager`): the task's state
//! directory and its lock, the changelog partition of each logged store with how far the
//! local store holds it (the checkpoint, kept in the store itself) and how far restoring it
//! has come, and the commit, restore and close of the stores.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{Result, StreamsError};
use crate::ids::TaskId;
use crate::store::{StoreInstance, StoreMetric};

/// A changelog partition of one of the task's stores, and how far restoring it has come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChangelogPartition {
    pub store: String,
    pub topic: String,
    pub partition: i32,
    /// The end offset to restore up to (exclusive); `None` when not restoring.
    pub restore_end: Option<i64>,
    /// Records restored so far.
    pub restored: u64,
    /// The offset the local store is known to contain everything before, saved in the store
    /// itself with its last commit.
    pub checkpoint: Option<i64>,
    /// Whether the store outlives its task on disk; only such stores are checkpointed.
    pub persistent: bool,
}

/// Takes the exclusive lock of a task's state: the file `<task dir>.lock` beside the task
/// directory (beside it, so that wiping the directory keeps the lock). Fails at once, with an
/// error naming the task, if another thread or process holds it.
pub(crate) fn lock_task_dir(task_dir: &Path, task_id: TaskId) -> Result<std::fs::File> {
    let lock_path = task_dir.with_extension("lock");
    if let Some(parent) = lock_path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| StreamsError::io(format!("creating {}", parent.display()), e))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| StreamsError::io(format!("opening {}", lock_path.display()), e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StreamsError::TaskLocked {
            task: task_id.to_string(),
            path: lock_path.display().to_string(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(StreamsError::io(
            format!("locking {}", lock_path.display()),
            e,
        )),
    }
}

/// Moves a task's state directory aside as `<task dir>.corrupt-<unix ms>` (removing the
/// ones an earlier corruption left, so at most one is kept per task), for a person to
/// inspect; returns where it went. The caller holds the task's lock.
pub(crate) fn move_state_aside(task_dir: &Path) -> Result<PathBuf> {
    let name = task_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let prefix = format!("{name}.corrupt-");
    if let Some(parent) = task_dir.parent()
        && let Ok(entries) = std::fs::read_dir(parent)
    {
        for old in entries.flatten() {
            if old.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_dir_all(old.path());
            }
        }
    }
    let moved = task_dir.with_file_name(format!("{prefix}{}", crate::timestamp::now_ms()));
    std::fs::rename(task_dir, &moved).map_err(|e| {
        StreamsError::io(
            format!("moving {} aside to {}", task_dir.display(), moved.display()),
            e,
        )
    })?;
    Ok(moved)
}

/// The state of one task on this machine: its directory, lock and changelog partitions.
pub(crate) struct StateManager {
    changelogs: Vec<ChangelogPartition>,
    task_dir: PathBuf,
    /// Held while the task is open: no other thread or process on this machine opens the same
    /// task's stores meanwhile.
    _lock: Option<std::fs::File>,
    /// Where the task's state went when a store could not be opened (corrupt or missing
    /// files); the stores were then built anew, to be restored from the changelogs.
    pub(crate) state_moved_aside: Option<PathBuf>,
}

impl StateManager {
    pub(crate) fn new(
        changelogs: Vec<ChangelogPartition>,
        task_dir: PathBuf,
        lock: Option<std::fs::File>,
    ) -> Self {
        StateManager {
            changelogs,
            task_dir,
            _lock: lock,
            state_moved_aside: None,
        }
    }

    /// The task's directory, `<state.dir>/<application.id>/<task id>/`.
    pub(crate) fn task_dir(&self) -> &Path {
        &self.task_dir
    }

    /// Commits the task's stores after its output and offsets were committed to Kafka: each
    /// store applies its staged writes together with the offset of its changelog partition
    /// after the last change acknowledged (`written`), never moving backwards.
    pub(crate) fn commit(
        &mut self,
        stores: &HashMap<String, StoreInstance>,
        written: &HashMap<(String, i32), i64>,
    ) -> Result<()> {
        for (name, store) in stores {
            let changelog = self.changelogs.iter_mut().find(|c| &c.store == name);
            let offset = match changelog {
                Some(c) if c.persistent && c.restore_end.is_none() => {
                    let offset = written
                        .get(&(c.topic.clone(), c.partition))
                        .map(|o| o + 1)
                        .max(c.checkpoint);
                    c.checkpoint = offset;
                    offset
                }
                _ => None,
            };
            store.lifecycle.borrow_mut().commit(offset)?;
        }
        Ok(())
    }

    /// Bytes the task's stores hold for the next commit.
    pub(crate) fn uncommitted_bytes(stores: &HashMap<String, StoreInstance>) -> usize {
        stores
            .values()
            .map(|s| s.lifecycle.borrow().uncommitted_bytes())
            .sum()
    }

    /// The changelog partitions of the task's logged stores.
    pub(crate) fn changelogs(&self) -> &[ChangelogPartition] {
        &self.changelogs
    }

    /// Marks `topic`-`partition` as to be restored up to `end` (exclusive). The count of
    /// restored records starts again: a task resumed or taken over from a standby copy
    /// counts only what this restoration applies.
    pub(crate) fn start_restoring(&mut self, topic: &str, partition: i32, end: i64) {
        if let Some(c) = self
            .changelogs
            .iter_mut()
            .find(|c| c.topic == topic && c.partition == partition)
        {
            c.restore_end = Some(end);
            c.restored = 0;
        }
    }

    /// Marks a changelog partition as restored: the store now holds everything before the
    /// end offset, which becomes its checkpoint.
    pub(crate) fn finish_restoring(&mut self, topic: &str, partition: i32) {
        if let Some(c) = self
            .changelogs
            .iter_mut()
            .find(|c| c.topic == topic && c.partition == partition)
        {
            c.checkpoint = c.restore_end.take().or(c.checkpoint);
        }
    }

    /// Records that the store logging to `topic`-`partition` holds every change before
    /// `offset` (nothing was left to restore).
    pub(crate) fn set_checkpoint(&mut self, topic: &str, partition: i32, offset: i64) {
        if let Some(c) = self
            .changelogs
            .iter_mut()
            .find(|c| c.topic == topic && c.partition == partition)
        {
            c.checkpoint = Some(offset);
        }
    }

    /// True while some store of the task is being restored; the task processes nothing then.
    pub(crate) fn is_restoring(&self) -> bool {
        self.changelogs.iter().any(|c| c.restore_end.is_some())
    }

    /// Applies changelog records to the store that logs to `topic`; the store then holds
    /// every change before `next` (the offset after the batch), which it saves with them.
    pub(crate) fn restore(
        &mut self,
        stores: &HashMap<String, StoreInstance>,
        task: TaskId,
        topic: &str,
        partition: i32,
        batch: &[(Vec<u8>, Option<Vec<u8>>)],
        next: i64,
    ) -> Result<()> {
        let Some(c) = self
            .changelogs
            .iter_mut()
            .find(|c| c.topic == topic && c.partition == partition)
        else {
            return Ok(());
        };
        if c.restore_end.is_some() {
            c.restored += batch.len() as u64;
        } else {
            // A standby task: its store follows the changelog, and holds everything before
            // `next` (the checkpoint of a persistent store, saved below; kept here for all).
            // What it reads is not restoration: a task it becomes counts only what it restores.
            c.checkpoint = Some(next);
        }
        let store = stores.get(&c.store).ok_or_else(|| {
            StreamsError::IllegalState(format!("task {} has no store {}", task, c.store))
        })?;
        let mut store = store.lifecycle.borrow_mut();
        store.restore_batch(batch)?;
        store.commit(c.persistent.then_some(next))
    }

    /// Each store's own metrics, by store name.
    pub(crate) fn metrics(
        stores: &HashMap<String, StoreInstance>,
    ) -> Vec<(String, Vec<StoreMetric>)> {
        let mut out: Vec<(String, Vec<StoreMetric>)> = stores
            .iter()
            .map(|(name, s)| (name.clone(), s.lifecycle.borrow().metrics()))
            .filter(|(_, m)| !m.is_empty())
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Closes every store; writes not committed are dropped. Returns the first error.
    pub(crate) fn close(stores: &HashMap<String, StoreInstance>) -> Result<()> {
        let mut first_error = None;
        for store in stores.values() {
            if let Err(e) = store.lifecycle.borrow_mut().close() {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_directory_is_locked_once_at_a_time() {
        let dir = tempfile::Builder::new()
            .prefix("kstreams-test-lock-")
            .tempdir()
            .expect("temporary directory");
        let task_dir = dir.path().join("app").join("0_1");
        let id = TaskId {
            subtopology: 0,
            partition: 1,
        };
        let first = lock_task_dir(&task_dir, id).expect("first lock");
        let err = lock_task_dir(&task_dir, id).expect_err("second lock refused");
        assert_eq!(
            err.to_string(),
            format!(
                "the state of task 0_1 is locked by another thread or process ({})",
                task_dir.with_extension("lock").display()
            )
        );
        drop(first);
        lock_task_dir(&task_dir, id).expect("free again after the holder closes");
    }
}
