//! Bounded reads: every read the store does takes a [`ByteLimit`] and never takes in more than
//! the limit plus one byte, so a huge or endless object is refused before it can exhaust memory.

use std::io::{self, Read};

use crate::error::{Error, ErrorKind};

/// Largest `latest.json` the registry reads. A pointer the registry writes is a few hundred bytes.
pub const MAX_POINTER_BYTES: u64 = 4 * 1024;

/// The most bytes one read may return, and the setting that raises it, which a refusal names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteLimit {
    max_bytes: u64,
    raise: Raise,
}

/// What a refused read tells the operator to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Raise {
    /// Raise this setting (a variable or a command-line option).
    Setting(&'static str),
    /// Nothing raises it: the object is not what the registry writes.
    Fixed(&'static str),
}

impl ByteLimit {
    /// At most `max_bytes`; `raised_by` names what raises the limit, such as the handler's
    /// `FLUXOPS_MAX_MODEL_BYTES`.
    pub const fn new(max_bytes: u64, raised_by: &'static str) -> Self {
        ByteLimit {
            max_bytes,
            raise: Raise::Setting(raised_by),
        }
    }

    /// The limit for `latest.json`: [`MAX_POINTER_BYTES`].
    pub(crate) const POINTER: ByteLimit = ByteLimit {
        max_bytes: MAX_POINTER_BYTES,
        raise: Raise::Fixed(
            "a pointer the registry writes is a few hundred bytes, so this one was written by \
             something else: publish or promote a version to replace it",
        ),
    };

    /// The most bytes a read may return.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// The refusal of `what` (a key and where it is): its size when known (else only that it is
    /// larger), the limit, and what raises it.
    pub(crate) fn refuse(&self, what: &str, size: Option<u64>) -> Error {
        let size = match size {
            Some(size) => format!("{size} bytes"),
            None => "larger".to_owned(),
        };
        let advice = match self.raise {
            Raise::Setting(setting) => format!("raise {setting} if it is meant to be read"),
            Raise::Fixed(advice) => advice.to_owned(),
        };
        Error::new(
            ErrorKind::TooLarge,
            format!(
                "{what} is {size}, more than the limit of {} bytes; {advice}",
                self.max_bytes
            ),
        )
    }
}

/// What a bounded read found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Bounded {
    /// The whole content, within the limit.
    Within(Vec<u8>),
    /// More than the limit: `Some(size)` when the size was known before reading.
    TooLarge(Option<u64>),
}

/// Reads `reader` to its end if that is at most `limit` bytes, taking in no more than
/// `limit + 1` bytes either way. `known_size` (file metadata, a response header) refuses a large
/// object before a byte is read and sizes the buffer; the content may still turn out longer (a
/// file that grows, a device), which the byte count catches.
pub(crate) fn read_within(
    reader: impl Read,
    known_size: Option<u64>,
    limit: ByteLimit,
) -> io::Result<Bounded> {
    if let Some(size) = known_size
        && size > limit.max_bytes
    {
        return Ok(Bounded::TooLarge(Some(size)));
    }
    let capacity = known_size.unwrap_or(0).min(limit.max_bytes);
    let mut bytes = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
    reader
        .take(limit.max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit.max_bytes {
        return Ok(Bounded::TooLarge(None));
    }
    Ok(Bounded::Within(bytes))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    /// Counts the bytes taken from an endless source.
    struct Counting<'a> {
        taken: &'a AtomicU64,
    }

    impl Read for Counting<'_> {
        fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
            let read = io::repeat(b'x').read(buffer)?;
            self.taken.fetch_add(read as u64, Ordering::Relaxed);
            Ok(read)
        }
    }

    const LIMIT: ByteLimit = ByteLimit::new(1000, "TEST_LIMIT");

    #[test]
    fn an_endless_source_is_refused_after_the_limit_plus_one_byte() {
        let taken = AtomicU64::new(0);
        let read = read_within(Counting { taken: &taken }, None, LIMIT).unwrap();
        assert_eq!(read, Bounded::TooLarge(None));
        assert_eq!(taken.load(Ordering::Relaxed), 1001);
    }

    #[test]
    fn a_known_size_above_the_limit_reads_nothing() {
        let taken = AtomicU64::new(0);
        let read = read_within(Counting { taken: &taken }, Some(600 << 20), LIMIT).unwrap();
        assert_eq!(read, Bounded::TooLarge(Some(600 << 20)));
        assert_eq!(taken.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn content_up_to_the_limit_is_read_whole() {
        for length in [0, 1, 999, 1000] {
            let content = vec![7_u8; length];
            let read = read_within(content.as_slice(), Some(length as u64), LIMIT).unwrap();
            assert_eq!(read, Bounded::Within(content));
        }
        let read = read_within([0_u8; 1001].as_slice(), None, LIMIT).unwrap();
        assert_eq!(read, Bounded::TooLarge(None));
    }

    #[test]
    fn a_refusal_names_the_object_its_size_the_limit_and_the_setting() {
        let error = LIMIT.refuse("m/v1/model.json in folder models", Some(5000));
        assert_eq!(error.kind(), ErrorKind::TooLarge);
        assert_eq!(
            error.to_string(),
            "too large: m/v1/model.json in folder models is 5000 bytes, more than the limit of \
             1000 bytes; raise TEST_LIMIT if it is meant to be read"
        );
        let pointer = ByteLimit::POINTER.refuse("m/latest.json in folder models", None);
        assert!(
            pointer
                .to_string()
                .contains("is larger, more than the limit of 4096 bytes; a pointer"),
            "{pointer}"
        );
    }
}
