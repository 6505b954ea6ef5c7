//! Salvo 0.85: `AffitorLayer` through Salvo's Tower compatibility (`salvo` feature
//! `tower-compat`).
//!
//! ```text
//! Router::new()
//!     .hoop(affitor_hoop(AffitorLayer::new()))
//!     .push(Router::with_path("api/signup").post(signup))
//! ```
//!
//! `TowerLayerCompat::compat` gives the layer an `http::Request` whose body is Salvo's
//! `ReqBody`, and the service the layer wraps (Salvo's `FlowCtrlService`, which runs the rest of
//! the route) takes an `http::Request<ReqBody>` only. `AffitorLayer` passes the body on as an
//! `AffitorBody<ReqBody>`, which replays what it read for the click id: [`affitor_hoop`] boxes
//! it back into a `ReqBody` between the two. Salvo then merges the request, extensions included,
//! back into its own, and the handler finds the `ClickIdLookup` with [`click_id_lookup`].

use std::io;

use affitor_tower::layer::AffitorBody;
use affitor_tower::lookup::ClickIdLookup;
use affitor_tower::{AffitorLayer, ClickId};
use http_body_util::BodyExt;
use salvo::conn::tcp::TcpAcceptor;
use salvo::http::{ReqBody, StatusError};
use salvo::prelude::TowerLayerCompat;
use salvo::{Handler, Request, Router, Server, handler};
use tower::ServiceBuilder;

/// The app: `POST /api/signup` behind `AffitorLayer`, through Salvo's Tower compatibility.
pub fn router() -> Router {
    Router::new()
        .hoop(affitor_hoop(AffitorLayer::new()))
        .push(Router::with_path("api/signup").post(signup))
}

/// Serves [`router`] on `listener` until the future is dropped.
///
/// # Errors
///
/// When the listener's address cannot be read, or the server stops on an I/O error.
pub async fn serve(listener: tokio::net::TcpListener) -> io::Result<()> {
    let acceptor = TcpAcceptor::try_from(listener)?;
    Server::new(acceptor).try_serve(router()).await
}

/// `layer` as a Salvo hoop, through `TowerLayerCompat::compat`: the layer, then its request's
/// body boxed back into Salvo's `ReqBody`, the one body type Salvo's `FlowCtrlService` takes.
///
/// The boxed body reports to no fuse of Salvo's own (`fusewire: None`): the `ReqBody` inside the
/// `AffitorBody` still reports to the connection's. The compatibility spawns the layer's service
/// behind a `tower::buffer::Buffer` when the hoop is built: build it within a Tokio runtime, as a
/// server's `main` is.
pub fn affitor_hoop(layer: AffitorLayer) -> impl Handler {
    ServiceBuilder::new()
        .layer(layer)
        .map_request(|request: http::Request<AffitorBody<ReqBody>>| {
            request.map(|body| ReqBody::Boxed {
                inner: Box::pin(body.map_err(Into::into)),
                fusewire: None,
            })
        })
        .into_inner()
        .compat::<ReqBody>()
}

/// The [`ClickIdLookup`] that `AffitorLayer` put in the request's extensions.
///
/// # Errors
///
/// A 500 that names the fix when there is none: the route is not behind [`affitor_hoop`]. A
/// misconfigured app fails loudly instead of silently tracking nothing.
pub fn click_id_lookup(request: &Request) -> Result<&ClickIdLookup, StatusError> {
    request.extensions().get::<ClickIdLookup>().ok_or_else(|| {
        StatusError::internal_server_error().brief(
            "no Affitor click id lookup in the request: put the route behind \
             `affitor_hoop(AffitorLayer::new())`",
        )
    })
}

/// Answers with the click id the layer found (`-` when none), the lookup's account of where it
/// found it, and the body as the handler received it, one to a line.
#[handler]
async fn signup(request: &mut Request) -> Result<String, StatusError> {
    let lookup = click_id_lookup(request)?.clone();
    let body = request.payload().await.map_err(|error| {
        StatusError::bad_request()
            .brief("the request's body could not be read")
            .cause(error)
    })?;
    let body = String::from_utf8_lossy(body);
    let click_id = lookup.click_id().map_or("-", ClickId::as_str);
    Ok(format!("{click_id}\n{lookup}\n{body}"))
}
