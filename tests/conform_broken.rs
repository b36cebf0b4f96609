//! `memberlist conform` fails, naming the right check, against deliberately broken
//! peers (`support::fake_peer`): one that acks with the wrong sequence number, one
//! that never refutes, one that ignores labels. Each fake is otherwise sound, which
//! the checks it passes show.

mod support;

use support::conform::{conform, ConformRun};
use support::fake_peer::{FakePeer, Flaws};

/// Short refusal waits: the fake answers at once or never; answers that should come
/// get a generous 1.5 s even on a loaded machine.
const FAST: &[&str] = &["--no-join", "--timeout-ms", "1500", "--quiet-ms", "300"];

fn run(fake: &FakePeer, extra: &[&str]) -> ConformRun {
    let args: Vec<&str> = FAST.iter().chain(extra).copied().collect();
    let run = conform(fake.addr, &args);
    assert_eq!(
        run.exit,
        Some(1),
        "a broken peer must fail: {}",
        run.explain()
    );
    run
}

fn outcome(run: &ConformRun, id: &str) -> String {
    run.outcomes().get(id).cloned().unwrap_or_default()
}

#[test]
fn acks_with_the_wrong_sequence_number_fail_the_pings() {
    let fake = FakePeer::spawn(
        "fake-seq",
        None,
        Flaws {
            wrong_seq: true,
            ..Flaws::default()
        },
    );
    let run = run(&fake, &[]);
    for id in ["udp-ping", "tcp-ping"] {
        assert_eq!(outcome(&run, id), "fail", "{}", run.explain());
        assert!(
            run.detail(id).contains("carries sequence number"),
            "{}",
            run.explain()
        );
    }
    // The fake still answers a push/pull and refutes.
    assert_eq!(outcome(&run, "push-pull"), "pass", "{}", run.explain());
    assert_eq!(outcome(&run, "refute-suspect"), "pass", "{}", run.explain());
}

#[test]
fn a_peer_that_never_refutes_fails_the_refutations() {
    let fake = FakePeer::spawn(
        "fake-stubborn",
        None,
        Flaws {
            never_refutes: true,
            ..Flaws::default()
        },
    );
    let run = run(&fake, &[]);
    for id in ["refute-suspect", "refute-dead"] {
        assert_eq!(outcome(&run, id), "fail", "{}", run.explain());
        assert!(run.detail(id).contains("not refuted"), "{}", run.explain());
    }
    for id in ["udp-ping", "tcp-ping", "compound", "label", "malformed"] {
        assert_eq!(outcome(&run, id), "pass", "{id}: {}", run.explain());
    }
}

#[test]
fn a_peer_that_ignores_labels_fails_the_label_check() {
    let fake = FakePeer::spawn(
        "fake-unlabelled",
        Some("prod"),
        Flaws {
            ignores_labels: true,
            ..Flaws::default()
        },
    );
    let run = run(&fake, &["--label", "prod"]);
    assert_eq!(outcome(&run, "label"), "fail", "{}", run.explain());
    assert!(
        run.detail("label").contains("does not check labels"),
        "{}",
        run.explain()
    );
    for id in ["udp-ping", "tcp-ping", "refute-suspect", "refute-dead"] {
        assert_eq!(outcome(&run, id), "pass", "{id}: {}", run.explain());
    }
}
