//! TreeKEM (§7.4–§7.6).
