//! The protocols around `profiles.json` that every front end needs:
//! loading it with recovery, changing it under the `profiles` lock,
//! resolving the profile a `create` goes to (registering it when new).
//!
//! Every write of `profiles.json` happens under the repository's named lock
//! `profiles` (exclusive), so two processes adding profiles at once do not
//! lose one of them; that includes recovery, which rebuilds the file from
//! the snapshots when it and its backup are damaged or gone.

use std::path::Path;
use std::time::Duration;

use snap_store::{LockGuard, LockMode};

use crate::error::{Error, Result};
use crate::model::profile::{default_name_for, sanitize_name, Profile, Profiles};
use crate::repo::Repo;

/// The named lock that serialises writes of `profiles.json`.
pub const PROFILES_LOCK: &str = "profiles";

fn lock(repo: &Repo, wait: Duration) -> Result<LockGuard> {
    Ok(repo
        .store()
        .lock_named(PROFILES_LOCK, LockMode::Exclusive, "profiles", wait)?)
}

/// Loads the profiles. When `profiles.json` is damaged or gone (or both it
/// and its backup are), takes the `profiles` lock (waiting up to `wait`),
/// recovers the names and paths from the snapshots and saves the result.
/// Returns the profiles and one warning per repair.
///
/// # Errors
/// [`snap_store::Error::Locked`] after `wait`, index or I/O errors.
pub fn load(repo: &Repo, wait: Duration) -> Result<(Profiles, Vec<String>)> {
    let (profiles, warnings) = Profiles::load_in(repo.store())?;
    if warnings.is_empty() && !profiles.is_empty() {
        return Ok((profiles, warnings));
    }
    let _lock = lock(repo, wait)?;
    load_locked(repo)
}

/// [`load`] with the `profiles` lock already held.
fn load_locked(repo: &Repo) -> Result<(Profiles, Vec<String>)> {
    let (mut profiles, mut warnings) = Profiles::load_in(repo.store())?;
    // Both files gone reads as "no profiles" without a warning; the
    // snapshots still name them.
    let both_gone = profiles.is_empty() && warnings.is_empty();
    if warnings.is_empty() && !both_gone {
        return Ok((profiles, warnings));
    }
    let damaged = !warnings.is_empty();
    let found: Vec<(String, String)> = repo
        .snapshots()?
        .into_iter()
        .map(|s| (s.manifest.profile, s.manifest.source.path))
        .collect();
    let recovered = profiles.merge_recovered(found);
    warnings.extend(
        recovered
            .iter()
            .map(|name| format!("recovered profile {name} from its snapshots")),
    );
    if damaged || !recovered.is_empty() {
        profiles.save_in(repo.store())?;
    }
    Ok((profiles, warnings))
}

/// Runs `change` on the profiles under the `profiles` lock (waiting up to
/// `wait`) and saves them when it changed anything. Returns its result and
/// the warnings of loading.
///
/// # Errors
/// The lock, loading, `change`'s own error, saving.
pub fn update<T, E: From<Error>>(
    repo: &Repo,
    wait: Duration,
    change: impl FnOnce(&mut Profiles) -> std::result::Result<T, E>,
) -> std::result::Result<(T, Vec<String>), E> {
    let _lock = lock(repo, wait)?;
    let (mut profiles, warnings) = load_locked(repo)?;
    let before = serde_json::to_vec(&profiles).expect("profiles serialise");
    let out = change(&mut profiles)?;
    // A create of a known profile changes nothing: no write, no fsync.
    if serde_json::to_vec(&profiles).expect("profiles serialise") != before {
        profiles.save_in(repo.store())?;
    }
    Ok((out, warnings))
}

/// The profile a `create` goes to: `name` when given (checked against
/// `path`), else the profile registered for `path`, else a new one named
/// after the directory. A new profile is registered (under the lock).
/// Returns it and the warnings of loading.
///
/// # Errors
/// [`Error::Invalid`] when neither is given, when `name` is registered for
/// another directory, when `name` is unknown and no `path` is given; the
/// errors of [`update`]; an unreadable `path`.
pub fn resolve_for_create(
    repo: &Repo,
    wait: Duration,
    name: Option<&str>,
    path: Option<&Path>,
) -> Result<(Profile, Vec<String>)> {
    let path = path
        .map(|p| std::fs::canonicalize(p).map_err(|e| Error::io(p, e)))
        .transpose()?;
    update(repo, wait, |profiles| {
        let name = match (name, &path) {
            (Some(n), _) => sanitize_name(n)?,
            (None, Some(p)) => match profiles.find_by_path(p) {
                Some(found) => found.name.clone(),
                None => default_name_for(p),
            },
            (None, None) => {
                return Err(Error::Invalid {
                    what: "profile",
                    value: String::new(),
                    reason: "give a directory to snapshot or a profile name".into(),
                })
            }
        };
        match (profiles.get(&name), path) {
            (Some(found), Some(p)) if found.path != p => Err(Error::Invalid {
                what: "profile",
                value: name.clone(),
                reason: format!(
                    "it is for {}, not {}; choose another name",
                    found.path.display(),
                    p.display()
                ),
            }),
            (Some(found), _) => Ok(found.clone()),
            (None, Some(p)) => {
                let profile = Profile::new(&name, p)?;
                profiles.add(profile.clone())?;
                Ok(profile)
            }
            (None, None) => Err(Error::Invalid {
                what: "profile",
                value: name.clone(),
                reason: "no such profile; create one with a directory first".into(),
            }),
        }
    })
}
