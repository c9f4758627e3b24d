//! [`GraphClient`]: the handle the rest of jitgate holds.

use std::sync::Arc;

use url::Url;

use crate::error::GraphError;
use crate::limits::{CallLimits, Concurrency};
use crate::retry::RetryPolicy;
use crate::secret::Secret;
use crate::tenant::Tenant;
use crate::token::{TokenCache, TokenEndpoint};

/// A Microsoft Graph client for any number of customer tenants. Cheap to clone; clones share
/// the HTTP client and the token cache.
#[derive(Clone)]
pub struct GraphClient {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    pub(crate) login_url: Url,
    pub(crate) graph_url: Url,
    /// `<graph origin>/.default`: app-only tokens ask for all consented application
    /// permissions of the Graph resource of the configured cloud.
    pub(crate) scope: String,
    pub(crate) tokens: TokenCache,
    pub(crate) retry: RetryPolicy,
    pub(crate) limits: CallLimits,
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphClient")
            .field("login_url", &self.inner.login_url.as_str())
            .field("graph_url", &self.inner.graph_url.as_str())
            .finish_non_exhaustive()
    }
}

impl GraphClient {
    /// `http` is the application's one client (redirects off, timeouts set by the app);
    /// `login_url` e.g. `https://login.microsoftonline.com/`, `graph_url` e.g.
    /// `https://graph.microsoft.com/` (national clouds and tests use others).
    pub fn new(http: reqwest::Client, login_url: Url, graph_url: Url) -> Self {
        Self::build(
            http,
            login_url,
            graph_url,
            RetryPolicy::default(),
            Concurrency::default(),
        )
    }

    /// The same client with another retry policy (and a fresh token cache); call it when
    /// constructing, before cloning.
    pub fn with_retry_policy(self, retry: RetryPolicy) -> Self {
        Self::build(
            self.inner.http.clone(),
            self.inner.login_url.clone(),
            self.inner.graph_url.clone(),
            retry,
            self.inner.limits.concurrency(),
        )
    }

    /// The same client with other limits on calls in flight (and a fresh token cache); call
    /// it when constructing, before cloning.
    pub fn with_concurrency(self, concurrency: Concurrency) -> Self {
        Self::build(
            self.inner.http.clone(),
            self.inner.login_url.clone(),
            self.inner.graph_url.clone(),
            self.inner.retry.clone(),
            concurrency,
        )
    }

    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.inner.retry
    }

    fn build(
        http: reqwest::Client,
        login_url: Url,
        graph_url: Url,
        retry: RetryPolicy,
        concurrency: Concurrency,
    ) -> Self {
        let login_url = with_trailing_slash(login_url);
        let graph_url = with_trailing_slash(graph_url);
        let scope = format!("{}/.default", graph_url.origin().ascii_serialization());
        GraphClient {
            inner: Arc::new(Inner {
                http,
                login_url,
                graph_url,
                scope,
                tokens: TokenCache::default(),
                retry,
                limits: CallLimits::new(concurrency),
            }),
        }
    }

    /// `<graph_url>/v1.0/<segments…>`, each segment percent-encoded (ids and UPNs are
    /// never spliced into paths as raw text).
    pub(crate) fn v1(&self, segments: &[&str]) -> Url {
        let mut url = self.inner.graph_url.clone();
        url.path_segments_mut()
            .expect("graph_url is a base URL")
            .pop_if_empty()
            .push("v1.0")
            .extend(segments);
        url
    }

    /// A valid access token for `tenant`, from the cache or freshly requested.
    pub(crate) async fn access_token(&self, tenant: &Tenant) -> Result<Secret, GraphError> {
        let endpoint = TokenEndpoint {
            http: &self.inner.http,
            url: self.token_url(&tenant.tenant_id),
            scope: &self.inner.scope,
            retry: &self.inner.retry,
        };
        self.inner.tokens.access_token(&endpoint, tenant).await
    }

    /// Checks that jitgate can obtain a token for `tenant` (connection test for onboarding).
    pub async fn check_connection(&self, tenant: &Tenant) -> Result<(), GraphError> {
        self.access_token(tenant).await.map(|_| ())
    }

    /// `<login_url>/<tenant>/oauth2/v2.0/token`.
    pub(crate) fn token_url(&self, tenant_id: &str) -> Url {
        let mut url = self.inner.login_url.clone();
        url.path_segments_mut()
            .expect("login_url is a base URL")
            .pop_if_empty()
            .extend([tenant_id, "oauth2", "v2.0", "token"]);
        url
    }
}

/// `Url::join`-style relative paths would drop a last segment without a slash
/// (`https://host/graph` + `v1.0` = `https://host/v1.0`), so bases always end in `/`.
fn with_trailing_slash(mut url: Url) -> Url {
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(login: &str, graph: &str) -> GraphClient {
        GraphClient::new(
            reqwest::Client::builder().build().expect("client"),
            Url::parse(login).unwrap(),
            Url::parse(graph).unwrap(),
        )
    }

    #[test]
    fn urls_are_built_from_segments() {
        jitgate_sim::tls::install_crypto_provider();
        let c = client(
            "https://login.example/base",
            "https://graph.example:8443/root/",
        );
        assert_eq!(
            c.token_url("contoso.onmicrosoft.com").as_str(),
            "https://login.example/base/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        assert_eq!(
            c.v1(&["users", "a#b/../c"]).as_str(),
            "https://graph.example:8443/root/v1.0/users/a%23b%2F..%2Fc"
        );
        assert_eq!(c.inner.scope, "https://graph.example:8443/.default");
        let global = client(
            "https://login.microsoftonline.com",
            "https://graph.microsoft.com",
        );
        assert_eq!(global.inner.scope, "https://graph.microsoft.com/.default");
        assert_eq!(
            global.v1(&["users"]).as_str(),
            "https://graph.microsoft.com/v1.0/users"
        );
    }
}
