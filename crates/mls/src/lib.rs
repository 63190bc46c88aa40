//! MLS (RFC 9420) for `nipee`: a group state machine ([`Group`]) on a cryptographic core
//! (cipher suite 0x0001 provider, ratchet tree and TreeKEM, key schedule, secret tree,
//! message framing). Creating a group, adding members with one Welcome, joining, proposals
//! and commits, application messages, exporter secrets and versioned persistence. Every
//! module is proven against the official MLS test vectors and live against OpenMLS.
//!
//! No IO and no clock. With the default feature `parallel`, on native targets, the HPKE
//! encryptions of large UpdatePaths and Welcomes and large Ed25519 batches run on rayon's
//! global pool; on wasm32 (or with `default-features = false`) everything runs on the
//! calling thread. The results are the same either way.
//!
//! Receiving is two-phase: parse a message once ([`MlsMessageIn`]), stage it
//! ([`Group::stage`]: every check runs, nothing changes), look at what it does, then merge
//! it ([`Group::merge`]):
//!
//! ```
//! use nipee_keypackage::{KeyPackageBundle, KeyPackageOptions};
//! use nipee_mls::{
//!     Group, GroupConfig, GroupId, MlsMessageIn, ProcessedMessage, RustCryptoSuite1, Staged,
//! };
//!
//! let now = 1_750_000_000; // the caller's clock, seconds since the Unix epoch
//! # use rand::SeedableRng;
//! # let mut rng = rand::rngs::StdRng::seed_from_u64(7);
//! let alice_kp = KeyPackageBundle::generate(b"alice", &KeyPackageOptions::new(now), &mut rng)?;
//! let bob_kp = KeyPackageBundle::generate(b"bob", &KeyPackageOptions::new(now), &mut rng)?;
//! let carol_kp = KeyPackageBundle::generate(b"carol", &KeyPackageOptions::new(now), &mut rng)?;
//!
//! // Alice creates a group and adds Bob from his KeyPackage.
//! let mut alice = Group::create(
//!     RustCryptoSuite1::new(),
//!     GroupConfig::new(now),
//!     GroupId::new(b"group id".to_vec()),
//!     alice_kp,
//!     vec![],
//! )?;
//! let out = alice.add_members(vec![bob_kp.key_package().clone()])?;
//! // Send `out.commit` to the group; once the delivery service accepted it:
//! alice.merge_pending_commit()?;
//!
//! // Bob joins from the Welcome.
//! let welcome = out.welcome.expect("a Welcome for Bob");
//! let mut bob = Group::join(
//!     RustCryptoSuite1::new(),
//!     GroupConfig::new(now),
//!     &welcome,
//!     bob_kp.into(),
//!     None,
//!     vec![],
//! )?;
//! assert_eq!(alice.epoch_authenticator(), bob.epoch_authenticator());
//!
//! // Alice adds Carol. Bob parses the commit, stages it, applies his rules to what it
//! // does, and merges it.
//! let out = alice.add_members(vec![carol_kp.key_package().clone()])?;
//! alice.merge_pending_commit()?;
//! let msg = MlsMessageIn::parse(&out.commit)?;
//! assert!(msg.is_commit());
//! let Staged::Commit(commit) = bob.stage(&msg)? else { panic!("a commit") };
//! assert_eq!(commit.committer_credential().and_then(|c| c.identity()), Some(&b"alice"[..]));
//! assert_eq!(commit.added()[0].credential.identity(), Some(&b"carol"[..]));
//! assert!(commit.removed().is_empty() && !commit.removes_us());
//! bob.merge(Staged::Commit(commit))?;
//! assert_eq!(alice.epoch_authenticator(), bob.epoch_authenticator());
//!
//! // An application message, staged then merged (merging consumes its key).
//! let message = alice.create_message(b"hello bob", b"")?;
//! let staged = bob.stage(&MlsMessageIn::parse(&message)?)?;
//! if let Staged::Application(app) = &staged {
//!     assert_eq!(app.sender_credential().identity(), Some(&b"alice"[..]));
//! }
//! match bob.merge(staged)? {
//!     ProcessedMessage::Application { data, .. } => assert_eq!(data, b"hello bob"),
//!     other => panic!("unexpected {other:?}"),
//! }
//! // Both derive the same application secrets (NIP-EE uses this one).
//! assert_eq!(
//!     alice.export_secret(b"nostr", b"nostr", 32)?,
//!     bob.export_secret(b"nostr", b"nostr", 32)?
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Our own commits are two-phase as well: [`Group::commit`] (and [`Group::add_members`],
//! [`Group::self_update`], ...) leave a pending commit that [`Group::pending_commit`] shows
//! exactly as receivers will stage it, until [`Group::merge_pending_commit`] or
//! [`Group::discard_pending_commit`].
//!
//! # What a group keeps, and for how long
//!
//! * **The current epoch**: its GroupContext and ratchet tree (public); our leaf's HPKE
//!   private key and those of the nodes of our filtered direct path we know; the interim
//!   transcript hash and confirmation tag; the path the last commit replaced; and the epoch
//!   secrets `sender_data_secret`, `exporter_secret`, `membership_key`, `external_secret`,
//!   `resumption_psk`, `epoch_authenticator` and `init_secret` (used once, by the next
//!   epoch's key schedule). The joiner, welcome, confirmation and encryption secrets are
//!   dropped as soon as they are used. Of the secret tree only what has not been used yet
//!   exists: node secrets not yet split, and for each leaf that sent, its two ratchets'
//!   next secret plus at most [`SecretTreeConfig::out_of_order_window`] keys of skipped
//!   generations. A node's secret is deleted when split, a ratchet secret when the ratchet
//!   moves, a message key when the message is merged (staging does not consume it).
//! * **Our signature private key**, replaced when a commit of ours that rotated it is
//!   merged.
//! * **This epoch's proposals** (and the leaf private keys of our own Update proposals):
//!   dropped when the epoch changes.
//! * **Our pending commit** (the whole next epoch, and our new signature key if it rotates
//!   it): until merged, discarded, or overtaken by another member's merged commit.
//! * **Each retained past epoch**, at most [`GroupConfig::max_past_epochs`] (default 3;
//!   when a new epoch starts the oldest beyond that is dropped): its GroupContext, its
//!   sender-data secret, the secret-tree keys not yet used, and each leaf's signature key
//!   and credential (the leaf itself, shared with the tree it came from). Only application
//!   messages of these epochs are accepted; their keys are deleted as they are merged.
//! * **Resumption PSKs** of past epochs, at most [`GroupConfig::max_resumption_psks`]
//!   (default 16), oldest dropped first; **external PSKs** until replaced.
//! * **When a commit removes us**, the epoch we were removed in joins the retained past
//!   epochs and everything else secret is deleted: epoch secrets, private tree keys, our
//!   signature key, proposals, pending commit, PSKs. The context and tree stay readable;
//!   late application messages of the retained epochs still decrypt.
//!
//! [`Group::to_bytes`] writes all of it (the bytes hold secrets: encrypt them at rest).
//!
//! # Unknown values and GREASE (RFC 9420 §13, §13.5)
//!
//! What a receiver must ignore is ignored, on every path: unknown and GREASE values in a
//! leaf's capabilities (KeyPackages in Adds, Update and UpdatePath leaves, tree leaves on
//! join), unknown `KeyPackage.extensions` (their types need not be listed in the
//! capabilities), unknown leaf extensions listed in the capabilities, unknown
//! `GroupInfo.extensions` (Welcome and external join). What must not be sent is refused
//! with a typed error: a GREASE proposal type ([`Error::UnknownValue`] naming
//! `proposal_type`), a GREASE credential type (the policy's
//! `UnsupportedCredentialType`), and a GREASE GroupContext extension or required
//! capability ([`Error::NotSupportedByUs`]): a client compares what a group uses with its
//! own capabilities *without* their GREASE values, so it never supports one, whatever its
//! advertised capabilities list. Two extensions of one type in any list are refused.
//!
//! We send GREASE by default ([`GroupConfig::grease`]): a fresh random selection in the
//! capabilities of every leaf we create and one GREASE extension in every GroupInfo we
//! sign, drawn from the provider's randomness. GREASE leaf extensions are optional
//! ([`GroupConfig::grease_leaf_extensions`], off) because OpenMLS up to 0.9.2 refuses
//! them. `docs/ARCHITECTURE.md` lists each rule with where it is enforced and its test.
//!
//! # Public API and `hazmat`
//!
//! The crate root exports what an application needs. The building blocks (tree math,
//! TreeKEM, key schedule, secret tree, framing, Welcome structures, labelled crypto) are
//! crate-internal, reachable only through the module `hazmat` with the feature of that
//! name.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod crypto;
mod error;
mod extensions;
mod framing;
pub mod group;
mod group_id;
#[cfg(feature = "hazmat")]
pub mod hazmat;
mod schedule;
mod secret_tree;
#[cfg(feature = "test-vectors")]
pub mod test_vectors;
mod tree;
mod welcome;

pub use crypto::{
    CipherSuite, CryptoProvider, GroupProvider, HpkeCiphertext, HpkePrivateKey, RustCryptoSuite1,
    SealJob, Secret, SignatureSecretKey,
};
pub use error::{Error, ErrorKind, Result};
#[cfg(feature = "own-commit-recovery")]
pub use group::OwnCommitSecrets;
pub use group::{
    CommitOptions, CommitOutput, CommitSummary, ContentType, Extension, ExternalSender, Group,
    GroupConfig, GroupContext, GroupId, HandshakeFormat, JoinKeys, LeafIndex, Member, MlsMessageIn,
    PendingCommit, PreSharedKeyId, ProcessedMessage, Proposal, ReInit, RequiredCapabilities,
    ResumptionPskUsage, Sender, Staged, StagedApplication, StagedCommit, StagedJoin,
    StagedProposal, TreeNodeView, WelcomeSplit, WireFormat, welcome_key_package_refs,
};
pub use secret_tree::{SecretTreeConfig, TreeSlot};
