//! Wire types of the Iceberg REST catalog API as Frazil serves it, and the Iceberg error model.
//!
//! Table metadata, schemas, requirements and updates are the `iceberg` crate's spec types, which
//! serialize exactly as the spec writes them; this crate adds the request and response envelopes.

pub mod admin;
pub mod error;
pub mod iceberg_rest;
pub mod oauth;
pub mod object;

pub use error::{ErrorModel, IcebergErrorResponse};
