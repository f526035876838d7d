//! Every relative link in the user docs (README.md, docs/*.md, tests/clients/README.md) reaches
//! a file that exists, and every `#anchor` a heading of its target, as GitHub renders them: a
//! broken link in a recipe sends a reader to nothing, and nobody notices until a reader does.
//! The docs' written cross-references are held to the same rule: `see *Section*` names a
//! heading of the same document, `README, "Section"` one of the README.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lies in the repository")
        .to_path_buf()
}

fn documents() -> Vec<PathBuf> {
    let root = repo();
    let mut docs = vec![root.join("README.md"), root.join("tests/clients/README.md")];
    let mut listed: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    listed.sort();
    docs.extend(listed);
    docs.retain(|p| p.exists());
    docs
}

/// The lines outside fenced code blocks.
fn unfenced(text: &str) -> Vec<&str> {
    let mut fenced = false;
    let mut lines = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            lines.push(line);
        }
    }
    lines
}

/// The text outside fenced code blocks and inline code spans, line by line.
fn prose(text: &str) -> Vec<String> {
    unfenced(text)
        .into_iter()
        // Dropping every other backtick-delimited piece drops the code spans.
        .map(|line| line.split('`').step_by(2).collect::<Vec<_>>().join(" "))
        .collect()
}

/// Targets of `[text](target)` links and `[label]: target` definitions.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    for line in prose(text) {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            if let Some((_, rest)) = trimmed.split_once("]: ") {
                targets.push(
                    rest.split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_string(),
                );
            }
        }
        let mut rest = line.as_str();
        while let Some(at) = rest.find("](") {
            rest = &rest[at + 2..];
            let end = rest.find(')').unwrap_or(rest.len());
            let target = rest[..end].split_whitespace().next().unwrap_or_default();
            targets.push(target.trim_matches(['<', '>']).to_string());
            rest = &rest[end..];
        }
    }
    targets
}

/// GitHub's anchors of a document's headings: lower case, punctuation dropped, spaces made
/// hyphens, a repeated heading numbered `-1`, `-2`, ...
fn anchors(text: &str) -> HashSet<String> {
    let mut seen = HashSet::new();
    for line in unfenced(text) {
        let Some(heading) = line.strip_prefix('#') else {
            continue;
        };
        let heading = heading.trim_start_matches('#').trim();
        let slug: String = heading
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let mut anchor = slug.clone();
        let mut n = 0;
        while !seen.insert(anchor.clone()) {
            n += 1;
            anchor = format!("{slug}-{n}");
        }
    }
    seen
}

/// The broken links of `doc`, as `target: why`.
fn broken_links(doc: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(doc).expect("readable");
    let mut broken = Vec::new();
    for target in link_targets(&text) {
        if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
            continue;
        }
        let (file, anchor) = match target.split_once('#') {
            Some((file, anchor)) => (file, Some(anchor)),
            None => (target.as_str(), None),
        };
        let file = match file {
            "" => doc.to_path_buf(),
            file => doc.parent().unwrap_or(Path::new(".")).join(file),
        };
        if !file.exists() {
            broken.push(format!("{target}: no file {}", file.display()));
            continue;
        }
        let Some(anchor) = anchor else { continue };
        if file.extension().is_some_and(|x| x == "md") {
            let headings = anchors(&std::fs::read_to_string(&file).expect("readable"));
            if !headings.contains(&anchor.to_lowercase()) {
                broken.push(format!(
                    "{target}: no heading #{anchor} in {}",
                    file.display()
                ));
            }
        }
    }
    broken
}

/// The headings of a document, as written (without `#`s and backticks).
fn headings(text: &str) -> Vec<String> {
    unfenced(text)
        .into_iter()
        .filter(|line| line.starts_with('#'))
        .map(|line| {
            line.trim_start_matches('#')
                .replace('`', "")
                .trim()
                .to_string()
        })
        .collect()
}

/// Every `{open}X{close}` in `text` (line breaks read as spaces): the X.
fn quoted_after(text: &str, open: &str, close: char) -> Vec<String> {
    let flat = prose(text).join(" ");
    let mut found = Vec::new();
    let mut rest = flat.as_str();
    while let Some(at) = rest.find(open) {
        rest = &rest[at + open.len()..];
        if let Some(end) = rest.find(close) {
            found.push(rest[..end].split_whitespace().collect::<Vec<_>>().join(" "));
        }
    }
    found
}

/// Written references to a section that no heading starts with.
fn broken_references(doc: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(doc).expect("readable");
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let starts = |headings: &[String], name: &str| {
        let name = name.to_lowercase();
        headings.iter().any(|h| h.to_lowercase().starts_with(&name))
    };
    let own = headings(&text);
    let mut broken: Vec<String> = quoted_after(&text, "see *", '*')
        .into_iter()
        .filter(|name| !starts(&own, name))
        .map(|name| format!("see *{name}*: no such heading here"))
        .collect();
    let readme_headings: Vec<String> = headings(&readme)
        .into_iter()
        .map(|h| {
            h.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.' || c == ' ')
                .to_string()
        })
        .collect();
    broken.extend(
        quoted_after(&text, "README, \"", '"')
            .into_iter()
            .filter(|name| !starts(&readme_headings, name))
            .map(|name| format!("README, \"{name}\": no such heading in README.md")),
    );
    broken
}

#[test]
fn every_relative_link_and_anchor_in_the_docs_resolves() {
    let docs = documents();
    assert!(docs.len() >= 3, "found only {docs:?}");
    let broken: Vec<String> = docs
        .iter()
        .flat_map(|doc| {
            let name = doc
                .strip_prefix(repo())
                .unwrap_or(doc)
                .display()
                .to_string();
            broken_links(doc)
                .into_iter()
                .chain(broken_references(doc))
                .map(move |b| format!("{name}: {b}"))
        })
        .collect();
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn anchors_follow_github() {
    let headings = anchors("# Frazil\n## PyIceberg (0.12) — run in CI\n## `warehouse` and `prefix`\n## Status\n## Status\n```\n# not a heading\n```\n");
    for expected in [
        "frazil",
        "pyiceberg-012--run-in-ci",
        "warehouse-and-prefix",
        "status",
        "status-1",
    ] {
        assert!(
            headings.contains(expected),
            "{expected} not in {headings:?}"
        );
    }
    assert!(!headings.contains("not-a-heading"));
    let targets = link_targets("see [a](docs/x.md#y) and `[b](not/a/link)`\n[c]: ../z.md\n");
    assert_eq!(targets, ["docs/x.md#y", "../z.md"]);
    let quoted = quoted_after(
        "as (README, \"Connect a\nclient\") says; see *Health*.",
        "README, \"",
        '"',
    );
    assert_eq!(quoted, ["Connect a client"]);
}
