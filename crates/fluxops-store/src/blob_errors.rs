//! Blob Storage answers turned into the store's errors: what failed, in which account, container
//! and blob, and what to do about it (the role to grant, the key or identity to check).

use azure_core::error::ErrorKind as AzureErrorKind;
use azure_core::http::StatusCode;

use crate::auth::BlobAuth;
use crate::error::{Error, ErrorKind};
use crate::settings::{BlobSettings, RetrySettings};

/// Role that lets an identity read blobs (the handler).
const READER_ROLE: &str = "Storage Blob Data Reader";
/// Role that lets an identity write blobs (the trainer publishing a version).
const CONTRIBUTOR_ROLE: &str = "Storage Blob Data Contributor";

/// What a failed request was doing, for the advice in its error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    Write,
}

/// Turns an SDK error into ours: what failed, where, and what to do about it.
pub(crate) fn translate(
    settings: &BlobSettings,
    error: azure_core::Error,
    access: Access,
    key: Option<&str>,
) -> Error {
    let target = match key {
        Some(key) => format!("blob {key} in {}", describe(settings)),
        None => describe(settings),
    };
    let (kind, message) = match error.kind() {
        AzureErrorKind::HttpResponse {
            status, error_code, ..
        } => {
            let code = error_code.as_deref().unwrap_or("no error code");
            let detail = service_detail(&error)
                .map(|detail| format!(" \"{detail}\""))
                .unwrap_or_default();
            let status_code = u16::from(*status);
            match *status {
                StatusCode::NotFound if code == "ContainerNotFound" => (
                    ErrorKind::NotFound,
                    format!(
                        "container {} does not exist in storage account {} ({}): create it, \
                         or fix the registry URL",
                        settings.container(),
                        settings.account(),
                        settings.container_url()
                    ),
                ),
                StatusCode::NotFound => (
                    ErrorKind::NotFound,
                    format!("{target} does not exist (HTTP 404 {code})"),
                ),
                StatusCode::Conflict => (
                    ErrorKind::AlreadyExists,
                    format!("{target} already exists (HTTP 409 {code})"),
                ),
                StatusCode::PreconditionFailed => (
                    ErrorKind::Conflict,
                    format!("{target} changed since it was read (HTTP 412 {code})"),
                ),
                StatusCode::Unauthorized | StatusCode::Forbidden => (
                    ErrorKind::PermissionDenied,
                    format!(
                        "{target}: access refused (HTTP {status_code} {code}{detail}); {}",
                        permission_advice(settings, access)
                    ),
                ),
                StatusCode::BadRequest => (
                    ErrorKind::InvalidInput,
                    format!("{target}: request refused (HTTP 400 {code}{detail})"),
                ),
                _ => (
                    ErrorKind::Unavailable,
                    format!(
                        "{target}: the service answered HTTP {status_code} {code}{detail} after {}",
                        tries(settings.retry())
                    ),
                ),
            }
        }
        AzureErrorKind::Io | AzureErrorKind::Connection => (
            ErrorKind::Unavailable,
            format!(
                "cannot reach {} for {target} after {}",
                settings.container_url(),
                tries(settings.retry())
            ),
        ),
        AzureErrorKind::Credential => (
            ErrorKind::PermissionDenied,
            format!(
                "{target}: could not get a token with {} ({})",
                settings.auth(),
                token_advice(settings.auth())
            ),
        ),
        _ => (ErrorKind::Unavailable, format!("{target}: request failed")),
    };
    Error::new(kind, message).with_source(error)
}

/// "container models of storage account acct (https://...)": names account and container.
pub(crate) fn describe(settings: &BlobSettings) -> String {
    settings.kind().to_string()
}

fn permission_advice(settings: &BlobSettings, access: Access) -> String {
    if !settings.auth().uses_token() {
        return "the account key was refused: check AccountKey in AZURE_STORAGE_CONNECTION_STRING \
                (a firewall rule on the account also gives 403)"
            .to_owned();
    }
    let role = match access {
        Access::Read => READER_ROLE,
        Access::Write => CONTRIBUTOR_ROLE,
    };
    format!(
        "grant {} the role '{role}' on container {} (or on account {})",
        settings.auth(),
        settings.container(),
        settings.account()
    )
}

fn token_advice(auth: &BlobAuth) -> &'static str {
    match auth {
        BlobAuth::ManagedIdentity { client_id: None } => {
            "is a system-assigned identity enabled on this app?"
        }
        BlobAuth::ManagedIdentity { .. } => {
            "is the user-assigned identity with AZURE_CLIENT_ID attached to this app?"
        }
        BlobAuth::WorkloadIdentity { .. } => {
            "is the federated credential set up for this service account?"
        }
        BlobAuth::DeveloperTools => "run `az login` first",
        BlobAuth::SharedKey(_) => "the account key needs no token",
    }
}

fn tries(retry: RetrySettings) -> String {
    format!(
        "{} tries over at most {:.1} s",
        retry.max_retries + 1,
        retry.max_elapsed.as_secs_f64()
    )
}

pub(crate) fn credential_setup_error(settings: &BlobSettings, error: azure_core::Error) -> Error {
    Error::new(
        ErrorKind::InvalidInput,
        format!(
            "cannot set up {} for {}",
            settings.auth(),
            describe(settings)
        ),
    )
    .with_source(error)
}

/// The service's own explanation from an error body: `<AuthenticationErrorDetail>`, else the first
/// line of `<Message>` (the next lines hold request IDs and times).
fn service_detail(error: &azure_core::Error) -> Option<String> {
    let AzureErrorKind::HttpResponse {
        raw_response: Some(response),
        ..
    } = error.kind()
    else {
        return None;
    };
    let body = String::from_utf8_lossy(response.body());
    ["AuthenticationErrorDetail", "Message"]
        .iter()
        .find_map(|tag| {
            let start = body.find(&format!("<{tag}>"))? + tag.len() + 2;
            let end = start + body[start..].find('<')?;
            body[start..end]
                .lines()
                .next()
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .map(str::to_owned)
        })
}

pub(crate) fn error_code(error: &azure_core::Error) -> Option<&str> {
    match error.kind() {
        AzureErrorKind::HttpResponse { error_code, .. } => error_code.as_deref(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use azure_core::http::headers::Headers;
    use azure_core::http::{RawResponse, StatusCode};

    use super::*;
    use crate::shared_key::AccountKey;

    fn settings(auth: BlobAuth) -> BlobSettings {
        BlobSettings::new("https://acct.blob.core.windows.net/models", auth).unwrap()
    }

    fn http_error(status: StatusCode, code: &str) -> azure_core::Error {
        azure_core::Error::with_message(
            AzureErrorKind::HttpResponse {
                status,
                error_code: Some(code.to_owned()),
                raw_response: None,
            },
            "refused",
        )
    }

    #[test]
    fn statuses_map_to_kinds_with_account_container_and_blob() {
        let settings = settings(BlobAuth::DeveloperTools);
        for (status, code, kind, words) in [
            (
                StatusCode::NotFound,
                "ContainerNotFound",
                ErrorKind::NotFound,
                "container models does not exist in storage account acct",
            ),
            (
                StatusCode::NotFound,
                "BlobNotFound",
                ErrorKind::NotFound,
                "blob m/v1/model.json in container models of storage account acct",
            ),
            (
                StatusCode::Conflict,
                "BlobAlreadyExists",
                ErrorKind::AlreadyExists,
                "already exists",
            ),
            (
                StatusCode::PreconditionFailed,
                "ConditionNotMet",
                ErrorKind::Conflict,
                "changed since it was read",
            ),
            (
                StatusCode::ServiceUnavailable,
                "ServerBusy",
                ErrorKind::Unavailable,
                "5 tries",
            ),
        ] {
            let error = translate(
                &settings,
                http_error(status, code),
                Access::Read,
                Some("m/v1/model.json"),
            );
            assert_eq!(error.kind(), kind, "{error}");
            assert!(error.to_string().contains(words), "{error}");
        }
    }

    #[test]
    fn permission_errors_name_the_role_to_grant() {
        let identity = settings(BlobAuth::ManagedIdentity { client_id: None });
        let read = translate(
            &identity,
            http_error(StatusCode::Forbidden, "AuthorizationPermissionMismatch"),
            Access::Read,
            Some("m/latest.json"),
        );
        assert_eq!(read.kind(), ErrorKind::PermissionDenied);
        assert!(
            read.to_string().contains("'Storage Blob Data Reader'"),
            "{read}"
        );
        let write = translate(
            &identity,
            http_error(StatusCode::Unauthorized, "InvalidAuthenticationInfo"),
            Access::Write,
            Some("m/latest.json"),
        );
        assert!(
            write
                .to_string()
                .contains("'Storage Blob Data Contributor'"),
            "{write}"
        );
        let keyed = settings(BlobAuth::SharedKey(AccountKey::new("acct", "a2V5")));
        let refused = translate(
            &keyed,
            http_error(StatusCode::Forbidden, "AuthenticationFailed"),
            Access::Read,
            None,
        );
        assert!(
            refused.to_string().contains("account key was refused"),
            "{refused}"
        );
    }

    #[test]
    fn the_service_explanation_is_kept() {
        let body = "<?xml version=\"1.0\"?><Error><Code>AuthenticationFailed</Code><Message>Server \
                    failed to authenticate the request.\nRequestId:1</Message>\
                    <AuthenticationErrorDetail>Invalid token audience.</AuthenticationErrorDetail></Error>";
        let error = azure_core::Error::with_message(
            AzureErrorKind::HttpResponse {
                status: StatusCode::Forbidden,
                error_code: Some("AuthenticationFailed".to_owned()),
                raw_response: Some(Box::new(RawResponse::from_bytes(
                    StatusCode::Forbidden,
                    Headers::new(),
                    body,
                ))),
            },
            "refused",
        );
        let mapped = translate(
            &settings(BlobAuth::DeveloperTools),
            error,
            Access::Read,
            None,
        );
        assert!(
            mapped
                .to_string()
                .contains("(HTTP 403 AuthenticationFailed \"Invalid token audience.\")"),
            "{mapped}"
        );
    }

    #[test]
    fn network_errors_are_unavailable() {
        let settings = settings(BlobAuth::DeveloperTools);
        let error = translate(
            &settings,
            azure_core::Error::with_message(AzureErrorKind::Io, "connection refused"),
            Access::Read,
            Some("m/latest.json"),
        );
        assert_eq!(error.kind(), ErrorKind::Unavailable);
        assert!(
            error
                .to_string()
                .contains("cannot reach https://acct.blob.core.windows.net/models")
        );
    }
}
