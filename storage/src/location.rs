//! Location rules: where a table lives under its environment, and how metadata files are named.

use url::Url;
use uuid::Uuid;

use crate::{Result, StorageError};

/// A parsed, normalized storage location (`file:///...` or `s3://bucket/...`), no trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location(Url);

impl Location {
    pub fn parse(location: &str) -> Result<Self> {
        let invalid = |reason: &str| StorageError::InvalidLocation {
            location: location.to_string(),
            reason: reason.to_string(),
        };
        let url =
            Url::parse(location.trim_end_matches('/')).map_err(|e| invalid(&e.to_string()))?;
        match url.scheme() {
            "file" => {}
            "s3" | "s3a" => {
                if url.host_str().unwrap_or_default().is_empty() {
                    return Err(invalid("an s3 location needs a bucket"));
                }
            }
            other => return Err(invalid(&format!("unsupported scheme '{other}'"))),
        }
        Ok(Self(canonical(url).map_err(invalid)?))
    }

    /// A location as an administrator types it: a URL, or an absolute local path (made a
    /// `file://` URL), as the server's own `warehouse` option takes. A relative path is
    /// refused: what it means would depend on the server's working directory.
    pub fn from_path_or_url(location: &str) -> Result<Self> {
        let trimmed = location.trim();
        if trimmed.starts_with('/') {
            let url = Url::from_file_path(trimmed).map_err(|()| StorageError::InvalidLocation {
                location: location.to_string(),
                reason: "not a usable local path".into(),
            })?;
            return Self::parse(url.as_str());
        }
        if let Err(url::ParseError::RelativeUrlWithoutBase) = Url::parse(trimmed) {
            return Err(StorageError::InvalidLocation {
                location: location.to_string(),
                reason: "a relative path; give an absolute path (/srv/warehouse) or a URL \
                         (file:///srv/warehouse, s3://bucket/prefix)"
                    .into(),
            });
        }
        Self::parse(trimmed)
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub fn url(&self) -> &Url {
        &self.0
    }

    /// True when `self` is `base` or lies below it (segment-wise, never a sibling `base-x`).
    pub fn is_within(&self, base: &Location) -> bool {
        self == base || self.is_below(base)
    }

    /// True when `self` lies strictly below `base` (segment-wise).
    pub fn is_below(&self, base: &Location) -> bool {
        let (me, base) = (self.as_str(), base.as_str());
        let rest = me.strip_prefix(base).unwrap_or_default();
        // A root (`file:///`) ends in its separator; every other location has none.
        !rest.is_empty() && (base.ends_with('/') || rest.starts_with('/'))
    }

    /// Every location strictly above this one, as [`Location::as_str`] spells them: for
    /// `s3://b/w/t` that is `s3://b` and `s3://b/w`. The locations that would contain this
    /// one, for the catalog's overlap checks.
    pub fn ancestors(&self) -> Vec<String> {
        let text = self.as_str();
        let path_start = text.find("://").map_or(0, |i| i + 3);
        let path_start = path_start + text[path_start..].find('/').unwrap_or(text.len());
        let mut ancestors: Vec<String> = text
            .match_indices('/')
            .filter(|&(i, _)| i >= path_start)
            .filter_map(|(i, _)| Location::parse(&text[..i]).ok())
            .map(|l| l.as_str().to_string())
            .collect();
        ancestors.dedup();
        ancestors.retain(|a| a != text);
        ancestors
    }

    /// The location one path segment below this one; the segment is encoded as in a URL.
    pub fn join(&self, segment: &str) -> Location {
        let mut url = self.0.clone();
        url.path_segments_mut()
            .expect("file and s3 URLs have paths")
            .pop_if_empty()
            .push(segment);
        Location(url)
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The one spelling of a location: path segments percent-decoded and re-encoded the way `url`
/// encodes them, so two spellings of one directory (`a%41` and `aA`) are one string, which the
/// catalog's overlap checks and purge compare. Segments that would leave their directory or
/// split into two once decoded (`..`, `.`, an encoded `/` or `\\`, an empty segment) are refused.
fn canonical(mut url: Url) -> std::result::Result<Url, &'static str> {
    let encoded: Vec<String> = url
        .path_segments()
        .into_iter()
        .flatten()
        .map(str::to_string)
        .collect();
    let mut decoded = Vec::with_capacity(encoded.len());
    for (i, segment) in encoded.iter().enumerate() {
        let segment = percent_encoding::percent_decode_str(segment)
            .decode_utf8()
            .map_err(|_| "a location must be UTF-8 once decoded")?;
        if segment == "." || segment == ".." {
            return Err("'.' and '..' are not allowed in a location");
        }
        if segment.contains(['/', '\\']) {
            return Err("an encoded '/' or '\\' is not allowed in a location");
        }
        // `file:///` and `s3://bucket/` end in one empty segment; none may be empty elsewhere.
        if segment.is_empty() && !(i == 0 && encoded.len() == 1) {
            return Err("empty path segments ('//') are not allowed in a location");
        }
        decoded.push(segment.into_owned());
    }
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.clear();
        for segment in decoded.iter().filter(|s| !s.is_empty()) {
            segments.push(segment);
        }
    }
    Ok(url)
}

/// A table's default location: `{warehouse}/{namespace levels...}/{table}-{uuid}`. The uuid keeps
/// a re-created table away from the files of a dropped one with the same name.
pub fn table_location(
    warehouse: &Location,
    namespace: &[String],
    table: &str,
    uuid: Uuid,
) -> Location {
    let mut location = warehouse.clone();
    for level in namespace {
        location = location.join(fit(&path_segment(level), MAX_SEGMENT_BYTES));
    }
    let uuid = uuid.simple().to_string();
    let name = path_segment(table);
    let name = fit(&name, MAX_SEGMENT_BYTES - uuid.len() - 1);
    location.join(&format!("{name}-{uuid}"))
}

/// The longest file name local file systems take (NAME_MAX). A 249-character topic plus the
/// uuid would be longer; the uuid alone keeps table directories apart.
const MAX_SEGMENT_BYTES: usize = 255;

/// The first `max` bytes of an escaped (ASCII) segment.
fn fit(segment: &str, max: usize) -> &str {
    &segment[..segment.len().min(max)]
}

/// Names are kept readable (every Kafka topic name and cluster id passes unchanged); any other
/// byte, and a name of only dots, becomes `_xHH`, so no name can leave its directory and no
/// location needs URL escaping. Table directories also carry a uuid, so escaping cannot collide.
fn path_segment(name: &str) -> String {
    let only_dots = name.bytes().all(|b| b == b'.');
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || (b == b'.' && !only_dots) {
            out.push(b as char);
        } else {
            out.push_str(&format!("_x{b:02X}"));
        }
    }
    out
}

/// `{version:05}-{uuidv7}.metadata.json`, the "metastore tables" naming of the table spec.
pub fn metadata_file_name(version: u64) -> String {
    format!("{version:05}-{}.metadata.json", Uuid::now_v7())
}

/// The sequence number a metadata file's name starts with (`00042-...`), else 0: the version
/// [`metadata_file_name`] wrote, so a table's version is known from its pointer alone.
pub fn version_of(location: &str) -> i64 {
    let name = location.rsplit('/').next().unwrap_or_default();
    let digits: String = name.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_paths_become_file_urls_and_relative_ones_are_refused() {
        let from_path = Location::from_path_or_url("/tmp/wh/").unwrap();
        assert_eq!(from_path.as_str(), "file:///tmp/wh");
        assert_eq!(
            from_path,
            Location::from_path_or_url("file:///tmp/wh").unwrap()
        );
        assert_eq!(
            Location::from_path_or_url("s3://b/w").unwrap().as_str(),
            "s3://b/w"
        );
        for relative in ["wh", "./wh", "../wh"] {
            let refused = Location::from_path_or_url(relative)
                .unwrap_err()
                .to_string();
            assert!(refused.contains("a relative path"), "{relative}: {refused}");
        }
        // `..` is resolved as in a `file://` URL, before the storage roots are checked.
        assert_eq!(
            Location::from_path_or_url("/srv/lake/../etc").unwrap(),
            Location::parse("file:///srv/etc").unwrap()
        );
    }

    #[test]
    fn table_location_keeps_topic_names_and_escapes_the_rest() {
        let warehouse = Location::parse("file:///data/warehouse/").unwrap();
        let uuid = Uuid::nil();
        let loc = table_location(&warehouse, &["lkc-abc".into()], "orders.v1-eu_2", uuid);
        assert_eq!(
            loc.as_str(),
            "file:///data/warehouse/lkc-abc/orders.v1-eu_2-00000000000000000000000000000000"
        );
        let odd = table_location(&warehouse, &["..".into()], "a/b", uuid);
        assert!(odd.is_within(&warehouse));
        assert!(!odd.as_str().contains("/../"), "{odd}");
        assert_eq!(
            odd.as_str(),
            "file:///data/warehouse/_x2E_x2E/a_x2Fb-00000000000000000000000000000000"
        );
    }

    #[test]
    fn long_names_fit_in_a_file_name() {
        let warehouse = Location::parse("file:///data/warehouse/").unwrap();
        let topic = "t".repeat(249);
        let level = "\u{e9}".repeat(127); // 254 bytes, 1,016 once escaped
        let loc = table_location(&warehouse, &[level], &topic, Uuid::nil());
        let segments: Vec<&str> = loc.as_str().split('/').collect();
        assert!(segments.iter().all(|s| s.len() <= 255), "{loc}");
        let table_dir = segments.last().unwrap();
        assert!(table_dir.ends_with("-00000000000000000000000000000000"));
        assert!(table_dir.starts_with(&"t".repeat(222)));
    }

    #[test]
    fn within_is_segment_wise() {
        let base = Location::parse("s3://bucket/wh").unwrap();
        assert!(Location::parse("s3://bucket/wh/t")
            .unwrap()
            .is_within(&base));
        assert!(!Location::parse("s3://bucket/wh-other/t")
            .unwrap()
            .is_within(&base));
        assert!(!Location::parse("s3://bucket/wh/../x")
            .map(|l| l.is_within(&base))
            .unwrap_or(false));
    }

    #[test]
    fn ancestors_are_every_containing_location() {
        let t = Location::parse("s3://bucket/wh/ns/t").unwrap();
        assert_eq!(
            t.ancestors(),
            ["s3://bucket", "s3://bucket/wh", "s3://bucket/wh/ns"]
        );
        let f = Location::parse("file:///data/wh/t").unwrap();
        assert_eq!(
            f.ancestors(),
            ["file:///", "file:///data", "file:///data/wh"]
        );
        for a in f.ancestors() {
            assert!(f.is_below(&Location::parse(&a).unwrap()), "{a}");
        }
    }

    #[test]
    fn one_spelling_per_location() {
        let plain = Location::parse("file:///wh/aA%20b").unwrap();
        let escaped = Location::parse("file:///wh/a%41 b/").unwrap();
        assert_eq!(plain, escaped);
        for bad in ["file:///wh/a%2Fb", "file:///wh//t", "s3://b/wh/a%5cb"] {
            assert!(Location::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Location::parse("s3://bucket").unwrap().as_str(),
            "s3://bucket"
        );
        // Encoded dot segments are resolved as URLs resolve them, never kept inside.
        let wh = Location::parse("file:///wh").unwrap();
        let up = Location::parse("file:///wh/%2e%2E/x").unwrap();
        assert!(!up.is_within(&wh), "{up}");
    }

    #[test]
    fn rejects_unknown_schemes() {
        assert!(Location::parse("http://example.com/x").is_err());
        assert!(Location::parse("s3:///nobucket").is_err());
    }
}
