//! The one Postgres catalog layer: how relations are named (`name`), which schemas are the
//! user's, and what the catalog says about tables and foreign keys (`catalog`,
//! `foreign_key`). It imports nothing else of devdb, so every floor above can share it.

pub mod catalog;
pub mod diff;
pub mod foreign_key;
pub mod name;

pub use foreign_key::ForeignKey;
pub use name::QualifiedName;
