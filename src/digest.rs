//! The one hash devdb writes down: lowercase hex SHA-256 (migration checksums as Prisma records
//! them, config hashes, snapshot keys, Docker context ids).

use sha2::{Digest, Sha256};

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
