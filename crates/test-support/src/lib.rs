//! Test support for the nipee workspace; not a published library.
//!
//! * [`replay`]: the runner for NIP-EE interop files (`nipee-interop-vectors/1`), used by
//!   the `nip-ee-vectors` example and the tests on `vectors/nip-ee/`.
//! * [`mem`]: an in-process relay and clients, for scenarios whose timing and delivery
//!   order a test controls (commit races, attacks, crashes).
//! * [`crash`]: a storage that kills its client before or after a chosen write batch, and a
//!   scenario run once per crash point.
//! * [`sim`]: the convergence simulation: a group of 3–20 clients, several relays, a
//!   hostile network and an attacker, driven by random operations from one seed.
//!
//! The scenario tests that span crates (client core, SQLite storage, relay driver, real
//! relay) live in this crate's `tests/`, so the library crates below keep their
//! dependencies pointing down.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// Test support: a failed expectation is a panic with a message, as in a test.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

pub mod crash;
pub mod mem;
pub mod replay;
pub mod sim;
