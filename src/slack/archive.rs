//! A Slack export's zip, read with limits: what it holds is listed from its
//! central directory, every entry's name is checked before anything is
//! read, and entries are inflated a bounded stream at a time, counted as
//! they come (a size the archive declares is never believed), so a
//! decompression bomb costs at most the limits. Nothing is ever written to
//! disk, and nothing but the JSON files natter reads is inflated.
//!
//! It knows zip, not Slack: what the files mean is `export`'s business.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use zip::ZipArchive;

use super::SlackError;

/// How much of an archive an import reads at most. Past any of them the
/// import is refused before anything is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Entries (files and folders) in the archive: bounds the memory its
    /// listing takes.
    pub max_entries: usize,
    /// Bytes one file may hold once inflated: bounds the memory one file
    /// takes while it is parsed.
    pub max_entry_bytes: u64,
    /// Bytes all the files read may hold once inflated, together: bounds
    /// the time a bomb of many files costs.
    pub max_total_bytes: u64,
}

impl Default for Limits {
    /// Far above any real export's day files (a day of one channel) and
    /// `users.json`; a larger export can be imported in parts (Slack
    /// exports a date range; running the import again adds what is new).
    fn default() -> Self {
        Self { max_entries: 1_000_000, max_entry_bytes: 256 << 20, max_total_bytes: 4 << 30 }
    }
}

/// An open export: its listing, by what natter looks for.
pub struct Archive {
    zip: ZipArchive<File>,
    path: PathBuf,
    limits: Limits,
    /// Files at the export's top level (`users.json`, ...), by name.
    top: HashMap<String, usize>,
    /// The `*.json` files in each top-level folder (a conversation's days),
    /// by folder, in name order (for day files, date order).
    folders: HashMap<String, Vec<(String, usize)>>,
    /// Bytes inflated so far, against `max_total_bytes`.
    inflated: u64,
}

impl Archive {
    /// Opens the zip at `path` and lists it: refused when it is not a zip
    /// (or is cut short), holds more entries than allowed, or names any
    /// entry with a path that climbs out of the export (`..`), is absolute,
    /// names a drive or holds a NUL.
    pub fn open(path: &Path, limits: Limits) -> Result<Self, SlackError> {
        let file = File::open(path).map_err(SlackError::io(format!("cannot open {}", path.display())))?;
        let zip = ZipArchive::new(file).map_err(|error| SlackError::Archive {
            path: path.to_owned(),
            reason: format!("not a zip archive, or a damaged or truncated one ({error})"),
        })?;
        if zip.len() > limits.max_entries {
            return Err(SlackError::Archive {
                path: path.to_owned(),
                reason: format!("holds {} entries, more than the {} allowed", zip.len(), limits.max_entries),
            });
        }
        let mut names = Vec::with_capacity(zip.len());
        for index in 0..zip.len() {
            let name = match zip.name_for_index(index) {
                Some(Ok(name)) => name.into_owned(),
                _ => return Err(entry_error(&format!("entry {index}"), "its name cannot be read")),
            };
            if let Some(why) = unsafe_name(&name) {
                return Err(entry_error(&name, why));
            }
            names.push(name);
        }
        let root = export_root(&names);
        let mut top = HashMap::new();
        let mut folders: HashMap<String, Vec<(String, usize)>> = HashMap::new();
        for (index, name) in names.into_iter().enumerate() {
            let Some(inside) = name.strip_prefix(&root) else { continue };
            match inside.split('/').collect::<Vec<_>>()[..] {
                [file] if !file.is_empty() => {
                    top.insert(file.to_owned(), index);
                }
                [folder, day] if day.ends_with(".json") => {
                    folders.entry(folder.to_owned()).or_default().push((name.clone(), index));
                }
                // Folders themselves, deeper files, other files: not read.
                _ => {}
            }
        }
        for days in folders.values_mut() {
            days.sort();
        }
        Ok(Self { zip, path: path.to_owned(), limits, top, folders, inflated: 0 })
    }

    /// The zip's path, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads a top-level file; `None` when the export has none of that name.
    pub fn read_top(&mut self, name: &str) -> Result<Option<(String, Vec<u8>)>, SlackError> {
        let Some(&index) = self.top.get(name) else { return Ok(None) };
        let entry = self.zip.name_for_index(index).and_then(Result::ok).map(|n| n.into_owned());
        let entry = entry.unwrap_or_else(|| name.to_owned());
        let bytes = self.read(index, &entry)?;
        Ok(Some((entry, bytes)))
    }

    /// The entries of `folder`'s `*.json` files (their names and indexes),
    /// in name order: a conversation's days, oldest first.
    pub fn days(&self, folder: &str) -> Vec<(String, usize)> {
        self.folders.get(folder).cloned().unwrap_or_default()
    }

    /// The folders of the export, for telling which no conversation names.
    pub fn folders(&self) -> impl Iterator<Item = &str> {
        self.folders.keys().map(String::as_str)
    }

    /// Starts counting inflated bytes from zero again, for a second pass
    /// over the same files.
    pub fn reset_count(&mut self) {
        self.inflated = 0;
    }

    /// Inflates entry `index` (named `entry` in errors), stopping as soon
    /// as it holds more than either limit allows.
    pub fn read(&mut self, index: usize, entry: &str) -> Result<Vec<u8>, SlackError> {
        let left = self.limits.max_total_bytes.saturating_sub(self.inflated);
        let cap = self.limits.max_entry_bytes.min(left);
        let file = self
            .zip
            .by_index(index)
            .map_err(|error| entry_error(entry, format!("cannot be read ({error})")))?;
        let mut bytes = Vec::new();
        file.take(cap.saturating_add(1)).read_to_end(&mut bytes).map_err(|error| {
            entry_error(entry, format!("cannot be inflated ({error}): the archive is damaged or truncated"))
        })?;
        let read = bytes.len() as u64;
        if read > cap {
            let why = if cap == self.limits.max_entry_bytes {
                format!(
                    "holds more than {} bytes uncompressed, the most one file may",
                    self.limits.max_entry_bytes
                )
            } else {
                format!(
                    "takes the export past {} bytes uncompressed, the most an import reads",
                    self.limits.max_total_bytes
                )
            };
            return Err(entry_error(entry, why));
        }
        self.inflated += read;
        Ok(bytes)
    }
}

fn entry_error(entry: &str, reason: impl Into<String>) -> SlackError {
    SlackError::Entry { entry: entry.to_owned(), reason: reason.into() }
}

/// Why an entry's name is refused, if it is: it must stay inside the
/// export wherever it were unpacked.
fn unsafe_name(name: &str) -> Option<&'static str> {
    if name.contains('\0') {
        return Some("a name with a NUL character is refused");
    }
    if name.starts_with('/') || name.starts_with('\\') {
        return Some("an absolute path is refused");
    }
    let mut parts = name.split(['/', '\\']);
    if parts.clone().next().is_some_and(|first| first.len() >= 2 && first.ends_with(':')) {
        return Some("a path naming a drive is refused");
    }
    if parts.any(|part| part == "..") {
        return Some("a path that climbs out of the export (`..`) is refused");
    }
    None
}

/// Where the export starts inside the zip: at its top, or inside the one
/// folder holding `users.json` when the export was zipped with its folder.
fn export_root(names: &[String]) -> String {
    let is_users = |name: &str| name == "users.json" || name == "org_users.json";
    if names.iter().any(|name| is_users(name)) {
        return String::new();
    }
    let roots: Vec<&str> = names
        .iter()
        .filter_map(|name| name.split_once('/'))
        .filter(|(_, rest)| is_users(rest))
        .map(|(folder, _)| folder)
        .collect();
    match roots[..] {
        [root] => format!("{root}/"),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_leave_the_export_are_refused() {
        for bad in ["../x", "a/../../x", "/etc/passwd", "\\x", "C:/x", "c:\\x", "a\\..\\b", "a\0b", ".."] {
            assert!(unsafe_name(bad).is_some(), "{bad:?}");
        }
        for good in ["users.json", "general/2020-01-01.json", "a..b/c", "x/", "weird name.json"] {
            assert!(unsafe_name(good).is_none(), "{good:?}");
        }
    }

    #[test]
    fn an_export_zipped_with_its_folder_is_found() {
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(export_root(&names(&["users.json", "x/users.json"])), "");
        assert_eq!(export_root(&names(&["e/", "e/users.json", "e/general/2020-01-01.json"])), "e/");
        assert_eq!(export_root(&names(&["a/users.json", "b/users.json"])), "");
    }
}
