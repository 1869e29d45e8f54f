//! The one integration-test binary (as cargo and ripgrep have): each concept is a module, so the
//! suite links once instead of once per file, and `cargo nextest run -E "test(/^copy::/)"` picks a concept.

mod branch;
mod common;
mod copy;
mod devloop;
mod first_contact;
mod foundation;
mod from_db;
mod house;
mod layering;
mod lint;
mod migrate;
mod oracle;
mod prisma_generate;
mod prisma_ledger;
mod remote;
mod scripts;
mod seed;
mod speed;
mod stage_tls;
mod subset;
mod subset_shapes;
mod trust;
mod workflow;
