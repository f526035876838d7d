//! S3 remote signing: clients that hold no S3 credentials (Iceberg's `S3V4RestSigner`, PyIceberg's
//! fsspec signer) send each S3 request they are about to make to the catalog, which signs it with
//! SigV4 (the `aws-sigv4` crate) and answers the headers to send. What may be signed is decided
//! by [`scope`]: only requests within the one table the client loaded.
//!
//! The credentials that sign are the environment's ([`SigningCredentials`]): a provider
//! integration's role, the environment's static keys, or Frazil's own from the AWS SDK's default
//! chain ([`default_chain_credentials`]). They never leave the server; only signatures do.

pub mod scope;

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;

use crate::TemporaryCredentials;

/// The signing service S3 requests are signed for.
const SERVICE: &str = "s3";

/// Headers the client may have sent that signing sets itself: a value from the client would be
/// sent twice, or signed with a value that is not the one sent.
const SET_BY_SIGNING: &[&str] = &[
    "authorization",
    "x-amz-date",
    "x-amz-content-sha256",
    "x-amz-security-token",
];

/// How long looking up Frazil's own credentials (default chain) may take.
const DEFAULT_CHAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Multi-valued HTTP headers, as the Iceberg signer request and response carry them.
pub type Headers = BTreeMap<String, Vec<String>>;

/// AWS credentials that sign. `Debug` never shows the secret or the token.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl fmt::Debug for SigningCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningCredentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl From<&TemporaryCredentials> for SigningCredentials {
    fn from(c: &TemporaryCredentials) -> Self {
        Self {
            access_key_id: c.access_key_id.clone(),
            secret_access_key: c.secret_access_key.clone(),
            session_token: Some(c.session_token.clone()),
        }
    }
}

/// An S3 request a client wants signed: the Iceberg `RemoteSignRequest`.
#[derive(Debug, Clone)]
pub struct S3Request {
    pub method: String,
    /// The full, encoded request URI (`https://bucket.s3.region.amazonaws.com/key?query`).
    pub uri: String,
    pub headers: Headers,
    /// The body, sent only where it decides what the request does (DeleteObjects' keys).
    pub body: Option<String>,
}

/// What the client sends: the URI, and every header (its own, and the signature's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedS3Request {
    pub uri: String,
    pub headers: Headers,
}

/// Why a request could not be signed (a malformed URI or header).
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot sign the request: {0}")]
pub struct SignError(String);

/// Signs `request` for S3 in `region` at `time`. The payload is the body when one is given (its
/// hash is signed, so the body S3 gets is the one that was checked), else what the client's
/// `x-amz-content-sha256` says, else unsigned.
pub fn sign_s3_request(
    request: &S3Request,
    region: &str,
    credentials: &SigningCredentials,
    time: SystemTime,
) -> Result<SignedS3Request, SignError> {
    let kept: Vec<(&str, &str)> = request
        .headers
        .iter()
        .filter(|(name, _)| !SET_BY_SIGNING.contains(&name.to_ascii_lowercase().as_str()))
        .flat_map(|(name, values)| values.iter().map(move |v| (name.as_str(), v.as_str())))
        .collect();
    let client_hash = request
        .headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("x-amz-content-sha256"))
        .and_then(|(_, values)| values.first());
    let body = match (&request.body, client_hash) {
        (Some(body), _) => SignableBody::Bytes(body.as_bytes()),
        (None, Some(hash)) => SignableBody::Precomputed(hash.clone()),
        (None, None) => SignableBody::UnsignedPayload,
    };
    let identity = Credentials::new(
        &credentials.access_key_id,
        &credentials.secret_access_key,
        credentials.session_token.clone(),
        None,
        "frazil",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(SERVICE)
        .time(time)
        .settings(s3_settings())
        .build()
        .map_err(|e| SignError(e.to_string()))?
        .into();
    let signable = SignableRequest::new(
        &request.method,
        request.uri.as_str(),
        kept.iter().copied(),
        body,
    )
    .map_err(|e| SignError(e.to_string()))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| SignError(e.to_string()))?
        .into_parts();
    let mut headers = Headers::new();
    for (name, value) in kept {
        headers
            .entry(name.to_string())
            .or_default()
            .push(value.to_string());
    }
    for (name, value) in instructions.headers() {
        headers.insert(name.to_string(), vec![value.to_string()]);
    }
    Ok(SignedS3Request {
        uri: request.uri.clone(),
        headers,
    })
}

/// S3's SigV4 rules, as the AWS SDK's S3 client applies them: the path is signed as sent (encoded
/// once, not normalized: `a/../b` is a key of its own), and `x-amz-content-sha256` is set.
/// `Expect` and `Connection` are left unsigned as the AWS SDKs (Java, botocore) leave them: HTTP
/// stacks and proxies drop or rewrite them, and S3 checks a signature without them.
fn s3_settings() -> SigningSettings {
    let mut settings = SigningSettings::default();
    if let Some(excluded) = settings.excluded_headers.as_mut() {
        excluded.extend(["expect".into(), "connection".into()]);
    }
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    settings
}

/// Frazil's own credentials from the AWS SDK's default chain (environment, profile, web identity,
/// container and instance metadata), for environments that name neither a provider integration
/// nor static keys. The chain caches and refreshes what it finds.
pub async fn default_chain_credentials() -> Result<SigningCredentials, String> {
    static PROVIDER: tokio::sync::OnceCell<
        Option<aws_credential_types::provider::SharedCredentialsProvider>,
    > = tokio::sync::OnceCell::const_new();
    let provider = PROVIDER
        .get_or_init(|| async {
            crate::aws::sdk_config(DEFAULT_CHAIN_TIMEOUT)
                .await
                .credentials_provider()
        })
        .await
        .as_ref()
        .ok_or("the AWS SDK found no credentials provider")?;
    let credentials = tokio::time::timeout(DEFAULT_CHAIN_TIMEOUT, provider.provide_credentials())
        .await
        .map_err(|_| "the AWS credential chain did not answer in time".to_string())?
        .map_err(|e| format!("the AWS credential chain found no credentials: {e}"))?;
    Ok(SigningCredentials {
        access_key_id: credentials.access_key_id().to_string(),
        secret_access_key: credentials.secret_access_key().to_string(),
        session_token: credentials.session_token().map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials() -> SigningCredentials {
        // The example credentials of AWS's SigV4 documentation.
        SigningCredentials {
            access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> Headers {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), vec![v.to_string()]))
            .collect()
    }

    /// AWS's published S3 example ("GET Object", Signature Version 4 examples of the S3 API
    /// reference): the same request, credentials and time give the documented signature.
    #[test]
    fn the_signature_is_the_one_aws_documents() {
        let request = S3Request {
            method: "GET".into(),
            uri: "https://examplebucket.s3.amazonaws.com/test.txt".into(),
            headers: headers(&[
                ("Range", "bytes=0-9"),
                (
                    "x-amz-content-sha256",
                    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                ),
            ]),
            body: None,
        };
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_369_353_600); // 20130524T000000Z
        let signed = sign_s3_request(&request, "us-east-1", &credentials(), time).unwrap();
        assert_eq!(
            signed.headers["authorization"],
            vec!["AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
                  SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
                  Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
                .to_string()]
        );
        assert_eq!(signed.headers["x-amz-date"], vec!["20130524T000000Z"]);
        assert_eq!(signed.headers["Range"], vec!["bytes=0-9"]);
        assert_eq!(signed.uri, request.uri);
    }

    #[test]
    fn a_session_token_is_sent_and_signed() {
        let mut creds = credentials();
        creds.session_token = Some("TOKEN".into());
        let request = S3Request {
            method: "HEAD".into(),
            uri: "http://127.0.0.1:9000/b/t/metadata/v1.json".into(),
            headers: Headers::new(),
            body: None,
        };
        let signed = sign_s3_request(&request, "eu-west-1", &creds, SystemTime::now()).unwrap();
        assert_eq!(signed.headers["x-amz-security-token"], vec!["TOKEN"]);
        assert_eq!(
            signed.headers["x-amz-content-sha256"],
            vec!["UNSIGNED-PAYLOAD"]
        );
        let auth = &signed.headers["authorization"][0];
        assert!(auth.contains("/eu-west-1/s3/aws4_request"), "{auth}");
        assert!(auth.contains("x-amz-security-token"), "{auth}");
    }

    /// What the client sent in the headers signing sets is replaced, never sent twice; a body is
    /// signed by its hash.
    #[test]
    fn signing_headers_from_the_client_are_replaced() {
        let body = "<Delete><Object><Key>t/a</Key></Object></Delete>";
        let request = S3Request {
            method: "POST".into(),
            uri: "http://s3.local/b?delete".into(),
            headers: headers(&[
                ("Expect", "100-continue"),
                ("Authorization", "forged"),
                ("X-Amz-Date", "19700101T000000Z"),
                ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
                ("Content-MD5", "abc"),
            ]),
            body: Some(body.into()),
        };
        let signed =
            sign_s3_request(&request, "us-east-1", &credentials(), SystemTime::now()).unwrap();
        assert!(!signed.headers.contains_key("Authorization"));
        // sent as it came, but not signed
        assert_eq!(signed.headers["Expect"], vec!["100-continue"]);
        assert!(!signed.headers["authorization"][0].contains("expect"));
        assert!(!signed.headers.contains_key("X-Amz-Date"));
        assert_eq!(signed.headers["Content-MD5"], vec!["abc"]);
        assert_eq!(
            signed.headers["x-amz-content-sha256"],
            vec![sha256_hex(body)]
        );
        assert!(format!("{:?}", credentials()).contains("AKIAIOSFODNN7EXAMPLE"));
        assert!(!format!("{:?}", credentials()).contains("wJalr"));
    }

    fn sha256_hex(text: &str) -> String {
        use sha2::Digest;
        sha2::Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}
