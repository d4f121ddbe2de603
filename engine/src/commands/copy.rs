//! Entry point: [`copy_snapshots`]`(&src, &dst, &selection, &options) -> Result<CopyReport>`.
//!
//! `snap copy`: snapshots copied from one repository to another (local,
//! object store or memory, in any combination), transferring only the
//! blobs the destination lacks.
//!
//! - **Blobs.** Each snapshot's trees are walked from its root; a subtree
//!   the destination already holds is not entered (a tree is only ever
//!   stored after everything it references: see "Write order" in
//!   FORMAT.md), and a file chunk the destination already holds is not
//!   read. What is missing is read from the source (decrypted and verified
//!   there) and put through the destination's own pack writer, so it is
//!   compressed, encrypted and packed as any new blob of the destination.
//! - **Ids.** When both repositories have the same keys (both plain, or
//!   encrypted under one master key: `init --from`), blob ids are equal
//!   and the snapshot file is copied byte for byte: the snapshot keeps its
//!   id. Otherwise every tree is rewritten bottom-up with the destination's
//!   ids, the manifest gets the new root, the content digest over the new
//!   ids, the copied parent, the effective tags, and `copied_from` (the
//!   source id), and is committed as a new snapshot file with a new id.
//! - **Idempotent and resumable.** A snapshot the destination holds (same
//!   id, or one whose `copied_from` is its id, or the one it was itself
//!   copied from) is skipped. Packs are sealed and uploaded as they fill;
//!   a killed copy leaves them in the destination, where the next open
//!   indexes them, so the next run uploads only what is still missing.
//!   The snapshot file is written last, through the one commit path
//!   ([`crate::commands::commit`]): a copy that did not reach it left no
//!   snapshot.
//! - **Locks.** The caller opens both repositories with the shared lock
//!   (appends never need the exclusive one); each snapshot is copied under
//!   the destination profile's lock, as `create` holds it.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde::Serialize;
use snap_store::{BlobId, BlobKind, BlobWriter, LockMode, SnapshotId, WriteStats};

use crate::commands::commit;
use crate::error::{Error, Result};
use crate::model::snapshot::SnapshotInfo;
use crate::model::tree::{DirBuilder, NodeKind};
use crate::repo::Repo;

/// Which snapshots of the source to copy: all of them, those of one
/// profile, or the ones listed (both filters apply when both are given).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Only snapshots of this profile.
    pub profile: Option<String>,
    /// Only these snapshots (empty: every snapshot).
    pub ids: Vec<SnapshotId>,
}

impl Selection {
    /// Every snapshot of the source.
    pub fn all() -> Self {
        Self::default()
    }

    /// Every snapshot of `profile`.
    pub fn profile(profile: &str) -> Self {
        Self {
            profile: Some(profile.to_string()),
            ids: Vec::new(),
        }
    }

    /// Just snapshot `id` (what a sync push or pull copies).
    pub fn one(id: SnapshotId) -> Self {
        Self {
            profile: None,
            ids: vec![id],
        }
    }

    fn includes(&self, s: &SnapshotInfo) -> bool {
        self.profile
            .as_deref()
            .is_none_or(|p| s.manifest.profile == p)
            && (self.ids.is_empty() || self.ids.contains(&s.id))
    }
}

/// How to copy.
#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// How long to wait for the destination's profile and `profiles` locks.
    pub lock_wait: Duration,
}

impl Default for CopyOptions {
    fn default() -> Self {
        Self {
            lock_wait: Duration::from_secs(30),
        }
    }
}

/// What happened to one snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CopyStatus {
    /// Copied now.
    Copied,
    /// The destination had it already.
    Skipped,
}

/// One snapshot of a copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CopiedSnapshot {
    /// Its id in the source.
    pub source: SnapshotId,
    /// Its id in the destination (the same as `source` when the keys are).
    pub destination: SnapshotId,
    /// Its profile.
    pub profile: String,
    /// Its name (kept).
    pub name: String,
    /// Copied now, or skipped because the destination had it.
    pub status: CopyStatus,
}

/// What a copy did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CopyReport {
    /// Each selected snapshot, oldest first.
    pub snapshots: Vec<CopiedSnapshot>,
    /// Whether ids are kept (both repositories have the same keys).
    pub ids_kept: bool,
    /// Blobs (chunks and trees) stored in the destination.
    pub blobs: u64,
    /// Their plaintext bytes.
    pub raw_bytes: u64,
    /// Bytes they take in the destination's packs.
    pub stored_bytes: u64,
    /// Packs written to the destination.
    pub packs: u64,
    /// Profiles added to the destination's `profiles.json`.
    pub profiles_added: Vec<String>,
    /// What could not follow a commit (indexing a snapshot, registering a
    /// profile); the snapshots are copied all the same.
    pub warnings: Vec<String>,
}

impl CopyReport {
    /// The snapshots copied now (not skipped).
    pub fn copied(&self) -> usize {
        self.snapshots
            .iter()
            .filter(|s| s.status == CopyStatus::Copied)
            .count()
    }

    fn add(&mut self, w: &WriteStats) {
        self.blobs += w.blobs_stored;
        self.raw_bytes += w.raw_bytes;
        self.stored_bytes += w.stored_bytes;
        self.packs += w.packs;
    }
}

/// Copies the snapshots of `src` that `selection` names into `dst`, oldest
/// first, skipping those `dst` has; see the module documentation for ids,
/// resumability and locks. Open both repositories with
/// [`snap_store::OpenOptions::shared`].
///
/// ```
/// use snap_engine::commands::copy::{copy_snapshots, CopyOptions, CopyStatus, Selection};
/// use snap_engine::{create, CreateOptions, Repo};
/// use snap_store::OpenOptions;
/// # fn main() -> snap_engine::Result<()> {
/// let dir = tempfile::tempdir().unwrap();
/// let profile = dir.path().join("profile");
/// std::fs::create_dir(&profile).unwrap();
/// std::fs::write(profile.join("settings.json"), b"{}").unwrap();
/// let local = Repo::open_or_init(&dir.path().join("local"), &OpenOptions::shared("ex"))?;
/// let snap = create(&local, &CreateOptions::new("app", &profile))?;
/// let offsite = Repo::open_or_init(&dir.path().join("offsite"), &OpenOptions::shared("ex"))?;
///
/// let report = copy_snapshots(&local, &offsite, &Selection::all(), &CopyOptions::default())?;
/// assert_eq!(report.snapshots[0].status, CopyStatus::Copied);
/// // Plain to plain: the copy keeps its id.
/// assert_eq!(report.snapshots[0].destination, snap.id);
/// // A second copy has nothing to do.
/// let again = copy_snapshots(&local, &offsite, &Selection::all(), &CopyOptions::default())?;
/// assert_eq!((again.copied(), again.packs), (0, 0));
/// # Ok(()) }
/// ```
///
/// # Errors
/// [`Error::Invalid`] when `src` and `dst` are one repository or an id of
/// the selection is not in `src`; [`snap_store::Error::Locked`]; read
/// errors naming the source's pack or snapshot, write errors naming the
/// destination's. Snapshots committed before an error stay copied.
pub fn copy_snapshots(
    src: &Repo,
    dst: &Repo,
    selection: &Selection,
    options: &CopyOptions,
) -> Result<CopyReport> {
    if src.store().config().id == dst.store().config().id {
        return Err(Error::Invalid {
            what: "copy destination",
            value: dst.store().storage().location().to_string(),
            reason: "it is the source repository itself".into(),
        });
    }
    let all = src.snapshots()?;
    let mut walker = Walker::new(src, dst);
    walker
        .roots
        .extend(all.iter().map(|s| (s.id, s.manifest.tree)));
    let mut chosen: Vec<SnapshotInfo> = all.into_iter().filter(|s| selection.includes(s)).collect();
    if let Some(missing) = selection
        .ids
        .iter()
        .find(|id| !chosen.iter().any(|s| s.id == **id))
    {
        return Err(Error::Invalid {
            what: "snapshot",
            value: missing.to_hex(),
            reason: format!(
                "not in the source {}{}",
                src.store().storage().location(),
                selection
                    .profile
                    .as_deref()
                    .map(|p| format!(" (profile {p})"))
                    .unwrap_or_default()
            ),
        });
    }
    chosen.sort_by(|a, b| {
        a.manifest
            .time_ms
            .cmp(&b.manifest.time_ms)
            .then(a.id.cmp(&b.id))
    });
    // Source id -> destination id, for what the destination has already.
    let mut mapped: HashMap<SnapshotId, SnapshotId> = HashMap::new();
    for d in dst.snapshots()? {
        walker.dst_roots.insert(d.id, d.manifest.tree);
        mapped.insert(d.id, d.id);
        if let Some(from) = d.manifest.copied_from {
            mapped.entry(from).or_insert(d.id);
        }
    }
    let mut report = CopyReport {
        ids_kept: walker.same_keys,
        ..CopyReport::default()
    };
    let is_known = |s: &SnapshotInfo, mapped: &HashMap<SnapshotId, SnapshotId>| {
        mapped
            .get(&s.id)
            .or_else(|| s.manifest.copied_from.as_ref().and_then(|f| mapped.get(f)))
            .copied()
    };
    let mut profiles: Vec<String> = Vec::new();
    for s in chosen.iter().filter(|s| is_known(s, &mapped).is_none()) {
        if !profiles.contains(&s.manifest.profile) {
            profiles.push(s.manifest.profile.clone());
        }
    }
    register_profiles(src, dst, &profiles, options, &mut report)?;
    for s in &chosen {
        let (destination, status) = match is_known(s, &mapped) {
            Some(d) => (d, CopyStatus::Skipped),
            None => (
                copy_one(&mut walker, s, &mapped, options, &mut report)?,
                CopyStatus::Copied,
            ),
        };
        mapped.insert(s.id, destination);
        report.snapshots.push(CopiedSnapshot {
            source: s.id,
            destination,
            profile: s.manifest.profile.clone(),
            name: s.manifest.name.clone(),
            status,
        });
    }
    Ok(report)
}

/// The options of a new repository that shares `src`'s chunker parameters
/// and, when `src` is encrypted, its master key (`snap init --from SRC`;
/// restic's `init --from-repo --copy-chunker-params`), so that copies
/// between the two keep their ids. The new repository gets its own id and
/// its own key slot for `encryption`'s password.
///
/// # Errors
/// [`Error::Invalid`] when `src` is encrypted and `encryption` is `None`:
/// the new repository could not share its key.
pub fn init_options_from(
    src: &Repo,
    encryption: Option<snap_store::InitEncryption>,
) -> Result<snap_store::InitOptions> {
    let store = src.store();
    if store.is_encrypted() && encryption.is_none() {
        return Err(Error::Invalid {
            what: "init --from",
            value: store.storage().location().to_string(),
            reason: "it is encrypted, so the new repository must be too: give it a password".into(),
        });
    }
    let config = store.config();
    Ok(snap_store::InitOptions {
        chunker: config.chunker,
        compression: config.compression,
        pack_target_size: Some(config.pack_target_size),
        encryption,
        master_key: store.keys().cloned(),
        ..snap_store::InitOptions::default()
    })
}

/// Copies one snapshot's blobs, then commits its snapshot file in `dst`
/// (the commit point) and its tag record; returns its id in `dst`.
fn copy_one(
    w: &mut Walker<'_>,
    s: &SnapshotInfo,
    mapped: &HashMap<SnapshotId, SnapshotId>,
    options: &CopyOptions,
    report: &mut CopyReport,
) -> Result<SnapshotId> {
    let dst = w.dst;
    let _profile_lock = dst.store().lock_named(
        &format!("profile-{}", s.manifest.profile),
        LockMode::Exclusive,
        "copy",
        options.lock_wait,
    )?;
    // Learn the destination ids of what the copied parent already holds,
    // so its unchanged subtrees and chunks are neither read nor sent.
    if let Some((p, d)) = s.manifest.parent.and_then(|p| Some((p, *mapped.get(&p)?))) {
        w.learn_pair(&p, &d);
    }
    let writer = dst.store().writer();
    let (tree, digest) = w.tree(&writer, &s.manifest.tree)?;
    report.add(&writer.finish()?);
    let (id, warnings) = if w.same_keys {
        let file = w.src.store().read_snapshot_file(&s.id)?;
        let (id, warnings) = commit::commit_file(dst, &file)?;
        // The effective tags: the source's tag record, applied again.
        let written = w.src.manifest_tags(&s.id)?;
        let effective = &s.manifest.tags;
        let add: Vec<String> = effective
            .iter()
            .filter(|t| !written.contains(t))
            .cloned()
            .collect();
        let remove: Vec<String> = written
            .iter()
            .filter(|t| !effective.contains(t))
            .cloned()
            .collect();
        if !add.is_empty() || !remove.is_empty() {
            crate::model::tags::update(dst.store(), &id, &written, &add, &remove)?;
        }
        (id, warnings)
    } else {
        let mut manifest = s.manifest.clone();
        manifest.tree = tree;
        manifest.content_digest = hex::encode(digest.ok_or_else(|| Error::Format {
            path: format!("snapshot {}", s.short_id).into(),
            detail: "no content digest for its rewritten tree".into(),
        })?);
        manifest.parent = manifest.parent.and_then(|p| mapped.get(&p).copied());
        manifest.copied_from = Some(s.id);
        commit::commit(dst, &manifest)?
    };
    w.dst_roots.insert(id, tree);
    report.warnings.extend(warnings);
    Ok(id)
}

/// Adds the profiles of the snapshots about to be copied that `dst` lacks
/// to its `profiles.json`, with their settings in `src`, before their
/// first snapshot is committed (a profile `src` only knows from its
/// snapshots is recovered from them in `dst` too, on its next load).
fn register_profiles(
    src: &Repo,
    dst: &Repo,
    names: &[String],
    options: &CopyOptions,
    report: &mut CopyReport,
) -> Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    // Read only: a copy writes nothing into its source.
    let (known, _) = crate::Profiles::load_in(src.store())?;
    let (added, warnings) =
        crate::commands::registry::update(dst, options.lock_wait, |profiles| {
            let mut added = Vec::new();
            for name in names {
                if profiles.get(name).is_some() {
                    continue;
                }
                if let Some(p) = known.get(name) {
                    profiles.add(p.clone())?;
                    added.push(name.clone());
                }
            }
            Ok::<_, Error>(added)
        })?;
    report.warnings.extend(warnings);
    report.profiles_added = added;
    Ok(())
}

/// Walks source trees and puts what the destination lacks, remembering
/// the destination id (and content digest) of every tree and chunk it
/// has seen.
struct Walker<'r> {
    src: &'r Repo,
    dst: &'r Repo,
    same_keys: bool,
    /// Source tree id -> destination tree id and content digest (keys differ).
    trees: HashMap<BlobId, (BlobId, [u8; 32])>,
    /// Source chunk id -> destination chunk id (keys differ).
    chunks: HashMap<BlobId, BlobId>,
    /// Snapshot pairs already learned.
    learned: HashSet<SnapshotId>,
    /// Root trees of the source's snapshots.
    roots: HashMap<SnapshotId, BlobId>,
    /// Root trees of the destination's snapshots.
    dst_roots: HashMap<SnapshotId, BlobId>,
}

impl<'r> Walker<'r> {
    fn new(src: &'r Repo, dst: &'r Repo) -> Self {
        let master = |r: &Repo| r.store().keys().map(|k| *k.master());
        Self {
            src,
            dst,
            same_keys: master(src) == master(dst),
            trees: HashMap::new(),
            chunks: HashMap::new(),
            learned: HashSet::new(),
            roots: HashMap::new(),
            dst_roots: HashMap::new(),
        }
    }

    /// Stores source tree `id` and everything under it that `dst` lacks;
    /// returns its destination id and, when the keys differ, its content
    /// digest over the destination's ids.
    fn tree(&mut self, writer: &BlobWriter<'_>, id: &BlobId) -> Result<(BlobId, Option<[u8; 32]>)> {
        if self.same_keys {
            if self.dst.store().has_blob(id)? {
                return Ok((*id, None));
            }
        } else if let Some((d, digest)) = self.trees.get(id).copied() {
            if self.dst.store().has_blob(&d)? {
                return Ok((d, Some(digest)));
            }
        }
        let tree = self.src.tree(id)?;
        let mut builder = DirBuilder::for_store(self.dst.store());
        for node in &tree.nodes {
            let mut n = node.clone();
            let mut sub_digest = None;
            match n.kind {
                NodeKind::File => {
                    for c in n.content.iter_mut() {
                        *c = self.chunk(writer, c)?;
                    }
                }
                NodeKind::Dir => {
                    let sub = n.subtree.ok_or_else(|| Error::Format {
                        path: format!("tree {id}").into(),
                        detail: "directory entry without a subtree".into(),
                    })?;
                    let (d, digest) = self.tree(writer, &sub)?;
                    n.subtree = Some(d);
                    sub_digest = digest;
                }
                NodeKind::Symlink => {}
            }
            builder.push(n, sub_digest.as_ref());
        }
        let (new_id, bytes, digest) = builder.finish();
        if self.same_keys && new_id != *id {
            return Err(Error::Format {
                path: format!("tree {id}").into(),
                detail: "re-encodes to another id; copying it would change its snapshot".into(),
            });
        }
        writer.put_with_id(new_id, BlobKind::Tree, &bytes)?;
        if !self.same_keys {
            self.trees.insert(*id, (new_id, digest));
        }
        Ok((new_id, (!self.same_keys).then_some(digest)))
    }

    /// Stores source chunk `id` unless `dst` has it; returns its id there.
    fn chunk(&mut self, writer: &BlobWriter<'_>, id: &BlobId) -> Result<BlobId> {
        let known = if self.same_keys {
            Some(*id)
        } else {
            self.chunks.get(id).copied()
        };
        if let Some(d) = known {
            if self.dst.store().has_blob(&d)? {
                return Ok(d);
            }
        }
        let data = self.src.store().read_blob(id)?;
        let d = self.dst.store().blob_id(&data);
        writer.put_with_id(d, BlobKind::Data, &data)?;
        if !self.same_keys {
            self.chunks.insert(*id, d);
        }
        Ok(d)
    }

    /// Learns, from source snapshot `src_id` and its copy `dst_id`, which
    /// destination id each of its trees and chunks has (their trees have
    /// the same shape). Best effort: whatever cannot be read or does not
    /// match is simply not learned.
    fn learn_pair(&mut self, src_id: &SnapshotId, dst_id: &SnapshotId) {
        if self.same_keys || !self.learned.insert(*src_id) {
            return;
        }
        let (Some(s), Some(d)) = (self.roots.get(src_id), self.dst_roots.get(dst_id)) else {
            return;
        };
        let (s, d) = (*s, *d);
        let mut chunks = Vec::new();
        if self.learn_tree(&s, &d, &mut chunks).is_some() {
            self.chunks.extend(chunks);
        }
    }

    /// [`learn_pair`](Self::learn_pair) for one tree: pushes the chunk
    /// pairs found onto `chunks` and returns the destination tree's content
    /// digest when everything under it has the same shape.
    fn learn_tree(
        &mut self,
        src: &BlobId,
        dst: &BlobId,
        chunks: &mut Vec<(BlobId, BlobId)>,
    ) -> Option<[u8; 32]> {
        if let Some((d, digest)) = self.trees.get(src) {
            return (d == dst).then_some(*digest);
        }
        let (s, d) = (self.src.tree(src).ok()?, self.dst.tree(dst).ok()?);
        if s.nodes.len() != d.nodes.len() {
            return None;
        }
        let mut builder = DirBuilder::for_store(self.dst.store());
        for (a, b) in s.nodes.iter().zip(&d.nodes) {
            if a.name != b.name
                || a.kind != b.kind
                || a.size != b.size
                || a.content.len() != b.content.len()
            {
                return None;
            }
            let digest = match (a.subtree, b.subtree) {
                (Some(x), Some(y)) => Some(self.learn_tree(&x, &y, chunks)?),
                (None, None) => None,
                _ => return None,
            };
            chunks.extend(a.content.iter().copied().zip(b.content.iter().copied()));
            builder.push(b.clone(), digest.as_ref());
        }
        let (id, _, digest) = builder.finish();
        if id != *dst {
            return None;
        }
        self.trees.insert(*src, (*dst, digest));
        Some(digest)
    }
}
