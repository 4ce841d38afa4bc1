//! Foreign-key table-table joins: each row of the left table joins the right table's row for
//! a key extracted from its value.
//!
//! As in Kafka Streams, requests and responses travel over two internal topics, so the two
//! tables need not be co-partitioned: a left row subscribes to its foreign key on
//! `<application.id>-<name>-subscription-registration-topic` (partitioned like the right
//! table), where a store remembers the subscribers of each foreign key and answers with the
//! right row; right-row updates answer every subscriber. Answers go back on
//! `<application.id>-<name>-subscription-response-topic` (partitioned like the left table),
//! carrying a hash of the left value that asked; an answer whose hash no longer matches the
//! current left row is stale and dropped.

use std::sync::Arc;

use state_stores::KeyValueStoreBuilder;
use state_stores::typed::TypedKeyValueStore;
use streams_core::processor::{Processor, ProcessorContext, ProcessorError};
use streams_core::serde::{BytesSerde, Serde, SharedSerde};
use streams_core::{Record, SerdeError, StreamsError};

use super::lower_join;
use crate::store_slot::StoreSlot;
use crate::table::{Change, KTable};
use crate::timestamped::TimestampedKeyValueStore;

/// The subscription store: raw `len(fk) ++ fk ++ left key` -> hash.
type Subscriptions = TypedKeyValueStore<Vec<u8>, Vec<u8>>;

/// A stable 64-bit FNV-1a hash of a left value's bytes.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// What a subscription asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Instruction {
    /// Subscribe the left key and answer with the right row.
    Subscribe = 0,
    /// Unsubscribe and answer with a delete (the left row is gone).
    UnsubscribeAndDelete = 1,
    /// Unsubscribe silently (the left row moved to another foreign key).
    Unsubscribe = 2,
    /// Subscribe a row that moved from another foreign key and answer even without a right
    /// row, so that an inner join deletes the row's previous result (Kafka Streams'
    /// `PROPAGATE_NULL_IF_NO_FK_VAL_AVAILABLE`).
    SubscribeUpdate = 3,
}

/// Splits a subscription or response into its flag byte, 8-byte hash and body; `what` names
/// it in errors.
fn split_header<'a>(data: Option<&'a [u8]>, what: &str) -> Result<(u8, u64, &'a [u8]), SerdeError> {
    let data = data.ok_or_else(|| SerdeError::new(format!("{what} must not be null")))?;
    match (data.first(), data.get(1..9), data.get(9..)) {
        (Some(&flag), Some(hash), Some(body)) => {
            let hash = u64::from_be_bytes(hash.try_into().map_err(|_| SerdeError::new("hash"))?);
            Ok((flag, hash, body))
        }
        _ => Err(SerdeError::new(format!(
            "{what} needs 9 header bytes, got {}",
            data.len()
        ))),
    }
}

/// A subscription travelling to the right side: instruction, hash of the left value, left key.
#[derive(Debug, Clone)]
struct Subscription<K> {
    instruction: Instruction,
    hash: u64,
    left_key: K,
}

struct SubscriptionSerde<K>(SharedSerde<K>);

impl<K: 'static> Serde<Subscription<K>> for SubscriptionSerde<K> {
    fn serialize_into(
        &self,
        topic: &str,
        value: &Subscription<K>,
        buf: &mut Vec<u8>,
    ) -> Result<bool, SerdeError> {
        buf.push(value.instruction as u8);
        buf.extend_from_slice(&value.hash.to_be_bytes());
        if !self.0.serialize_into(topic, &value.left_key, buf)? {
            return Err(SerdeError::new("a left key must not serialize to null"));
        }
        Ok(true)
    }

    fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> Result<Subscription<K>, SerdeError> {
        let (flag, hash, body) = split_header(data, "a subscription")?;
        let instruction = match flag {
            0 => Instruction::Subscribe,
            1 => Instruction::UnsubscribeAndDelete,
            2 => Instruction::Unsubscribe,
            3 => Instruction::SubscribeUpdate,
            other => {
                return Err(SerdeError::new(format!(
                    "a subscription instruction must be 0 to 3, got {other}"
                )));
            }
        };
        Ok(Subscription {
            instruction,
            hash,
            left_key: self.0.deserialize(topic, Some(body))?,
        })
    }
}

/// An answer travelling back to the left side: the hash of the left value that asked
/// (`None`: the left row is gone) and the right row, if any.
#[derive(Debug, Clone)]
struct Response<VR> {
    hash: Option<u64>,
    right: Option<VR>,
}

struct ResponseSerde<VR>(SharedSerde<VR>);

impl<VR: 'static> Serde<Response<VR>> for ResponseSerde<VR> {
    fn serialize_into(
        &self,
        topic: &str,
        value: &Response<VR>,
        buf: &mut Vec<u8>,
    ) -> Result<bool, SerdeError> {
        buf.push(u8::from(value.hash.is_some()) | (u8::from(value.right.is_some()) << 1));
        buf.extend_from_slice(&value.hash.unwrap_or(0).to_be_bytes());
        if let Some(right) = &value.right
            && !self.0.serialize_into(topic, right, buf)?
        {
            return Err(SerdeError::new("a right value must not serialize to null"));
        }
        Ok(true)
    }

    fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> Result<Response<VR>, SerdeError> {
        let (flag, hash, body) = split_header(data, "a response")?;
        Ok(Response {
            hash: (flag & 1 == 1).then_some(hash),
            right: if flag & 2 == 2 {
                Some(self.0.deserialize(topic, Some(body))?)
            } else {
                None
            },
        })
    }
}

/// Serializes `value` with `serde` for hashing or keying.
fn bytes_of<T: 'static>(serde: &SharedSerde<T>, value: &T) -> Result<Vec<u8>, ProcessorError> {
    Ok(serde.serialize("fk-join", value)?.unwrap_or_default())
}

fn subscription_key(fk: &[u8], left_key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + fk.len() + left_key.len());
    out.extend_from_slice(&(fk.len() as u32).to_be_bytes());
    out.extend_from_slice(fk);
    out.extend_from_slice(left_key);
    out
}

/// Left side: a row update subscribes the row to its foreign key (and unsubscribes it from
/// the old one).
struct SubscriptionSender<K, V, FK> {
    extractor: Arc<dyn Fn(&V) -> FK + Send + Sync>,
    fk_serde: SharedSerde<FK>,
    value_serde: SharedSerde<V>,
    key: std::marker::PhantomData<fn() -> K>,
}

impl<K, V, FK> Processor<K, Change<V>, FK, Subscription<K>> for SubscriptionSender<K, V, FK>
where
    K: Clone + 'static,
    V: 'static,
    FK: Clone + 'static,
{
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, FK, Subscription<K>>,
        r: Record<K, Change<V>>,
    ) -> Result<(), ProcessorError> {
        let new_fk = r.value.new.as_ref().map(|v| (self.extractor)(v));
        let old_fk = r.value.old.as_ref().map(|v| (self.extractor)(v));
        let send = |ctx: &mut ProcessorContext<'_, FK, Subscription<K>>,
                    fk: FK,
                    instruction: Instruction,
                    hash: u64|
         -> Result<(), ProcessorError> {
            ctx.forward(Record::new(
                fk,
                Subscription {
                    instruction,
                    hash,
                    left_key: r.key.clone(),
                },
                r.timestamp,
            ))?;
            Ok(())
        };
        match (&r.value.new, new_fk) {
            (Some(v), Some(fk)) => {
                let mut moved = false;
                if let Some(old) = old_fk
                    && bytes_of(&self.fk_serde, &old)? != bytes_of(&self.fk_serde, &fk)?
                {
                    send(ctx, old, Instruction::Unsubscribe, 0)?;
                    moved = true;
                }
                let hash = fnv1a(&bytes_of(&self.value_serde, v)?);
                // A row that keeps its foreign key had a result only if that key has a row
                // (a right-side delete already took the result away), so the answer is needed
                // only then, as for a new row; a row that moved may have a result from its old
                // key's row to delete.
                let instruction = if moved {
                    Instruction::SubscribeUpdate
                } else {
                    Instruction::Subscribe
                };
                send(ctx, fk, instruction, hash)?;
            }
            _ => {
                if let Some(old) = old_fk {
                    send(ctx, old, Instruction::UnsubscribeAndDelete, 0)?;
                }
            }
        }
        Ok(())
    }
}

/// Right side, on the subscription topic: records or removes a subscription and answers it.
struct SubscriptionReceiver<K, FK, VR> {
    fk_serde: SharedSerde<FK>,
    key_serde: SharedSerde<K>,
    inner_join: bool,
    subscriptions: StoreSlot<Subscriptions>,
    right: StoreSlot<TimestampedKeyValueStore<FK, VR>>,
}

impl<K, FK, VR> Processor<FK, Subscription<K>, K, Response<VR>> for SubscriptionReceiver<K, FK, VR>
where
    K: Clone + 'static,
    FK: 'static,
    VR: Clone + 'static,
{
    fn init(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Response<VR>>,
    ) -> Result<(), ProcessorError> {
        self.subscriptions.init(ctx)?;
        self.right.init(ctx)
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Response<VR>>,
        r: Record<FK, Subscription<K>>,
    ) -> Result<(), ProcessorError> {
        let (subs, right) = (self.subscriptions.get()?, self.right.get()?);
        let key = subscription_key(
            &bytes_of(&self.fk_serde, &r.key)?,
            &bytes_of(&self.key_serde, &r.value.left_key)?,
        );
        let row = right.borrow().get(&r.key)?;
        // As Kafka Streams: a result the left side triggers is stamped with the later of the
        // left record's and the right row's timestamps, and so is an inner join's delete; a
        // left join's delete carries the left record's own (Kafka Streams 4.1 sends it with no
        // foreign key, so no right row is looked up).
        let own_time = !self.inner_join && r.value.instruction == Instruction::UnsubscribeAndDelete;
        let timestamp = match &row {
            Some(row) if !own_time => row.timestamp.max(r.timestamp),
            _ => r.timestamp,
        };
        let row = row.map(|row| row.value);
        let respond = |ctx: &mut ProcessorContext<'_, K, Response<VR>>,
                       response: Response<VR>|
         -> Result<(), ProcessorError> {
            ctx.forward(Record::new(r.value.left_key.clone(), response, timestamp))?;
            Ok(())
        };
        match r.value.instruction {
            Instruction::Subscribe | Instruction::SubscribeUpdate => {
                subs.borrow_mut()
                    .put(&key, &r.value.hash.to_be_bytes().to_vec())?;
                // An inner join has nothing to say about a new row whose foreign key has no
                // row yet; an updated row's previous result must go.
                if row.is_some()
                    || !self.inner_join
                    || r.value.instruction == Instruction::SubscribeUpdate
                {
                    respond(
                        ctx,
                        Response {
                            hash: Some(r.value.hash),
                            right: row,
                        },
                    )?;
                }
            }
            Instruction::UnsubscribeAndDelete => {
                subs.borrow_mut().delete(&key)?;
                respond(
                    ctx,
                    Response {
                        hash: None,
                        right: None,
                    },
                )?;
            }
            Instruction::Unsubscribe => subs.borrow_mut().delete(&key)?,
        }
        Ok(())
    }
}

/// Right side, on the right table's updates: answers every subscriber of the foreign key.
struct ForeignUpdates<K, FK> {
    fk_serde: SharedSerde<FK>,
    key_serde: SharedSerde<K>,
    subscriptions: StoreSlot<Subscriptions>,
}

impl<K, FK, VR> Processor<FK, Change<VR>, K, Response<VR>> for ForeignUpdates<K, FK>
where
    K: Clone + 'static,
    FK: 'static,
    VR: Clone + 'static,
{
    fn init(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Response<VR>>,
    ) -> Result<(), ProcessorError> {
        self.subscriptions.init(ctx)
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Response<VR>>,
        r: Record<FK, Change<VR>>,
    ) -> Result<(), ProcessorError> {
        let subs = self.subscriptions.get()?;
        let fk = bytes_of(&self.fk_serde, &r.key)?;
        let prefix = subscription_key(&fk, &[]);
        let subscribers: Vec<(Vec<u8>, Vec<u8>)> = subs
            .borrow_mut()
            .bytes()
            .prefix_scan(&prefix)?
            .collect::<streams_core::Result<_>>()?;
        for (key, hash) in subscribers {
            let left_key = self
                .key_serde
                .deserialize("fk-join", Some(&key[prefix.len()..]))?;
            let hash = u64::from_be_bytes(hash.as_slice().try_into().map_err(|_| "hash")?);
            ctx.forward(Record::new(
                left_key,
                Response {
                    hash: Some(hash),
                    right: r.value.new.clone(),
                },
                r.timestamp,
            ))?;
        }
        Ok(())
    }
}

/// How the resolver makes the joined value: `None` for no joined row.
type FkJoiner<V, VR, VJ> = dyn Fn(&V, Option<&VR>) -> Option<VJ> + Send + Sync;

/// Left side, on the response topic: drops stale answers (the left row changed since it
/// asked) and emits the joined row.
struct ResponseResolver<K, V, VR, VJ> {
    value_serde: SharedSerde<V>,
    joiner: Arc<FkJoiner<V, VR, VJ>>,
    left: StoreSlot<TimestampedKeyValueStore<K, V>>,
}

impl<K, V, VR, VJ> Processor<K, Response<VR>, K, Change<VJ>> for ResponseResolver<K, V, VR, VJ>
where
    K: Clone + 'static,
    V: 'static,
    VR: 'static,
    VJ: Clone + 'static,
{
    fn init(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<VJ>>,
    ) -> Result<(), ProcessorError> {
        self.left.init(ctx)
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<VJ>>,
        r: Record<K, Response<VR>>,
    ) -> Result<(), ProcessorError> {
        let current = self
            .left
            .get()?
            .borrow_mut()
            .get(&r.key)?
            .map(|row| row.value);
        let current_hash = current
            .as_ref()
            .map(|v| bytes_of(&self.value_serde, v).map(|b| fnv1a(&b)))
            .transpose()?;
        if current_hash != r.value.hash {
            tracing::debug!("dropping a stale foreign-key join response");
            return Ok(());
        }
        let joined = match &current {
            Some(v) => (self.joiner)(v, r.value.right.as_ref()),
            None => None,
        };
        ctx.forward(Record::new(
            r.key,
            Change {
                new: joined,
                old: None,
            },
            r.timestamp,
        ))?;
        Ok(())
    }
}

impl<K, V> KTable<K, V>
where
    K: Clone + 'static,
    V: Clone + 'static,
{
    /// Foreign-key inner join: each row joins `other`'s row for `extractor(value)`; rows whose
    /// foreign key has no row have no joined row. Updates on either side emit the new joined
    /// row (a delete when there is none any more). Both tables must be kept in stores and
    /// have known serdes; they need not be co-partitioned.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// let orders = b.table::<String, String>("orders"); // order id -> customer id
    /// let customers = b.table::<String, String>("customers");
    /// orders
    ///     .join_on_foreign_key(&customers, |customer_id| customer_id.clone(), |customer_id, name| format!("{customer_id}: {name}"))
    ///     .to_stream()
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// d.input_topic("customers", StringSerde, StringSerde).pipe(s("c1"), s("Ann"), 1)?;
    /// let orders = d.input_topic("orders", StringSerde, StringSerde);
    /// orders.pipe(s("o1"), s("c1"), 2)?;
    /// orders.pipe(s("o2"), s("c9"), 3)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(StringSerde)).read_key_values_with_time()?, vec![(s("o1"), Some(s("c1: Ann")), 2)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn join_on_foreign_key<FK, VR, VJ>(
        &self,
        other: &KTable<FK, VR>,
        extractor: impl Fn(&V) -> FK + Send + Sync + 'static,
        joiner: impl Fn(&V, &VR) -> VJ + Send + Sync + 'static,
    ) -> KTable<K, VJ>
    where
        FK: Clone + 'static,
        VR: Clone + 'static,
        VJ: Clone + 'static,
    {
        let joiner: Arc<FkJoiner<V, VR, VJ>> = Arc::new(move |v, r| r.map(|r| joiner(v, r)));
        self.fk_join(other, Arc::new(extractor), joiner, true)
    }

    /// Foreign-key left join: as [`Self::join_on_foreign_key`], and rows whose foreign key has
    /// no row join with `None`.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// let orders = b.table::<String, String>("orders"); // order id -> customer id
    /// let customers = b.table::<String, String>("customers");
    /// orders
    ///     .left_join_on_foreign_key(&customers, |customer_id| customer_id.clone(), |customer_id, name| format!("{customer_id}: {}", name.map_or("?", String::as_str)))
    ///     .to_stream()
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// d.input_topic("customers", StringSerde, StringSerde).pipe(s("c1"), s("Ann"), 1)?;
    /// let orders = d.input_topic("orders", StringSerde, StringSerde);
    /// orders.pipe(s("o1"), s("c1"), 2)?;
    /// orders.pipe(s("o2"), s("c9"), 3)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(StringSerde)).read_key_values_with_time()?, vec![(s("o1"), Some(s("c1: Ann")), 2), (s("o2"), Some(s("c9: ?")), 3)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn left_join_on_foreign_key<FK, VR, VJ>(
        &self,
        other: &KTable<FK, VR>,
        extractor: impl Fn(&V) -> FK + Send + Sync + 'static,
        joiner: impl Fn(&V, Option<&VR>) -> VJ + Send + Sync + 'static,
    ) -> KTable<K, VJ>
    where
        FK: Clone + 'static,
        VR: Clone + 'static,
        VJ: Clone + 'static,
    {
        let joiner: Arc<FkJoiner<V, VR, VJ>> = Arc::new(move |v, r| Some(joiner(v, r)));
        self.fk_join(other, Arc::new(extractor), joiner, false)
    }

    fn fk_join<FK, VR, VJ>(
        &self,
        other: &KTable<FK, VR>,
        extractor: Arc<dyn Fn(&V) -> FK + Send + Sync>,
        joiner: Arc<FkJoiner<V, VR, VJ>>,
        inner_join: bool,
    ) -> KTable<K, VJ>
    where
        FK: Clone + 'static,
        VR: Clone + 'static,
        VJ: Clone + 'static,
    {
        // As Kafka Streams: both tables of a foreign-key join send previous values.
        self.send_old_values();
        other.send_old_values();
        let builder = self.builder.clone();
        let mut inner = builder.borrow_mut();
        let registration = inner.new_name("KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION");
        let registration_topic = format!("{registration}-topic");
        let subscriptions = inner.new_name("KTABLE-FK-JOIN-SUBSCRIPTION-STATE-STORE");
        let receiver = inner.new_name("KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR");
        let foreign = inner.new_name("KTABLE-FK-JOIN-FOREIGN-UPDATES");
        let response = inner.new_name("KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE");
        let response_topic = format!("{response}-topic");
        let resolver = inner.new_name("KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-RESOLVER");
        inner.claim_store(&subscriptions);
        let ready = (
            &self.store,
            &other.store,
            &self.key_serde,
            &self.value_serde,
            &other.key_serde,
            &other.value_serde,
        );
        if let (Some(left_store), Some(right_store), Some(k), Some(v), Some(fk), Some(vr)) = ready {
            let subscription_serde: SharedSerde<Subscription<K>> =
                Arc::new(SubscriptionSerde(k.clone()));
            let response_serde: SharedSerde<Response<VR>> = Arc::new(ResponseSerde(vr.clone()));
            let (registration_source, response_source) = (
                format!("{registration}-source"),
                format!("{response}-source"),
            );
            inner.apply(|t| {
                t.add_repartition_topic(&registration_topic)?
                    .add_repartition_topic(&response_topic)?;
                Ok(())
            });
            // Left side: each row update subscribes to its foreign key.
            let (fk1, v1) = (fk.clone(), v.clone());
            lower_join::<K, Change<V>, FK, Subscription<K>, _, _>(
                &mut inner,
                &registration,
                &[&self.node],
                &[],
                move || SubscriptionSender {
                    extractor: extractor.clone(),
                    fk_serde: fk1.clone(),
                    value_serde: v1.clone(),
                    key: std::marker::PhantomData,
                },
            );
            inner.apply(|t| {
                t.add_sink_with(
                    &format!("{registration}-sink"),
                    streams_core::SinkOptions::topic(registration_topic.as_str()),
                    fk.clone(),
                    subscription_serde.clone(),
                    &[&registration],
                )?
                .add_source_with(
                    &registration_source,
                    &[&registration_topic],
                    fk.clone(),
                    subscription_serde,
                    Default::default(),
                )?
                .add_state_store(
                    KeyValueStoreBuilder::rocksdb(&subscriptions, BytesSerde, BytesSerde),
                    &[],
                )?;
                Ok(())
            });
            // Right side: subscriptions and right-row updates answer on the response topic.
            let (subs_name, right_name, fk2, k2) = (
                subscriptions.clone(),
                right_store.clone(),
                fk.clone(),
                k.clone(),
            );
            lower_join::<FK, Subscription<K>, K, Response<VR>, _, _>(
                &mut inner,
                &receiver,
                &[&registration_source],
                &[&subscriptions, right_store],
                move || SubscriptionReceiver {
                    fk_serde: fk2.clone(),
                    key_serde: k2.clone(),
                    inner_join,
                    subscriptions: StoreSlot::new(&subs_name),
                    right: StoreSlot::new(&right_name),
                },
            );
            let (subs_name, fk3, k3) = (subscriptions.clone(), fk.clone(), k.clone());
            lower_join::<FK, Change<VR>, K, Response<VR>, _, _>(
                &mut inner,
                &foreign,
                &[&other.node],
                &[&subscriptions],
                move || ForeignUpdates {
                    fk_serde: fk3.clone(),
                    key_serde: k3.clone(),
                    subscriptions: StoreSlot::new(&subs_name),
                },
            );
            inner.apply(|t| {
                t.add_sink_with(
                    &format!("{response}-sink"),
                    streams_core::SinkOptions::topic(response_topic.as_str()),
                    k.clone(),
                    response_serde.clone(),
                    &[&receiver, &foreign],
                )?
                .add_source_with(
                    &response_source,
                    &[&response_topic],
                    k.clone(),
                    response_serde,
                    Default::default(),
                )?;
                Ok(())
            });
            // Left side again: current answers become joined rows.
            let (left_name, v2) = (left_store.clone(), v.clone());
            lower_join::<K, Response<VR>, K, Change<VJ>, _, _>(
                &mut inner,
                &resolver,
                &[&response_source],
                &[left_store],
                move || ResponseResolver {
                    value_serde: v2.clone(),
                    joiner: joiner.clone(),
                    left: StoreSlot::new(&left_name),
                },
            );
        } else {
            inner.fail(StreamsError::Topology(format!(
                "foreign-key join `{registration}`: both tables must be kept in stores (read by \
                 StreamsBuilder::table or made by an aggregation) with known key and value \
                 serdes"
            )));
        }
        drop(inner);
        KTable {
            builder,
            node: resolver,
            store: None,
            key_serde: self.key_serde.clone(),
            value_serde: streams_core::serde::builtin_serde(),
            old_values: false,
            materialized: false,
            window_grace: None,
            getter: None,
            old_value_requests: Vec::new(),
        }
    }
}
