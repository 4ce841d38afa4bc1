//! Process-wide metric sources: numbers that belong to the process rather than to one client
//! (a RocksDB memory budget shared by every store), included in every client's snapshot.

use parking_lot::Mutex;

use super::sample::MetricsSnapshot;

/// Metrics that belong to the process rather than to one client, such as a RocksDB memory
/// budget shared by stores: every client's snapshot includes them.
pub trait MetricsSource: Send + Sync {
    /// Adds the source's samples.
    fn collect(&self, out: &mut MetricsSnapshot);
}

pub(super) fn sources() -> &'static Mutex<Vec<std::sync::Weak<dyn MetricsSource>>> {
    static SOURCES: std::sync::OnceLock<Mutex<Vec<std::sync::Weak<dyn MetricsSource>>>> =
        std::sync::OnceLock::new();
    SOURCES.get_or_init(Mutex::default)
}

/// Adds a process-wide source; it is dropped from the metrics when its last `Arc` is.
pub fn register_source(source: std::sync::Weak<dyn MetricsSource>) {
    let mut all = sources().lock();
    all.retain(|s| s.strong_count() > 0);
    all.push(source);
}
