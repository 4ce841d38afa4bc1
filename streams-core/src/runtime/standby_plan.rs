//! The client's standby plan: which standby tasks each stream thread keeps (published by the
//! standby assignor) and which tasks the threads run or want as active (published by the
//! threads), so that no thread keeps a standby copy of a task this client runs. A version
//! number tells the threads when to look again.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::ids::TaskId;

/// Standby tasks per thread, and the tasks the client's threads claim as active.
#[derive(Debug, Default)]
pub(crate) struct StandbyPlan {
    version: AtomicU64,
    /// Per thread index: the standby tasks it should keep.
    by_thread: Mutex<BTreeMap<usize, BTreeSet<TaskId>>>,
    /// Per thread index: the tasks it runs, restores or waits to start as active.
    claimed: Mutex<BTreeMap<usize, BTreeSet<TaskId>>>,
    /// Per thread index: the standby tasks it has open.
    kept: Mutex<BTreeMap<usize, BTreeSet<TaskId>>>,
}

impl StandbyPlan {
    /// Changes whenever the plan or a claim does.
    pub(crate) fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// Replaces the standby tasks of every thread.
    pub(crate) fn publish(&self, by_thread: BTreeMap<usize, BTreeSet<TaskId>>) {
        let mut current = self.by_thread.lock();
        if *current != by_thread {
            *current = by_thread;
            self.version.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Records the tasks thread `index` runs or wants as active.
    pub(crate) fn claim(&self, index: usize, tasks: BTreeSet<TaskId>) {
        let mut claimed = self.claimed.lock();
        if claimed.get(&index) != Some(&tasks) {
            claimed.insert(index, tasks);
            self.version.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Records the standby tasks thread `index` has open.
    pub(crate) fn set_kept(&self, index: usize, tasks: BTreeSet<TaskId>) {
        self.kept.lock().insert(index, tasks);
    }

    /// Thread `index`'s active tasks (claimed) and open standby tasks.
    pub(crate) fn local(&self, index: usize) -> (BTreeSet<TaskId>, BTreeSet<TaskId>) {
        let active = self.claimed.lock().get(&index).cloned().unwrap_or_default();
        (
            active,
            self.kept.lock().get(&index).cloned().unwrap_or_default(),
        )
    }

    /// The standby tasks thread `index` should keep: its share of the plan, less the tasks
    /// any thread of this client claims as active.
    pub(crate) fn wanted(&self, index: usize) -> BTreeSet<TaskId> {
        let mut wanted = self
            .by_thread
            .lock()
            .get(&index)
            .cloned()
            .unwrap_or_default();
        for tasks in self.claimed.lock().values() {
            wanted.retain(|id| !tasks.contains(id));
        }
        wanted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(subtopology: u32, partition: i32) -> TaskId {
        TaskId {
            subtopology,
            partition,
        }
    }

    #[test]
    fn a_task_claimed_as_active_is_no_thread_s_standby() {
        let plan = StandbyPlan::default();
        let v0 = plan.version();
        plan.publish(BTreeMap::from([
            (0, BTreeSet::from([t(0, 1), t(0, 2)])),
            (1, BTreeSet::from([t(1, 0)])),
        ]));
        assert!(plan.version() > v0);
        let v1 = plan.version();
        plan.publish(BTreeMap::from([
            (0, BTreeSet::from([t(0, 1), t(0, 2)])),
            (1, BTreeSet::from([t(1, 0)])),
        ]));
        assert_eq!(plan.version(), v1, "the same plan again changes nothing");
        plan.claim(1, BTreeSet::from([t(0, 2)]));
        assert!(plan.version() > v1);
        assert_eq!(plan.wanted(0), BTreeSet::from([t(0, 1)]));
        assert_eq!(plan.wanted(1), BTreeSet::from([t(1, 0)]));
        assert_eq!(plan.wanted(2), BTreeSet::new());
    }
}
