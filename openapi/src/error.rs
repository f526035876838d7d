//! The error body every non-2xx catalog response carries: `{"error":{"message","type","code"}}`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One error, with the Java client's exception name in `type` (clients dispatch on it).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct ErrorModel {
    pub message: String,
    #[serde(rename = "type")]
    pub error_type: String,
    pub code: u16,
}

/// The envelope around [`ErrorModel`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct IcebergErrorResponse {
    pub error: ErrorModel,
}

impl IcebergErrorResponse {
    pub fn new(code: u16, error_type: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            error: ErrorModel {
                message: message.into(),
                error_type: error_type.into(),
                code,
            },
        }
    }
}
