//! devdb: a real local Postgres for every developer of a Postgres-backed service, kept in step
//! with the migrations and with the remote stages.

pub mod atomic;
pub mod branch;
pub mod cli;
pub mod commands;
pub mod config;
pub mod copy;
pub mod db;
pub mod devloop;
pub mod digest;
pub mod docker;
pub mod generate;
pub mod hint;
pub mod lint;
pub mod local;
pub mod migrate;
pub mod ops;
pub mod pg;
pub mod render;
pub mod shell;
pub mod tls;
pub mod workflow;
