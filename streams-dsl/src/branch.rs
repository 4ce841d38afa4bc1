//! Branches: `KStream::split` sends each record to the first named branch whose predicate
//! holds (`BranchedKStream`).

use std::sync::Arc;

use streams_core::processor::{Processor, ProcessorContext, ProcessorError};
use streams_core::{Record, StreamsError};

use crate::stream::{KStream, PassThrough};

/// A branch test.
type Predicate<K, V> = dyn Fn(&K, &V) -> bool + Send + Sync;

/// A stream being split into named branches: each record goes to the first branch whose
/// predicate holds, else to the default branch if there is one, else nowhere.
pub struct BranchedKStream<K, V> {
    stream: KStream<K, V>,
    splitter: String,
    branches: Vec<(String, Arc<Predicate<K, V>>)>,
}

impl<K, V> std::fmt::Debug for BranchedKStream<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.branches.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("BranchedKStream")
            .field("splitter", &self.splitter)
            .field("branches", &names)
            .finish()
    }
}

/// `KSTREAM-BRANCH`: forwards each record to its first matching branch.
struct Splitter<K, V> {
    branches: Vec<(String, Arc<Predicate<K, V>>)>,
    default: Option<String>,
}

impl<K: Clone + 'static, V: Clone + 'static> Processor<K, V, K, V> for Splitter<K, V> {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, V>,
        r: Record<K, V>,
    ) -> Result<(), ProcessorError> {
        let target = self
            .branches
            .iter()
            .find(|(_, p)| p(&r.key, &r.value))
            .map(|(name, _)| name)
            .or(self.default.as_ref());
        if let Some(name) = target {
            ctx.forward_to(name, r)?;
        }
        Ok(())
    }
}

impl<K, V> KStream<K, V>
where
    K: Clone + 'static,
    V: Clone + 'static,
{
    /// Splits the stream into named branches (`KSTREAM-BRANCH-<n>`, or `prefix` if given);
    /// each branch is named `<splitter name><branch name>`.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// let branches = b
    ///     .stream::<String, String>(&["in"])
    ///     .split(Some("fruit-"))
    ///     .branch("a", |_, v| v.starts_with('a'))
    ///     .default_branch("other");
    /// branches["fruit-a"].to("a-fruit");
    /// branches["fruit-other"].to("other-fruit");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let input = d.input_topic("in", StringSerde, StringSerde);
    /// input.pipe(s("1"), s("apple"), 1)?;
    /// input.pipe(s("2"), s("fig"), 2)?;
    /// assert_eq!(d.output_topic("a-fruit", StringSerde, StringSerde).read_key_values_with_time()?, vec![(s("1"), s("apple"), 1)]);
    /// assert_eq!(d.output_topic("other-fruit", StringSerde, StringSerde).read_key_values_with_time()?, vec![(s("2"), s("fig"), 2)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn split(&self, prefix: Option<&str>) -> BranchedKStream<K, V> {
        let splitter = self
            .builder
            .borrow_mut()
            .node_name(prefix, "KSTREAM-BRANCH");
        BranchedKStream {
            stream: self.clone(),
            splitter,
            branches: Vec::new(),
        }
    }
}

impl<K, V> BranchedKStream<K, V>
where
    K: Clone + 'static,
    V: Clone + 'static,
{
    /// Adds the branch `name` of the records for which `predicate` holds (and no earlier
    /// branch's did).
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// let branches = b.stream::<String, String>(&["in"]).split(None)
    ///     .branch("long", |_, v| v.len() > 3)
    ///     .branch("short", |_, v| v.len() <= 3)
    ///     .no_default_branch();
    /// assert_eq!(branches.keys().collect::<Vec<_>>(), ["KSTREAM-BRANCH-0000000001long", "KSTREAM-BRANCH-0000000001short"]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn branch(
        mut self,
        name: &str,
        predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.branches
            .push((format!("{}{name}", self.splitter), Arc::new(predicate)));
        self
    }

    /// Ends the split with a branch `name` for the records no branch took; returns every
    /// branch by its full name.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// let branches = b.stream::<String, String>(&["in"]).split(Some("x-"))
    ///     .branch("long", |_, v| v.len() > 3)
    ///     .default_branch("rest");
    /// assert_eq!(branches.keys().collect::<Vec<_>>(), ["x-long", "x-rest"]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn default_branch(self, name: &str) -> std::collections::BTreeMap<String, KStream<K, V>> {
        let default = format!("{}{name}", self.splitter);
        self.finish(Some(default))
    }

    /// Ends the split; records no branch took are dropped. Returns every branch by its full
    /// name.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// let branches = b.stream::<String, String>(&["in"]).split(None)
    ///     .branch("long", |_, v| v.len() > 3)
    ///     .branch("short", |_, v| v.len() <= 3)
    ///     .no_default_branch();
    /// assert_eq!(branches.keys().collect::<Vec<_>>(), ["KSTREAM-BRANCH-0000000001long", "KSTREAM-BRANCH-0000000001short"]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn no_default_branch(self) -> std::collections::BTreeMap<String, KStream<K, V>> {
        self.finish(None)
    }

    fn finish(self, default: Option<String>) -> std::collections::BTreeMap<String, KStream<K, V>> {
        let mut names: Vec<String> = self.branches.iter().map(|(n, _)| n.clone()).collect();
        names.extend(default.clone());
        let mut inner = self.stream.builder.borrow_mut();
        // Kafka Streams takes a number for each branch, the default one included.
        for _ in &names {
            inner.new_name("KSTREAM-BRANCH");
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(dup) = names.iter().find(|n| !seen.insert(n.as_str())) {
            inner.fail(StreamsError::Topology(format!(
                "split `{}` has two branches named `{dup}`; branch names must differ",
                self.splitter
            )));
        }
        let (splitter, parent) = (self.splitter.clone(), self.stream.node.clone());
        let branches = self.branches;
        let default_child = default.clone();
        inner.apply(|t| {
            t.add_processor(
                &splitter,
                move || Splitter {
                    branches: branches.clone(),
                    default: default_child.clone(),
                },
                &[&parent],
            )?;
            for name in &names {
                t.add_processor::<K, V, K, V, _, _>(name, || PassThrough, &[&splitter])?;
            }
            Ok(())
        });
        drop(inner);
        names
            .into_iter()
            .map(|name| {
                let stream = KStream {
                    builder: self.stream.builder.clone(),
                    node: name.clone(),
                    key_serde: self.stream.key_serde.clone(),
                    value_serde: self.stream.value_serde.clone(),
                    key_changed: self.stream.key_changed,
                    next_name: None,
                };
                (name, stream)
            })
            .collect()
    }
}
