//! How the task manager recovers its tasks: rewinding them to the last commit (after an
//! abort, or a store found corrupt), and closing them all when they migrated.

use std::collections::HashSet;

use rdkafka::{Offset, TopicPartitionList};

use super::TaskManager;
use crate::error::{Result, StreamsError};
use crate::ids::TaskId;
use crate::runtime::input_flow::InputFlow;
use crate::topology::OffsetReset;

impl TaskManager {
    /// The tasks of `self.corrupted` are closed without committing, marked to have their
    /// state moved aside, and (under at-least-once) rewound to start again from the committed
    /// offsets, restoring their stores from the changelogs. Under exactly-once the caller
    /// aborts and rewinds every task instead.
    pub(crate) fn repair_corrupted(
        &mut self,
        input: &mut InputFlow,
        error: &StreamsError,
        rewind: bool,
    ) -> Result<()> {
        let ids: Vec<TaskId> = std::mem::take(&mut self.corrupted).into_iter().collect();
        tracing::error!(thread = %self.p.thread, tasks = ?ids, %error, "state store corrupt while running; moving the tasks' state aside and restoring it from the changelogs");
        self.move_aside.extend(ids.iter().copied());
        if rewind {
            self.rewind(ids, input)
        } else {
            Ok(())
        }
    }

    /// Closes every task without committing, moves its input back to the committed offsets
    /// and starts it again: its stores reopen at their last commit and restore what the
    /// changelogs committed after it.
    pub(crate) fn rewind_all(&mut self, input: &mut InputFlow) -> Result<()> {
        let ids: Vec<TaskId> = self.tasks.keys().copied().collect();
        self.rewind(ids, input)
    }

    /// Closes the tasks `ids` without committing, seeks their inputs back to the committed
    /// offsets and starts them again (restoring what their stores lack).
    fn rewind(&mut self, ids: Vec<TaskId>, input: &mut InputFlow) -> Result<()> {
        let mut inputs = TopicPartitionList::new();
        // Inputs paused in librdkafka (full, or restoring): closing the tasks forgets them
        // here, so they are resumed after the seek; starting the tasks pauses what must be.
        let mut paused = Vec::new();
        for task in ids.iter().filter_map(|id| self.tasks.get(id)) {
            for (topic, partition) in task.input_partitions() {
                inputs.add_partition(topic, partition);
                if task.is_restoring() || input.is_paused_full(topic, partition) {
                    paused.push((topic.to_owned(), partition));
                }
            }
        }
        self.close_tasks(&ids, false, input)?;
        // What these tasks processed since the last commit is processed again: its offsets
        // must not commit.
        let rewound: HashSet<(String, i32)> = inputs
            .elements()
            .iter()
            .map(|e| (e.topic().to_owned(), e.partition()))
            .collect();
        self.p
            .shared
            .pending_offsets
            .retain(|key| !rewound.contains(key));
        if inputs.count() > 0 {
            for e in input.committed_offsets(&inputs)?.elements() {
                let offset = match e.offset() {
                    Offset::Offset(o) => Offset::Offset(o),
                    _ => match self.p.topology.offset_reset(e.topic()) {
                        Some(OffsetReset::Latest) => Offset::End,
                        _ => Offset::Beginning,
                    },
                };
                input.seek(e.topic(), e.partition(), offset, "a task's input")?;
            }
        }
        if !paused.is_empty() {
            input.resume(
                paused.iter().map(|(t, p)| (t.as_str(), *p)),
                "a rewound task's input",
            )?;
        }
        for id in ids {
            if let Some(sub) = self.creator.sub_of(id) {
                self.try_start(id, sub, None, input)?;
            }
        }
        self.awaiting_ready = true;
        Ok(())
    }

    /// After the thread's tasks migrated (a fenced producer, a stale membership): closes
    /// every task without committing and forgets the deferred ones; the group's next
    /// assignment starts them again from the committed offsets.
    pub(crate) fn migrated(&mut self, input: &mut InputFlow) -> Result<()> {
        let ids: Vec<TaskId> = self.tasks.keys().copied().collect();
        self.close_tasks(&ids, false, input)?;
        self.close_suspended();
        self.deferred.clear();
        self.waiting_for_transactions.clear();
        self.rewind.clear();
        self.claim_active();
        Ok(())
    }
}
