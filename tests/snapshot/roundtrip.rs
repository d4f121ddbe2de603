//! Restore to a target is byte-identical, with modes, mtimes and symlinks.

use crate::util::{assert_same_tree, every_kind_tree, Env};

#[test]
fn round_trip_every_kind_of_entry() {
    let env = Env::new();
    let profile = env.path("profile");
    every_kind_tree(&profile, 10_000);
    let id = env.create(&profile, &[]).id();
    let target = env.path("restored");
    env.snap([
        "restore".as_ref(),
        id.as_ref(),
        "--target".as_ref(),
        target.as_os_str(),
    ])
    .ok();
    assert_same_tree(&profile, &target);

    // A second round trip from an incremental snapshot (reused chunks).
    crate::util::write(&profile, "a/new.txt", b"new");
    let id2 = env.create(&profile, &[]).id();
    assert_ne!(id, id2);
    let target2 = env.path("restored2");
    env.snap([
        "restore".as_ref(),
        id2.as_ref(),
        "--target".as_ref(),
        target2.as_os_str(),
    ])
    .ok();
    assert_same_tree(&profile, &target2);
}
