//! Access to the shared [`Fastvue`] handle from handlers.
use fastvue_core::Fastvue;
use salvo::http::StatusCode;
use salvo::prelude::*;

use crate::error::ApiError;

/// The application handle injected by `affix_state`. Missing state is a wiring bug,
/// never caused by a client; it answers the generic 500 body.
pub fn app(depot: &Depot) -> Result<Fastvue, ApiError> {
    depot.get_typed::<Fastvue>().ok().cloned().ok_or_else(|| {
        tracing::error!("Fastvue handle missing from the depot");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "internal error",
        )
    })
}
