//! Task instantiation: one sub-topology built for one partition, with its stores opened
//! (moved aside when corrupt, wiped when their committed offset cannot be trusted), its
//! processors instantiated and its input queues set up.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use super::node_def::{Factory, Instantiation, NodeKind};
use super::{Subtopology, Topology};
use crate::collector::RecordCollector;
use crate::context::{TaskContext, TaskSettings};
use crate::error::{Result, StreamsError};
use crate::ids::TaskId;
use crate::store::{ChangelogWriter, StoreContext, StoreInstance, changelog_topic};
use crate::task::{StreamTask, TaskInput};

impl Topology {
    /// Builds the stores of `sub` for task `task_id`, with their changelog partitions.
    fn build_stores(
        &self,
        sub: &Subtopology,
        task_id: TaskId,
        env: &TaskEnv,
        task_dir: &std::path::Path,
        record_timestamp: &Rc<std::cell::Cell<i64>>,
    ) -> Result<TaskStores> {
        let mut stores = HashMap::new();
        let mut changelogs = Vec::new();
        for def in &self.stores {
            let name = def.builder.name();
            if !sub.stores.iter().any(|s| s == name) {
                continue;
            }
            let changelog = def.builder.changelog().map(|_| {
                let topic = changelog_topic(&env.application_id, name);
                changelogs.push(crate::state_manager::ChangelogPartition {
                    store: name.to_owned(),
                    topic: topic.clone(),
                    partition: task_id.partition,
                    restore_end: None,
                    restored: 0,
                    checkpoint: None,
                    persistent: def.builder.persistent(),
                });
                ChangelogWriter::new(
                    topic.into(),
                    task_id.partition,
                    env.collector.clone(),
                    record_timestamp.clone(),
                )
            });
            let store_ctx = StoreContext {
                task_id,
                application_id: env.application_id.to_string(),
                task_dir: task_dir.to_path_buf(),
                changelog,
            };
            stores.insert(name.to_owned(), def.builder.build(&store_ctx)?);
        }
        Ok((stores, changelogs))
    }

    /// Instantiates sub-topology `subtopology` for `partition`.
    pub(crate) fn build_task(
        &self,
        sub: &Subtopology,
        partition: i32,
        env: TaskEnv,
    ) -> Result<StreamTask> {
        let task_id = TaskId {
            subtopology: sub.id,
            partition,
        };
        let record_timestamp = Rc::new(std::cell::Cell::new(-1));
        let task_dir = env
            .state_dir
            .join(&*env.application_id)
            .join(task_id.to_string());
        let lock = if sub.stores.is_empty() {
            None
        } else {
            Some(crate::state_manager::lock_task_dir(&task_dir, task_id)?)
        };
        let existed = task_dir.exists();
        // Stores that cannot be opened because their files are damaged or missing are moved
        // aside with the rest of the task's state and restored from the changelogs, the
        // source of truth: a corrupt store never needs a person to delete it.
        let mut moved_aside = None;
        let (mut stores, mut changelogs) = match self.build_stores(
            sub,
            task_id,
            &env,
            &task_dir,
            &record_timestamp,
        ) {
            Err(StreamsError::StoreCorrupted { store, message }) => {
                let moved = crate::state_manager::move_state_aside(&task_dir)?;
                tracing::error!(task = %task_id, %store, dir = %task_dir.display(), moved_to = %moved.display(), error = %message, "state store is corrupt; moved the task's state aside, restoring it from the changelogs");
                moved_aside = Some(moved);
                self.build_stores(sub, task_id, &env, &task_dir, &record_timestamp)?
            }
            other => other?,
        };
        // A logged store kept on disk says which changelog offset its content is at; one that
        // cannot (state written by something else, or a corrupt offset) is not trusted: the
        // task's state is wiped and restored from the beginning of the changelogs.
        let mut trusted = true;
        for c in changelogs.iter_mut().filter(|c| c.persistent) {
            let offset = stores
                .get(&c.store)
                .map(|s| s.lifecycle.borrow().committed_offset());
            match offset {
                Some(Ok(offset)) => c.checkpoint = offset,
                Some(Err(e)) => {
                    tracing::warn!(task = %task_id, store = %c.store, error = %e, "unreadable committed offset");
                    trusted = false;
                }
                None => {}
            }
            trusted &= c.checkpoint.is_some();
        }
        if existed && !trusted {
            tracing::warn!(task = %task_id, dir = %task_dir.display(), "local state without a committed changelog offset; wiping it and restoring from the changelogs");
            for store in stores.values() {
                store.lifecycle.borrow_mut().close()?;
            }
            drop(stores);
            std::fs::remove_dir_all(&task_dir).map_err(|e| StreamsError::Io {
                context: format!("wiping {}", task_dir.display()),
                source: e,
            })?;
            (stores, changelogs) =
                self.build_stores(sub, task_id, &env, &task_dir, &record_timestamp)?;
        }
        let node_names: Arc<[Arc<str>]> = self.nodes.iter().map(|n| n.name.clone()).collect();
        let node_stores: Arc<[Vec<String>]> = self
            .nodes
            .iter()
            .map(|n| match &n.kind {
                NodeKind::Processor { stores } => stores.clone(),
                _ => Vec::new(),
            })
            .collect();
        let ctx = TaskContext::new(
            task_id,
            env.application_id,
            node_names,
            node_stores,
            stores,
            env.collector,
            record_timestamp,
            env.settings,
            env.wall_clock,
        );
        let topic_name = |t: &str| self.topic_name(t);
        let mut inst = Instantiation {
            nodes: &self.nodes,
            topic_name: &topic_name,
            cache: HashMap::new(),
            ops: Vec::new(),
        };
        let mut inputs = Vec::new();
        for &i in &sub.nodes {
            let def = &self.nodes[i];
            if let (NodeKind::Source { topics }, Factory::Source(factory)) =
                (&def.kind, &def.factory)
            {
                let source = factory.build(i, &mut inst)?;
                for topic in topics {
                    inputs.push(TaskInput {
                        topic: topic.as_str().into(),
                        partition,
                        source: source.clone(),
                        extractor: def.extractor.clone(),
                    });
                }
            }
        }
        let mut ops = inst.ops;
        ops.sort_by_key(|(i, _)| *i);
        let mut task = StreamTask::new(ctx, inputs, ops, changelogs, task_dir, lock);
        task.state.state_moved_aside = moved_aside;
        Ok(task)
    }
}

/// A task's stores by name, and the changelog partitions of the logged ones.
type TaskStores = (
    HashMap<String, StoreInstance>,
    Vec<crate::state_manager::ChangelogPartition>,
);

/// What a task needs from its environment (runtime or test driver).
pub(crate) struct TaskEnv {
    pub application_id: Arc<str>,
    pub state_dir: std::path::PathBuf,
    pub collector: Rc<RefCell<dyn RecordCollector>>,
    pub settings: TaskSettings,
    pub wall_clock: i64,
}
