//! `memberlist explain --html`: the page renders in headless Chromium (Debian's
//! `chromium`, run directly: `--dump-dom` gives the document after its script ran)
//! without console messages or script errors, with a lane per member and the marks
//! the capture calls for.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";

/// The document after the page's script ran, and chromium's stderr.
fn render(page: &Path) -> (String, String) {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("Debian's chromium at /usr/bin/chromium (apt-get install chromium)");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().ok();
            panic!("chromium did not finish in 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The markup of the lane of `member`.
fn lane<'a>(dom: &'a str, member: &str) -> &'a str {
    let start = dom
        .find(&format!(r#"<g class="lane" data-member="{member}">"#))
        .unwrap_or_else(|| panic!("no lane for {member}"));
    let end = dom[start..].find("</g>").unwrap();
    &dom[start..start + end]
}

fn marks(lane: &str, kind: &str) -> usize {
    lane.matches(&format!(r#"data-kind="{kind}""#)).count()
}

#[test]
fn killed_node_page_renders_lanes_and_marks() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("killed.html");
    let capture = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/captures/killed_node.pcap");
    let out = Command::new(env!("CARGO_BIN_EXE_memberlist"))
        .arg("explain")
        .arg(&capture)
        .arg("--html")
        .arg(&page)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        !html.contains("src=") && !html.contains("href="),
        "nothing loaded from elsewhere"
    );
    let (dom, stderr) = render(&page);
    assert!(
        dom.contains(r#"data-rendered="ok""#),
        "the script did not finish: {stderr}"
    );
    assert!(!dom.contains("data-errors"), "script errors: {dom}");
    let console: Vec<&str> = stderr.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:#?}");
    for m in ["a", "b"] {
        let l = lane(&dom, m);
        assert_eq!(marks(l, "joined"), 1, "{l}");
        assert_eq!(
            marks(l, "suspected") + marks(l, "dead") + marks(l, "probe"),
            0,
            "{l}"
        );
        assert!(dom.contains(&format!(r#"<g class="rtt" data-member="{m}">"#)));
    }
    let c = lane(&dom, "c");
    assert_eq!(
        (
            marks(c, "joined"),
            marks(c, "suspected"),
            marks(c, "confirmed"),
            marks(c, "dead")
        ),
        (1, 1, 1, 1),
        "{c}"
    );
    assert_eq!(marks(c, "probe"), 10, "the unanswered probes of c: {c}");
    // Hover text: the row behind the mark.
    assert!(c.contains("declared dead by b (incarnation 1)\n"), "{c}");
    assert!(c.contains("killed_node.pcap frame "), "{c}");
    assert!(dom.contains("the target stopped answering everyone: nothing from c after"));
}
