//! Four `create` processes on two profiles at once.

use crate::util::{noise, write, Env};

#[test]
fn four_creates_on_two_profiles_at_once() {
    let env = Env::new();
    let profiles = [env.path("one"), env.path("two")];
    for (k, p) in profiles.iter().enumerate() {
        for i in 0..60u64 {
            write(
                p,
                &format!("f{i}.json"),
                format!("{{\"i\":{i},\"k\":{k}}}").as_bytes(),
            );
        }
        write(p, "blob.bin", &noise(k as u64 + 40, 2 << 20));
    }
    // A fresh repository: the four race to create it, too.
    let children: Vec<_> = (0..4)
        .map(|i| {
            let p = &profiles[i % 2];
            let args = ["create".as_ref(), p.as_os_str(), "--force".as_ref()];
            let c = env
                .cmd(args)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            (format!("create {} #{i}", p.display()), c)
        })
        .collect();
    for (what, c) in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{what}: {}\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let list = env.snap(["--json", "list"]).ok().json();
    assert_eq!(list.as_array().unwrap().len(), 4, "{list:#}");
    env.snap(["check", "--read-data"]).ok();
    let profiles = env.snap(["--json", "profile", "list"]).ok().json();
    assert_eq!(profiles.as_array().unwrap().len(), 2, "{profiles:#}");
}
