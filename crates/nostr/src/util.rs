//! Small internal helpers: strict lowercase hex and serde_json-compatible string escaping.

use crate::error::{Error, Result};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Encodes `bytes` as lowercase hex into `out`.
pub(crate) fn push_hex(out: &mut String, bytes: &[u8]) {
    out.reserve(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
}

/// Lowercase hex of `bytes`.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    push_hex(&mut s, bytes);
    s
}

/// Lowercase hex of a fixed-size array, without allocating.
pub(crate) fn hex_array<const N: usize, const M: usize>(bytes: &[u8; N]) -> [u8; M] {
    let mut out = [0u8; M];
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes.iter()) {
        if let [hi, lo] = pair {
            *hi = HEX[usize::from(b >> 4)];
            *lo = HEX[usize::from(b & 0x0f)];
        }
    }
    out
}

fn nibble(field: &'static str, c: u8) -> Result<u8> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Err(Error::Hex {
            field,
            reason: "uppercase hex is not allowed",
        }),
        _ => Err(Error::Hex {
            field,
            reason: "non-hex character",
        }),
    }
}

/// Decodes exactly `N` bytes from strict lowercase hex.
pub(crate) fn decode_hex_array<const N: usize>(field: &'static str, s: &str) -> Result<[u8; N]> {
    let bytes = s.as_bytes();
    if bytes.len() != 2 * N {
        return Err(Error::Length {
            field,
            expected: 2 * N,
            found: bytes.len(),
            unit: "hex characters",
        });
    }
    let mut out = [0u8; N];
    for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        if let [hi, lo] = pair {
            *o = (nibble(field, *hi)? << 4) | nibble(field, *lo)?;
        }
    }
    Ok(out)
}

/// A byte sink for the canonical serializer: a buffer or a running hash.
pub(crate) trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

impl Sink for sha2::Sha256 {
    fn put(&mut self, bytes: &[u8]) {
        sha2::Digest::update(self, bytes);
    }
}

/// Writes `s` as a JSON string literal with exactly serde_json's (and JSON.stringify's)
/// escaping: the short forms `\" \\ \b \f \n \r \t`, other C0 controls as `\u00xx`
/// (lowercase hex), everything else (DEL, C1, U+2028, '/', non-ASCII) raw UTF-8.
pub(crate) fn write_json_str<S: Sink + ?Sized>(out: &mut S, s: &str) {
    out.put(b"\"");
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0c => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x00..=0x1f => {
                if let Some(run) = bytes.get(start..i) {
                    out.put(run);
                }
                let u = [
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(b >> 4)],
                    HEX[usize::from(b & 0x0f)],
                ];
                out.put(&u);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        if let Some(run) = bytes.get(start..i) {
            out.put(run);
        }
        out.put(esc);
        start = i + 1;
    }
    if let Some(run) = bytes.get(start..) {
        out.put(run);
    }
    out.put(b"\"");
}

/// Writes a JSON array of strings.
pub(crate) fn write_json_str_array<S: Sink + ?Sized, T: AsRef<str>>(out: &mut S, items: &[T]) {
    out.put(b"[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.put(b",");
        }
        write_json_str(out, item.as_ref());
    }
    out.put(b"]");
}

/// Writes an unsigned integer in decimal.
pub(crate) fn write_u64<S: Sink + ?Sized>(out: &mut S, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        if let Some(slot) = buf.get_mut(i) {
            // `n % 10` is below 10, so the cast cannot truncate.
            *slot = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    if let Some(digits) = buf.get(i..) {
        out.put(digits);
    }
}

/// Builds a JSON string by pushing into a byte buffer, then checks UTF-8 (always valid:
/// every piece written is either ASCII or a slice of a `&str` cut at ASCII boundaries).
pub(crate) fn json_string(buf: Vec<u8>) -> String {
    match String::from_utf8(buf) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_matches_serde_json_for_every_ascii_and_some_unicode() {
        let mut s = String::new();
        for c in 0u8..=0x7f {
            s.push(char::from(c));
        }
        s.push_str("\u{80}\u{9f}\u{2028}\u{2029}é😀/<>&'");
        let mut mine = Vec::new();
        write_json_str(&mut mine, &s);
        assert_eq!(json_string(mine), serde_json::to_string(&s).unwrap());
    }

    #[test]
    fn hex_rejects_uppercase_and_wrong_length() {
        assert!(matches!(
            decode_hex_array::<2>("x", "ABcd"),
            Err(Error::Hex { .. })
        ));
        assert!(matches!(
            decode_hex_array::<2>("x", "abc"),
            Err(Error::Length { .. })
        ));
        assert_eq!(decode_hex_array::<2>("x", "0aff").unwrap(), [0x0a, 0xff]);
        assert_eq!(to_hex(&[0x0a, 0xff]), "0aff");
    }

    #[test]
    fn u64_writer_prints_decimal() {
        for n in [0u64, 7, 10, 1_700_000_000, u64::MAX] {
            let mut v = Vec::new();
            write_u64(&mut v, n);
            assert_eq!(json_string(v), n.to_string());
        }
    }
}
