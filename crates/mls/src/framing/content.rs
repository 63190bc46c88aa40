//! Proposals (RFC 9420 §12.1) and commits (§12.4) as carried in framed content.

use nipee_codec::{Decode, Encode, Reader, Writer};
use nipee_keypackage::{KeyPackage, LeafNode};

use crate::crypto::{CipherSuite, HpkeCiphertext};
use crate::error::{Error, Result};
use crate::extensions::{Extension, read_extensions, write_extensions};
use crate::group_id::GroupId;
use crate::schedule::PreSharedKeyId;

/// Upper bound on the number of proposals in a commit, and of nodes in an UpdatePath.
pub const MAX_LIST_ITEMS: usize = 1 << 16;

/// `ReInit` (§12.1.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReInit {
    /// The new group's identifier.
    pub group_id: GroupId,
    /// The new protocol version.
    pub version: u16,
    /// The new cipher suite.
    pub cipher_suite: CipherSuite,
    /// The new group's extensions.
    pub extensions: Vec<Extension>,
}

/// A proposal (§12.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proposal {
    /// `add(1)`: add the member of a KeyPackage.
    Add(Box<KeyPackage>),
    /// `update(2)`: replace the sender's leaf.
    Update(Box<LeafNode>),
    /// `remove(3)`: remove the member at a leaf index.
    Remove {
        /// The removed leaf.
        removed: u32,
    },
    /// `psk(4)`: inject a pre-shared key.
    PreSharedKey(PreSharedKeyId),
    /// `reinit(5)`.
    ReInit(ReInit),
    /// `external_init(6)`: the KEM output of an external joiner.
    ExternalInit {
        /// `kem_output`.
        kem_output: Vec<u8>,
    },
    /// `group_context_extensions(7)`: replace the GroupContext extensions.
    GroupContextExtensions(Vec<Extension>),
    /// `self_remove(0x000a)` (draft-ietf-mls-extensions, "SelfRemove Proposal"): the
    /// sender asks to leave; a commit that references it removes the sender's leaf. An
    /// empty struct; valid only from a member, by reference, in a group whose every member
    /// lists the type in its capabilities.
    SelfRemove,
}

impl Proposal {
    /// The proposal type code.
    pub fn proposal_type(&self) -> u16 {
        match self {
            Proposal::Add(_) => 1,
            Proposal::Update(_) => 2,
            Proposal::Remove { .. } => 3,
            Proposal::PreSharedKey(_) => 4,
            Proposal::ReInit(_) => 5,
            Proposal::ExternalInit { .. } => 6,
            Proposal::GroupContextExtensions(_) => 7,
            Proposal::SelfRemove => 0x000a,
        }
    }
}

impl Proposal {
    /// Writes the proposal's body, without its type (the `Add`, `Update`, ... structure).
    ///
    /// # Errors
    /// Only for fields too long to encode.
    pub fn write_body(&self, w: &mut Writer) -> Result<()> {
        match self {
            Proposal::Add(kp) => w.encode(kp.as_ref())?,
            Proposal::Update(leaf) => w.encode(leaf.as_ref())?,
            Proposal::Remove { removed } => w.u32(*removed),
            Proposal::PreSharedKey(id) => id.write(w)?,
            Proposal::ReInit(r) => {
                w.vl_bytes("group_id", r.group_id.as_bytes())?;
                w.u16(r.version);
                w.u16(r.cipher_suite.0);
                write_extensions(w, &r.extensions)?;
            }
            Proposal::ExternalInit { kem_output } => w.vl_bytes("kem_output", kem_output)?,
            Proposal::GroupContextExtensions(exts) => write_extensions(w, exts)?,
            // `struct {} SelfRemove;`: nothing.
            Proposal::SelfRemove => {}
        }
        Ok(())
    }

    /// Reads the body of a proposal of type `proposal_type`.
    ///
    /// # Errors
    /// [`Error::UnknownValue`] for an unknown type (its length is not encoded, so it cannot
    /// be skipped), [`Error::Malformed`], [`Error::KeyPackage`].
    pub fn read_body(r: &mut Reader<'_>, proposal_type: u16) -> Result<Self> {
        Ok(match proposal_type {
            1 => Proposal::Add(Box::new(r.decode::<KeyPackage>()?)),
            2 => Proposal::Update(Box::new(r.decode::<LeafNode>()?)),
            3 => Proposal::Remove {
                removed: r.u32("removed")?,
            },
            4 => Proposal::PreSharedKey(PreSharedKeyId::read(r)?),
            5 => Proposal::ReInit(ReInit {
                group_id: GroupId::from(r.vl_bytes("group_id")?),
                version: r.u16("version")?,
                cipher_suite: CipherSuite(r.u16("cipher_suite")?),
                extensions: read_extensions(r)?,
            }),
            6 => Proposal::ExternalInit {
                kem_output: r.vl_bytes("kem_output")?.to_vec(),
            },
            7 => Proposal::GroupContextExtensions(read_extensions(r)?),
            0x000a => Proposal::SelfRemove,
            other => {
                return Err(Error::UnknownValue {
                    field: "proposal_type",
                    value: u64::from(other),
                });
            }
        })
    }
}

impl Encode for Proposal {
    type Error = Error;

    fn encode(&self, w: &mut Writer) -> Result<()> {
        w.u16(self.proposal_type());
        self.write_body(w)
    }
}

impl Decode for Proposal {
    type Error = Error;

    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let t = r.u16("proposal_type")?;
        Self::read_body(r, t)
    }
}

/// `ProposalOrRef` (§12.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProposalOrRef {
    /// A proposal carried by value.
    Proposal(Proposal),
    /// A reference (ProposalRef) to a proposal sent earlier in the epoch.
    Reference(Vec<u8>),
}

impl Encode for ProposalOrRef {
    type Error = Error;

    fn encode(&self, w: &mut Writer) -> Result<()> {
        match self {
            ProposalOrRef::Proposal(p) => {
                w.u8(1);
                w.encode(p)
            }
            ProposalOrRef::Reference(r) => {
                w.u8(2);
                Ok(w.vl_bytes("proposal_ref", r)?)
            }
        }
    }
}

impl Decode for ProposalOrRef {
    type Error = Error;

    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        match r.u8("proposal_or_ref_type")? {
            1 => Ok(ProposalOrRef::Proposal(r.decode()?)),
            2 => Ok(ProposalOrRef::Reference(
                r.vl_bytes("proposal_ref")?.to_vec(),
            )),
            other => Err(Error::UnknownValue {
                field: "proposal_or_ref_type",
                value: u64::from(other),
            }),
        }
    }
}

/// `UpdatePathNode` (§7.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdatePathNode {
    /// The node's new HPKE public key.
    pub encryption_key: Vec<u8>,
    /// The path secret encrypted to each node of the copath child's resolution.
    pub encrypted_path_secret: Vec<HpkeCiphertext>,
}

/// `UpdatePath` (§7.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdatePath {
    /// The committer's new leaf.
    pub leaf_node: LeafNode,
    /// One node per filtered direct-path entry.
    pub nodes: Vec<UpdatePathNode>,
}

pub(crate) fn write_hpke_ciphertext(w: &mut Writer, c: &HpkeCiphertext) -> Result<()> {
    w.vl_bytes("kem_output", &c.kem_output)?;
    w.vl_bytes("ciphertext", &c.ciphertext)?;
    Ok(())
}

pub(crate) fn read_hpke_ciphertext(r: &mut Reader<'_>) -> Result<HpkeCiphertext> {
    Ok(HpkeCiphertext {
        kem_output: r.vl_bytes("kem_output")?.to_vec(),
        ciphertext: r.vl_bytes("ciphertext")?.to_vec(),
    })
}

impl Encode for UpdatePath {
    type Error = Error;

    fn encode(&self, w: &mut Writer) -> Result<()> {
        w.encode(&self.leaf_node)?;
        w.vl("nodes", |w| {
            for n in &self.nodes {
                w.vl_bytes("encryption_key", &n.encryption_key)?;
                w.vl("encrypted_path_secret", |w| {
                    for c in &n.encrypted_path_secret {
                        write_hpke_ciphertext(w, c)?;
                    }
                    Ok::<(), Error>(())
                })?;
            }
            Ok::<(), Error>(())
        })
    }
}

impl Decode for UpdatePath {
    type Error = Error;

    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let leaf_node = r.decode::<LeafNode>()?;
        let nodes = r.vl_vec("nodes", MAX_LIST_ITEMS, |r| {
            Ok::<_, Error>(UpdatePathNode {
                encryption_key: r.vl_bytes("encryption_key")?.to_vec(),
                encrypted_path_secret: r.vl_vec(
                    "encrypted_path_secret",
                    MAX_LIST_ITEMS,
                    read_hpke_ciphertext,
                )?,
            })
        })?;
        Ok(UpdatePath { leaf_node, nodes })
    }
}

/// `Commit` (§12.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// The proposals, by value or by reference.
    pub proposals: Vec<ProposalOrRef>,
    /// The committer's UpdatePath, if any.
    pub path: Option<UpdatePath>,
}

impl Encode for Commit {
    type Error = Error;

    fn encode(&self, w: &mut Writer) -> Result<()> {
        w.vl("proposals", |w| {
            for p in &self.proposals {
                w.encode(p)?;
            }
            Ok::<(), Error>(())
        })?;
        w.optional(self.path.as_ref(), |w, p| w.encode(p))
    }
}

impl Decode for Commit {
    type Error = Error;

    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let proposals = r.vl_vec("proposals", MAX_LIST_ITEMS, |r| r.decode::<ProposalOrRef>())?;
        let path = r.optional("path", |r| r.decode::<UpdatePath>())?;
        Ok(Commit { proposals, path })
    }
}
