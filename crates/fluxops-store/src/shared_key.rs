//! Account-key access to Blob Storage, written by hand because `azure_storage_blob` 1.x has none:
//! parsing a storage connection string, and signing each request with the SharedKey scheme.
//!
//! The SDK's clients accept only Entra ID token credentials. A connection string (the Azurite
//! development account, or `AccountName=...;AccountKey=...`) is turned into an [`AccountKey`]
//! plus a blob endpoint, and [`SharedKeyPolicy`] signs every try of every request in the SDK's own
//! pipeline, so retries get a fresh `x-ms-date` and signature. Reference: "Authorize with Shared
//! Key" in the Azure Storage REST documentation.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use azure_core::credentials::Secret;
use azure_core::http::policies::{Policy, PolicyResult};
use azure_core::http::{Context, Request, Url};
use time::OffsetDateTime;

use crate::address::redacted;
use crate::azurite::{AZURITE_ACCOUNT, AZURITE_ACCOUNT_KEY, DEFAULT_ACCOUNT_URL};

/// A storage account name and its key. The key never appears in `Debug` output or logs.
#[derive(Clone)]
pub struct AccountKey {
    account: String,
    key: Secret,
}

impl AccountKey {
    /// An account name and its base64 key, as the portal shows them.
    pub fn new(account: impl Into<String>, key: impl Into<String>) -> Self {
        AccountKey {
            account: account.into(),
            key: Secret::new(key.into()),
        }
    }

    /// The Azurite development account and its published key.
    pub fn development() -> Self {
        AccountKey::new(AZURITE_ACCOUNT, AZURITE_ACCOUNT_KEY)
    }

    /// The storage account name.
    pub fn account(&self) -> &str {
        &self.account
    }
}

impl fmt::Debug for AccountKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("AccountKey")
            .field("account", &self.account)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// What a storage connection string says: the account key and the blob endpoint.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionString {
    pub(crate) key: AccountKey,
    /// The blob service URL, e.g. `https://acct.blob.core.windows.net` or
    /// `http://127.0.0.1:10000/devstoreaccount1`, without a trailing slash.
    pub(crate) blob_endpoint: Url,
}

impl ConnectionString {
    /// The Azurite development account at its default endpoint: what `UseDevelopmentStorage=true`
    /// means.
    pub(crate) fn development() -> Self {
        ConnectionString {
            key: AccountKey::development(),
            blob_endpoint: Url::parse(DEFAULT_ACCOUNT_URL).expect("the default endpoint is a URL"),
        }
    }

    /// Parses `UseDevelopmentStorage=true` or `AccountName=...;AccountKey=...` with an optional
    /// `BlobEndpoint`, `DefaultEndpointsProtocol` and `EndpointSuffix`. Keys are case-insensitive.
    ///
    /// # Errors
    /// What is wrong, in a sentence that never repeats the key or a part that may hold it.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let mut account = None;
        let mut key = None;
        let mut blob_endpoint = None;
        let mut protocol = None;
        let mut suffix = None;
        let mut development = false;
        for part in text
            .split(';')
            .map(str::trim)
            .filter(|part| !part.is_empty())
        {
            let Some((name, value)) = part.split_once('=') else {
                // The part itself is not repeated: it may be a piece of the key.
                return Err("a part is not Name=value".to_owned());
            };
            let value = value.trim().to_owned();
            match name.trim().to_ascii_lowercase().as_str() {
                "usedevelopmentstorage" => development = value.eq_ignore_ascii_case("true"),
                "accountname" => account = Some(value),
                "accountkey" => key = Some(value),
                "blobendpoint" => blob_endpoint = Some(value),
                "defaultendpointsprotocol" => protocol = Some(value),
                "endpointsuffix" => suffix = Some(value),
                "sharedaccesssignature" => {
                    return Err(
                        "SharedAccessSignature connection strings are not supported; \
                                use an account key or an identity"
                            .to_owned(),
                    );
                }
                // Queue, table and file endpoints are not ours to use.
                _ => {}
            }
        }
        if development && account.is_none() {
            return match blob_endpoint {
                Some(endpoint) => Ok(ConnectionString {
                    blob_endpoint: parse_endpoint(&endpoint)?,
                    ..ConnectionString::development()
                }),
                None => Ok(ConnectionString::development()),
            };
        }
        let account = account.ok_or("AccountName is missing")?;
        let key = key.ok_or("AccountKey is missing")?;
        if azure_core::base64::decode(&key).is_err() {
            return Err(format!("the AccountKey of account {account} is not base64"));
        }
        let blob_endpoint = match blob_endpoint {
            Some(endpoint) => endpoint,
            None => format!(
                "{}://{account}.blob.{}",
                protocol.as_deref().unwrap_or("https"),
                suffix.as_deref().unwrap_or("core.windows.net")
            ),
        };
        Ok(ConnectionString {
            key: AccountKey::new(account, key),
            blob_endpoint: parse_endpoint(&blob_endpoint)?,
        })
    }
}

fn parse_endpoint(endpoint: &str) -> Result<Url, String> {
    let shown = redacted(endpoint);
    let url = Url::parse(endpoint.trim_end_matches('/'))
        .map_err(|error| format!("BlobEndpoint {shown:?} is not a URL ({error})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(format!("BlobEndpoint {shown:?} is not an http(s) URL"));
    }
    Ok(url)
}

/// A per-try pipeline policy that signs each request with the account key (`SharedKey` scheme).
#[derive(Debug)]
pub(crate) struct SharedKeyPolicy {
    key: AccountKey,
}

impl SharedKeyPolicy {
    pub(crate) fn new(key: AccountKey) -> Arc<Self> {
        Arc::new(SharedKeyPolicy { key })
    }
}

#[async_trait]
impl Policy for SharedKeyPolicy {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        request.insert_header(
            "x-ms-date",
            azure_core::time::to_rfc7231(&OffsetDateTime::now_utc()),
        );
        let signature = azure_core::hmac::hmac_sha256(
            &string_to_sign(&self.key.account, request),
            &self.key.key,
        )?;
        request.insert_header(
            "authorization",
            format!("SharedKey {}:{signature}", self.key.account),
        );
        next[0].send(ctx, request, &next[1..]).await
    }
}

/// The canonical form of a request that the SharedKey signature covers (service version
/// 2009-09-19 and later).
fn string_to_sign(account: &str, request: &Request) -> String {
    let mut headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_ascii_lowercase(),
                value.as_str().trim().to_owned(),
            )
        })
        .collect();
    headers.sort();
    let standard = |name: &str| {
        headers
            .iter()
            .find(|(header, _)| header == name)
            .map_or("", |(_, value)| value.as_str())
    };
    // The length the transport sends: the header when the SDK set one, else the body's own length
    // (Put Block List, used above 4 MiB, carries an XML body and no Content-Length header; the HTTP
    // client adds one on the wire). Since version 2015-02-21 a zero length is signed as empty.
    let content_length = Some(standard("content-length"))
        .filter(|length| !length.is_empty())
        .map(str::to_owned)
        .or_else(|| request.body().len().map(|length| length.to_string()))
        .filter(|length| length != "0")
        .unwrap_or_default();
    let mut text = format!(
        "{}\n{}\n{}\n{content_length}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n",
        request.method().as_ref(),
        standard("content-encoding"),
        standard("content-language"),
        standard("content-md5"),
        standard("content-type"),
        standard("date"),
        standard("if-modified-since"),
        standard("if-match"),
        standard("if-none-match"),
        standard("if-unmodified-since"),
        standard("range"),
    );
    for (name, value) in headers.iter().filter(|(name, _)| name.starts_with("x-ms-")) {
        text.push_str(&format!("{name}:{value}\n"));
    }
    text.push_str(&canonicalized_resource(account, request.url()));
    text
}

/// `/<account><path>` followed by each query parameter, lower-cased and sorted, as
/// `\nname:value1,value2`.
fn canonicalized_resource(account: &str, url: &Url) -> String {
    let mut resource = format!("/{account}{}", url.path());
    let mut parameters: Vec<(String, String)> = url
        .query_pairs()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.into_owned()))
        .collect();
    parameters.sort();
    let mut index = 0;
    while index < parameters.len() {
        let name = &parameters[index].0;
        let values: Vec<&str> = parameters[index..]
            .iter()
            .take_while(|(other, _)| other == name)
            .map(|(_, value)| value.as_str())
            .collect();
        resource.push_str(&format!("\n{name}:{}", values.join(",")));
        index += values.len();
    }
    resource
}

#[cfg(test)]
mod tests {
    use azure_core::http::Method;

    use super::*;

    /// Checks that `text` parses into `account`, `key` and `blob_endpoint`.
    #[track_caller]
    fn assert_parses(text: &str, account: &str, key: &str, blob_endpoint: &str) {
        let parsed = ConnectionString::parse(text).unwrap();
        assert_eq!(parsed.key.account(), account);
        assert_eq!(parsed.key.key.secret(), key);
        assert_eq!(parsed.blob_endpoint.as_str(), blob_endpoint);
    }

    #[test]
    fn development_storage_uses_the_well_known_account() {
        assert_parses(
            "UseDevelopmentStorage=true",
            AZURITE_ACCOUNT,
            AZURITE_ACCOUNT_KEY,
            "http://127.0.0.1:10000/devstoreaccount1",
        );
    }

    #[test]
    fn full_form_keeps_the_blob_endpoint_and_key() {
        assert_parses(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;\
             AccountKey=a2V5LWJ5dGU=;BlobEndpoint=http://127.0.0.1:4321/devstoreaccount1/;",
            "devstoreaccount1",
            "a2V5LWJ5dGU=",
            "http://127.0.0.1:4321/devstoreaccount1",
        );
    }

    #[test]
    fn endpoint_defaults_from_account_protocol_and_suffix() {
        let parsed = ConnectionString::parse(
            "accountname=fluxops;accountkey=a2V5;EndpointSuffix=core.chinacloudapi.cn",
        )
        .unwrap();
        assert_eq!(
            parsed.blob_endpoint.as_str(),
            "https://fluxops.blob.core.chinacloudapi.cn/"
        );
    }

    #[test]
    fn bad_connection_strings_say_what_is_wrong_without_the_key() {
        for (text, expected) in [
            ("AccountName=x", "AccountKey is missing"),
            ("AccountKey=a2V5", "AccountName is missing"),
            ("AccountName=x;AccountKey=not base64!", "not base64"),
            (
                "AccountName=x;AccountKey=a2V5;BlobEndpoint=ftp://x",
                "not an http(s) URL",
            ),
            (
                "BlobEndpoint=https://x;SharedAccessSignature=sv=1",
                "not supported",
            ),
            ("garbage", "is not Name=value"),
        ] {
            let problem = ConnectionString::parse(text).unwrap_err();
            assert!(problem.contains(expected), "{text}: {problem}");
            assert!(!problem.contains("not base64!"), "{problem}");
        }
    }

    #[test]
    fn debug_output_hides_the_key() {
        let key = AccountKey::new("fluxops", "c2VjcmV0LWtleQ==");
        assert!(!format!("{key:?}").contains("c2VjcmV0"));
        let parsed = ConnectionString::parse("AccountName=a;AccountKey=c2VjcmV0LWtleQ==").unwrap();
        assert!(!format!("{parsed:?}").contains("c2VjcmV0"));
    }

    #[test]
    fn string_to_sign_follows_the_shared_key_layout() {
        let url = Url::parse(
            "http://127.0.0.1:10000/devstoreaccount1/models?restype=container&comp=list&prefix=fluxops%2F",
        )
        .unwrap();
        let mut request = Request::new(url, Method::Put);
        request.insert_header("x-ms-version", "2026-04-06");
        request.insert_header("x-ms-date", "Fri, 27 Nov 2026 22:00:00 GMT");
        request.insert_header("x-ms-blob-type", "BlockBlob");
        request.insert_header("content-length", "11");
        request.insert_header("content-type", "application/octet-stream");
        request.insert_header("if-none-match", "*");
        request.insert_header("user-agent", "not signed");
        assert_eq!(
            string_to_sign("devstoreaccount1", &request),
            "PUT\n\n\n11\n\napplication/octet-stream\n\n\n\n*\n\n\n\
             x-ms-blob-type:BlockBlob\n\
             x-ms-date:Fri, 27 Nov 2026 22:00:00 GMT\n\
             x-ms-version:2026-04-06\n\
             /devstoreaccount1/devstoreaccount1/models\n\
             comp:list\nprefix:fluxops/\nrestype:container"
        );
    }

    #[test]
    fn a_body_without_a_content_length_header_is_signed_with_its_length() {
        let url = Url::parse("https://acct.blob.core.windows.net/c/b?comp=blocklist").unwrap();
        let mut request = Request::new(url, Method::Put);
        request.set_body(b"<BlockList></BlockList>".to_vec());
        assert!(
            string_to_sign("acct", &request).starts_with("PUT\n\n\n23\n"),
            "{}",
            string_to_sign("acct", &request)
        );
        request.set_body(Vec::new());
        assert!(string_to_sign("acct", &request).starts_with("PUT\n\n\n\n"));
    }

    #[test]
    fn zero_length_and_repeated_parameters_are_canonical() {
        let url = Url::parse("https://acct.blob.core.windows.net/c/b?B=2&b=1").unwrap();
        let mut request = Request::new(url, Method::Get);
        request.insert_header("content-length", "0");
        assert_eq!(
            string_to_sign("acct", &request),
            "GET\n\n\n\n\n\n\n\n\n\n\n\n/acct/c/b\nb:1,2"
        );
    }
}
