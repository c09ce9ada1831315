//! Blob Storage URLs: telling them from local paths, splitting them into account, container and
//! blob, and showing them without credentials.

use std::net::IpAddr;

use azure_core::http::Url;

use crate::azurite::AZURITE_SOURCE;
use crate::error::{Error, ErrorKind, Result};

/// Whether a source or location string means Blob Storage rather than a local path.
pub(crate) fn is_blob_source(source: &str) -> bool {
    source == AZURITE_SOURCE || is_blob_url(source)
}

/// Whether a location string is a blob URL (`http(s)://...`) rather than a local path or
/// [`AZURITE_SOURCE`].
pub(crate) fn is_blob_url(location: &str) -> bool {
    location.starts_with("https://") || location.starts_with("http://")
}

/// A location as it may be shown in messages and logs: without a query string or fragment (a SAS
/// token is a credential) and without user information.
pub(crate) fn redacted(text: &str) -> String {
    let without_query = text.split(['?', '#']).next().unwrap_or_default();
    match without_query.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let host = authority
                .rsplit_once('@')
                .map_or(authority, |(_, host)| host);
            let elided = if without_query.len() < text.len() {
                "?…"
            } else {
                ""
            };
            format!("{scheme}://{host}{path}{elided}")
        }
        None => without_query.to_owned(),
    }
}

pub(crate) fn push_segments(url: &mut Url, segments: &[&str]) {
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
}
/// A parsed container URL: its account, name and whether the account is in the path (Azurite).
#[derive(Debug, Clone)]
pub(crate) struct ContainerAddress {
    pub(crate) url: Url,
    pub(crate) account: String,
    pub(crate) container: String,
    pub(crate) path_style: bool,
}

impl ContainerAddress {
    /// Parses a URL that must name a container, not a blob in it.
    pub(crate) fn parse_container(text: &str) -> Result<Self> {
        let (address, blob) = ContainerAddress::parse(text)?;
        if !blob.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("registry {text}: the URL must name a container, not a blob ({blob})"),
            ));
        }
        Ok(address)
    }

    /// Splits a blob-service URL into the container address and the blob path below it (empty
    /// for the container itself). Loopback and IP hosts use path style (`/<account>/...`).
    pub(crate) fn parse(text: &str) -> Result<(Self, String)> {
        let invalid = |why: &str| {
            Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "{:?} is not a Blob Storage URL ({why}); expected \
                     https://<account>.blob.core.windows.net/<container>",
                    redacted(text)
                ),
            )
        };
        let url = Url::parse(text).map_err(|_| invalid("cannot parse it"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("not http or https"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid(
                "SAS tokens and other query strings are not supported",
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("credentials in the URL are not supported"));
        }
        let host = url.host_str().ok_or_else(|| invalid("no host"))?;
        let path_style = host == "localhost"
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .is_ok();
        let mut segments: Vec<&str> = url
            .path_segments()
            .map(|segments| segments.filter(|segment| !segment.is_empty()).collect())
            .unwrap_or_default();
        let account = if path_style {
            if segments.is_empty() {
                return Err(invalid("no account in the path"));
            }
            segments.remove(0).to_owned()
        } else {
            host.split('.').next().unwrap_or_default().to_owned()
        };
        if segments.is_empty() {
            return Err(invalid("no container in the path"));
        }
        let container = segments.remove(0).to_owned();
        let blob = segments.join("/");
        let mut container_url = url.clone();
        container_url.set_path("");
        let mut base = vec![];
        if path_style {
            base.push(account.as_str());
        }
        base.push(container.as_str());
        push_segments(&mut container_url, &base);
        Ok((
            ContainerAddress {
                url: container_url,
                account,
                container,
                path_style,
            },
            blob,
        ))
    }

    /// The URL of `blob` in another `container` of the same account (the container's URL when
    /// `blob` is empty).
    pub(crate) fn blob_url(&self, container: &str, blob: &str) -> String {
        let mut url = self.url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop();
        }
        let mut segments = vec![container];
        segments.extend(blob.split('/').filter(|segment| !segment.is_empty()));
        push_segments(&mut url, &segments);
        url.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_urls_are_path_style() {
        let (address, blob) = ContainerAddress::parse(
            "http://127.0.0.1:4000/devstoreaccount1/logs/run-1/metrics.json",
        )
        .unwrap();
        assert_eq!(address.account, "devstoreaccount1");
        assert_eq!(address.container, "logs");
        assert_eq!(
            address.url.as_str(),
            "http://127.0.0.1:4000/devstoreaccount1/logs"
        );
        assert_eq!(blob, "run-1/metrics.json");
    }
}
