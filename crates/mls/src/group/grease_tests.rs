//! In-crate GREASE tests that forge what our own API refuses to send: a GroupContext
//! extension list with GREASE, proposed and committed by a member whose framing is valid.
//! Every member here advertises the GREASE value 0x3A3A in its capabilities (and 0xF2EE),
//! so only the rule about our own capabilities can refuse it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nipee_keypackage::{
    Capabilities, CredentialType, Extension, ExtensionType, KeyPackageOptions, ProposalType,
};

use super::ext::{RequiredCapabilities, check_we_support};
use super::message_in::MlsMessageIn;
use super::proposals::validate_and_apply;
use super::staged::Staged;
use super::tests::{NOW, members_with, public_commit, reframe};
use super::{Group, HandshakeFormat};
use crate::error::Error;
use crate::framing::{Content, Proposal, Sender};
use crate::tree::math::LeafIndex;

const GREASE: ExtensionType = ExtensionType(0x3A3A);

/// Members whose KeyPackages list 0x3A3A and 0xF2EE (made without generated GREASE, so the
/// listed 0x3A3A stays).
fn listing_grease(n: usize) -> Vec<Group> {
    let mut options = KeyPackageOptions::new(NOW).without_grease();
    options.capabilities.extensions = vec![GREASE, ExtensionType::NOSTR_GROUP_DATA];
    members_with(n, HandshakeFormat::Public, &options)
}

fn not_supported(value: u16) -> impl Fn(&Error) -> bool {
    move |e| {
        matches!(
            e,
            Error::NotSupportedByUs {
                what: "GroupContext extension",
                value: v
            } if *v == value
        )
    }
}

/// RFC 9420 §13.5: "GREASE values MUST NOT be sent in the following fields, because an
/// unsupported value in one these fields (including a GREASE value) will cause the
/// enclosing message to be rejected: ... `GroupContextExtensions.extensions`". A member
/// proposes one (framed correctly); we refuse it on receipt, although every leaf's
/// advertised capabilities list it: ours, without GREASE (§13.5: "representations of a
/// client's own capabilities MUST NOT contain GREASE values"), do not.
#[test]
fn a_received_group_context_extensions_proposal_with_grease_is_refused() {
    let g = listing_grease(2);
    let (alice, bob) = (&g[0], &g[1]);
    let forge = |t| {
        reframe(
            bob,
            bob.framed(
                Content::Proposal(Proposal::GroupContextExtensions(vec![Extension::new(
                    t,
                    vec![1],
                )])),
                &[],
            ),
            None,
        )
    };
    let before = alice.to_bytes().unwrap();
    let err = alice
        .stage(&MlsMessageIn::parse(&forge(GREASE)).unwrap())
        .unwrap_err();
    assert!(not_supported(0x3A3A)(&err), "{err:?}");
    assert_eq!(*alice.to_bytes().unwrap(), *before);
    // Normal logic: the same proposal with a listed extension that is not GREASE is fine.
    assert!(matches!(
        alice
            .stage(&MlsMessageIn::parse(&forge(ExtensionType::NOSTR_GROUP_DATA)).unwrap())
            .unwrap(),
        Staged::Proposal(_)
    ));
}

/// The same rule for a commit carrying the proposal by value: a genuine commit of a
/// GroupContextExtensions proposal, its extension swapped for GREASE and framed again by
/// its committer, is refused by the other members before anything else fails.
#[test]
fn a_received_commit_with_a_grease_group_context_extension_is_refused() {
    let mut g = listing_grease(3);
    let out = g[1]
        .commit(super::CommitOptions {
            proposals: vec![Proposal::GroupContextExtensions(vec![Extension::new(
                ExtensionType::NOSTR_GROUP_DATA,
                b"name".to_vec(),
            )])],
            ..Default::default()
        })
        .unwrap();
    let pm = public_commit(&out.commit);
    let mut content = pm.content.clone();
    let Content::Commit(commit) = &mut content.content else {
        panic!("a commit");
    };
    let crate::framing::ProposalOrRef::Proposal(Proposal::GroupContextExtensions(list)) =
        &mut commit.proposals[0]
    else {
        panic!("the GroupContextExtensions proposal by value");
    };
    list[0].extension_type = GREASE;
    let forged = reframe(&g[1], content, pm.auth.confirmation_tag.clone());
    for i in [0, 2] {
        let err = g[i].process_message(&forged).unwrap_err();
        assert!(not_supported(0x3A3A)(&err), "member {i}: {err:?}");
    }
    // The list validation itself, as a receiver runs it for member 1's commit.
    let list = [(
        Sender::Member(1),
        Proposal::GroupContextExtensions(vec![Extension::new(GREASE, vec![])]),
    )];
    let err = validate_and_apply(&g[0], Some(LeafIndex(1)), &list)
        .err()
        .unwrap();
    assert!(not_supported(0x3A3A)(&err), "{err:?}");
    // The genuine commit applies.
    g[1].merge_pending_commit().unwrap();
    g[0].process_message(&out.commit).unwrap();
    assert_eq!(g[0].epoch_authenticator(), g[1].epoch_authenticator());
}

/// What `check_we_support` compares: our capabilities without GREASE against every
/// GroupContext extension, every required type and every credential type in use; default
/// types are always supported (RFC 9420 §7.2, §11.1).
#[test]
fn our_own_capabilities_never_support_a_grease_value() {
    let own = Capabilities {
        extensions: vec![GREASE, ExtensionType(0xF2EE)],
        proposals: vec![ProposalType(0x4A4A), ProposalType(0x0042)],
        credentials: vec![CredentialType::BASIC, CredentialType(0x5A5A)],
        ..Capabilities::default()
    };
    let none = RequiredCapabilities::default();
    let ext = |t| vec![Extension::new(ExtensionType(t), vec![])];
    assert!(check_we_support(&own, &ext(0xF2EE), &none, [CredentialType::BASIC]).is_ok());
    assert!(check_we_support(&own, &ext(0x0002), &none, []).is_ok());
    let refused = |r: crate::error::Result<()>, what: &str, value: u16| {
        assert!(
            matches!(r, Err(Error::NotSupportedByUs { what: w, value: v }) if w == what && v == value),
            "{what} 0x{value:04x}"
        );
    };
    refused(
        check_we_support(&own, &ext(0x3A3A), &none, []),
        "GroupContext extension",
        0x3A3A,
    );
    refused(
        check_we_support(&own, &ext(0xFF00), &none, []),
        "GroupContext extension",
        0xFF00,
    );
    let required = |e: Vec<u16>, p: Vec<u16>, c: Vec<u16>| RequiredCapabilities {
        extension_types: e.into_iter().map(ExtensionType).collect(),
        proposal_types: p.into_iter().map(ProposalType).collect(),
        credential_types: c.into_iter().map(CredentialType).collect(),
    };
    refused(
        check_we_support(&own, &[], &required(vec![0x3A3A], vec![], vec![]), []),
        "required extension type",
        0x3A3A,
    );
    refused(
        check_we_support(&own, &[], &required(vec![], vec![0x4A4A], vec![]), []),
        "required proposal type",
        0x4A4A,
    );
    refused(
        check_we_support(&own, &[], &required(vec![], vec![], vec![0x5A5A]), []),
        "required credential type",
        0x5A5A,
    );
    refused(
        check_we_support(&own, &[], &none, [CredentialType(0x5A5A)]),
        "credential type in use",
        0x5A5A,
    );
    assert!(
        check_we_support(
            &own,
            &[],
            &required(vec![0xF2EE, 0x0003], vec![0x0042, 0x0007], vec![1]),
            []
        )
        .is_ok()
    );
}
