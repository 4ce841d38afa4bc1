//! `StoreSlot`: a DSL processor's store, named when the topology is built and looked up when
//! the processor's task starts, so that each processor does not keep a name and an `Option`
//! of its own and check it on every record.

use streams_core::processor::{ProcessorContext, ProcessorError};
use streams_core::store::StoreHandle;

/// A store a processor uses: its name, and its handle once `init` has looked it up.
pub(crate) struct StoreSlot<S> {
    name: String,
    handle: Option<StoreHandle<S>>,
}

impl<S: 'static> StoreSlot<S> {
    /// The store named `name`, not looked up yet.
    pub(crate) fn new(name: &str) -> Self {
        StoreSlot {
            name: name.to_owned(),
            handle: None,
        }
    }

    /// The store's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Looks the store up in the processor's task; called from the processor's `init`.
    pub(crate) fn init<K, V>(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, V>,
    ) -> Result<(), ProcessorError> {
        self.handle = Some(ctx.state_store::<S>(&self.name)?);
        Ok(())
    }

    /// The store; an error if `init` did not run.
    pub(crate) fn get(&self) -> Result<&StoreHandle<S>, ProcessorError> {
        self.handle
            .as_ref()
            .ok_or_else(|| "init did not run".into())
    }
}
