//! [`AvroSerde`]: values of a `serde` type as Avro records in the Schema Registry wire
//! format, registering (or looking up) the schema under the topic's subject on first write
//! and resolving the writer's schema against the serde's own on read.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

use apache_avro::Schema;
use parking_lot::RwLock;

use super::registry::SchemaRegistryClient;
use super::wire::{read_frame, write_frame};
use crate::error::SerdeError;
use crate::serde::{Serde, null_error};

/// Avro values of `T` (any `serde` type matching the schema) in the Schema Registry wire
/// format; see the [module documentation](super).
pub struct AvroSerde<T> {
    client: SchemaRegistryClient,
    schema: Arc<Schema>,
    suffix: &'static str,
    auto_register: bool,
    /// Topic -> id of `schema` under the topic's subject.
    ids: RwLock<HashMap<String, u32>>,
    _type: PhantomData<fn() -> T>,
}

impl<T> AvroSerde<T> {
    /// A serde for record values: subject `<topic>-value`.
    pub fn value(client: SchemaRegistryClient, schema: Schema) -> Self {
        Self::with_suffix(client, schema, "-value")
    }

    /// A serde for record keys: subject `<topic>-key`.
    pub fn key(client: SchemaRegistryClient, schema: Schema) -> Self {
        Self::with_suffix(client, schema, "-key")
    }

    fn with_suffix(client: SchemaRegistryClient, schema: Schema, suffix: &'static str) -> Self {
        AvroSerde {
            client,
            schema: Arc::new(schema),
            suffix,
            auto_register: true,
            ids: RwLock::default(),
            _type: PhantomData,
        }
    }

    /// Whether writing registers the schema (the default) or only looks its id up, failing
    /// when it was not registered beforehand (Confluent's `auto.register.schemas=false`).
    pub fn with_auto_register(mut self, auto_register: bool) -> Self {
        self.auto_register = auto_register;
        self
    }

    /// The schema this serde writes with and reads into.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The subject of `topic` under the topic-name strategy.
    pub fn subject(&self, topic: &str) -> String {
        format!("{topic}{}", self.suffix)
    }

    fn id_for(&self, topic: &str) -> Result<u32, SerdeError> {
        if let Some(id) = self.ids.read().get(topic) {
            return Ok(*id);
        }
        let subject = self.subject(topic);
        let id = if self.auto_register {
            self.client.register(&subject, &self.schema)
        } else {
            self.client.id_of(&subject, &self.schema)
        }
        .map_err(|e| SerdeError::new(format!("Avro schema for subject `{subject}`: {e}")))?;
        self.ids.write().insert(topic.to_owned(), id);
        Ok(id)
    }
}

impl<T> std::fmt::Debug for AvroSerde<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "AvroSerde<{}>({:?})",
            std::any::type_name::<T>(),
            self.client
        )
    }
}

impl<T> Serde<T> for AvroSerde<T>
where
    T: serde::Serialize + serde::de::DeserializeOwned + 'static,
{
    fn serialize_into(
        &self,
        topic: &str,
        value: &T,
        buf: &mut Vec<u8>,
    ) -> Result<bool, SerdeError> {
        let avro = apache_avro::to_value(value)
            .and_then(|v| v.resolve(&self.schema))
            .map_err(|e| {
                SerdeError::new(format!(
                    "{} does not match its Avro schema: {e}",
                    std::any::type_name::<T>()
                ))
            })?;
        let body = apache_avro::to_avro_datum(&self.schema, avro)
            .map_err(|e| SerdeError::new(format!("Avro encoding failed: {e}")))?;
        let id = self.id_for(topic)?;
        write_frame(id, &body, buf);
        Ok(true)
    }

    fn deserialize(&self, _: &str, data: Option<&[u8]>) -> Result<T, SerdeError> {
        let data = data.ok_or_else(|| null_error("an Avro record"))?;
        let (id, mut body) = read_frame(data)?;
        let writer = self
            .client
            .schema_by_id(id)
            .map_err(|e| SerdeError::new(format!("Avro schema id {id}: {e}")))?;
        let body_len = body.len();
        let value =
            apache_avro::from_avro_datum(&writer, &mut body, Some(&self.schema)).map_err(|e| {
                SerdeError::new(format!(
                    "invalid Avro body ({body_len} bytes) for schema id {id}: {e}"
                ))
            })?;
        if !body.is_empty() {
            return Err(SerdeError::new(format!(
                "{} bytes left over after the Avro body of schema id {id}: the record was not \
                 written with that schema",
                body.len()
            )));
        }
        apache_avro::from_value(&value).map_err(|e| {
            SerdeError::new(format!(
                "Avro record of schema id {id} does not fit {}: {e}",
                std::any::type_name::<T>()
            ))
        })
    }
}
