//! `AffitorLayer` in Poem and Salvo, through each framework's Tower compatibility.
//!
//! Both frameworks run a Tower layer, but neither hands it what an `http::Request` layer such as
//! [`AffitorLayer`](affitor_tower::AffitorLayer) takes and gives back, so each needs a few lines
//! of glue, kept here beside an app that uses it:
//!
//! - [`poem_app`]: Poem's compatibility calls the layer's service with a `poem::Request` and
//!   wraps the endpoint as a service of `poem::Request` too. [`poem_app::HttpLayer`] turns the
//!   request into an `http::Request` on the way in and back on the way out, keeping what Poem
//!   holds beside it (the peer's address, path parameters, the upgrade).
//! - [`salvo_app`]: Salvo's compatibility gives the layer an `http::Request`, but the service
//!   underneath takes Salvo's own body type (`ReqBody`) back, where the layer passes its body on
//!   wrapped (`AffitorBody`). [`salvo_app::affitor_hoop`] adds the one mapping between them.
//!
//! Through either, the `ClickIdLookup` the layer inserts reaches the handler in the request's
//! extensions, and the body the layer read reaches it byte for byte: Poem's `Data<&ClickIdLookup>`
//! reads it as it stands; Salvo's handler reads it with [`salvo_app::click_id_lookup`].
//! `tests/frameworks.rs` serves each app on 127.0.0.1 and sends it requests.

pub mod poem_app;
pub mod salvo_app;
