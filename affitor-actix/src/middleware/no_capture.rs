//! Without the feature `capture`, no partner link is captured: a `Capture` has no value, so the
//! response future's slot for one is always empty.

use std::convert::Infallible;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::dev::ServiceResponse;

/// A click call running beside the handler: none can exist without the feature `capture`.
pub(super) struct Capture<R>(Infallible, PhantomData<R>);

impl<R> Capture<R> {
    pub(super) fn poll_click(&mut self, _cx: &mut Context<'_>) {
        match self.0 {}
    }
}

impl<B> Capture<ServiceResponse<B>> {
    pub(super) fn poll<F, E>(
        &mut self,
        _future: Pin<&mut F>,
        _cx: &mut Context<'_>,
    ) -> Poll<Result<ServiceResponse<B>, E>>
    where
        F: Future<Output = Result<ServiceResponse<B>, E>>,
    {
        match self.0 {}
    }
}
