//! The building blocks under the group state machine, for test-vector runners, interop
//! tests, benchmarks and tools (feature `hazmat`; `test-vectors` enables it). Nothing here
//! is needed to run a group, and nothing here keeps the group's invariants: a caller can
//! build a message the group would never send, or reuse a key the group would delete.
//! The API of these items may change without notice.

/// Labelled operations of RFC 9420 §5 built on any [`crate::CryptoProvider`].
pub mod crypto {
    pub use crate::crypto::{
        ct_eq, decrypt_with_label, derive_secret, derive_tree_secret, encrypt_with_label,
        expand_with_label, key_package_ref, proposal_ref, ref_hash, sign_with_label,
        verify_with_label,
    };
}

/// The ratchet tree, its array math and TreeKEM (RFC 9420 §7, Appendix C).
pub mod tree {
    pub use crate::tree::{MAX_TREE_NODES, Node, ParentNode, RatchetTree, math, treekem};
}

/// The key schedule (RFC 9420 §8).
pub mod schedule {
    pub use crate::schedule::{
        EpochSecrets, Psk, confirmation_tag, confirmed_transcript_hash, interim_transcript_hash,
        psk_secret, verify_confirmation_tag, welcome_key_nonce, welcome_secret,
    };
}

/// The secret tree (RFC 9420 §9).
pub mod secret_tree {
    pub use crate::secret_tree::{
        KeyChange, KeyNonce, RatchetType, SecretTree, sender_data_key_nonce,
    };
}

/// Message framing (RFC 9420 §6).
pub mod framing {
    pub use crate::framing::{
        AuthenticatedContent, Commit, Content, FramedContent, FramedContentAuthData, MlsMessage,
        MlsMessageBody, PrivateMessage, ProposalOrRef, PublicMessage, SenderData, UpdatePath,
        UpdatePathNode, sign_framed_content, verify_framed_content,
    };
}

/// Joining structures (RFC 9420 §12.4.3).
pub mod welcome {
    pub use crate::welcome::{EncryptedGroupSecrets, GroupInfo, GroupSecrets, Welcome};
}
