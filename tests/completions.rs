//! `memberlist completions` and `memberlist man`: generated from the clap definitions,
//! so they must name the real subcommands and flags, and the man pages must be roff
//! that groff (or man) reads without a warning.

use std::path::Path;
use std::process::{Command, Output};

fn memberlist(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_memberlist"))
        .args(args)
        .output()
        .expect("run memberlist");
    assert!(
        out.status.success(),
        "memberlist {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(args: &[&str]) -> String {
    String::from_utf8(memberlist(args).stdout).expect("utf-8 output")
}

#[test]
fn completion_scripts_name_real_subcommands_and_flags() {
    for shell in ["bash", "zsh", "fish"] {
        let script = stdout(&["completions", shell]);
        for word in ["agent", "decode", "members", "keygen", "query"] {
            assert!(
                script.contains(word),
                "{shell} completion does not mention {word}"
            );
        }
        // Fish names long flags as `-l join`, the others as `--join`. `--any-port` is
        // decode's alone: the scripts follow the command tree down to its flags.
        for flag in ["join", "serf", "any-port"] {
            let written = match shell {
                "fish" => format!("-l {flag}"),
                _ => format!("--{flag}"),
            };
            assert!(
                script.contains(&written),
                "{shell} completion does not mention --{flag}"
            );
        }
    }
    let bad = Command::new(env!("CARGO_BIN_EXE_memberlist"))
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("possible values: bash"));
}

/// Formats a page the way `man` would (`-k`: UTF-8 input through preconv, as man does) and returns groff's (or man's) complaints.
fn roff_warnings(page: &Path) -> Option<String> {
    let (prog, args): (&str, &[&str]) = if which("groff") {
        ("groff", &["-k", "-man", "-Tutf8", "-ww", "-z"])
    } else if which("man") {
        ("man", &["-l", "--warnings", "-P", "cat"])
    } else {
        return None;
    };
    let out = Command::new(prog).args(args).arg(page).output().unwrap();
    assert!(out.status.success(), "{prog} failed on {}", page.display());
    Some(String::from_utf8_lossy(&out.stderr).into_owned())
}

fn which(prog: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {prog}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn man_pages_cover_every_subcommand_and_parse() {
    let top = stdout(&["man"]);
    assert!(
        top.starts_with(".ie") || top.contains(".TH memberlist 1"),
        "{top:.200}"
    );
    for sub in [
        "memberlist\\-agent",
        "memberlist\\-decode",
        "memberlist\\-completions",
    ] {
        assert!(top.contains(sub), "memberlist.1 does not list {sub}");
    }

    let dir = tempfile::tempdir().unwrap();
    memberlist(&["man", dir.path().to_str().unwrap()]);
    let agent = std::fs::read_to_string(dir.path().join("memberlist-agent.1")).unwrap();
    assert!(agent.contains("\\-\\-join"), "agent page lacks --join");
    let mut pages: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    pages.sort();
    assert!(pages.len() >= 10, "{pages:?}");
    for page in &pages {
        match roff_warnings(page) {
            Some(w) => assert!(w.is_empty(), "{}: {w}", page.display()),
            None => eprintln!("neither groff nor man installed: pages not formatted"),
        }
    }

    // A directory that cannot be created: a clear error, not a panic.
    let blocked = dir.path().join("memberlist.1").join("sub");
    let out = Command::new(env!("CARGO_BIN_EXE_memberlist"))
        .args(["man", blocked.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot write man pages"));
}
