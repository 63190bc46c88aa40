//! GREASE on what we send (RFC 9420 §13.5), with [`GroupConfig::grease`]: fresh GREASE
//! values in the capabilities of the LeafNodes we create, and a GREASE extension in the
//! GroupInfos we sign. The selection is made by `nipee_keypackage::grease` from randomness
//! drawn through the provider, and only when GREASE is on, so without it we draw and send
//! exactly what we did before.

use nipee_keypackage::UnsignedLeafNode;
use nipee_keypackage::grease::{GREASE_RANDOM_LEN, grease_extension, grease_leaf_node};

use super::config::GroupConfig;
use crate::crypto::CryptoProvider;
use crate::error::Result;
use crate::extensions::Extension;

/// The randomness of one GREASE selection, drawn from the provider; `None` without GREASE.
pub(crate) fn draw<P: CryptoProvider + ?Sized>(
    p: &P,
    config: &GroupConfig,
) -> Result<Option<[u8; GREASE_RANDOM_LEN]>> {
    if !config.grease {
        return Ok(None);
    }
    let mut random = [0u8; GREASE_RANDOM_LEN];
    p.random_fill(&mut random)?;
    Ok(Some(random))
}

/// Gives a LeafNode we are about to sign a fresh GREASE selection (replacing the one it
/// carried): GREASE values in the four capability lists §13.5 names, and a GREASE leaf
/// extension with [`GroupConfig::grease_leaf_extensions`]. Nothing without `random`.
pub(crate) fn leaf(
    config: &GroupConfig,
    leaf: &mut UnsignedLeafNode,
    random: Option<&[u8; GREASE_RANDOM_LEN]>,
) {
    if let Some(random) = random {
        grease_leaf_node(leaf, random, config.grease_leaf_extensions);
    }
}

/// Adds one GREASE extension to the extensions of a GroupInfo we are about to sign (§13.5:
/// "`GroupInfo.extensions`"; §12.4.3: receivers "MUST" ignore it). Draws its randomness
/// from the provider, with GREASE only.
pub(crate) fn group_info<P: CryptoProvider + ?Sized>(
    p: &P,
    config: &GroupConfig,
    extensions: &mut Vec<Extension>,
) -> Result<()> {
    if let Some(random) = draw(p, config)? {
        let extension = grease_extension(&random);
        // Never a second extension of one type (§13.4): our other GroupInfo extensions are
        // never GREASE, but do not rely on it.
        if !extensions
            .iter()
            .any(|e| e.extension_type == extension.extension_type)
        {
            extensions.push(extension);
        }
    }
    Ok(())
}
