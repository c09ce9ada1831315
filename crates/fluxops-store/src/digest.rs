//! The registry's content digest: lower-case hex SHA-256, the form `latest.json` records and a
//! folder uses as its tags.

use std::io::{self, Read};

use sha2::{Digest, Sha256};

/// The registry's digest of `bytes`: lower-case hex SHA-256, as the `sha256` of
/// [`crate::LatestPointer`] records it and downloads are checked against it.
///
/// ```
/// assert_eq!(
///     fluxops_store::sha256_hex(b"abc"),
///     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
/// );
/// ```
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The digest of everything `reader` yields, read in pieces so that any size fits in memory.
pub(crate) fn sha256_hex_of(mut reader: impl Read) -> io::Result<String> {
    let mut hasher = Sha256::new();
    io::copy(&mut reader, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_agree_with_the_published_test_vector() {
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(sha256_hex(b"abc"), abc);
        assert_eq!(sha256_hex_of(&b"abc"[..]).unwrap(), abc);
    }
}
