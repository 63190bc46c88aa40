//! GREASE on the sending side (RFC 9420 §13.5): the random values a client puts in the
//! fields receivers must ignore, chosen from caller-supplied random bytes so that a seeded
//! random source gives the same selection every time.
//!
//! > When generating the following fields, an MLS client SHOULD include a random selection
//! > of values chosen from these GREASE values: `LeafNode.capabilities.cipher_suites`,
//! > `LeafNode.capabilities.extensions`, `LeafNode.capabilities.proposals`,
//! > `LeafNode.capabilities.credentials`, `LeafNode.extensions`, `KeyPackage.extensions`,
//! > `GroupInfo.extensions`.
//!
//! What a selection holds:
//! * one or two distinct GREASE values in each of the four capability lists;
//! * optionally, one GREASE `LeafNode` extension whose type is the first GREASE value of
//!   `capabilities.extensions` ("any GREASE values added to `LeafNode.extensions` need to
//!   be reflected in `LeafNode.capabilities.extensions`");
//! * for `KeyPackage.extensions` and `GroupInfo.extensions`, one GREASE extension
//!   ([`grease_extension`]).
//!
//! Every GREASE extension carries 0 to [`MAX_GREASE_DATA_LEN`] random bytes ("the
//! `extension_data` for GREASE extensions MAY have any contents selected by the sender").
//!
//! GREASE extensions in `LeafNode.extensions` and `KeyPackage.extensions` are optional
//! because OpenMLS up to 0.9.2, and every client built on it, refuses them: it classifies
//! the extension's type as `Unknown` and the same value in the capabilities as `Grease`,
//! so the two never match (openmls issue 2156, fixed by pull request 2162). The
//! `interop_openmls` tests of both crates check this and fail once the OpenMLS in use
//! accepts them, which is the moment to turn them on by default.
//!
//! Receivers need nothing from this module: GREASE values are handled by the normal logic
//! for unknown values. The one exception is a client's *own* capabilities, which "MUST NOT
//! contain GREASE values" when compared with what a group uses:
//! [`Capabilities::without_grease`].

use crate::capabilities::Capabilities;
use crate::extension::Extension;
use crate::leaf_node::UnsignedLeafNode;
use crate::types::{
    CipherSuite, CredentialType, ExtensionType, GREASE_VALUES, ProposalType, is_grease,
};

/// How many random bytes one GREASE selection reads (for [`grease_leaf_node`] and for
/// [`grease_extension`] alike).
pub const GREASE_RANDOM_LEN: usize = 48;

/// The most random bytes in the `extension_data` of a GREASE extension we send.
pub const MAX_GREASE_DATA_LEN: usize = 16;

// The byte budget fits: four lists of 3 bytes and one extension of at most 1 + 16 bytes
// for a leaf; a type byte, a length byte and at most 16 bytes for an extension.
const _: () = assert!(4 * 3 + 1 + MAX_GREASE_DATA_LEN <= GREASE_RANDOM_LEN);
const _: () = assert!(1 + 1 + MAX_GREASE_DATA_LEN <= GREASE_RANDOM_LEN);

/// Reads the caller's random bytes in order.
struct Draw<'a> {
    bytes: &'a [u8; GREASE_RANDOM_LEN],
    at: usize,
}

impl<'a> Draw<'a> {
    fn new(bytes: &'a [u8; GREASE_RANDOM_LEN]) -> Self {
        Draw { bytes, at: 0 }
    }

    /// The next byte. The budget below never runs past [`GREASE_RANDOM_LEN`]; should it,
    /// the selection stays valid (zeros), it is only less random.
    fn byte(&mut self) -> u8 {
        let b = self.bytes.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b
    }

    fn value(&mut self) -> u16 {
        let i = usize::from(self.byte()) % GREASE_VALUES.len();
        GREASE_VALUES.get(i).copied().unwrap_or(0x0A0A)
    }

    /// One or two distinct GREASE values (3 bytes).
    fn values(&mut self) -> Vec<u16> {
        let two = self.byte() & 1 == 1;
        let first = self.value();
        let second = self.value();
        if two && second != first {
            vec![first, second]
        } else {
            vec![first]
        }
    }

    /// 0 to [`MAX_GREASE_DATA_LEN`] random bytes (at most 17 bytes).
    fn data(&mut self) -> Vec<u8> {
        let len = usize::from(self.byte()) % (MAX_GREASE_DATA_LEN + 1);
        (0..len).map(|_| self.byte()).collect()
    }
}

/// One GREASE extension for `KeyPackage.extensions` or `GroupInfo.extensions`: a random
/// GREASE type with 0 to [`MAX_GREASE_DATA_LEN`] random bytes of data. The same `random`
/// gives the same extension.
pub fn grease_extension(random: &[u8; GREASE_RANDOM_LEN]) -> Extension {
    let mut d = Draw::new(random);
    let extension_type = ExtensionType(d.value());
    Extension::new(extension_type, d.data())
}

/// Replaces the GREASE values of a LeafNode about to be signed by a fresh random
/// selection: every GREASE value already in its four capability lists and every GREASE
/// extension in `extensions` is removed, then one or two GREASE values are added to each
/// of `capabilities.cipher_suites`, `.extensions`, `.proposals` and `.credentials`, and,
/// `with_extension`, one GREASE extension (type listed in `capabilities.extensions`, 0
/// to [`MAX_GREASE_DATA_LEN`] random bytes) to `extensions`. The same `random` gives the
/// same selection.
pub fn grease_leaf_node(
    leaf: &mut UnsignedLeafNode,
    random: &[u8; GREASE_RANDOM_LEN],
    with_extension: bool,
) {
    let caps = &mut leaf.capabilities;
    *caps = caps.without_grease();
    leaf.extensions.retain(|e| !e.extension_type.is_grease());

    let mut d = Draw::new(random);
    caps.cipher_suites
        .extend(d.values().into_iter().map(CipherSuite));
    let extension_types: Vec<ExtensionType> = d.values().into_iter().map(ExtensionType).collect();
    caps.extensions.extend(&extension_types);
    caps.proposals
        .extend(d.values().into_iter().map(ProposalType));
    caps.credentials
        .extend(d.values().into_iter().map(CredentialType));
    if with_extension && let Some(first) = extension_types.first() {
        leaf.extensions.push(Extension::new(*first, d.data()));
    }
}

impl Capabilities {
    /// These capabilities without any GREASE value: what a client really supports when its
    /// own advertised capabilities carry GREASE (RFC 9420 §13.5: "representations of a
    /// client's own capabilities MUST NOT contain GREASE values"). Unknown values that are
    /// not GREASE stay: the application listed them, so it supports them.
    pub fn without_grease(&self) -> Capabilities {
        Capabilities {
            versions: self.versions.clone(),
            cipher_suites: keep(&self.cipher_suites, |v| v.0),
            extensions: keep(&self.extensions, |v| v.0),
            proposals: keep(&self.proposals, |v| v.0),
            credentials: keep(&self.credentials, |v| v.0),
        }
    }

    /// Whether any of the five lists holds a GREASE value.
    pub fn has_grease(&self) -> bool {
        self.versions.iter().any(|v| is_grease(v.0))
            || self.cipher_suites.iter().any(|v| v.is_grease())
            || self.extensions.iter().any(|v| v.is_grease())
            || self.proposals.iter().any(|v| v.is_grease())
            || self.credentials.iter().any(|v| v.is_grease())
    }
}

fn keep<T: Copy>(list: &[T], code: impl Fn(&T) -> u16) -> Vec<T> {
    list.iter()
        .filter(|v| !is_grease(code(v)))
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credential::Credential;
    use crate::leaf_node::LeafNodeSource;

    fn leaf() -> UnsignedLeafNode {
        UnsignedLeafNode {
            encryption_key: [1; 32],
            signature_key: [2; 32],
            credential: Credential::Basic {
                identity: b"a".to_vec(),
            },
            capabilities: Capabilities::default(),
            leaf_node_source: LeafNodeSource::Update,
            extensions: vec![Extension::new(ExtensionType(0xFF00), vec![1])],
        }
    }

    #[test]
    fn a_leaf_gets_grease_in_every_list_the_rfc_names_and_its_extension_is_listed() {
        let mut l = leaf();
        grease_leaf_node(&mut l, &[0x37; GREASE_RANDOM_LEN], true);
        let c = &l.capabilities;
        assert!(c.cipher_suites.iter().any(|v| v.is_grease()));
        assert!(c.extensions.iter().any(|v| v.is_grease()));
        assert!(c.proposals.iter().any(|v| v.is_grease()));
        assert!(c.credentials.iter().any(|v| v.is_grease()));
        assert!(!c.versions.iter().any(|v| is_grease(v.0)));
        let grease_ext: Vec<_> = l
            .extensions
            .iter()
            .filter(|e| e.extension_type.is_grease())
            .collect();
        assert_eq!(grease_ext.len(), 1);
        assert!(c.extensions.contains(&grease_ext[0].extension_type));
        assert!(grease_ext[0].data.len() <= MAX_GREASE_DATA_LEN);
        // What was there before stays.
        assert!(
            l.extensions
                .contains(&Extension::new(ExtensionType(0xFF00), vec![1]))
        );
        assert_eq!(c.without_grease(), Capabilities::default());
    }

    #[test]
    fn without_the_extension_only_the_capabilities_change() {
        let mut l = leaf();
        grease_leaf_node(&mut l, &[0x37; GREASE_RANDOM_LEN], false);
        assert_eq!(l.extensions, leaf().extensions);
        assert!(l.capabilities.has_grease());
    }

    #[test]
    fn greasing_again_replaces_the_old_selection() {
        let mut once = leaf();
        grease_leaf_node(&mut once, &[0x11; GREASE_RANDOM_LEN], true);
        let mut twice = once.clone();
        grease_leaf_node(&mut twice, &[0x11; GREASE_RANDOM_LEN], true);
        assert_eq!(once, twice);
        let mut other = once.clone();
        grease_leaf_node(&mut other, &[0x5C; GREASE_RANDOM_LEN], true);
        assert_eq!(other.capabilities.without_grease(), Capabilities::default());
        assert_eq!(
            other
                .extensions
                .iter()
                .filter(|e| e.extension_type.is_grease())
                .count(),
            1
        );
    }

    #[test]
    fn the_same_random_bytes_give_the_same_selection() {
        let random: [u8; GREASE_RANDOM_LEN] = core::array::from_fn(|i| (i * 37 + 5) as u8);
        let (mut a, mut b) = (leaf(), leaf());
        grease_leaf_node(&mut a, &random, true);
        grease_leaf_node(&mut b, &random, true);
        assert_eq!(a, b);
        assert_eq!(grease_extension(&random), grease_extension(&random));
        assert!(grease_extension(&random).extension_type.is_grease());
    }

    #[test]
    fn without_grease_keeps_unknown_values_that_are_not_grease() {
        let caps = Capabilities {
            versions: vec![crate::types::ProtocolVersion(1)],
            cipher_suites: vec![CipherSuite(1), CipherSuite(0x2A2A), CipherSuite(0xFAFA)],
            extensions: vec![ExtensionType(0xF2EE), ExtensionType(0xEAEA)],
            proposals: vec![ProposalType(0x0A0A), ProposalType(0x0009)],
            credentials: vec![CredentialType(1), CredentialType(0x9A9A)],
        };
        assert!(caps.has_grease());
        let own = caps.without_grease();
        assert!(!own.has_grease());
        assert_eq!(own.cipher_suites, vec![CipherSuite(1), CipherSuite(0xFAFA)]);
        assert_eq!(own.extensions, vec![ExtensionType(0xF2EE)]);
        assert_eq!(own.proposals, vec![ProposalType(0x0009)]);
        assert_eq!(own.credentials, vec![CredentialType(1)]);
    }
}
