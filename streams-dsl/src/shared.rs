//! The state every stream and table of one `StreamsBuilder` shares while a topology is built:
//! the topology, the name counter, the store names taken and the first misuse found.

use std::cell::RefCell;
use std::rc::Rc;

use streams_core::{Result, StreamsError, Topology};

/// The builder state every stream and table of one `StreamsBuilder` shares: the topology
/// being built, the name counter, and the first misuse found.
pub(crate) struct Inner {
    pub(crate) topology: Topology,
    counter: usize,
    error: Option<StreamsError>,
    store_names: Vec<String>,
    built: bool,
}

/// A shared handle on [`Inner`].
pub(crate) type Shared = Rc<RefCell<Inner>>;

impl Inner {
    /// The state of a new builder, as a shared handle.
    pub(crate) fn shared() -> Shared {
        Rc::new(RefCell::new(Inner {
            topology: Topology::new(),
            counter: 0,
            error: None,
            store_names: Vec::new(),
            built: false,
        }))
    }

    /// `<prefix>-<10-digit counter>`, the counter shared by every node and store name.
    pub(crate) fn new_name(&mut self, prefix: &str) -> String {
        let name = format!("{prefix}-{:010}", self.counter);
        self.counter += 1;
        name
    }

    /// The user's name if given, else a generated one; a given name takes no number (as
    /// Kafka Streams names stores, repartition topics and suppressions).
    pub(crate) fn name(&mut self, given: Option<&str>, prefix: &str) -> String {
        match given {
            Some(n) => n.to_owned(),
            None => self.new_name(prefix),
        }
    }

    /// A node's name: the user's if given, else a generated one; a number is taken either
    /// way, as Kafka Streams does for named sources, sinks and processors (so the nodes after
    /// a named one are numbered as there).
    pub(crate) fn node_name(&mut self, given: Option<&str>, prefix: &str) -> String {
        let generated = self.new_name(prefix);
        given.map_or(generated, str::to_owned)
    }

    /// Keeps the first error; `build()` returns it.
    pub(crate) fn fail(&mut self, e: StreamsError) {
        if self.error.is_none() {
            self.error = Some(e);
        }
    }

    /// Runs a topology change, keeping its error for `build()`.
    pub(crate) fn apply(&mut self, f: impl FnOnce(&mut Topology) -> Result<()>) {
        if self.built {
            // build() reports this on a second call; the topology handed out is complete.
            self.fail(StreamsError::Topology(
                "an operation was added after build(); build a new StreamsBuilder".into(),
            ));
            return;
        }
        if self.error.is_some() {
            return;
        }
        if let Err(e) = f(&mut self.topology) {
            self.fail(e);
        }
    }

    /// Claims a store name, failing on a second use.
    pub(crate) fn claim_store(&mut self, name: &str) {
        if self.store_names.iter().any(|n| n == name) {
            self.fail(StreamsError::Topology(format!(
                "the store name `{name}` is used twice; every store needs its own name"
            )));
        } else {
            self.store_names.push(name.to_owned());
        }
    }

    /// The topology, or the first misuse found while building it; only once.
    pub(crate) fn finish(&mut self) -> Result<Topology> {
        if self.built {
            return Err(StreamsError::Topology(
                "this StreamsBuilder already built its topology; use a new builder".into(),
            ));
        }
        self.built = true;
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(std::mem::take(&mut self.topology)),
        }
    }
}
