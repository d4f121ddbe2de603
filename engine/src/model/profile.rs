//! Profiles: named source directories with their settings, kept in
//! `REPO/profiles.json`.
//!
//! # The file
//! ```json
//! { "version": 1,
//!   "profiles": [ { "name": "Default User", "path": "/home/u/.config/app",
//!                   "excludes": ["Cache/**"], "auto": true, "interval": "30m",
//!                   "retention": { "max_count": 25, "max_age": "30d" },
//!                   "scopes": { "share": { "exclude": [], "redact_keys": ["*token*"] } } } ] }
//! ```
//! Profiles are written sorted by name. Missing settings take their
//! defaults (auto on, every 30 minutes, keep 25 and none older than 30
//! days); unknown fields are refused, so a typo does not silently vanish.
//!
//! # Safety of the file
//! [`Profiles::save`] first copies the current `profiles.json`, if it
//! parses, to `profiles.json.bak`, then writes the new `profiles.json`;
//! both with [`snap_store::fsutil::atomic_write`] through `REPO/tmp`. A
//! `profiles.json` that does not parse never overwrites a good `.bak`.
//!
//! [`Profiles::load`] recovers from `.bak` when `profiles.json` is missing
//! or does not parse, and from nothing (empty, with a warning) when both are
//! unusable; the caller then rebuilds names and paths from the snapshots
//! with [`Profiles::recover_from`]. A file with a version this build does
//! not know is refused rather than recovered around, since saving over it
//! would lose what a newer snap wrote.
//!
//! Loading and saving do not lock: callers serialise a read-modify-write of
//! the profiles under the repository lock.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::duration::Duration;
use crate::model::retention::Policy;

/// The profiles file, inside the repository.
pub const PROFILES_FILE: &str = "profiles.json";
/// The previous good profiles file.
pub const PROFILES_BAK: &str = "profiles.json.bak";
/// The format version this build writes and reads.
pub const PROFILES_VERSION: u32 = 1;
/// The longest profile name, in bytes.
pub const MAX_NAME_BYTES: usize = 100;

/// The default auto-snapshot interval: 30 minutes (the seed's).
pub const DEFAULT_INTERVAL: Duration = Duration::minutes(30);

/// Export scope: what to leave out when a snapshot is exported for some
/// purpose (e.g. sharing settings without secrets).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scope {
    /// Globs of paths to leave out.
    pub exclude: Vec<String>,
    /// Patterns of JSON keys whose values are redacted (`*token*`).
    pub redact_keys: Vec<String>,
}

/// A named source directory and its settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The profile's name (see [`sanitize_name`]).
    pub name: String,
    /// The directory snapshotted: absolute, valid UTF-8.
    pub path: PathBuf,
    /// Globs of paths left out of snapshots.
    #[serde(default)]
    pub excludes: Vec<String>,
    /// Whether `snap auto` takes snapshots of it.
    #[serde(default = "default_auto")]
    pub auto: bool,
    /// How often `snap auto` takes a snapshot; `never` means only after
    /// changes.
    #[serde(default = "default_interval")]
    pub interval: Duration,
    /// Which snapshots `forget` and `auto` keep.
    #[serde(default)]
    pub retention: Policy,
    /// Named export scopes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scopes: BTreeMap<String, Scope>,
}

fn default_auto() -> bool {
    true
}

fn default_interval() -> Duration {
    DEFAULT_INTERVAL
}

impl Profile {
    /// A profile with default settings.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the name is not acceptable (see
    /// [`sanitize_name`]) or the path is not absolute or not UTF-8.
    pub fn new(name: &str, path: impl Into<PathBuf>) -> Result<Self> {
        let p = Profile {
            name: sanitize_name(name)?,
            path: path.into(),
            excludes: Vec::new(),
            auto: true,
            interval: DEFAULT_INTERVAL,
            retention: Policy::default(),
            scopes: BTreeMap::new(),
        };
        p.validate()?;
        Ok(p)
    }

    /// Checks the name, the path and the retention policy.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming what is wrong.
    pub fn validate(&self) -> Result<()> {
        if sanitize_name(&self.name)? != self.name {
            return Err(invalid_name(&self.name, "surrounding spaces"));
        }
        let path_err = |reason: &str| Error::Invalid {
            what: "profile path",
            value: self.path.display().to_string(),
            reason: reason.into(),
        };
        if self.path.to_str().is_none() {
            return Err(path_err("not valid UTF-8 (profiles.json is JSON)"));
        }
        if !self.path.is_absolute() {
            return Err(path_err("must be absolute"));
        }
        self.retention.validate()
    }
}

fn invalid_name(name: &str, reason: &str) -> Error {
    Error::Invalid {
        what: "profile name",
        value: name.to_string(),
        reason: reason.to_string(),
    }
}

/// Characters refused in names besides control characters: path
/// separators, and the invisible bidirectional controls that could make one
/// name look like another.
fn is_refused_char(c: char) -> bool {
    matches!(c, '/' | '\\' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        || c.is_control()
}

/// Checks a profile name and returns it with surrounding whitespace trimmed.
///
/// Refused: empty names, `.` and `..`, names starting with `-` (they would
/// read as options), path separators `/` and `\`, control characters and
/// invisible bidirectional controls, and names longer than
/// [`MAX_NAME_BYTES`] bytes. Spaces inside and any other Unicode are fine
/// (`Default User`, `Profil é`).
///
/// # Errors
/// [`Error::Invalid`] with `what: "profile name"` and the reason.
pub fn sanitize_name(name: &str) -> Result<String> {
    let n = name.trim();
    if n.is_empty() {
        return Err(invalid_name(name, "empty"));
    }
    if n == "." || n == ".." {
        return Err(invalid_name(name, "`.` and `..` are not names"));
    }
    if n.starts_with('-') {
        return Err(invalid_name(name, "must not start with `-`"));
    }
    if let Some(c) = n.chars().find(|c| is_refused_char(*c)) {
        let what = match c {
            '/' | '\\' => "a path separator",
            c if c.is_control() => "a control character",
            _ => "an invisible direction mark",
        };
        return Err(invalid_name(name, &format!("contains {what} ({c:?})")));
    }
    if n.len() > MAX_NAME_BYTES {
        return Err(invalid_name(
            name,
            &format!("longer than {MAX_NAME_BYTES} bytes"),
        ));
    }
    Ok(n.to_string())
}

/// Makes any text an acceptable name: refused characters become `_`, the
/// result is trimmed and cut to [`MAX_NAME_BYTES`]; `profile` when nothing
/// usable is left.
fn make_name(raw: &str) -> String {
    let mut s: String = raw
        .chars()
        .map(|c| if is_refused_char(c) { '_' } else { c })
        .collect();
    s = s.trim().trim_start_matches('-').trim().to_string();
    if s.len() > MAX_NAME_BYTES {
        let mut cut = MAX_NAME_BYTES;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s = s.trim_end().to_string();
    }
    match sanitize_name(&s) {
        Ok(n) => n,
        Err(_) => "profile".to_string(),
    }
}

/// The name a directory gets when it is registered without one: its file
/// name, with refused characters replaced by `_` (lossy for non-UTF-8
/// names), trimmed and cut to [`MAX_NAME_BYTES`]; `profile` when nothing
/// is left (for `/`). Pass a canonical path: `.` and `..` have no file name.
pub fn default_name_for(path: &Path) -> String {
    match path.file_name() {
        Some(f) => make_name(&f.to_string_lossy()),
        None => "profile".to_string(),
    }
}

/// The `profiles.json` document.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileV1 {
    version: u32,
    profiles: Vec<Profile>,
}

/// Only the version, read first so an unknown version is recognised even
/// when the rest of the file would not parse.
#[derive(Deserialize)]
struct VersionOnly {
    version: u32,
}

/// All profiles of a repository, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Profiles {
    by_name: BTreeMap<String, Profile>,
}

impl Serialize for Profiles {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_seq(self.by_name.values())
    }
}

impl<'de> Deserialize<'de> for Profiles {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let list = Vec::<Profile>::deserialize(d)?;
        Profiles::from_list(list).map_err(serde::de::Error::custom)
    }
}

/// The associated-data kind of `profiles.json` (and its `.bak`) when sealed.
pub const PROFILES_KIND: &str = "profiles";

/// What reading one profiles file gave.
enum Read {
    Missing,
    Unusable(String),
    Good(Profiles),
}

impl Profiles {
    fn from_list(list: Vec<Profile>) -> Result<Self> {
        let mut out = Profiles::default();
        for p in list {
            p.validate()?;
            if out.by_name.contains_key(&p.name) {
                return Err(invalid_name(&p.name, "listed twice"));
            }
            out.by_name.insert(p.name.clone(), p);
        }
        Ok(out)
    }

    /// Reads `path`. `Err` only for what must stop the caller: a version
    /// this build does not know, or a file that exists but cannot be read.
    fn read_file(
        store: Option<&snap_store::Repository>,
        path: &Path,
        keys: Option<&snap_store::Keys>,
    ) -> Result<Read> {
        let read = match store {
            Some(s) => s.read_repo_file(path),
            None => fs::read(path),
        };
        let bytes = match read {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Read::Missing),
            Err(e) => return Err(Error::io(path, e)),
        };
        let bytes = match snap_store::crypto::open_file(keys, PROFILES_KIND, path, &bytes) {
            Ok(b) => b,
            // Opened without the keys: never take it for damage (which
            // would recover from `.bak` and then overwrite it).
            Err(e) if keys.is_none() => return Err(e.into()),
            Err(e) => return Ok(Read::Unusable(e.to_string())),
        };
        let version = match serde_json::from_slice::<VersionOnly>(&bytes) {
            Ok(v) => v.version,
            Err(e) => return Ok(Read::Unusable(format!("does not parse ({e})"))),
        };
        if version != PROFILES_VERSION {
            return Err(Error::Format {
                path: path.to_path_buf(),
                detail: format!(
                    "profiles file version {version} is not one this snap knows \
                     (it reads version {PROFILES_VERSION}); use a newer snap"
                ),
            });
        }
        let file: FileV1 = match serde_json::from_slice(&bytes) {
            Ok(f) => f,
            Err(e) => return Ok(Read::Unusable(format!("does not parse ({e})"))),
        };
        match Profiles::from_list(file.profiles) {
            Ok(p) => Ok(Read::Good(p)),
            Err(e) => Ok(Read::Unusable(e.to_string())),
        }
    }

    /// Loads `REPO/profiles.json`, recovering from `profiles.json.bak` when
    /// it is missing or unusable. Returns the profiles and warnings saying
    /// what was recovered; a fresh repository (neither file) gives no
    /// profiles and no warning.
    ///
    /// # Errors
    /// [`Error::Format`] when either file has a version this build does not
    /// know; [`Error::Io`] when a file exists but cannot be read.
    pub fn load(repo_dir: &Path) -> Result<(Profiles, Vec<String>)> {
        Self::load_with(None, repo_dir, None)
    }

    /// [`load`](Self::load) from an open repository: decrypts the files of
    /// an encrypted one.
    ///
    /// # Errors
    /// As [`load`](Self::load).
    pub fn load_in(store: &snap_store::Repository) -> Result<(Profiles, Vec<String>)> {
        Self::load_with(Some(store), store.root(), store.keys())
    }

    fn load_with(
        store: Option<&snap_store::Repository>,
        repo_dir: &Path,
        keys: Option<&snap_store::Keys>,
    ) -> Result<(Profiles, Vec<String>)> {
        let main = repo_dir.join(PROFILES_FILE);
        let bak = repo_dir.join(PROFILES_BAK);
        let mut warnings = Vec::new();
        let (main_missing, main_problem) = match Self::read_file(store, &main, keys)? {
            Read::Good(p) => return Ok((p, warnings)),
            Read::Missing => (true, "is missing".to_string()),
            Read::Unusable(why) => (false, why),
        };
        match Self::read_file(store, &bak, keys)? {
            Read::Good(p) => {
                warnings.push(format!(
                    "{} {main_problem}; recovered {} profile(s) from {}",
                    main.display(),
                    p.len(),
                    bak.display()
                ));
                Ok((p, warnings))
            }
            Read::Missing if main_missing => Ok((Profiles::default(), warnings)),
            bak_state => {
                let bak_problem = match bak_state {
                    Read::Unusable(why) => why,
                    _ => "is missing".to_string(),
                };
                warnings.push(format!(
                    "{} {main_problem} and {} {bak_problem}; starting with no profiles \
                     (recover them from the snapshots)",
                    main.display(),
                    bak.display()
                ));
                Ok((Profiles::default(), warnings))
            }
        }
    }

    /// Saves to `REPO/profiles.json`: the current file, if it parses, is
    /// first copied to `profiles.json.bak`; both writes are atomic and
    /// durable, through `REPO/tmp` (created if missing).
    ///
    /// # Errors
    /// [`Error::Format`] when the current file has a version this build does
    /// not know (saving would destroy it); I/O errors naming the file.
    pub fn save(&self, repo_dir: &Path) -> Result<()> {
        self.save_with(None, repo_dir, None)
    }

    /// [`save`](Self::save) into an open repository: encrypted in an
    /// encrypted one.
    ///
    /// # Errors
    /// As [`save`](Self::save).
    pub fn save_in(&self, store: &snap_store::Repository) -> Result<()> {
        self.save_with(Some(store), store.root(), store.keys())
    }

    fn save_with(
        &self,
        store: Option<&snap_store::Repository>,
        repo_dir: &Path,
        keys: Option<&snap_store::Keys>,
    ) -> Result<()> {
        let main = repo_dir.join(PROFILES_FILE);
        let bak = repo_dir.join(PROFILES_BAK);
        let tmp = repo_dir.join("tmp");
        snap_store::fsutil::create_dir_durable(&tmp)?;
        if let Read::Good(_) = Self::read_file(store, &main, keys)? {
            let current = match store {
                Some(s) => s.read_repo_file(&main),
                None => fs::read(&main),
            }
            .map_err(|e| Error::io(&main, e))?;
            write(store, &tmp, &bak, &current)?;
        }
        let file = FileV1 {
            version: PROFILES_VERSION,
            profiles: self.by_name.values().cloned().collect(),
        };
        let mut bytes = serde_json::to_vec_pretty(&file).map_err(|e| Error::Format {
            path: main.clone(),
            detail: format!("cannot encode profiles: {e}"),
        })?;
        bytes.push(b'\n');
        let bytes = snap_store::crypto::seal_file(keys, PROFILES_KIND, &bytes);
        write(store, &tmp, &main, &bytes)?;
        Ok(())
    }

    /// Profiles with default settings rebuilt from `(name, path)` pairs
    /// found in snapshots, when both profile files were lost. See
    /// [`Profiles::merge_recovered`].
    pub fn recover_from<I, S, P>(found: I) -> Profiles
    where
        I: IntoIterator<Item = (S, P)>,
        S: AsRef<str>,
        P: Into<PathBuf>,
    {
        let mut p = Profiles::default();
        p.merge_recovered(found);
        p
    }

    /// Adds, with default settings, every profile of `found` not known yet
    /// (e.g. created after the `.bak` that was recovered). The first path
    /// seen for a name wins: pass snapshots newest first. Names that are
    /// not acceptable are made so as [`default_name_for`] does; pairs whose
    /// path is not absolute UTF-8 are skipped. Returns the names added.
    pub fn merge_recovered<I, S, P>(&mut self, found: I) -> Vec<String>
    where
        I: IntoIterator<Item = (S, P)>,
        S: AsRef<str>,
        P: Into<PathBuf>,
    {
        let mut added = Vec::new();
        for (name, path) in found {
            let name = make_name(name.as_ref());
            if self.by_name.contains_key(&name) {
                continue;
            }
            if let Ok(p) = Profile::new(&name, path) {
                self.by_name.insert(name.clone(), p);
                added.push(name);
            }
        }
        added
    }

    /// The profile called `name`.
    pub fn get(&self, name: &str) -> Option<&Profile> {
        self.by_name.get(name)
    }

    /// The profile called `name`, or an error saying there is none.
    ///
    /// # Errors
    /// [`Error::Invalid`] "no such profile".
    pub fn require(&self, name: &str) -> Result<&Profile> {
        self.get(name)
            .ok_or_else(|| invalid_name(name, "no such profile"))
    }

    /// The profile whose path is `path`, if any.
    pub fn find_by_path(&self, path: &Path) -> Option<&Profile> {
        self.by_name.values().find(|p| p.path == path)
    }

    /// All profiles, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = &Profile> {
        self.by_name.values()
    }

    /// How many profiles there are.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// Adds a profile.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the profile does not validate or its name is
    /// taken.
    pub fn add(&mut self, profile: Profile) -> Result<()> {
        profile.validate()?;
        if self.by_name.contains_key(&profile.name) {
            return Err(invalid_name(
                &profile.name,
                "a profile with this name already exists",
            ));
        }
        self.by_name.insert(profile.name.clone(), profile);
        Ok(())
    }

    /// Removes a profile and returns it (its snapshots are the caller's
    /// business).
    ///
    /// # Errors
    /// [`Error::Invalid`] "no such profile".
    pub fn remove(&mut self, name: &str) -> Result<Profile> {
        self.by_name
            .remove(name)
            .ok_or_else(|| invalid_name(name, "no such profile"))
    }

    /// Changes a profile's settings with `change`, then validates; nothing
    /// changes when validation fails. Renaming is done by changing `name`
    /// (refused if the new name is taken). Returns the updated profile.
    ///
    /// ```
    /// # use snap_engine::model::profile::{Profile, Profiles};
    /// let mut all = Profiles::default();
    /// all.add(Profile::new("app", "/home/u/.app").unwrap()).unwrap();
    /// all.set("app", |p| {
    ///     p.auto = false;
    ///     p.interval = "15m".parse().unwrap();
    ///     p.retention.keep_daily = Some(7);
    /// }).unwrap();
    /// assert!(!all.get("app").unwrap().auto);
    /// ```
    ///
    /// # Errors
    /// [`Error::Invalid`] when there is no such profile or the result does
    /// not validate.
    pub fn set(&mut self, name: &str, change: impl FnOnce(&mut Profile)) -> Result<&Profile> {
        let mut p = self.require(name)?.clone();
        change(&mut p);
        p.validate()?;
        if p.name != name && self.by_name.contains_key(&p.name) {
            return Err(invalid_name(
                &p.name,
                "a profile with this name already exists",
            ));
        }
        self.by_name.remove(name);
        let new_name = p.name.clone();
        self.by_name.insert(new_name.clone(), p);
        Ok(&self.by_name[&new_name])
    }
}

/// Writes a profiles file atomically: into the open repository `store`
/// wherever it lives, else into the directory through `tmp`.
fn write(
    store: Option<&snap_store::Repository>,
    tmp: &Path,
    path: &Path,
    bytes: &[u8],
) -> Result<()> {
    match store {
        Some(s) => s.write_repo_file(path, bytes)?,
        None => snap_store::fsutil::atomic_write(tmp, path, bytes)?,
    }
    Ok(())
}
