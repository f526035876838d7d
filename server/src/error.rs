//! Every error leaves as the Iceberg error body `{"error":{"message","type","code"}}` with the
//! Java client's exception name in `type`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use frazil_catalog::CatalogError;
use frazil_openapi::IcebergErrorResponse;

#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    error_type: &'static str,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, error_type: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            error_type,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequestException", message)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.error_type,
            self.message
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    /// The body ends in a newline here too, not only through `app`'s JSON middleware: errors
    /// raised outside the routes (the request timeout) are rendered after it.
    fn error_response(&self) -> HttpResponse {
        let body = IcebergErrorResponse::new(self.status.as_u16(), self.error_type, &self.message);
        let mut text = serde_json::to_string(&body).unwrap_or_default();
        text.push('\n');
        HttpResponse::build(self.status)
            .content_type(actix_web::http::header::ContentType::json())
            .body(text)
    }
}

impl From<CatalogError> for ApiError {
    fn from(e: CatalogError) -> Self {
        use CatalogError as E;
        let (status, error_type) = match &e {
            E::BadRequest(_) => (StatusCode::BAD_REQUEST, "BadRequestException"),
            E::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "NotAuthorizedException"),
            E::Forbidden(_) => (StatusCode::FORBIDDEN, "ForbiddenException"),
            E::NoSuchResource(_) => (StatusCode::NOT_FOUND, "NotFoundException"),
            E::Conflict(_) => (StatusCode::CONFLICT, "AlreadyExistsException"),
            E::NoSuchWarehouse(_) => (StatusCode::NOT_FOUND, "NoSuchWarehouseException"),
            E::NoSuchNamespace(_) => (StatusCode::NOT_FOUND, "NoSuchNamespaceException"),
            E::NoSuchTable(_) => (StatusCode::NOT_FOUND, "NoSuchTableException"),
            E::NoSuchView(_) => (StatusCode::NOT_FOUND, "NoSuchViewException"),
            E::NotFound(_) => (StatusCode::NOT_FOUND, "NotFoundException"),
            E::NamespaceExists(_)
            | E::TableExists(_)
            | E::ViewExists(_)
            | E::ViewAlreadyExists(_)
            | E::TableNameTaken(_)
            | E::RenameTargetExists { .. } => (StatusCode::CONFLICT, "AlreadyExistsException"),
            E::NamespaceNotEmpty(_) => (StatusCode::CONFLICT, "NamespaceNotEmptyException"),
            E::CommitFailed(_) => (StatusCode::CONFLICT, "CommitFailedException"),
            E::Unprocessable(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "UnprocessableEntityException",
            ),
            E::CommitStateUnknown(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "CommitStateUnknownException",
            ),
            E::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailableException",
            ),
            E::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                return Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "ServiceFailureException",
                    "Internal server error; the server log has the details",
                );
            }
        };
        Self::new(status, error_type, e.to_string())
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// A JSON body whose parse error is raised by the handler, after the `Caller` extractor has
/// decided authorization: a refused caller gets 401/403 whatever it sent.
pub type Body<T> = Result<crate::body::Json<T>, actix_web::Error>;

impl From<actix_web::Error> for ApiError {
    fn from(e: actix_web::Error) -> Self {
        match e.as_error::<ApiError>() {
            Some(api) => api.clone(),
            None => ApiError::bad_request(e.to_string()),
        }
    }
}
