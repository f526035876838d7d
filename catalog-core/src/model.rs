//! Entities and identifiers of the catalog.

use std::collections::HashMap;
use std::fmt;

use frazil_storage::StorageConfig;

/// An environment: one Iceberg catalog of an organization, with its storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    /// Internal key, stable across renames.
    pub uid: String,
    pub org_id: String,
    pub id: String,
    pub name: String,
    pub storage: StorageConfig,
}

#[derive(Debug, Clone)]
pub struct NewEnvironment {
    pub org_id: String,
    pub id: String,
    pub name: String,
    pub storage: StorageConfig,
}

/// A namespace: its levels, outermost first. The top level is a Kafka cluster id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NamespaceIdent(Vec<String>);

/// Separates levels where a namespace is stored or sent as one string (the REST default).
pub const LEVEL_SEPARATOR: char = '\u{1f}';

/// Longest namespace level or table name, in bytes (Kafka topics have at most 249 characters).
pub const MAX_NAME_BYTES: usize = 255;

/// A name is 1 to 255 bytes without control characters (which include the separator 0x1F).
fn check_name(kind: &str, name: &str) -> crate::Result<()> {
    let problem = if name.is_empty() {
        "must not be empty"
    } else if name.len() > MAX_NAME_BYTES {
        "is longer than 255 bytes"
    } else if name.chars().any(char::is_control) {
        "must not contain control characters"
    } else {
        return Ok(());
    };
    let shown: String = name.chars().take(64).collect();
    Err(crate::CatalogError::BadRequest(format!(
        "Invalid {kind} {shown:?}: the name {problem}"
    )))
}

impl NamespaceIdent {
    /// A namespace needs at least one level and no empty level.
    pub fn new(levels: Vec<String>) -> crate::Result<Self> {
        if levels.is_empty() {
            return Err(crate::CatalogError::BadRequest(
                "Invalid namespace: the namespace must have at least one level".into(),
            ));
        }
        for level in &levels {
            check_name("namespace level", level)?;
        }
        Ok(Self(levels))
    }

    pub fn levels(&self) -> &[String] {
        &self.0
    }

    /// The levels joined with 0x1F: the store's key for the namespace.
    pub fn key(&self) -> String {
        self.0.join("\u{1f}")
    }

    pub fn from_key(key: &str) -> Self {
        Self(key.split(LEVEL_SEPARATOR).map(str::to_string).collect())
    }

    /// The key of the parent namespace; "" for a top-level namespace.
    pub fn parent_key(&self) -> String {
        self.0[..self.0.len() - 1].join("\u{1f}")
    }

    pub fn parent(&self) -> Option<NamespaceIdent> {
        (self.0.len() > 1).then(|| Self(self.0[..self.0.len() - 1].to_vec()))
    }
}

impl fmt::Display for NamespaceIdent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("."))
    }
}

/// A table or view: its namespace and name. A topic's name is kept exactly (dots and dashes).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableIdent {
    pub namespace: NamespaceIdent,
    pub name: String,
}

impl TableIdent {
    pub fn new(namespace: NamespaceIdent, name: impl Into<String>) -> crate::Result<Self> {
        let name = name.into();
        check_name("table name", &name)?;
        Ok(Self { namespace, name })
    }
}

impl fmt::Display for TableIdent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.namespace, self.name)
    }
}

/// Which page of a listing to return. No token: everything at once (the spec's rule when a client
/// sends no `pageToken`).
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub token: Option<String>,
    pub size: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_token: Option<String>,
}

/// What an update of namespace properties did.
#[derive(Debug, Clone, Default)]
pub struct PropertiesUpdate {
    pub updated: Vec<String>,
    pub removed: Vec<String>,
    pub missing: Vec<String>,
}

pub type Properties = HashMap<String, String>;
