//! Restore reads packs in coalesced runs (`store/src/pack/runs.rs`,
//! `engine/src/commands/restore_fetch.rs`): neighbouring blobs of one pack
//! come back with one read and each goes to every offset that needs it;
//! a damaged blob inside a run is reported by its id and pack and leaves
//! its neighbours' bytes exact.

use std::fs;
use std::os::unix::fs::FileExt;
use std::path::Path;

use snap_store::{BlobId, OpenOptions, Repository};

use crate::util::{assert_same_tree, noise, write, Env};

fn restore(env: &Env, id: &str, target: &Path, paths: &[&str]) -> crate::util::Run {
    let mut args: Vec<std::ffi::OsString> = vec!["restore".into(), id.into(), "--target".into()];
    args.push(target.as_os_str().into());
    for p in paths {
        args.push("--path".into());
        args.push((*p).into());
    }
    env.snap(args)
}

#[test]
fn restore_writes_shared_repeated_and_scattered_chunks_exactly() {
    let env = Env::new();
    let profile = env.path("profile");
    // One chunk repeated in one file: 1 MiB of zeros cuts at the largest
    // chunk size, four times the same blob.
    write(&profile, "zeros.bin", &vec![0u8; 1 << 20]);
    // Chunks shared by several files: b is a copy of a, c starts with a.
    let a = noise(7, 700_000);
    write(&profile, "a.bin", &a);
    write(&profile, "sub/b.bin", &a);
    let mut c = a.clone();
    c.extend_from_slice(&noise(8, 300_000));
    write(&profile, "sub/c.bin", &c);
    // Many small neighbours in one pack, and a file made of two of them.
    for i in 0..60u64 {
        write(
            &profile,
            &format!("small/{i:02}.txt"),
            &noise(100 + i, 3000),
        );
    }
    let mut twice = noise(100, 3000);
    twice.extend_from_slice(&twice.clone());
    write(&profile, "small/twice.txt", &twice);
    let id = env.create(&profile, &[]).id();

    let whole = env.path("whole");
    restore(&env, &id, &whole, &[]).ok();
    assert_same_tree(&profile, &whole);

    // Every third small file, and c: the blobs needed are scattered
    // through the pack, with unneeded ones between them.
    let some = env.path("some");
    let picked: Vec<String> = (0..60)
        .step_by(3)
        .map(|i| format!("small/{i:02}.txt"))
        .collect();
    let mut paths: Vec<&str> = picked.iter().map(String::as_str).collect();
    paths.push("sub/c.bin");
    restore(&env, &id, &some, &paths).ok();
    for p in &paths {
        assert_eq!(
            fs::read(some.join(p)).unwrap(),
            fs::read(profile.join(p)).unwrap(),
            "{p} differs"
        );
    }
    assert!(!some.join("small/01.txt").exists());
}

#[test]
fn a_damaged_blob_inside_a_run_names_itself_and_spares_its_neighbours() {
    let env = Env::new();
    let profile = env.path("profile");
    let files: Vec<Vec<u8>> = (0..20u64).map(|i| noise(500 + i, 4000)).collect();
    for (i, f) in files.iter().enumerate() {
        write(&profile, &format!("f{i:02}.bin"), f);
    }
    let id = env.create(&profile, &[]).id();

    // Damage the stored bytes of f10's only chunk, in the middle of the
    // run of its neighbours.
    let (pack, offset, stored) = {
        let repo = Repository::open(&env.repo, &OpenOptions::shared("test")).unwrap();
        let blob: BlobId = repo.blob_id(&files[10]);
        let loc = repo.locate(&blob).unwrap().expect("f10's chunk is stored");
        let path = repo.pack_path(&loc.pack);
        let neighbours = [9, 11].map(|i| repo.locate(&repo.blob_id(&files[i])).unwrap().unwrap());
        assert!(
            neighbours.iter().all(|n| n.pack == loc.pack),
            "the neighbours share f10's pack"
        );
        (path, loc.entry.offset, loc.entry.stored_len)
    };
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&pack)
        .unwrap();
    let at = offset + u64::from(stored) / 2;
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, at).unwrap();
    f.write_all_at(&[b[0] ^ 0x55], at).unwrap();
    drop(f);

    let blob_hex = {
        let repo = Repository::open(&env.repo, &OpenOptions::shared("test")).unwrap();
        repo.blob_id(&files[10]).to_hex()
    };
    let pack_name = pack.file_name().unwrap().to_string_lossy().into_owned();
    let whole = env.path("whole");
    restore(&env, &id, &whole, &[]).one_line_error(&["f10.bin", &blob_hex[..16], &pack_name[..16]]);
    assert!(!whole.exists(), "a failed restore leaves no target");

    // The neighbours read in the same run restore exactly.
    let some = env.path("some");
    let names: Vec<String> = (0..20)
        .filter(|&i| i != 10)
        .map(|i| format!("f{i:02}.bin"))
        .collect();
    let paths: Vec<&str> = names.iter().map(String::as_str).collect();
    restore(&env, &id, &some, &paths).ok();
    for (i, f) in files.iter().enumerate().filter(|(i, _)| *i != 10) {
        assert_eq!(
            &fs::read(some.join(format!("f{i:02}.bin"))).unwrap(),
            f,
            "f{i:02} differs"
        );
    }
    // And a whole restore without the damage would match: undo the flip.
    let f = fs::OpenOptions::new().write(true).open(&pack).unwrap();
    f.write_all_at(&b, at).unwrap();
    drop(f);
    restore(&env, &id, &whole, &[]).ok();
    assert_same_tree(&profile, &whole);
}
