//! TreeKEM (RFC 9420 §7.4–§7.6): path secrets and node key pairs, creating an UpdatePath
//! (encrypting each path secret to the resolution of the copath child) and processing one
//! (decrypting, re-deriving and checking the public keys, computing `commit_secret`).

use std::collections::BTreeMap;

use nipee_keypackage::{LeafNode, LeafNodeSource, UnsignedLeafNode};
use zeroize::Zeroizing;

use super::math::{self, LeafIndex, NodeIndex};
use super::ratchet_tree::RatchetTree;
use crate::crypto::{
    CryptoProvider, GroupProvider, HpkePrivateKey, SealJob, Secret, SignatureSecretKey,
    derive_secret, sign_content,
};
use crate::error::{Error, Result};
use crate::framing::{UpdatePath, UpdatePathNode};

/// The node key pair of a path secret: `KEM.DeriveKeyPair(DeriveSecret(path_secret, "node"))`.
///
/// # Errors
/// A KEM failure.
pub fn node_key_pair<P: CryptoProvider + ?Sized>(
    p: &P,
    path_secret: &Secret,
) -> Result<(HpkePrivateKey, Vec<u8>)> {
    let node_secret = derive_secret(p, path_secret.as_bytes(), b"node")?;
    p.hpke_derive_key_pair(node_secret.as_bytes())
}

/// The next path secret up the path: `DeriveSecret(path_secret, "path")`.
///
/// # Errors
/// Only for impossible lengths.
pub fn next_path_secret<P: CryptoProvider + ?Sized>(p: &P, path_secret: &Secret) -> Result<Secret> {
    derive_secret(p, path_secret.as_bytes(), b"path")
}

/// A member's private TreeKEM state: its leaf's HPKE private key and the private keys of the
/// parent nodes it knows (on its direct path).
#[derive(Clone)]
pub struct TreeKemPrivate {
    own_leaf: LeafIndex,
    leaf_key: HpkePrivateKey,
    path_keys: BTreeMap<NodeIndex, HpkePrivateKey>,
}

impl core::fmt::Debug for TreeKemPrivate {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TreeKemPrivate")
            .field("own_leaf", &self.own_leaf)
            .field("known_nodes", &self.path_keys.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl TreeKemPrivate {
    /// The state of the member at `own_leaf` whose leaf HPKE private key is `leaf_key`.
    pub fn new(own_leaf: LeafIndex, leaf_key: HpkePrivateKey) -> Self {
        TreeKemPrivate {
            own_leaf,
            leaf_key,
            path_keys: BTreeMap::new(),
        }
    }

    /// Our leaf.
    pub fn own_leaf(&self) -> LeafIndex {
        self.own_leaf
    }

    /// Sets the private key of parent node `node` from its path secret (vector runners).
    ///
    /// # Errors
    /// A KEM failure.
    #[cfg(feature = "hazmat")]
    pub fn set_path_secret<P: CryptoProvider + ?Sized>(
        &mut self,
        p: &P,
        node: NodeIndex,
        path_secret: &Secret,
    ) -> Result<()> {
        let (sk, _) = node_key_pair(p, path_secret)?;
        self.path_keys.insert(node, sk);
        Ok(())
    }

    /// Sets the path secret of `node` (learnt from a Welcome) and derives those of the nodes
    /// above it on the committer's filtered direct path, as a new member does (§12.4.3.1),
    /// checking each derived public key against the tree.
    ///
    /// # Errors
    /// [`Error::InvalidState`] if `node` is not on the committer's filtered direct path or a
    /// derived public key differs from the tree's.
    pub fn set_path_secret_from<P: CryptoProvider + ?Sized>(
        &mut self,
        p: &P,
        tree: &RatchetTree,
        committer: LeafIndex,
        node: NodeIndex,
        path_secret: Secret,
    ) -> Result<()> {
        let fdp = tree.filtered_direct_path(committer);
        let start = fdp
            .iter()
            .position(|(x, _)| *x == node)
            .ok_or(Error::InvalidState {
                reason: "path secret for a node off the committer's path",
            })?;
        let mut secret = path_secret;
        for (i, (x, _)) in fdp.iter().enumerate().skip(start) {
            if i > start {
                secret = next_path_secret(p, &secret)?;
            }
            // The derived public key must be the tree's (checked here, where it is derived
            // anyway, rather than re-derived later).
            let (sk, pk) = node_key_pair(p, &secret)?;
            match tree.parent_node(*x) {
                Some(n) if n.encryption_key == pk => {}
                _ => {
                    return Err(Error::InvalidState {
                        reason: "a path secret does not match the tree's public key",
                    });
                }
            }
            self.path_keys.insert(*x, sk);
        }
        Ok(())
    }

    /// The private key we hold for `node`, if any.
    pub fn private_key(&self, node: NodeIndex) -> Option<&HpkePrivateKey> {
        if node == self.own_leaf.node() {
            Some(&self.leaf_key)
        } else {
            self.path_keys.get(&node)
        }
    }

    /// Checks that every key we hold matches a non-blank node of `tree` with the
    /// corresponding public key.
    ///
    /// # Errors
    /// [`Error::InvalidState`].
    #[cfg(feature = "hazmat")]
    pub fn check_consistency<P: CryptoProvider + ?Sized>(
        &self,
        p: &P,
        tree: &RatchetTree,
    ) -> Result<()> {
        let leaf = tree.leaf(self.own_leaf).ok_or(Error::InvalidState {
            reason: "our leaf is blank",
        })?;
        if p.hpke_public_key(&self.leaf_key)? != leaf.encryption_key {
            return Err(Error::InvalidState {
                reason: "leaf private key does not match the tree",
            });
        }
        for (x, sk) in &self.path_keys {
            let node = tree.parent_node(*x).ok_or(Error::InvalidState {
                reason: "private key for a blank node",
            })?;
            if p.hpke_public_key(sk)? != node.encryption_key {
                return Err(Error::InvalidState {
                    reason: "node private key does not match the tree",
                });
            }
        }
        Ok(())
    }
}

impl TreeKemPrivate {
    /// Appends the private state (for persistence; the bytes are secret).
    ///
    /// # Errors
    /// Only for fields too long to encode.
    pub fn write_state(&self, w: &mut nipee_codec::Writer) -> Result<()> {
        w.u32(self.own_leaf.0);
        w.vl_bytes("leaf_key", self.leaf_key.as_bytes())?;
        w.vl("path_keys", |w| {
            for (x, k) in &self.path_keys {
                w.u32(x.0);
                w.vl_bytes("path_key", k.as_bytes())?;
            }
            Ok::<(), Error>(())
        })
    }

    /// Reads a state written by [`TreeKemPrivate::write_state`].
    ///
    /// # Errors
    /// [`Error::Malformed`].
    pub fn read_state(r: &mut nipee_codec::Reader<'_>) -> Result<Self> {
        let own_leaf = LeafIndex(r.u32("own_leaf")?);
        let leaf_key = HpkePrivateKey::from_slice(r.vl_bytes("leaf_key")?);
        let list = r.vl_vec("path_keys", 64, |r| {
            Ok::<_, Error>((
                NodeIndex(r.u32("node")?),
                HpkePrivateKey::from_slice(r.vl_bytes("path_key")?),
            ))
        })?;
        Ok(TreeKemPrivate {
            own_leaf,
            leaf_key,
            path_keys: list.into_iter().collect(),
        })
    }
}

/// The result of processing an UpdatePath.
pub struct ProcessedPath {
    /// The path secret we decrypted, and the node it belongs to.
    pub decrypted: (NodeIndex, Secret),
    /// `commit_secret` for the key schedule.
    pub commit_secret: Secret,
}

impl core::fmt::Debug for ProcessedPath {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ProcessedPath")
            .field("node", &self.decrypted.0)
            .finish_non_exhaustive()
    }
}

/// Checks an UpdatePath's leaf and merges its public part into `tree` (§12.4.2): the leaf
/// must have the commit source, carry the parent hash the new path chains to, and be signed
/// by the sender's key for `group_id` and the sender's index.
///
/// # Errors
/// [`Error::InvalidState`] for a path of the wrong length, [`Error::InvalidTree`] for a
/// wrong parent hash, [`Error::BadSignature`] for the leaf's signature.
pub fn merge_update_path<P: CryptoProvider + ?Sized>(
    p: &P,
    tree: &mut RatchetTree,
    sender: LeafIndex,
    path: &UpdatePath,
    group_id: &[u8],
) -> Result<()> {
    let keys: Vec<Vec<u8>> = path
        .nodes
        .iter()
        .map(|n| n.encryption_key.clone())
        .collect();
    let leaf = &path.leaf_node;
    if leaf.verify_signature(group_id, sender.0).is_err() {
        return Err(Error::BadSignature { what: "LeafNode" });
    }
    let expected = tree.merge_path_keys(p, sender, &keys)?;
    match &leaf.leaf_node_source {
        LeafNodeSource::Commit { parent_hash } if *parent_hash == expected => {}
        LeafNodeSource::Commit { .. } => {
            return Err(Error::InvalidTree {
                reason: "UpdatePath leaf has a wrong parent hash",
            });
        }
        _ => {
            return Err(Error::InvalidTree {
                reason: "UpdatePath leaf must have the commit source",
            });
        }
    }
    tree.set_leaf(p, sender, leaf.clone())
}

/// Decrypts our path secret from an UpdatePath already merged into `tree` (with
/// [`merge_update_path`]), re-derives the secrets above it and checks them against the
/// path's public keys, updates our private state and returns `commit_secret`.
/// `group_context` is the encoded GroupContext with the new tree hash; `excluded` lists the
/// leaves added by the same commit (they were not encrypted to).
///
/// # Errors
/// [`Error::InvalidState`] if we cannot decrypt or a derived key differs from the path's,
/// [`Error::HpkeDecryptionFailed`].
pub fn decrypt_update_path<P: CryptoProvider + ?Sized>(
    p: &P,
    tree: &RatchetTree,
    sender: LeafIndex,
    path: &UpdatePath,
    own: &mut TreeKemPrivate,
    group_context: &[u8],
    excluded: &[LeafIndex],
) -> Result<ProcessedPath> {
    if sender == own.own_leaf {
        return Err(Error::Misuse(
            "a member does not decrypt its own UpdatePath",
        ));
    }
    let fdp = tree.filtered_direct_path(sender);
    if fdp.len() != path.nodes.len() {
        return Err(Error::InvalidState {
            reason: "UpdatePath length differs from the filtered direct path",
        });
    }
    let own_node = own.own_leaf.node();
    let (start, (x, copath_child)) = fdp
        .iter()
        .copied()
        .enumerate()
        .find(|(_, (_, c))| math::is_in_subtree(*c, own_node))
        .ok_or(Error::InvalidState {
            reason: "we are not below the sender's filtered path",
        })?;
    let mut excluded_nodes: Vec<NodeIndex> = excluded.iter().map(|l| l.node()).collect();
    excluded_nodes.sort_unstable();
    let resolution: Vec<NodeIndex> = tree
        .resolution(copath_child)
        .into_iter()
        .filter(|n| excluded_nodes.binary_search(n).is_err())
        .collect();
    let (pos, key) = resolution
        .iter()
        .enumerate()
        .find_map(|(i, n)| own.private_key(*n).map(|k| (i, k)))
        .ok_or(Error::InvalidState {
            reason: "no private key for the copath resolution",
        })?;
    let node = path.nodes.get(start).ok_or(Error::Internal("path index"))?;
    let ct = node
        .encrypted_path_secret
        .get(pos)
        .ok_or(Error::InvalidState {
            reason: "UpdatePath node lacks a ciphertext for us",
        })?;
    if node.encrypted_path_secret.len() != resolution.len() {
        return Err(Error::InvalidState {
            reason: "ciphertext count differs from the resolution size",
        });
    }
    // DecryptWithLabel(key, "UpdatePathNode", group_context, ...), with the node's public
    // key from the tree.
    let public_key = resolution
        .get(pos)
        .and_then(|n| tree.node(*n))
        .ok_or(Error::Internal("resolution node is blank"))?
        .encryption_key();
    let pt = Zeroizing::new(p.hpke_open_with_public_key(
        key,
        public_key,
        &ct.kem_output,
        &sign_content(b"UpdatePathNode", group_context)?,
        &[],
        &ct.ciphertext,
    )?);
    let first = Secret::from_slice(&pt);
    let (new_keys, commit_secret) =
        derive_path_keys(p, &fdp, path, start, first.clone())?.ok_or(Error::InvalidState {
            reason: "derived node key differs from the UpdatePath",
        })?;
    own.replace_path_keys(tree, sender, new_keys);
    Ok(ProcessedPath {
        decrypted: (x, first),
        commit_secret,
    })
}

/// Private keys of parent nodes, by node.
type PathKeyList = Vec<(NodeIndex, HpkePrivateKey)>;

/// The node private keys of `path` from the path secret of its node at `start` (the
/// secrets above it follow by `DeriveSecret(·, "path")`), and `commit_secret`; `None` if a
/// derived public key differs from the path's.
fn derive_path_keys<P: CryptoProvider + ?Sized>(
    p: &P,
    fdp: &[(NodeIndex, NodeIndex)],
    path: &UpdatePath,
    start: usize,
    path_secret: Secret,
) -> Result<Option<(PathKeyList, Secret)>> {
    let mut secret = path_secret;
    let mut keys = Vec::with_capacity(fdp.len().saturating_sub(start));
    for (i, ((x, _), node)) in fdp.iter().zip(&path.nodes).enumerate().skip(start) {
        if i > start {
            secret = next_path_secret(p, &secret)?;
        }
        let (sk, pk) = node_key_pair(p, &secret)?;
        if pk != node.encryption_key {
            return Ok(None);
        }
        keys.push((*x, sk));
    }
    Ok(Some((keys, next_path_secret(p, &secret)?)))
}

impl TreeKemPrivate {
    /// Forgets the keys of `sender`'s direct path and stores `keys` (the new path's).
    fn replace_path_keys(&mut self, tree: &RatchetTree, sender: LeafIndex, keys: PathKeyList) {
        for a in math::direct_path(sender.node(), tree.n_leaves()) {
            self.path_keys.remove(&a);
        }
        self.path_keys.extend(keys);
    }
}

/// Applies an UpdatePath that WE sent but whose private state we no longer hold (a commit
/// recorded elsewhere, or one whose pending state was lost), from the committer's secrets:
/// `leaf_key` is the new leaf's HPKE private key and `path_secret` the path secret of the
/// first node of our filtered direct path (with an empty filtered direct path, the secret
/// `commit_secret` is derived from). The path must already be merged into `tree` (with
/// [`merge_update_path`]). Every derived public key is checked against the path; on success
/// our private state holds the new leaf and path keys, and `commit_secret` is returned.
///
/// # Errors
/// [`Error::InvalidState`] for a path of the wrong length, [`Error::OwnCommitMismatch`] if
/// the leaf key or a derived node key differs from the path's. `own` is changed only on
/// success.
#[cfg(feature = "own-commit-recovery")]
pub fn apply_own_update_path<P: CryptoProvider + ?Sized>(
    p: &P,
    tree: &RatchetTree,
    path: &UpdatePath,
    own: &mut TreeKemPrivate,
    leaf_key: &HpkePrivateKey,
    path_secret: &Secret,
) -> Result<Secret> {
    let me = own.own_leaf;
    let fdp = tree.filtered_direct_path(me);
    if fdp.len() != path.nodes.len() {
        return Err(Error::InvalidState {
            reason: "UpdatePath length differs from the filtered direct path",
        });
    }
    if p.hpke_public_key(leaf_key)? != path.leaf_node.encryption_key {
        return Err(Error::OwnCommitMismatch {
            what: "leaf encryption private key",
        });
    }
    let (keys, commit_secret) = derive_path_keys(p, &fdp, path, 0, path_secret.clone())?.ok_or(
        Error::OwnCommitMismatch {
            what: "path secret",
        },
    )?;
    own.leaf_key = leaf_key.clone();
    own.replace_path_keys(tree, me, keys);
    Ok(commit_secret)
}

/// The result of creating an UpdatePath.
pub struct CreatedPath {
    /// The UpdatePath to send.
    pub update_path: UpdatePath,
    /// `commit_secret` for the key schedule.
    pub commit_secret: Secret,
    /// The path secret of each filtered direct-path node (for Welcome messages).
    pub path_secrets: Vec<(NodeIndex, Secret)>,
}

impl core::fmt::Debug for CreatedPath {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CreatedPath")
            .field("update_path", &self.update_path)
            .finish_non_exhaustive()
    }
}

/// Creates an UpdatePath for our leaf (§7.5): a fresh leaf key, fresh path secrets, the new
/// public keys merged into `tree` with their parent hashes, our leaf re-signed by `signer`
/// (whose public key it then carries) with the commit source, and each path secret
/// encrypted to the resolution of the copath child (minus `excluded`, the leaves this commit
/// adds) under the GroupContext that `group_context` computes from the updated tree.
/// `edit_leaf` changes the new leaf before it is signed (the group puts fresh GREASE values
/// in its capabilities there); its keys and source are set by this function.
///
/// # Errors
/// Signing, KEM and encoding failures; [`Error::InvalidState`] if our leaf is blank.
#[allow(clippy::too_many_arguments)]
pub fn create_update_path<P: GroupProvider>(
    p: &P,
    tree: &mut RatchetTree,
    own: &mut TreeKemPrivate,
    signer: &SignatureSecretKey,
    group_id: &[u8],
    excluded: &[LeafIndex],
    edit_leaf: impl FnOnce(&mut UnsignedLeafNode),
    group_context: impl FnOnce(&RatchetTree) -> Result<Vec<u8>>,
) -> Result<CreatedPath> {
    let me = own.own_leaf;
    let old_leaf = tree
        .leaf(me)
        .ok_or(Error::InvalidState {
            reason: "our leaf is blank",
        })?
        .clone();
    let fdp = tree.filtered_direct_path(me);
    let (leaf_sk, leaf_pk) = p.hpke_generate_key_pair()?;

    let mut seed = Secret::zero(p.hash_len());
    p.random_fill(seed.as_mut_bytes())?;
    let mut path_secrets = Vec::with_capacity(fdp.len());
    let mut keys = Vec::with_capacity(fdp.len());
    let mut privs = Vec::with_capacity(fdp.len());
    let mut secret = seed;
    for (i, (x, _)) in fdp.iter().enumerate() {
        if i > 0 {
            secret = next_path_secret(p, &secret)?;
        }
        let (sk, pk) = node_key_pair(p, &secret)?;
        path_secrets.push((*x, secret.clone()));
        keys.push(pk);
        privs.push((*x, sk));
    }
    let commit_secret = next_path_secret(p, &secret)?;

    let parent_hash = tree.merge_path_keys(p, me, &keys)?;
    let mut unsigned = old_leaf.to_unsigned();
    edit_leaf(&mut unsigned);
    unsigned.encryption_key = leaf_pk
        .as_slice()
        .try_into()
        .map_err(|_| Error::Internal("HPKE public key length"))?;
    unsigned.leaf_node_source = LeafNodeSource::Commit { parent_hash };
    // The new leaf carries the key that signs it: ours, or a fresh one when the commit
    // rotates our signature key.
    unsigned.signature_key = signer.public_key();
    let leaf: LeafNode = unsigned.sign(signer, group_id, me.0)?;
    tree.set_leaf(p, me, leaf.clone())?;

    let context = group_context(tree)?;
    // EncryptWithLabel(pk, "UpdatePathNode", context, path_secret) for every recipient: the
    // HPKE `info` (the labelled GroupContext) is the same for all, so its info_hash is
    // computed once per commit, not once per encryption.
    let info_hash = p.hpke_info_hash(&sign_content(b"UpdatePathNode", &context)?);
    let mut excluded_nodes: Vec<NodeIndex> = excluded.iter().map(|l| l.node()).collect();
    excluded_nodes.sort_unstable();
    // One batch of seals for the whole path (the provider may spread it over threads), then
    // the ciphertexts are handed back to their path nodes in order.
    let mut jobs = Vec::new();
    let mut per_node = Vec::with_capacity(fdp.len());
    for ((_, copath_child), (_, ps)) in fdp.iter().zip(path_secrets.iter()) {
        let before = jobs.len();
        for r in tree.resolution(*copath_child) {
            if excluded_nodes.binary_search(&r).is_ok() {
                continue;
            }
            let target = tree
                .node(r)
                .ok_or(Error::Internal("resolution node is blank"))?;
            jobs.push(SealJob {
                public_key: target.encryption_key(),
                plaintext: ps.as_bytes(),
            });
        }
        per_node.push(jobs.len() - before);
    }
    let mut cts = p
        .hpke_seal_many_prehashed(&info_hash, &[], &jobs)?
        .into_iter();
    drop(jobs);
    let mut nodes = Vec::with_capacity(fdp.len());
    for (count, pk) in per_node.into_iter().zip(&keys) {
        nodes.push(UpdatePathNode {
            encryption_key: pk.clone(),
            encrypted_path_secret: cts.by_ref().take(count).collect(),
        });
    }

    own.leaf_key = leaf_sk;
    for a in math::direct_path(me.node(), tree.n_leaves()) {
        own.path_keys.remove(&a);
    }
    own.path_keys.extend(privs);
    Ok(CreatedPath {
        update_path: UpdatePath {
            leaf_node: leaf,
            nodes,
        },
        commit_secret,
        path_secrets,
    })
}
