//! The in-process registry behind `mock://<scope>` URLs: one per scope in the process, shared
//! by every client of that scope (as Confluent's `mock://`), assigning ids and versions and
//! enforcing the subjects' compatibility rules as a real registry does.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use apache_avro::Schema;
use parking_lot::Mutex;

use super::compatibility::Compatibility;
use super::schema::{RegisteredSchema, RegistryError, schema_text};

/// The in-process registry of one `mock://` scope.
#[derive(Default)]
pub(super) struct MemoryRegistry {
    /// Schemas by id - 1, with their text.
    schemas: Vec<(String, Arc<Schema>)>,
    /// Subject -> ids of its versions, oldest first.
    subjects: HashMap<String, Vec<u32>>,
    compatibility: HashMap<String, Compatibility>,
}

impl MemoryRegistry {
    /// Registers `schema` under `subject` (or finds it there already) and returns its id.
    pub(super) fn register(
        &mut self,
        subject: &str,
        schema: &Schema,
    ) -> Result<u32, RegistryError> {
        let text = schema_text(schema);
        if let Ok(id) = self.lookup(subject, &text) {
            return Ok(id);
        }
        let rule = self
            .compatibility
            .get(subject)
            .copied()
            .unwrap_or(Compatibility::Backward);
        let earlier: Vec<Arc<Schema>> = self
            .subjects
            .get(subject)
            .into_iter()
            .flatten()
            .map(|id| self.schemas[*id as usize - 1].1.clone())
            .collect();
        rule.check(schema, &earlier)
            .map_err(|message| RegistryError::Incompatible {
                subject: subject.to_owned(),
                compatibility: rule.as_str().to_owned(),
                message,
            })?;
        // One id per distinct schema across subjects, as the registry assigns them.
        let id = match self.schemas.iter().position(|(c, _)| *c == text) {
            Some(i) => i as u32 + 1,
            None => {
                self.schemas.push((text, Arc::new(schema.clone())));
                self.schemas.len() as u32
            }
        };
        self.subjects
            .entry(subject.to_owned())
            .or_default()
            .push(id);
        Ok(id)
    }

    /// The id of the schema with JSON `text` under `subject`.
    pub(super) fn lookup(&self, subject: &str, text: &str) -> Result<u32, RegistryError> {
        let ids = self
            .subjects
            .get(subject)
            .ok_or_else(|| subject_not_found(subject))?;
        ids.iter()
            .copied()
            .find(|id| self.schemas[*id as usize - 1].0 == text)
            .ok_or_else(|| RegistryError::NotFound {
                error_code: 40403,
                message: format!("schema not found under subject `{subject}`"),
            })
    }

    /// The schema with global id `id`.
    pub(super) fn by_id(&self, id: u32) -> Result<Arc<Schema>, RegistryError> {
        (id as usize)
            .checked_sub(1)
            .and_then(|i| self.schemas.get(i))
            .map(|(_, s)| s.clone())
            .ok_or_else(|| RegistryError::NotFound {
                error_code: 40403,
                message: format!("schema {id} not found"),
            })
    }

    /// The latest schema registered under `subject`.
    pub(super) fn latest(&self, subject: &str) -> Result<RegisteredSchema, RegistryError> {
        let ids = self
            .subjects
            .get(subject)
            .ok_or_else(|| subject_not_found(subject))?;
        let id = *ids.last().ok_or_else(|| subject_not_found(subject))?;
        let version = ids.len() - 1;
        Ok(RegisteredSchema {
            subject: subject.to_owned(),
            id,
            version: version as u32 + 1,
            schema: self.by_id(id)?,
        })
    }

    /// Sets the compatibility rule of `subject`.
    pub(super) fn set_compatibility(&mut self, subject: &str, compatibility: Compatibility) {
        self.compatibility.insert(subject.to_owned(), compatibility);
    }
}

fn subject_not_found(subject: &str) -> RegistryError {
    RegistryError::NotFound {
        error_code: 40401,
        message: format!("subject `{subject}` not found"),
    }
}

/// The registry of `scope`, created empty on first use.
pub(super) fn mock_scope(scope: &str) -> Arc<Mutex<MemoryRegistry>> {
    static SCOPES: OnceLock<Mutex<HashMap<String, Arc<Mutex<MemoryRegistry>>>>> = OnceLock::new();
    SCOPES
        .get_or_init(Mutex::default)
        .lock()
        .entry(scope.to_owned())
        .or_default()
        .clone()
}
