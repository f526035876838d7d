//! Frazil's domain: organizations, environments (one Iceberg catalog each), namespaces (Kafka
//! clusters), tables (topics), the commit engine and the metadata stores. Knows no HTTP.

mod catalog;
mod commit;
mod error;
mod model;
pub mod store;

pub use catalog::{Catalog, CreateTable, LoadedTable, TableChange};
pub use error::{CatalogError, Result};
pub use model::{
    Environment, NamespaceIdent, NewEnvironment, Page, PageRequest, PropertiesUpdate, TableIdent,
};
