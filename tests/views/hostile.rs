//! Hostile archives through the CLI: exit 13, one message naming the entry,
//! nothing added to the repository, nothing left where restore would write.

use snap_engine::export::testing::hostile_samples;

use super::{check, make_profile, Env};

#[test]
fn views_cli_hostile_archives_exit_13_and_add_nothing() {
    let env = Env::new();
    make_profile(&env.path("app"));
    env.expect(&["create", "app"], 0);
    let list = |env: &Env| env.snapshots().len();
    let packs = |env: &Env| {
        std::fs::read_dir(env.repo().join("packs"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    let before = (
        list(&env),
        packs(&env),
        std::fs::read(env.repo().join("profiles.json")).ok(),
    );
    for (name, bytes, entry) in hostile_samples() {
        let file = format!("{name}.zip");
        std::fs::write(env.path(&file), &bytes).unwrap();
        let args = ["import", file.as_str()];
        let out = env.run(&args);
        check(&out, 13, &args, env.dir.path());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("{entry:?}")), "{name}: {err}");
        assert_eq!(err.lines().count(), 1, "{name}: {err}");
        let target = format!("t-{name}");
        let args = ["restore", file.as_str(), "--target", target.as_str()];
        let out = env.run(&args);
        check(&out, 13, &args, env.dir.path());
        assert!(!env.path(&target).exists(), "{name}: target left behind");
    }
    assert!(!env.dir.path().join("evil.txt").exists());
    let after = (
        list(&env),
        packs(&env),
        std::fs::read(env.repo().join("profiles.json")).ok(),
    );
    assert_eq!(before.0, after.0, "no snapshot added");
    assert_eq!(before.2, after.2, "no profile registered");
    let _ = after.1;
}
