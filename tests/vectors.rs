//! `memberlist vectors`: the export holds every Go fixture (bytes, keys, Go's
//! decoding, the releases that produced it); `check` with our own decoder
//! (`memberlist decode --vector`) matches every vector, and a deliberately wrong
//! decoder, a broken one and one that declines Serf are each reported as such.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

mod support;
use support::process::run_bounded;

const BIN: &str = env!("CARGO_BIN_EXE_memberlist");

fn memberlist(args: &[&str]) -> (Option<i32>, String) {
    let out = run_bounded(Command::new(BIN).args(args), Duration::from_secs(120)).unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}

/// Go's fixtures in `dir`, as (vector name, bytes): the name is `prefix` + the file stem.
fn fixtures(dir: &str, prefix: &str) -> Vec<(String, Vec<u8>)> {
    support::fixtures::load(dir)
        .into_iter()
        .map(|f| (format!("{prefix}{}", f.name), f.bin))
        .collect()
}

fn export() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let (code, text) = memberlist(&["vectors", "export", dir.path().to_str().unwrap()]);
    assert_eq!(code, Some(0), "{text}");
    dir
}

#[test]
fn the_export_holds_every_fixture_with_its_versions() {
    let dir = export();
    let mut want = fixtures("fixtures", "");
    want.extend(fixtures("fixtures/serf", "serf/"));
    want.sort();
    let text = std::fs::read_to_string(dir.path().join("vectors.jsonl")).unwrap();
    let mut got: Vec<(String, Vec<u8>)> = text
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            assert!(
                v["produced_by"]["memberlist"]
                    .as_str()
                    .unwrap()
                    .starts_with("v0."),
                "{v}"
            );
            assert!(v["expected"].is_object(), "{v}");
            (
                v["name"].as_str().unwrap().to_owned(),
                hex::decode(v["hex"].as_str().unwrap()).unwrap(),
            )
        })
        .collect();
    got.sort();
    assert!(want.len() > 400, "{} fixtures", want.len());
    assert_eq!(got.len(), want.len());
    assert!(got == want, "the corpus bytes are not the fixtures' bytes");

    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["produced_by"]["memberlist"], "v0.7.0");
    assert_eq!(manifest["vectors"], want.len());
    let readme = std::fs::read_to_string(dir.path().join("README.md")).unwrap();
    assert!(readme.contains("MEMBERLIST_VECTOR_KIND"), "{readme}");
}

#[test]
fn our_decoder_matches_every_vector_and_wrong_ones_are_reported() {
    let dir = export();
    let corpus = dir.path().to_str().unwrap();
    let ours = format!("{BIN} decode --vector");
    let (code, text) = memberlist(&["vectors", "check", corpus, "--decoder", &ours]);
    assert_eq!(code, Some(0), "{text}");
    let last = text.lines().last().unwrap();
    let n: usize = last.split_whitespace().next().unwrap().parse().unwrap();
    assert_eq!(
        last,
        format!("{n} vectors: {n} match, 0 mismatch, 0 unsupported")
    );

    // A decoder that gets sequence numbers 127 and 128 wrong.
    let wrong = format!("{ours} | sed 's/\"SeqNo\":12\\([78]\\)/\"SeqNo\":9\\1/'");
    let (code, text) = memberlist(&[
        "vectors",
        "check",
        corpus,
        "--only",
        "int_ack_seqno",
        "--decoder",
        &wrong,
    ]);
    assert_eq!(code, Some(1), "{text}");
    let mismatches: Vec<&str> = text.lines().filter(|l| l.starts_with("mismatch")).collect();
    assert_eq!(
        mismatches,
        [
            "mismatch int_ack_seqno_127: at /message/fields/SeqNo: expected 127, got 97",
            "mismatch int_ack_seqno_128: at /message/fields/SeqNo: expected 128, got 98",
        ],
        "{text}"
    );

    // A decoder that prints no JSON, and one that exits without output.
    for (decoder, says) in [
        (
            "echo nope",
            "mismatch lzw_one: the output is not a JSON object: \"nope\"",
        ),
        ("exit 3", "the decoder failed: exited with exit status: 3"),
    ] {
        let (code, text) = memberlist(&[
            "vectors",
            "check",
            corpus,
            "--only",
            "lzw_one",
            "--decoder",
            decoder,
        ]);
        assert_eq!(code, Some(1), "{decoder}: {text}");
        assert!(text.contains(says), "{decoder}: {text}");
    }

    // A memberlist-only decoder declines the Serf vectors; that is not a mismatch.
    let memberlist_only = format!(
        "case \"$MEMBERLIST_VECTOR_KIND\" in serf_*) echo '{{\"unsupported\": \"no Serf\"}}';; *) {ours};; esac"
    );
    let (code, text) = memberlist(&[
        "vectors",
        "check",
        corpus,
        "--only",
        "serf/join",
        "--only",
        "ack_",
        "--decoder",
        &memberlist_only,
    ]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("unsupported serf/join_ltime_0: no Serf"),
        "{text}"
    );
    assert!(
        text.lines().last().unwrap().contains(" 0 mismatch"),
        "{text}"
    );
}
