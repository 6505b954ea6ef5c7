//! What axum adds to the capture of partner links: the client's address.

/// The client's address, as axum records it when the app is served with
/// `into_make_service_with_connect_info::<SocketAddr>()`: give it to
/// [`CaptureClicks::client_address_from`](affitor_tower::capture::CaptureClicks::client_address_from),
/// so that the click limit counts clicks per visitor.
///
/// ```
/// use affitor_axum::{AffitorLayer, CaptureClicks};
/// use axum::Router;
///
/// let capture = CaptureClicks::new().client_address_from(affitor_axum::connect_info);
/// let app: Router = Router::new().layer(AffitorLayer::new().capture_clicks(capture));
/// // axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
/// ```
pub fn connect_info(extensions: &http::Extensions) -> Option<std::net::IpAddr> {
    extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip())
}
