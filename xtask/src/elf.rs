//! The glibc versions a Linux executable needs, read from its ELF version-needs section
//! (`.gnu.version_r`, type `SHT_GNU_verneed`), with no external tool: the same answer as the
//! highest `GLIBC_x.y` in `objdump -T`, on any machine that runs `cargo xtask`.
//!
//! Only 64-bit little-endian ELF files are read (the shipped target is x86_64 Linux); anything
//! else, or a file cut short, is an error rather than a panic.

use std::fmt;

use anyhow::{Context, bail, ensure};

/// A glibc symbol version such as `GLIBC_2.28`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct GlibcVersion {
    /// The major version (2 for every glibc in use).
    pub major: u32,
    /// The minor version.
    pub minor: u32,
}

impl GlibcVersion {
    /// Parses the version part of a `GLIBC_<major>.<minor>[.<patch>]` name; `None` for other
    /// names such as `GLIBC_PRIVATE`. A patch level (`GLIBC_2.2.5`) does not raise the floor
    /// above its minor version, so it is left out.
    fn from_symbol_version(name: &str) -> Option<Self> {
        let mut parts = name.strip_prefix("GLIBC_")?.split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        Some(Self { major, minor })
    }
}

impl fmt::Display for GlibcVersion {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "GLIBC_{}.{}", self.major, self.minor)
    }
}

const SHT_GNU_VERNEED: u32 = 0x6fff_fffe;
const SECTION_HEADER_SIZE: usize = 64;
const VERNEED_SIZE: usize = 16;
const VERNAUX_SIZE: usize = 16;

/// The highest glibc version `elf` requires, or `None` when it needs no versioned glibc symbol
/// (a static binary).
pub fn highest_glibc_version(elf: &[u8]) -> anyhow::Result<Option<GlibcVersion>> {
    Ok(version_needs(elf)?
        .iter()
        .filter_map(|name| GlibcVersion::from_symbol_version(name))
        .max())
}

/// Every version name in the file's version-needs section (`GLIBC_2.28`, `GCC_3.0`, ...).
fn version_needs(elf: &[u8]) -> anyhow::Result<Vec<String>> {
    ensure!(
        elf.get(..4) == Some(b"\x7fELF".as_slice()),
        "not an ELF file"
    );
    ensure!(
        elf.get(4) == Some(&2) && elf.get(5) == Some(&1),
        "not a 64-bit little-endian ELF file"
    );
    let section_table = read_u64(elf, 0x28)?;
    let entry_size = usize::from(read_u16(elf, 0x3a)?);
    let n_sections = usize::from(read_u16(elf, 0x3c)?);
    ensure!(
        entry_size == SECTION_HEADER_SIZE,
        "unexpected section header size {entry_size}"
    );
    let section = |index: usize| -> anyhow::Result<Section> {
        ensure!(index < n_sections, "section index {index} out of range");
        Section::read(elf, offset(section_table, index * SECTION_HEADER_SIZE)?)
    };
    let mut names = Vec::new();
    for index in 0..n_sections {
        let needs = section(index)?;
        if needs.kind != SHT_GNU_VERNEED {
            continue;
        }
        let strings = section(usize::try_from(needs.link)?)?;
        let mut entry = needs.offset;
        for _ in 0..needs.info {
            let n_aux = read_u16(elf, offset(entry, 2)?)?;
            let mut aux = offset(entry, read_u32_usize(elf, offset(entry, 8)?)?)?;
            for _ in 0..n_aux {
                let name = read_u32_usize(elf, offset(aux, 8)?)?;
                names.push(read_string(elf, offset(strings.offset, name)?)?);
                let next = read_u32_usize(elf, offset(aux, 12)?)?;
                if next == 0 {
                    break;
                }
                ensure!(next >= VERNAUX_SIZE, "overlapping version entries");
                aux = offset(aux, next)?;
            }
            let next = read_u32_usize(elf, offset(entry, 12)?)?;
            if next == 0 {
                break;
            }
            ensure!(next >= VERNEED_SIZE, "overlapping version-needs entries");
            entry = offset(entry, next)?;
        }
    }
    Ok(names)
}

/// The fields of a section header this module uses.
struct Section {
    kind: u32,
    offset: u64,
    link: u32,
    info: u32,
}

impl Section {
    fn read(elf: &[u8], at: u64) -> anyhow::Result<Self> {
        Ok(Self {
            kind: read_u32(elf, offset(at, 4)?)?,
            offset: read_u64(elf, offset(at, 24)?)?,
            link: read_u32(elf, offset(at, 40)?)?,
            info: read_u32(elf, offset(at, 44)?)?,
        })
    }
}

fn offset(base: u64, add: usize) -> anyhow::Result<u64> {
    base.checked_add(u64::try_from(add)?)
        .context("offset overflows")
}

fn bytes<const N: usize>(elf: &[u8], at: u64) -> anyhow::Result<[u8; N]> {
    let start = usize::try_from(at)?;
    let end = start.checked_add(N).context("offset overflows")?;
    match elf.get(start..end) {
        Some(slice) => Ok(slice.try_into()?),
        None => bail!("the file ends before offset {end}"),
    }
}

fn read_u16(elf: &[u8], at: u64) -> anyhow::Result<u16> {
    Ok(u16::from_le_bytes(bytes(elf, at)?))
}

fn read_u32(elf: &[u8], at: u64) -> anyhow::Result<u32> {
    Ok(u32::from_le_bytes(bytes(elf, at)?))
}

fn read_u32_usize(elf: &[u8], at: u64) -> anyhow::Result<usize> {
    Ok(usize::try_from(read_u32(elf, at)?)?)
}

fn read_u64(elf: &[u8], at: u64) -> anyhow::Result<u64> {
    Ok(u64::from_le_bytes(bytes(elf, at)?))
}

fn read_string(elf: &[u8], at: u64) -> anyhow::Result<String> {
    let rest = elf
        .get(usize::try_from(at)?..)
        .context("string offset past the end of the file")?;
    let end = rest
        .iter()
        .position(|&byte| byte == 0)
        .context("unterminated string")?;
    Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal ELF file: a null section, a string table and a version-needs section naming
    /// `libc.so.6` with each of `versions`.
    pub(crate) fn elf_needing(versions: &[&str]) -> Vec<u8> {
        let mut strings = b"\0libc.so.6\0".to_vec();
        let mut name_offsets = Vec::new();
        for version in versions {
            name_offsets.push(u32::try_from(strings.len()).expect("small"));
            strings.extend_from_slice(version.as_bytes());
            strings.push(0);
        }
        let mut needs = Vec::new();
        needs.extend_from_slice(&1u16.to_le_bytes()); // vn_version
        needs.extend_from_slice(&u16::try_from(versions.len()).expect("small").to_le_bytes());
        needs.extend_from_slice(&1u32.to_le_bytes()); // vn_file: "libc.so.6"
        needs.extend_from_slice(&16u32.to_le_bytes()); // vn_aux: right after this entry
        needs.extend_from_slice(&0u32.to_le_bytes()); // vn_next: last entry
        for (index, name) in name_offsets.iter().enumerate() {
            needs.extend_from_slice(&0u32.to_le_bytes()); // vna_hash
            needs.extend_from_slice(&0u16.to_le_bytes()); // vna_flags
            needs.extend_from_slice(&2u16.to_le_bytes()); // vna_other
            needs.extend_from_slice(&name.to_le_bytes());
            let next: u32 = if index + 1 == versions.len() { 0 } else { 16 };
            needs.extend_from_slice(&next.to_le_bytes());
        }
        let strings_at = 64u64;
        let needs_at = strings_at + strings.len() as u64;
        let sections_at = needs_at + needs.len() as u64;
        let mut elf = vec![0u8; 64];
        elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
        elf[0x28..0x30].copy_from_slice(&sections_at.to_le_bytes());
        elf[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
        elf[0x3c..0x3e].copy_from_slice(&3u16.to_le_bytes());
        elf.extend_from_slice(&strings);
        elf.extend_from_slice(&needs);
        let header = |kind: u32, at: u64, size: usize, link: u32, info: u32| {
            let mut header = vec![0u8; 64];
            header[4..8].copy_from_slice(&kind.to_le_bytes());
            header[24..32].copy_from_slice(&at.to_le_bytes());
            header[32..40].copy_from_slice(&(size as u64).to_le_bytes());
            header[40..44].copy_from_slice(&link.to_le_bytes());
            header[44..48].copy_from_slice(&info.to_le_bytes());
            header
        };
        elf.extend(header(0, 0, 0, 0, 0));
        elf.extend(header(3, strings_at, strings.len(), 0, 0));
        elf.extend(header(SHT_GNU_VERNEED, needs_at, needs.len(), 1, 1));
        elf
    }

    #[test]
    fn the_highest_glibc_version_wins_and_other_names_are_ignored() {
        let elf = elf_needing(&["GLIBC_2.2.5", "GLIBC_2.34", "GLIBC_PRIVATE", "GLIBC_2.17"]);
        assert_eq!(
            highest_glibc_version(&elf).expect("readable"),
            Some(GlibcVersion {
                major: 2,
                minor: 34
            })
        );
        assert_eq!(
            version_needs(&elf).expect("readable"),
            ["GLIBC_2.2.5", "GLIBC_2.34", "GLIBC_PRIVATE", "GLIBC_2.17"]
        );
    }

    #[test]
    fn versions_compare_as_numbers() {
        let old = GlibcVersion::from_symbol_version("GLIBC_2.9").expect("version");
        let new = GlibcVersion::from_symbol_version("GLIBC_2.28").expect("version");
        assert!(old < new);
        assert_eq!(new.to_string(), "GLIBC_2.28");
        assert_eq!(GlibcVersion::from_symbol_version("GCC_3.0"), None);
    }

    #[test]
    fn a_binary_without_glibc_versions_has_none() {
        let elf = elf_needing(&["GCC_3.0"]);
        assert_eq!(highest_glibc_version(&elf).expect("readable"), None);
    }

    #[test]
    fn the_test_binary_itself_needs_a_glibc() {
        let exe = std::env::current_exe().expect("test binary");
        let elf = std::fs::read(exe).expect("readable");
        let version = highest_glibc_version(&elf)
            .expect("an ELF file")
            .expect("linked against glibc");
        assert_eq!(version.major, 2);
    }

    #[test]
    fn damaged_files_are_errors_not_panics() {
        let elf = elf_needing(&["GLIBC_2.28"]);
        for length in [0, 3, 6, 0x30, 100, elf.len() - 20] {
            assert!(
                highest_glibc_version(&elf[..length]).is_err(),
                "cut at {length}"
            );
        }
        assert!(highest_glibc_version(b"#!/bin/sh\necho not an ELF file\n").is_err());
        let mut wrong_size = elf.clone();
        wrong_size[0x3a] = 40;
        assert!(highest_glibc_version(&wrong_size).is_err());
    }
}
