//! The key schedule (RFC 9420 §8): GroupContext, epoch secrets, pre-shared keys (§8.4), the
//! exporter (§8.5) and the transcript hashes (§8.2).

mod group_context;
mod key_schedule;
mod psk;
mod transcript;

pub use group_context::GroupContext;
pub(crate) use group_context::MLS10;
pub(crate) use key_schedule::mls_exporter;
pub use key_schedule::{EpochSecrets, welcome_key_nonce, welcome_secret};
pub use psk::{PreSharedKeyId, Psk, ResumptionPskUsage, psk_secret};
pub use transcript::{
    confirmation_tag, confirmed_transcript_hash, interim_transcript_hash, verify_confirmation_tag,
};
