//! StakTrakr vaults both ways, against an implementation of StakTrakr's
//! format written here in Python (`cryptography` + `hashlib`), not by
//! snap's code: StakTrakr's `vaultEncryptToBytes()` (header, PBKDF2 600 000,
//! AES-256-GCM, UTF-8 JSON `{"_meta", "data"}` with `simpleHash` over
//! `JSON.stringify(data)`) and `vaultDecryptToData()` plus the checksum
//! check. `.ci/run` installs `cryptography`; the test fails without it.

use std::process::Command;

use super::{check, stdout_json, Env, PASSWORD};

/// The independent implementation. `write OUT`: a StakTrakr vault of the
/// JSON document on stdin (`data` only; `_meta` is made here). `read IN`:
/// decrypts, checks the header, version 1 and the checksum, prints the
/// payload.
const STAKTRAKR_PY: &str = r#"
import sys, os, json, struct, hashlib
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

def simple_hash(s):
    h = 0
    units = s.encode("utf-16-le")
    for i in range(0, len(units), 2):
        c = units[i] | (units[i + 1] << 8)
        h = (h * 31 + c) & 0xFFFFFFFF
    return "sh:%x" % h

def stringify(obj):
    # JSON.stringify of an object of strings (no array-index keys here).
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)

password = os.environ["SNAP_PASSWORD"].encode()
if sys.argv[1] == "write":
    data = json.loads(sys.stdin.read())
    payload = {"_meta": {"appVersion": "3.33.19", "exportTimestamp": "2026-02-04T15:30:00.000Z",
                         "exportOrigin": "https://www.staktrakr.com", "scope": "full",
                         "checksum": simple_hash(stringify(data))},
               "data": data}
    salt, iv, iters = os.urandom(32), os.urandom(12), 600000
    key = hashlib.pbkdf2_hmac("sha256", password, salt, iters, 32)
    ct = AESGCM(key).encrypt(iv, stringify(payload).encode("utf-8"), None)
    with open(sys.argv[2], "wb") as f:
        f.write(b"STVAULT" + bytes([1]) + struct.pack(">I", iters) + salt + iv + ct)
else:
    b = open(sys.argv[2], "rb").read()
    assert b[:7] == b"STVAULT", "magic"
    assert b[7] == 1, "StakTrakr reads version 1 only, got %d" % b[7]
    iters = struct.unpack(">I", b[8:12])[0]
    key = hashlib.pbkdf2_hmac("sha256", password, b[12:44], iters, 32)
    payload = json.loads(AESGCM(key).decrypt(b[44:56], b[56:], None).decode("utf-8"))
    assert payload["data"], "vaultDecryptToData: no data"
    meta = payload["_meta"]
    for k in ("appVersion", "exportTimestamp", "scope", "checksum"):
        assert k in meta, k
    want = simple_hash(stringify(payload["data"]))
    assert meta["checksum"] == want, (meta["checksum"], want)
    print(json.dumps(payload))
"#;

fn python(env: &Env, args: &[&str], stdin: Option<&str>) -> Vec<u8> {
    let mut cmd = Command::new("python3");
    cmd.current_dir(env.dir.path())
        .args(["-c", STAKTRAKR_PY])
        .args(args)
        .env("SNAP_PASSWORD", PASSWORD)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("python3 is not installed");
    if let Some(s) = stdin {
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), s.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python StakTrakr implementation failed (needs `cryptography`; .ci/run installs it):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn views_staktrakr_vaults_both_ways() {
    let env = Env::new();
    let data = serde_json::json!({
        "metalInventory": "[{\"name\":\"Eagle\",\"qty\":2,\"obverseImageUrl\":\"https://x/y.jpg\"}]",
        "appTheme": "dark",
        "notes": "line one\nline \"two\"\ttab \u{1}ctl caf\u{e9} \u{1F4B0} \\ back",
        "a/b": "a slash in a key",
        "100%": "a percent",
        "empty": "",
    });
    python(&env, &["write", "st.stvault"], Some(&data.to_string()));

    // snap reads StakTrakr's vault: one file per key, `_meta` kept.
    let out = env.expect(&["--json", "import", "st.stvault", "--profile", "st"], 0);
    let j = stdout_json(&out);
    assert_eq!(j["payload"], "staktrakr");
    assert_eq!(j["manifest"]["summary"]["files"], 7);
    let digest = j["manifest"]["content_digest"].clone();
    let out = env.expect(&["--json", "restore", "st.stvault", "--target", "r"], 0);
    assert_eq!(stdout_json(&out)["payload"], "staktrakr");
    for (file, key) in [
        ("metalInventory", "metalInventory"),
        ("notes", "notes"),
        ("a%2Fb", "a/b"),
        ("100%25", "100%"),
        ("empty", "empty"),
    ] {
        assert_eq!(
            std::fs::read_to_string(env.path("r").join(file)).unwrap(),
            data[key].as_str().unwrap(),
            "{file}"
        );
    }
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.path("r/.staktrakr-meta.json")).unwrap())
            .unwrap();
    assert_eq!(meta["appVersion"], "3.33.19");

    // snap writes StakTrakr's payload: the independent reader decrypts it,
    // parses it and verifies the checksum.
    let out = env.expect(
        &[
            "--json",
            "export",
            "latest",
            "--profile",
            "st",
            "--vault",
            "back.stvault",
            "--payload",
            "staktrakr",
        ],
        0,
    );
    let j = stdout_json(&out);
    assert_eq!(j["payload"], "staktrakr");
    assert_eq!(j["vault_version"], 1);
    let payload: serde_json::Value =
        serde_json::from_slice(&python(&env, &["read", "back.stvault"], None)).unwrap();
    assert_eq!(payload["data"], data);
    assert_eq!(payload["_meta"]["appVersion"], "3.33.19");
    assert_eq!(
        payload["_meta"]["exportTimestamp"],
        "2026-02-04T15:30:00.000Z"
    );
    assert_eq!(payload["_meta"]["scope"], "full");

    // Round trip: StakTrakr vault → import → export → import, same digest.
    let out = env.expect(&["--json", "import", "back.stvault", "--profile", "st2"], 0);
    assert_eq!(stdout_json(&out)["manifest"]["content_digest"], digest);

    // What the payload cannot carry is refused, naming the entry.
    std::fs::create_dir_all(env.path("tree/sub")).unwrap();
    std::fs::write(env.path("tree/key"), "v").unwrap();
    env.expect(&["create", "tree"], 0);
    let args = [
        "export",
        "latest",
        "--profile",
        "tree",
        "--vault",
        "no.stvault",
        "--payload",
        "staktrakr",
    ];
    let out = env.run(&args);
    check(&out, 1, &args, env.dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sub") && err.contains("directory"), "{err}");
    std::fs::remove_dir(env.path("tree/sub")).unwrap();
    std::fs::write(env.path("tree/image.bin"), [0xffu8, 0xfe, 0]).unwrap();
    env.expect(&["create", "tree"], 0);
    let out = env.run(&args);
    check(&out, 1, &args, env.dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("image.bin") && err.contains("binary"), "{err}");
    assert!(!env.path("no.stvault").exists());
}
