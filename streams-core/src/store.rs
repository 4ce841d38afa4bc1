//! The state-store seam between the runtime and store implementations.
//!
//! The runtime manages stores without knowing their types: it builds them from a
//! [`StoreBuilder`] when a task is created, flushes them before a commit and closes them with
//! the task. Processors reach a store by name through
//! [`ProcessorContext::state_store`](crate::processor::ProcessorContext::state_store), which
//! hands out a typed [`StoreHandle`]. The implementations (key-value, window, session;
//! in-memory and RocksDB) live in the `state-stores` crate.

use std::any::Any;
use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;

use crate::TaskId;
use crate::error::Result;

/// What the runtime needs of every store.
pub trait StateStore: 'static {
    /// The store's name, unique within a topology.
    fn name(&self) -> &str;
    /// Makes buffered writes durable locally; called before offsets are committed.
    fn flush(&mut self) -> Result<()>;
    /// Releases the store's resources; called once when its task closes.
    fn close(&mut self) -> Result<()>;
}

/// A shared handle on a store of concrete type `S`, as processors hold it.
pub type StoreHandle<S> = Rc<RefCell<S>>;

/// A store built for one task: its lifecycle view for the runtime and its typed view for
/// processors, both on the same object.
pub struct StoreInstance {
    pub(crate) lifecycle: Rc<RefCell<dyn StateStore>>,
    pub(crate) typed: Rc<dyn Any>,
}

impl StoreInstance {
    /// Wraps a freshly built store.
    pub fn new<S: StateStore>(store: S) -> Self {
        let rc = Rc::new(RefCell::new(store));
        StoreInstance {
            lifecycle: rc.clone(),
            typed: rc,
        }
    }

    pub(crate) fn handle<S: 'static>(&self) -> Option<StoreHandle<S>> {
        self.typed.clone().downcast::<RefCell<S>>().ok()
    }
}

/// Where and for whom a store is being built.
#[derive(Debug, Clone)]
pub struct StoreContext {
    /// The owning task.
    pub task_id: TaskId,
    /// The `application.id`.
    pub application_id: String,
    /// The task's directory, `<state.dir>/<application.id>/<task id>/`.
    pub task_dir: PathBuf,
}

/// Builds one instance of a store per task.
pub trait StoreBuilder: Send + Sync + 'static {
    /// The store's name.
    fn name(&self) -> &str;
    /// Builds the store for a task.
    fn build(&self, ctx: &StoreContext) -> Result<StoreInstance>;
}
