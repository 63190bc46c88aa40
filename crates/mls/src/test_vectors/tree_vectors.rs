//! Runners for tree validation, tree operations and TreeKEM vectors.

use serde_json::Value;

use super::{check_eq, e, field, hex_field, u64_field};
use crate::crypto::{CipherSuite, HpkePrivateKey, RustCryptoSuite1, Secret, SignatureSecretKey};
use crate::schedule::GroupContext;
use crate::tree::math::NodeIndex;

// ----- tree-validation -----

pub(super) fn tree_validation(v: &Value) -> Result<(), String> {
    use crate::tree::RatchetTree;
    let p = RustCryptoSuite1::new();
    let bytes = hex_field(v, "tree")?;
    let tree = RatchetTree::decode(&p, &bytes).map_err(e("tree"))?;
    check_eq(
        "re-encoded tree",
        &tree.encode().map_err(e("encode"))?,
        &bytes,
    )?;
    let resolutions = field(v, "resolutions")?.as_array().ok_or("resolutions")?;
    for (i, want) in (0u32..).zip(resolutions) {
        let want: Vec<u32> = want
            .as_array()
            .ok_or("resolution")?
            .iter()
            .map(|x| {
                x.as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or("resolution entry")
            })
            .collect::<Result<_, _>>()?;
        let got: Vec<u32> = tree.resolution(NodeIndex(i)).iter().map(|n| n.0).collect();
        if got != want {
            return Err(format!("resolution[{i}]: got {got:?}, want {want:?}"));
        }
    }
    let hashes = field(v, "tree_hashes")?.as_array().ok_or("tree_hashes")?;
    for (i, want) in (0u32..).zip(hashes) {
        let want = hex::decode(want.as_str().ok_or("tree hash")?).map_err(e("hex"))?;
        check_eq(
            &format!("tree_hashes[{i}]"),
            tree.node_tree_hash(NodeIndex(i)).unwrap_or(&[]),
            &want,
        )?;
    }
    tree.validate(&p, &hex_field(v, "group_id")?)
        .map_err(e("validate"))
}

// ----- tree-operations -----

pub(super) fn tree_operations(v: &Value) -> Result<(), String> {
    use crate::framing::Proposal;
    use crate::tree::RatchetTree;
    use crate::tree::math::LeafIndex;
    let p = RustCryptoSuite1::new();
    let mut tree =
        RatchetTree::decode(&p, &hex_field(v, "tree_before")?).map_err(e("tree_before"))?;
    check_eq(
        "tree_hash_before",
        tree.tree_hash(),
        &hex_field(v, "tree_hash_before")?,
    )?;
    let proposal =
        nipee_codec::decode_exact::<Proposal>(&hex_field(v, "proposal")?).map_err(e("proposal"))?;
    let sender = LeafIndex(u32::try_from(u64_field(v, "proposal_sender")?).map_err(e("sender"))?);
    match proposal {
        Proposal::Add(kp) => {
            tree.add_leaf(&p, kp.leaf_node.clone()).map_err(e("add"))?;
        }
        Proposal::Update(leaf) => tree.update_leaf(&p, sender, *leaf).map_err(e("update"))?,
        Proposal::Remove { removed } => tree
            .remove_leaf(&p, LeafIndex(removed))
            .map_err(e("remove"))?,
        other => {
            return Err(format!(
                "unexpected proposal type {}",
                other.proposal_type()
            ));
        }
    }
    check_eq(
        "tree_after",
        &tree.encode().map_err(e("encode"))?,
        &hex_field(v, "tree_after")?,
    )?;
    check_eq(
        "tree_hash_after",
        tree.tree_hash(),
        &hex_field(v, "tree_hash_after")?,
    )
}

// ----- treekem -----

pub(super) fn treekem(v: &Value) -> Result<(), String> {
    use crate::framing::UpdatePath;
    use crate::tree::RatchetTree;
    use crate::tree::math::LeafIndex;
    use crate::tree::treekem::{self, TreeKemPrivate};
    let p = RustCryptoSuite1::new();
    let group_id = hex_field(v, "group_id")?;
    let epoch = u64_field(v, "epoch")?;
    let cth = hex_field(v, "confirmed_transcript_hash")?;
    let tree =
        RatchetTree::decode(&p, &hex_field(v, "ratchet_tree")?).map_err(e("ratchet_tree"))?;
    let context_for = |t: &RatchetTree| -> crate::Result<Vec<u8>> {
        GroupContext {
            version: 1,
            cipher_suite: CipherSuite(1),
            group_id: group_id.clone().into(),
            epoch,
            tree_hash: t.tree_hash().to_vec(),
            confirmed_transcript_hash: cth.clone(),
            extensions: vec![],
        }
        .encode()
    };

    let mut privs: std::collections::BTreeMap<u32, (TreeKemPrivate, SignatureSecretKey)> =
        std::collections::BTreeMap::new();
    for lp in field(v, "leaves_private")?
        .as_array()
        .ok_or("leaves_private")?
    {
        let index = u32::try_from(u64_field(lp, "index")?).map_err(e("index"))?;
        let mut st = TreeKemPrivate::new(
            LeafIndex(index),
            HpkePrivateKey::new(hex_field(lp, "encryption_priv")?),
        );
        for ps in field(lp, "path_secrets")?
            .as_array()
            .ok_or("path_secrets")?
        {
            let node = u32::try_from(u64_field(ps, "node")?).map_err(e("node"))?;
            st.set_path_secret(
                &p,
                NodeIndex(node),
                &Secret::new(hex_field(ps, "path_secret")?),
            )
            .map_err(e("path secret"))?;
        }
        st.check_consistency(&p, &tree)
            .map_err(|err| format!("leaf {index}: {err}"))?;
        privs.insert(
            index,
            (
                st,
                SignatureSecretKey::from_slice(&hex_field(lp, "signature_priv")?)
                    .map_err(e("signature_priv"))?,
            ),
        );
    }

    for (k, up) in field(v, "update_paths")?
        .as_array()
        .ok_or("update_paths")?
        .iter()
        .enumerate()
    {
        let sender = LeafIndex(u32::try_from(u64_field(up, "sender")?).map_err(e("sender"))?);
        let path = nipee_codec::decode_exact::<UpdatePath>(&hex_field(up, "update_path")?)
            .map_err(e("update_path"))?;
        let mut merged = tree.clone();
        treekem::merge_update_path(&p, &mut merged, sender, &path, &group_id)
            .map_err(|err| format!("update_paths[{k}]: merge: {err}"))?;
        check_eq(
            "tree_hash_after",
            merged.tree_hash(),
            &hex_field(up, "tree_hash_after")?,
        )?;
        let gc = context_for(&merged).map_err(e("group context"))?;
        let want_commit = hex_field(up, "commit_secret")?;
        let want_secrets = field(up, "path_secrets")?
            .as_array()
            .ok_or("path_secrets")?;
        for (j, (st, _)) in &privs {
            if *j == sender.0 || tree.leaf(LeafIndex(*j)).is_none() {
                continue;
            }
            let mut st = st.clone();
            let out = treekem::decrypt_update_path(&p, &merged, sender, &path, &mut st, &gc, &[])
                .map_err(|err| format!("update_paths[{k}]: leaf {j}: {err}"))?;
            let want = want_secrets
                .get(*j as usize)
                .and_then(Value::as_str)
                .ok_or("path secret")?;
            check_eq(
                &format!("update_paths[{k}].path_secrets[{j}]"),
                out.decrypted.1.as_bytes(),
                &hex::decode(want).map_err(e("hex"))?,
            )?;
            check_eq(
                &format!("update_paths[{k}].commit_secret (leaf {j})"),
                out.commit_secret.as_bytes(),
                &want_commit,
            )?;
        }

        // Our own UpdatePath from the same sender must be processable by everyone.
        let (st, sig) = privs
            .get(&sender.0)
            .ok_or("no private state for the sender")?;
        let mut st = st.clone();
        let mut ours = tree.clone();
        let created = treekem::create_update_path(
            &p,
            &mut ours,
            &mut st,
            sig,
            &group_id,
            &[],
            |_| {},
            |t| context_for(t),
        )
        .map_err(|err| format!("update_paths[{k}]: create: {err}"))?;
        let gc = context_for(&ours).map_err(e("group context"))?;
        for (j, (st, _)) in &privs {
            if *j == sender.0 || tree.leaf(LeafIndex(*j)).is_none() {
                continue;
            }
            let mut st = st.clone();
            let mut theirs = tree.clone();
            treekem::merge_update_path(&p, &mut theirs, sender, &created.update_path, &group_id)
                .map_err(|err| format!("update_paths[{k}]: merge own path (leaf {j}): {err}"))?;
            check_eq("own path tree hash", theirs.tree_hash(), ours.tree_hash())?;
            let out = treekem::decrypt_update_path(
                &p,
                &theirs,
                sender,
                &created.update_path,
                &mut st,
                &gc,
                &[],
            )
            .map_err(|err| format!("update_paths[{k}]: own path, leaf {j}: {err}"))?;
            check_eq(
                "own path commit_secret",
                out.commit_secret.as_bytes(),
                created.commit_secret.as_bytes(),
            )?;
        }
    }
    Ok(())
}
