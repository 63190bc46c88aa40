//! The passive-client vector runner (`passive-client-*.json`, any file of that schema): join
//! from the Welcome, then follow every epoch's proposals and commit, comparing epoch
//! authenticators. Lifetime checks are off (the vectors' KeyPackages have expired).

use serde_json::Value;

use super::{field, hex_field, hex_of};
use crate::crypto::{HpkePrivateKey, RustCryptoSuite1, Secret, SignatureSecretKey, ct_eq};
use crate::framing::{MlsMessage, MlsMessageBody};
use crate::group::{Group, GroupConfig, JoinKeys, ProcessedMessage};

/// Runs one passive-client case; the error describes the first step that failed.
pub(super) fn passive_client(v: &Value) -> Result<(), String> {
    let p = RustCryptoSuite1::new();
    let kp = match MlsMessage::from_bytes(&hex_field(v, "key_package")?)
        .map_err(|e| format!("key_package: {e}"))?
        .body
    {
        MlsMessageBody::KeyPackage(kp) => *kp,
        _ => return Err("key_package is not a KeyPackage".into()),
    };
    let keys = JoinKeys {
        key_package: kp,
        init_secret: HpkePrivateKey::new(hex_field(v, "init_priv")?),
        encryption_secret: HpkePrivateKey::new(hex_field(v, "encryption_priv")?),
        signature_secret: SignatureSecretKey::from_slice(&hex_field(v, "signature_priv")?)
            .map_err(|e| format!("signature_priv: {e}"))?,
    };
    let mut psks = vec![];
    for e in field(v, "external_psks")?
        .as_array()
        .ok_or("external_psks is not an array")?
    {
        psks.push((hex_field(e, "psk_id")?, Secret::new(hex_field(e, "psk")?)));
    }
    let tree = match field(v, "ratchet_tree")? {
        Value::Null => None,
        t => Some(hex_of(t, "ratchet_tree")?),
    };
    let mut config = GroupConfig::new(0);
    config.key_package_policy = nipee_keypackage::ValidationPolicy::for_fixed_vectors();
    config.max_resumption_psks = u16::MAX;
    let mut group = Group::join(
        p,
        config,
        &hex_field(v, "welcome")?,
        keys,
        tree.as_deref(),
        psks.iter().map(|(i, s)| (i.clone(), s.clone())).collect(),
    )
    .map_err(|e| format!("join: {e}"))?;
    if !ct_eq(
        group.epoch_authenticator().as_bytes(),
        &hex_field(v, "initial_epoch_authenticator")?,
    ) {
        return Err("initial epoch authenticator differs".into());
    }
    for (n, epoch) in field(v, "epochs")?
        .as_array()
        .ok_or("epochs is not an array")?
        .iter()
        .enumerate()
    {
        for (k, prop) in field(epoch, "proposals")?
            .as_array()
            .ok_or("proposals is not an array")?
            .iter()
            .enumerate()
        {
            match group.process_message(&hex_of(prop, "proposal")?) {
                Ok(ProcessedMessage::ProposalStored { .. }) => {}
                Ok(other) => return Err(format!("epoch {n} proposal {k}: unexpected {other:?}")),
                Err(e) => return Err(format!("epoch {n} proposal {k}: {e}")),
            }
        }
        match group.process_message(&hex_field(epoch, "commit")?) {
            Ok(ProcessedMessage::CommitApplied(_)) => {}
            Ok(other) => return Err(format!("epoch {n} commit: unexpected {other:?}")),
            Err(e) => return Err(format!("epoch {n} commit: {e}")),
        }
        if !ct_eq(
            group.epoch_authenticator().as_bytes(),
            &hex_field(epoch, "epoch_authenticator")?,
        ) {
            return Err(format!("epoch {n}: epoch authenticator differs"));
        }
    }
    Ok(())
}
