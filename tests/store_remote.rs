//! The storage seam against a real object store: SeaweedFS's S3 endpoint
//! (`bash tests/seaweedfs.sh start`; `.ci/run` starts it), and what the S3
//! backend says when the store cannot be reached.

use std::time::Instant;

use snap_store::backend::s3::{S3Backend, S3Location, MAX_TRIES};
use snap_store::backend::{contract, Backend, Precondition};
use snap_store::Error;

/// A backend on a fresh prefix of the test bucket, so runs never see each
/// other's objects.
fn seaweed(name: &str) -> S3Backend {
    let bucket = std::env::var("SNAP_TEST_S3_BUCKET").unwrap_or_else(|_| "snap-test".into());
    let mut loc = S3Location::parse(&format!(
        "s3://{bucket}/{name}-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ))
    .unwrap();
    loc.endpoint =
        Some(std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:8333".into()));
    let b = S3Backend::new(&loc).unwrap();
    if let Err(e) = b.list("") {
        panic!(
            "SeaweedFS is not reachable ({e}); start it with `bash tests/seaweedfs.sh start` \
             and `eval \"$(bash tests/seaweedfs.sh env)\"`"
        );
    }
    b
}

#[test]
#[ignore = "needs SeaweedFS (bash tests/seaweedfs.sh start); .ci/run runs it"]
fn seaweedfs_meets_the_backend_contract() {
    contract::run(&seaweed("contract"));
}

#[test]
#[ignore = "needs SeaweedFS (bash tests/seaweedfs.sh start); .ci/run runs it"]
fn seaweedfs_compare_and_swap_has_one_winner_per_round() {
    let b = seaweed("cas");
    let mut version = b
        .write("heads/app", b"round 0", Precondition::Absent)
        .unwrap();
    for round in 1..=20 {
        let results: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|writer| {
                    let (b, v) = (&b, version.clone());
                    s.spawn(move || {
                        let body = format!("round {round} writer {writer}");
                        (
                            body.clone(),
                            b.write("heads/app", body.as_bytes(), Precondition::Matches(v)),
                        )
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let winners: Vec<_> = results.iter().filter(|(_, r)| r.is_ok()).collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        for (_, r) in &results {
            if let Err(e) = r {
                assert!(matches!(e, Error::Conflict { .. }), "round {round}: {e}");
            }
        }
        let (body, won) = winners[0];
        assert_eq!(b.read("heads/app").unwrap(), body.as_bytes());
        version = won.as_ref().unwrap().clone();
    }
}

#[test]
fn unreachable_store_fails_after_retries_naming_endpoint_and_object() {
    // Nothing listens on port 9 of the loopback address: every try is
    // refused at once, so the retries' backoff is what the test waits for.
    let mut loc = S3Location::parse("s3://bucket/repo").unwrap();
    loc.endpoint = Some("http://127.0.0.1:9".into());
    let b = S3Backend::new(&loc).unwrap();
    let started = Instant::now();
    let err = b.read("config.json").unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Remote { .. }), "{text}");
    assert!(
        text.contains("s3://bucket/repo at http://127.0.0.1:9"),
        "{text}"
    );
    assert!(text.contains("config.json"), "{text}");
    assert!(!text.contains('\n'), "not one line: {text}");
    // MAX_TRIES tries with at least 100 ms before the first retry.
    assert!(
        MAX_TRIES > 1 && started.elapsed().as_millis() >= 100,
        "no retry: {:?}",
        started.elapsed()
    );
}
