//! Helpers for `Extension extensions<V>` lists (RFC 9420 §13); the `Extension` type itself
//! comes from `nipee-keypackage`.

use nipee_codec::{Reader, Writer};
pub use nipee_keypackage::{Extension, ExtensionType};

use crate::error::{Error, Result};

/// Maximum number of extensions accepted in one list.
pub const MAX_EXTENSIONS: usize = 1024;

/// Writes `Extension extensions<V>`. Extension data is written as `opaque<V>` without the
/// 64 KiB bound of KeyPackage extensions: a GroupInfo's `ratchet_tree` runs to megabytes
/// for large groups.
pub(crate) fn write_extensions(w: &mut Writer, extensions: &[Extension]) -> Result<()> {
    w.vl("extensions", |w| {
        for ext in extensions {
            w.u16(ext.extension_type.0);
            w.vl_bytes("extension_data", &ext.data)?;
        }
        Ok::<(), Error>(())
    })
}

/// Reads `Extension extensions<V>`, rejecting duplicate types (§13.4).
pub(crate) fn read_extensions(r: &mut Reader<'_>) -> Result<Vec<Extension>> {
    let exts = r.vl_vec("extensions", MAX_EXTENSIONS, |r| {
        Ok::<_, Error>(Extension {
            extension_type: ExtensionType(r.u16("extension_type")?),
            data: r.vl_bytes("extension_data")?.to_vec(),
        })
    })?;
    for (i, a) in exts.iter().enumerate() {
        if exts
            .iter()
            .skip(i + 1)
            .any(|b| b.extension_type == a.extension_type)
        {
            return Err(Error::MalformedField {
                field: "extensions",
                reason: "duplicate extension type",
            });
        }
    }
    Ok(exts)
}
