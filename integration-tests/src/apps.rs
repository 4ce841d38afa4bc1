//! Processors the integration suites share.

use state_stores::typed::TypedKeyValueStore;
use streams_core::Record;
use streams_core::processor::{Processor, ProcessorContext, ProcessorError};
use streams_core::store::StoreHandle;

/// The store [`CountPerKey`] uses: counts by key.
pub type Counts = TypedKeyValueStore<String, i64>;

/// Counts records per key in the store named at construction and forwards the running count.
pub struct CountPerKey {
    store_name: &'static str,
    store: Option<StoreHandle<Counts>>,
}

impl CountPerKey {
    /// A counter over the store `store_name`.
    pub fn new(store_name: &'static str) -> Self {
        CountPerKey {
            store_name,
            store: None,
        }
    }
}

impl Processor<String, String, String, i64> for CountPerKey {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, String, i64>) -> Result<(), ProcessorError> {
        self.store = Some(ctx.state_store::<Counts>(self.store_name)?);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, i64>,
        r: Record<String, String>,
    ) -> Result<(), ProcessorError> {
        let store = self.store.as_ref().ok_or("init did not run")?;
        let count = {
            let mut store = store.borrow_mut();
            let count = store.get(&r.key)?.unwrap_or(0) + 1;
            store.put(&r.key, &count)?;
            count
        };
        ctx.forward(r.with_value(count))?;
        Ok(())
    }
}
