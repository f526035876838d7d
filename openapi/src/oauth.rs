//! The OAuth2 token endpoint's form and answers (RFC 6749 client credentials, RFC 8693 token
//! exchange), as the OpenAPI documents describe them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The grants the token endpoint accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum GrantType {
    /// An API key's id and secret, in the form or as HTTP Basic.
    #[serde(rename = "client_credentials")]
    ClientCredentials,
    /// A still-valid access token (`subject_token`) exchanged for a fresh one.
    #[serde(rename = "urn:ietf:params:oauth:grant-type:token-exchange")]
    TokenExchange,
}

/// `OAuthTokenRequest`, sent as `application/x-www-form-urlencoded`. With client credentials the
/// API key id and secret go either in `client_id` and `client_secret` or in HTTP Basic.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OAuthTokenRequest {
    pub grant_type: GrantType,
    /// The API key id (client credentials, unless sent as HTTP Basic).
    #[serde(default)]
    pub client_id: Option<String>,
    /// The API key secret (client credentials, unless sent as HTTP Basic).
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Space-separated scopes: `catalog` (the default) or `PRINCIPAL_ROLE:ALL` grant the key's
    /// role; `PRINCIPAL_ROLE:reader|writer|admin` asks for at most that role.
    #[serde(default)]
    pub scope: Option<String>,
    /// The access token to exchange (token exchange).
    #[serde(default)]
    pub subject_token: Option<String>,
    /// `urn:ietf:params:oauth:token-type:access_token` (token exchange).
    #[serde(default)]
    pub subject_token_type: Option<String>,
}

/// `OAuthTokenResponse`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OAuthTokenResponse {
    /// A signed JWT to send as `Authorization: Bearer <token>`.
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// Seconds until the token expires.
    pub expires_in: u64,
    /// `urn:ietf:params:oauth:token-type:access_token`.
    pub issued_token_type: String,
    /// The granted scopes, space-separated.
    pub scope: String,
}

/// `OAuthError` (RFC 6749 section 5.2).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OAuthError {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `invalid_scope`,
    /// `unsupported_grant_type` or `server_error`.
    pub error: String,
    pub error_description: Option<String>,
}
