//! `delegate_state_store!`: the `StateStore` methods of a store that wraps another, written
//! once for every wrapper.

/// Expands, inside an `impl StateStore for ..` block, to the methods that hand each call to
/// the store in field `$inner`: all of them, or all but `restore_batch` for a wrapper that
/// restores in its own way (`delegate_state_store!(inner, except restore_batch)`).
macro_rules! delegate_state_store {
    ($inner:ident) => {
        $crate::delegate::delegate_state_store!($inner, except restore_batch);

        fn restore_batch(
            &mut self,
            batch: &[(Vec<u8>, Option<Vec<u8>>)],
        ) -> ::streams_core::Result<()> {
            self.$inner.restore_batch(batch)
        }
    };
    ($inner:ident, except restore_batch) => {
        fn name(&self) -> &str {
            self.$inner.name()
        }

        fn commit(&mut self, changelog_offset: Option<i64>) -> ::streams_core::Result<()> {
            self.$inner.commit(changelog_offset)
        }

        fn committed_offset(&self) -> ::streams_core::Result<Option<i64>> {
            self.$inner.committed_offset()
        }

        fn uncommitted_bytes(&self) -> usize {
            self.$inner.uncommitted_bytes()
        }

        fn metrics(&self) -> Vec<::streams_core::store::StoreMetric> {
            self.$inner.metrics()
        }

        fn close(&mut self) -> ::streams_core::Result<()> {
            self.$inner.close()
        }
    };
}

pub(crate) use delegate_state_store;
