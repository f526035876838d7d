//! Which S3 requests the remote signer signs for a table: only those that stay within the table's
//! location, in its bucket, on the environment's S3 endpoint; for a read-only key only reads.
//!
//! The signer's credentials reach the environment's whole bucket (or more), so this check is what
//! keeps a client of one table out of every other. It decides from the request as S3 will read
//! it: the bucket from the host (virtual-hosted `bucket.host`) or the first path segment
//! (path-style), the key from the path as S3 decodes it, ListObjects by its `prefix`,
//! DeleteObjects by the keys of its body and copies by their source. Whatever it cannot place is
//! refused: a sub-resource it does not know (`?acl`, `?policy`), a host that is not the S3
//! endpoint, a key with `.` or `..` segments.

use percent_encoding::percent_decode_str;
use serde::Deserialize;
use url::form_urlencoded;

use super::S3Request;
use crate::{DataAccess, Location};

/// Query parameters of a bucket-level GET that lists objects (ListObjects v1 and v2).
const LIST_PARAMETERS: &[&str] = &[
    "list-type",
    "prefix",
    "delimiter",
    "max-keys",
    "continuation-token",
    "start-after",
    "fetch-owner",
    "encoding-type",
    "marker",
    "x-id",
];

/// Query parameters an object request may carry: multipart uploads, versions, the SDKs'
/// operation marker. Others select sub-resources (`acl`, `tagging`, `retention`...) that table
/// I/O never needs.
const OBJECT_PARAMETERS: &[&str] = &["uploads", "uploadId", "partNumber", "versionId", "x-id"];

/// Request headers that change who may read an object or how long it must be kept (canned ACLs,
/// grants, object lock): table I/O never sends them, and S3 only honours `x-amz-*` headers that
/// are signed.
const REFUSED_HEADER_PREFIXES: &[&str] = &[
    "x-amz-acl",
    "x-amz-grant-",
    "x-amz-object-lock-",
    "x-amz-bypass-governance-retention",
    "x-amz-website-redirect-location",
];

/// Where the requests of one table may go.
#[derive(Debug, Clone, Copy)]
pub struct TableScope<'a> {
    /// The table's location: `s3://bucket/path/to/table`.
    pub location: &'a Location,
    /// The environment's S3 endpoint (`http://127.0.0.1:9000`), or none for AWS itself.
    pub endpoint: Option<&'a str>,
}

/// A request the signer refuses, and why (said to the client as it is).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct OutOfScope(pub String);

fn refuse<T>(reason: impl Into<String>) -> Result<T, OutOfScope> {
    Err(OutOfScope(reason.into()))
}

/// The location of a table being created in a create transaction (stage-create: it is not in the
/// catalog until the transaction commits, while the client writes its first files), read out of
/// the request: `unnamed` is the default location a create of the table would choose with the nil
/// uuid (`.../name-000...0`), and the request's key must lie below that location with some uuid
/// (`.../name-<32 hex digits>/...`). `None` for any other request.
pub fn staged_location(
    request: &S3Request,
    endpoint: Option<&str>,
    unnamed: &Location,
) -> Option<Location> {
    const UUID_DIGITS: usize = 32;
    let table = TablePrefix::of(unnamed).ok()?;
    let stem = table.path.strip_suffix(&"0".repeat(UUID_DIGITS))?;
    let target = Target::parse(&request.uri, endpoint, &table.bucket).ok()?;
    let rest = target.key.as_deref()?.strip_prefix(stem)?;
    let (uuid, below) = rest.split_at_checked(UUID_DIGITS)?;
    let hex = uuid
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if target.bucket != table.bucket || !hex || !below.starts_with('/') {
        return None;
    }
    Location::parse(&format!("s3://{}/{stem}{uuid}", table.bucket)).ok()
}

/// Whether `request` may be signed for a caller with `access` to the table of `scope`.
pub fn check(
    request: &S3Request,
    scope: TableScope<'_>,
    access: DataAccess,
) -> Result<(), OutOfScope> {
    let method = request.method.to_ascii_uppercase();
    check_method(&method, access)?;
    check_headers(request)?;
    let table = TablePrefix::of(scope.location)?;
    let target = Target::parse(&request.uri, scope.endpoint, &table.bucket)?;
    if target.bucket != table.bucket {
        return refuse(format!(
            "bucket {} is not the table's bucket {}",
            target.bucket, table.bucket
        ));
    }
    match target.key.as_deref() {
        Some(key) => {
            check_parameters(&target.query, OBJECT_PARAMETERS, |name| {
                name.starts_with("response-")
            })?;
            let reading = matches!(method.as_str(), "GET" | "HEAD");
            table.check_key(key, reading)?;
            check_copy_source(request, &table)
        }
        None => check_bucket_request(&method, &target.query, request.body.as_deref(), &table),
    }
}

fn check_method(method: &str, access: DataAccess) -> Result<(), OutOfScope> {
    match (method, access) {
        ("GET" | "HEAD", _) => Ok(()),
        ("PUT" | "POST" | "DELETE", DataAccess::Write) => Ok(()),
        (_, DataAccess::Read) => refuse(format!(
            "a read-only key may only sign GET and HEAD requests, not {method}"
        )),
        _ => refuse(format!("{method} requests are not signed")),
    }
}

fn check_headers(request: &S3Request) -> Result<(), OutOfScope> {
    for name in request.headers.keys() {
        let name = name.to_ascii_lowercase();
        if REFUSED_HEADER_PREFIXES.iter().any(|p| name.starts_with(p)) {
            return refuse(format!("requests with the header {name} are not signed"));
        }
    }
    Ok(())
}

/// The table's bucket and its key prefix (`path/to/table`, without a trailing slash).
struct TablePrefix {
    bucket: String,
    path: String,
}

impl TablePrefix {
    fn of(location: &Location) -> Result<Self, OutOfScope> {
        let url = location.url();
        if !matches!(url.scheme(), "s3" | "s3a") {
            return refuse("the table's storage is not S3: there is nothing to sign");
        }
        let bucket = url.host_str().unwrap_or_default().to_string();
        let path = percent_decode_str(url.path().trim_matches('/'))
            .decode_utf8()
            .map_err(|_| OutOfScope("the table's location is not UTF-8".into()))?
            .into_owned();
        Ok(Self { bucket, path })
    }

    /// `key` lies below the table's location (segment-wise: `t/x`, never `t-2/x`); a read may
    /// also name the location itself.
    fn check_key(&self, key: &str, reading: bool) -> Result<(), OutOfScope> {
        check_segments(key)?;
        let below = match self.path.as_str() {
            "" => true,
            path => key
                .strip_prefix(path)
                .is_some_and(|rest| rest.starts_with('/') || (reading && rest.is_empty())),
        };
        match below {
            true => Ok(()),
            false => refuse(format!(
                "s3://{}/{key} is outside the table's location s3://{}/{}",
                self.bucket, self.bucket, self.path
            )),
        }
    }

    /// A listing `prefix` that only matches keys below the table's location.
    fn check_list_prefix(&self, prefix: &str) -> Result<(), OutOfScope> {
        let within = self.path.is_empty()
            || prefix
                .strip_prefix(&self.path)
                .is_some_and(|rest| rest.starts_with('/'));
        match within {
            true => Ok(()),
            false => refuse(format!(
                "listing prefix {prefix:?} reaches beyond the table's location s3://{}/{}",
                self.bucket, self.path
            )),
        }
    }
}

/// `.` and `..` are ordinary characters of an S3 key, but any tool on the way may resolve them;
/// no table file is named so.
fn check_segments(key: &str) -> Result<(), OutOfScope> {
    match key.split('/').any(|s| s == "." || s == "..") {
        true => refuse(format!("key {key:?} has a '.' or '..' segment")),
        false => Ok(()),
    }
}

/// The bucket and key a request URI addresses, as S3 reads it.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    bucket: String,
    /// The decoded key; none for a request on the bucket itself.
    key: Option<String>,
    /// The raw query string.
    query: String,
}

impl Target {
    /// Taken apart by hand rather than by a URL parser: parsers resolve `..` and `%2e%2e`
    /// segments, and the check must see the path that is signed and sent.
    fn parse(uri: &str, endpoint: Option<&str>, bucket: &str) -> Result<Self, OutOfScope> {
        let Some((scheme, rest)) = uri.split_once("://") else {
            return refuse(format!("{uri:?} is not an absolute URI"));
        };
        if !matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https") {
            return refuse(format!("{uri:?} is not an http(s) URI"));
        }
        if rest.contains('#') {
            return refuse(format!("{uri:?} has a fragment"));
        }
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = rest[..authority_end].to_ascii_lowercase();
        if authority.contains('@') {
            return refuse(format!("{uri:?} carries user information"));
        }
        let rest = &rest[authority_end..];
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let virtual_hosted = match addressing(&authority, endpoint, bucket) {
            Some(virtual_hosted) => virtual_hosted,
            None => {
                return refuse(format!(
                    "{authority} is not the environment's S3 endpoint{}",
                    endpoint.map(|e| format!(" ({e})")).unwrap_or_default()
                ))
            }
        };
        let path = path.strip_prefix('/').unwrap_or(path);
        let (bucket, raw_key) = match virtual_hosted {
            true => (bucket.to_string(), path),
            false => {
                let (raw_bucket, raw_key) = path.split_once('/').unwrap_or((path, ""));
                (decode(raw_bucket)?, raw_key)
            }
        };
        let key = Some(decode(raw_key)?).filter(|k| !k.is_empty());
        Ok(Self {
            bucket,
            key,
            query: query.to_string(),
        })
    }
}

fn decode(raw: &str) -> Result<String, OutOfScope> {
    percent_decode_str(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| OutOfScope(format!("{raw:?} does not decode to UTF-8")))
}

/// Whether `authority` addresses `bucket` virtual-hosted (`Some(true)`), the endpoint path-style
/// (`Some(false)`), or is no S3 endpoint of the environment (`None`).
fn addressing(authority: &str, endpoint: Option<&str>, bucket: &str) -> Option<bool> {
    let serves = |host: &str| match endpoint {
        Some(endpoint) => endpoint_authority(endpoint).is_some_and(|e| e == host),
        None => is_aws_s3_host(host),
    };
    let service = authority
        .strip_prefix(bucket)
        .and_then(|rest| rest.strip_prefix('.'));
    if service.is_some_and(serves) {
        return Some(true);
    }
    serves(authority).then_some(false)
}

/// `host[:port]` of a configured endpoint URL, lower-cased.
fn endpoint_authority(endpoint: &str) -> Option<String> {
    let url = url::Url::parse(endpoint).ok()?;
    let host = url.host_str()?.to_ascii_lowercase();
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    })
}

/// AWS's S3 service hosts: `s3.amazonaws.com`, `s3.REGION.amazonaws.com`,
/// `s3-REGION.amazonaws.com`, `s3.dualstack.REGION.amazonaws.com` (and `.com.cn`). Anything with
/// more labels in front is a virtual-hosted bucket, not the service.
fn is_aws_s3_host(host: &str) -> bool {
    let Some(labels) = host
        .strip_suffix(".amazonaws.com")
        .or_else(|| host.strip_suffix(".amazonaws.com.cn"))
    else {
        return false;
    };
    let region =
        |r: &str| !r.is_empty() && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    match labels.split('.').collect::<Vec<_>>()[..] {
        ["s3"] => true,
        ["s3", r] | ["s3", "dualstack", r] => region(r),
        [single] => single.strip_prefix("s3-").is_some_and(region),
        _ => false,
    }
}

/// Only the query parameters in `allowed` (or accepted by `also`).
fn check_parameters(
    query: &str,
    allowed: &[&str],
    also: impl Fn(&str) -> bool,
) -> Result<(), OutOfScope> {
    for (name, _) in form_urlencoded::parse(query.as_bytes()) {
        if !allowed.contains(&name.as_ref()) && !also(&name) {
            return refuse(format!("the S3 sub-resource '{name}' is not signed"));
        }
    }
    Ok(())
}

/// A request on the bucket itself: a listing within the table's prefix, or a DeleteObjects of
/// keys within it. Nothing else (bucket policies, ACLs, the bucket's existence) is the table's.
fn check_bucket_request(
    method: &str,
    query: &str,
    body: Option<&str>,
    table: &TablePrefix,
) -> Result<(), OutOfScope> {
    let parameter = |wanted: &str| {
        form_urlencoded::parse(query.as_bytes())
            .find(|(name, _)| name == wanted)
            .map(|(_, value)| value.into_owned())
    };
    match method {
        "GET" => {
            check_parameters(query, LIST_PARAMETERS, |_| false)?;
            match parameter("prefix") {
                Some(prefix) => table.check_list_prefix(&prefix),
                None => refuse("listing a bucket needs a prefix within the table's location"),
            }
        }
        "POST" if parameter("delete").is_some() => {
            check_parameters(query, &["delete", "x-id"], |_| false)?;
            let Some(body) = body else {
                return refuse("DeleteObjects is signed only with its body (the keys it deletes)");
            };
            for key in deleted_keys(body)? {
                table.check_key(&key, false)?;
            }
            Ok(())
        }
        _ => refuse(format!(
            "{method} on the bucket itself is not signed: only listings and deletes within the \
             table's location"
        )),
    }
}

/// The keys of a DeleteObjects body (`<Delete><Object><Key>...</Key></Object>...</Delete>`).
fn deleted_keys(body: &str) -> Result<Vec<String>, OutOfScope> {
    #[derive(Deserialize)]
    struct Delete {
        #[serde(rename = "Object", default)]
        objects: Vec<Object>,
    }
    #[derive(Deserialize)]
    struct Object {
        #[serde(rename = "Key")]
        key: String,
    }
    let delete: Delete = quick_xml::de::from_str(body)
        .map_err(|e| OutOfScope(format!("the DeleteObjects body is not understood: {e}")))?;
    Ok(delete.objects.into_iter().map(|o| o.key).collect())
}

/// A copy (`x-amz-copy-source: /bucket/key`, CopyObject and UploadPartCopy) reads its source:
/// the source must be the table's too.
fn check_copy_source(request: &S3Request, table: &TablePrefix) -> Result<(), OutOfScope> {
    let sources = request
        .headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("x-amz-copy-source"))
        .flat_map(|(_, values)| values);
    for source in sources {
        let source = source.split_once('?').map_or(source.as_str(), |(s, _)| s);
        let source = decode(source.trim_start_matches('/'))?;
        let (bucket, key) = source.split_once('/').unwrap_or((&source, ""));
        if bucket != table.bucket {
            return refuse(format!(
                "copy source bucket {bucket} is not the table's bucket"
            ));
        }
        table.check_key(key, false)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::Headers;

    const MOTO: &str = "http://127.0.0.1:5000";

    fn location() -> Location {
        Location::parse("s3://bucket/warehouse/ns/t").unwrap()
    }

    fn request(method: &str, uri: &str) -> S3Request {
        S3Request {
            method: method.into(),
            uri: uri.into(),
            headers: Headers::new(),
            body: None,
        }
    }

    fn check_on(
        endpoint: Option<&str>,
        req: &S3Request,
        access: DataAccess,
    ) -> Result<(), OutOfScope> {
        let location = location();
        check(
            req,
            TableScope {
                location: &location,
                endpoint,
            },
            access,
        )
    }

    fn allowed(method: &str, uri: &str, access: DataAccess) -> bool {
        check_on(Some(MOTO), &request(method, uri), access).is_ok()
    }

    fn aws_allowed(method: &str, uri: &str) -> bool {
        check_on(None, &request(method, uri), DataAccess::Write).is_ok()
    }

    #[test]
    fn files_of_the_table_are_signed_path_style_and_virtual_hosted() {
        use DataAccess::*;
        for uri in [
            "http://127.0.0.1:5000/bucket/warehouse/ns/t/metadata/00001-a.metadata.json",
            "http://127.0.0.1:5000/bucket/warehouse/ns/t/data/x%20y.parquet",
            "http://bucket.127.0.0.1:5000/warehouse/ns/t/data/a.parquet",
        ] {
            assert!(allowed("GET", uri, Read), "{uri}");
            assert!(allowed("HEAD", uri, Read), "{uri}");
            assert!(allowed("PUT", uri, Write), "{uri}");
            assert!(allowed("DELETE", uri, Write), "{uri}");
        }
        assert!(aws_allowed(
            "GET",
            "https://bucket.s3.eu-west-1.amazonaws.com/warehouse/ns/t/a"
        ));
        assert!(aws_allowed(
            "GET",
            "https://s3.eu-west-1.amazonaws.com/bucket/warehouse/ns/t/a"
        ));
        assert!(aws_allowed(
            "GET",
            "https://s3.amazonaws.com/bucket/warehouse/ns/t/a"
        ));
        assert!(aws_allowed(
            "GET",
            "https://s3-us-west-2.amazonaws.com/bucket/warehouse/ns/t/a"
        ));
        assert!(aws_allowed(
            "PUT",
            "https://bucket.s3.dualstack.us-east-1.amazonaws.com/warehouse/ns/t/a?partNumber=1&uploadId=x"
        ));
        assert!(aws_allowed(
            "POST",
            "https://bucket.s3.amazonaws.com/warehouse/ns/t/a?uploads"
        ));
    }

    #[test]
    fn readers_only_read() {
        let uri = "http://127.0.0.1:5000/bucket/warehouse/ns/t/data/a.parquet";
        for method in ["PUT", "POST", "DELETE", "PATCH"] {
            let err = check_on(Some(MOTO), &request(method, uri), DataAccess::Read).unwrap_err();
            assert!(err.0.contains("read-only"), "{err}");
        }
        assert!(!allowed("OPTIONS", uri, DataAccess::Write));
        assert!(allowed("get", uri, DataAccess::Read));
    }

    #[test]
    fn other_tables_buckets_and_siblings_are_refused() {
        use DataAccess::Write;
        for uri in [
            // another table, a sibling whose name starts with the table's
            "http://127.0.0.1:5000/bucket/warehouse/ns/u/data/a.parquet",
            "http://127.0.0.1:5000/bucket/warehouse/ns/t-2/data/a.parquet",
            "http://127.0.0.1:5000/bucket/warehouse/ns/tx",
            // above the table
            "http://127.0.0.1:5000/bucket/warehouse/ns",
            "http://127.0.0.1:5000/bucket/warehouse/ns/",
            // another bucket, path-style and virtual-hosted
            "http://127.0.0.1:5000/other/warehouse/ns/t/a",
            "http://other.127.0.0.1:5000/warehouse/ns/t/a",
            "http://bucket2.127.0.0.1:5000/warehouse/ns/t/a",
            // not the environment's endpoint
            "http://127.0.0.1:5001/bucket/warehouse/ns/t/a",
            "http://evil.example/bucket/warehouse/ns/t/a",
            "http://user@127.0.0.1:5000/bucket/warehouse/ns/t/a",
            "file:///bucket/warehouse/ns/t/a",
            "/bucket/warehouse/ns/t/a",
        ] {
            assert!(!allowed("GET", uri, Write), "{uri}");
        }
        // the table location itself: readable (a directory probe), never written
        let itself = "http://127.0.0.1:5000/bucket/warehouse/ns/t";
        assert!(allowed("HEAD", itself, Write));
        assert!(!allowed("PUT", itself, Write));
        // on AWS, another bucket in the host with the table's bucket in the path is that bucket
        assert!(!aws_allowed(
            "GET",
            "https://other.s3.amazonaws.com/bucket/warehouse/ns/t/a"
        ));
        assert!(!aws_allowed(
            "GET",
            "https://bucket.other.s3.amazonaws.com/warehouse/ns/t/a"
        ));
        assert!(!aws_allowed(
            "GET",
            "https://s3.x.bucket.s3.amazonaws.com/warehouse/ns/t/a"
        ));
        assert!(!aws_allowed(
            "GET",
            "https://s3.amazonaws.com.evil.example/bucket/warehouse/ns/t/a"
        ));
    }

    #[test]
    fn dot_segments_and_encoded_slashes_cannot_leave_the_table() {
        use DataAccess::Write;
        for uri in [
            "http://127.0.0.1:5000/bucket/warehouse/ns/t/../u/a",
            "http://127.0.0.1:5000/bucket/warehouse/ns/t/%2e%2e/u/a",
            "http://127.0.0.1:5000/bucket/warehouse/ns/t%2F..%2Fu/a",
            "http://127.0.0.1:5000/bucket/warehouse/ns/t/./a",
            "http://127.0.0.1:5000/bucket%2Fwarehouse/ns/t/a",
            "http://127.0.0.1:5000/bucket/warehouse%2Fns%2Fu/a",
            "http://127.0.0.1:5000/bucket/warehouse/ns/t/%ff",
            "http://127.0.0.1:5000/bucket/warehouse/ns/t/a#frag",
        ] {
            assert!(!allowed("GET", uri, Write), "{uri}");
        }
        // an encoded slash that stays within the table is just a key
        assert!(allowed(
            "GET",
            "http://127.0.0.1:5000/bucket/warehouse%2Fns%2Ft/a",
            Write
        ));
    }

    #[test]
    fn listings_are_judged_by_their_prefix() {
        use DataAccess::Read;
        let list = |query: &str| format!("http://127.0.0.1:5000/bucket?{query}");
        assert!(allowed(
            "GET",
            &list("list-type=2&prefix=warehouse%2Fns%2Ft%2F"),
            Read
        ));
        assert!(allowed(
            "GET",
            &list("list-type=2&prefix=warehouse/ns/t/metadata/&delimiter=/&max-keys=10"),
            Read
        ));
        assert!(allowed(
            "GET",
            "http://bucket.127.0.0.1:5000/?list-type=2&prefix=warehouse/ns/t/data",
            Read
        ));
        assert!(allowed(
            "GET",
            &list("prefix=warehouse/ns/t/&marker=x"),
            Read
        ));
        for query in [
            "list-type=2",
            "list-type=2&prefix=",
            "list-type=2&prefix=warehouse/ns/t",
            "list-type=2&prefix=warehouse/ns/",
            "list-type=2&prefix=warehouse/ns/u/",
            "list-type=2&prefix=other/",
            // sub-resources that ignore the prefix
            "acl&prefix=warehouse/ns/t/",
            "policy&prefix=warehouse/ns/t/",
            "location",
            "",
        ] {
            assert!(!allowed("GET", &list(query), Read), "{query}");
        }
        assert!(!allowed("HEAD", "http://127.0.0.1:5000/bucket", Read));
        assert!(!allowed(
            "PUT",
            "http://127.0.0.1:5000/bucket?policy",
            DataAccess::Write
        ));
        assert!(!allowed(
            "DELETE",
            "http://127.0.0.1:5000/bucket",
            DataAccess::Write
        ));
        assert!(!allowed(
            "GET",
            "http://127.0.0.1:5000/other?list-type=2&prefix=warehouse/ns/t/",
            Read
        ));
    }

    #[test]
    fn object_sub_resources_other_than_uploads_and_versions_are_refused() {
        use DataAccess::Write;
        let file = "http://127.0.0.1:5000/bucket/warehouse/ns/t/data/a.parquet";
        assert!(allowed("GET", &format!("{file}?versionId=3"), Write));
        assert!(allowed(
            "GET",
            &format!("{file}?response-content-type=x&x-id=GetObject"),
            Write
        ));
        for query in [
            "acl",
            "tagging",
            "retention",
            "legal-hold",
            "restore",
            "select&select-type=2",
        ] {
            let method = if query == "restore" { "POST" } else { "PUT" };
            assert!(
                !allowed(method, &format!("{file}?{query}"), Write),
                "{query}"
            );
        }
    }

    fn delete_objects(keys: &[&str]) -> S3Request {
        let objects: String = keys
            .iter()
            .map(|k| format!("<Object><Key>{k}</Key></Object>"))
            .collect();
        S3Request {
            method: "POST".into(),
            uri: "http://127.0.0.1:5000/bucket?delete".into(),
            headers: Headers::new(),
            body: Some(format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet>{objects}</Delete>"#
            )),
        }
    }

    #[test]
    fn delete_objects_is_judged_by_the_keys_of_its_body() {
        use DataAccess::*;
        let inside = [
            "warehouse/ns/t/data/a.parquet",
            "warehouse/ns/t/metadata/b.avro",
        ];
        assert!(check_on(Some(MOTO), &delete_objects(&inside), Write).is_ok());
        assert!(check_on(Some(MOTO), &delete_objects(&inside), Read).is_err());
        for outside in [
            "warehouse/ns/u/a",
            "warehouse/ns/t-2/a",
            "warehouse/ns/t/../u/a",
            "other",
        ] {
            let req = delete_objects(&[inside[0], outside]);
            let err = check_on(Some(MOTO), &req, Write).unwrap_err();
            assert!(
                err.0.contains("outside") || err.0.contains(".."),
                "{outside}: {err}"
            );
        }
        // entities are decoded before the key is judged
        assert!(check_on(
            Some(MOTO),
            &delete_objects(&["warehouse/ns/t/a&amp;b"]),
            Write
        )
        .is_ok());
        let mut no_body = delete_objects(&inside);
        no_body.body = None;
        assert!(check_on(Some(MOTO), &no_body, Write).is_err());
        let mut garbage = delete_objects(&inside);
        garbage.body = Some("<Delete><Object><Key>".into());
        assert!(check_on(Some(MOTO), &garbage, Write).is_err());
    }

    #[test]
    fn acls_grants_and_object_locks_are_refused() {
        let uri = "http://127.0.0.1:5000/bucket/warehouse/ns/t/data/a.parquet";
        for header in [
            "x-amz-acl",
            "X-Amz-Grant-Read",
            "x-amz-object-lock-mode",
            "x-amz-website-redirect-location",
        ] {
            let mut req = request("PUT", uri);
            req.headers
                .insert(header.into(), vec!["public-read".into()]);
            let err = check_on(Some(MOTO), &req, DataAccess::Write).unwrap_err();
            assert!(err.0.contains(&header.to_ascii_lowercase()), "{err}");
        }
        let mut req = request("PUT", uri);
        req.headers
            .insert("x-amz-checksum-crc32".into(), vec!["AAAA".into()]);
        req.headers.insert(
            "Content-Type".into(),
            vec!["application/octet-stream".into()],
        );
        assert!(check_on(Some(MOTO), &req, DataAccess::Write).is_ok());
    }

    #[test]
    fn copies_need_a_source_in_the_table() {
        let mut req = request(
            "PUT",
            "http://127.0.0.1:5000/bucket/warehouse/ns/t/data/copy.parquet",
        );
        req.headers.insert(
            "x-amz-copy-source".into(),
            vec!["/bucket/warehouse/ns/t/data/a.parquet?versionId=1".into()],
        );
        assert!(check_on(Some(MOTO), &req, DataAccess::Write).is_ok());
        for source in [
            "bucket/warehouse/ns/u/a.parquet",
            "/other/warehouse/ns/t/a",
            "bucket%2Fwarehouse%2Fns%2Fu%2Fa",
        ] {
            req.headers
                .insert("X-Amz-Copy-Source".into(), vec![source.into()]);
            assert!(
                check_on(Some(MOTO), &req, DataAccess::Write).is_err(),
                "{source}"
            );
            req.headers.remove("X-Amz-Copy-Source");
        }
    }

    #[test]
    fn a_staged_tables_location_is_read_from_the_request() {
        let unnamed =
            Location::parse("s3://bucket/warehouse/ns/t-00000000000000000000000000000000").unwrap();
        let staged = |uri: &str| staged_location(&request("PUT", uri), Some(MOTO), &unnamed);
        let uuid = "0192a1b2c3d4e5f60718293a4b5c6d7e";
        assert_eq!(
            staged(&format!(
                "http://127.0.0.1:5000/bucket/warehouse/ns/t-{uuid}/data/a.parquet"
            )),
            Some(Location::parse(&format!("s3://bucket/warehouse/ns/t-{uuid}")).unwrap())
        );
        for uri in [
            // not a uuid, not below it, another name, another bucket or endpoint
            "http://127.0.0.1:5000/bucket/warehouse/ns/t-0192a1b2/data/a.parquet".to_string(),
            "http://127.0.0.1:5000/bucket/warehouse/ns/t-0192A1B2C3D4E5F60718293A4B5C6D7E/a"
                .to_string(),
            format!("http://127.0.0.1:5000/bucket/warehouse/ns/t-{uuid}"),
            format!("http://127.0.0.1:5000/bucket/warehouse/ns/t-{uuid}x/a"),
            format!("http://127.0.0.1:5000/bucket/warehouse/ns/tt-{uuid}/a"),
            format!("http://127.0.0.1:5000/bucket/warehouse/ns/u-{uuid}/a"),
            format!("http://127.0.0.1:5000/other/warehouse/ns/t-{uuid}/a"),
            format!("http://127.0.0.1:5001/bucket/warehouse/ns/t-{uuid}/a"),
            "http://127.0.0.1:5000/bucket?list-type=2&prefix=warehouse/ns/".to_string(),
        ] {
            assert_eq!(staged(&uri), None, "{uri}");
        }
    }

    #[test]
    fn a_table_outside_s3_has_nothing_to_sign() {
        let location = Location::parse("file:///w/ns/t").unwrap();
        let req = request("GET", "http://127.0.0.1:5000/bucket/w/ns/t/a");
        let scope = TableScope {
            location: &location,
            endpoint: Some(MOTO),
        };
        assert!(check(&req, scope, DataAccess::Read).is_err());
    }
}
