//! The runner for `messages.json`: every structure decodes and re-encodes byte for byte.

use serde_json::Value;

use super::{check_eq, e, hex_field};
use crate::crypto::RustCryptoSuite1;

// ----- messages -----

pub(super) fn messages_suite(v: &Value) -> Result<u16, String> {
    // MLSMessage: version(2) wire_format(2), then KeyPackage: version(2) cipher_suite(2).
    let kp = hex_field(v, "mls_key_package")?;
    match kp.get(6..8) {
        Some(&[a, b]) => Ok(u16::from_be_bytes([a, b])),
        _ => Err("mls_key_package too short".into()),
    }
}

pub(super) fn messages(v: &Value) -> Result<(), String> {
    use crate::framing::{Commit, MlsMessage, Proposal};
    use crate::tree::RatchetTree;
    use crate::welcome::GroupSecrets;
    use nipee_codec::{Encode, Reader, Writer};
    let p = RustCryptoSuite1::new();
    for name in [
        "mls_welcome",
        "mls_group_info",
        "mls_key_package",
        "public_message_application",
        "public_message_proposal",
        "public_message_commit",
        "private_message",
    ] {
        let bytes = hex_field(v, name)?;
        let m = MlsMessage::from_bytes(&bytes).map_err(|err| format!("{name}: {err}"))?;
        check_eq(name, &m.to_bytes().map_err(e("encode"))?, &bytes)?;
    }
    let bytes = hex_field(v, "ratchet_tree")?;
    let tree = RatchetTree::decode(&p, &bytes).map_err(e("ratchet_tree"))?;
    check_eq("ratchet_tree", &tree.encode().map_err(e("encode"))?, &bytes)?;

    let bytes = hex_field(v, "group_secrets")?;
    let gs = nipee_codec::decode_exact::<GroupSecrets>(&bytes).map_err(e("group_secrets"))?;
    check_eq(
        "group_secrets",
        &gs.to_bytes().map_err(e("encode"))?,
        &bytes,
    )?;

    let bytes = hex_field(v, "commit")?;
    let c = nipee_codec::decode_exact::<Commit>(&bytes).map_err(e("commit"))?;
    check_eq("commit", &c.to_bytes().map_err(e("encode"))?, &bytes)?;

    for (name, t) in [
        ("add_proposal", 1u16),
        ("update_proposal", 2),
        ("remove_proposal", 3),
        ("pre_shared_key_proposal", 4),
        ("re_init_proposal", 5),
        ("external_init_proposal", 6),
        ("group_context_extensions_proposal", 7),
    ] {
        let bytes = hex_field(v, name)?;
        let mut r = Reader::new(&bytes);
        let prop = Proposal::read_body(&mut r, t).map_err(|err| format!("{name}: {err}"))?;
        r.finish().map_err(|err| format!("{name}: {err}"))?;
        let mut w = Writer::new();
        prop.write_body(&mut w).map_err(e("encode"))?;
        check_eq(name, w.as_bytes(), &bytes)?;
    }
    Ok(())
}
