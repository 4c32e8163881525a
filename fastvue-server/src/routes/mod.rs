//! HTTP routes.
pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod cache;
pub mod companies;
pub mod email;
pub mod groups;
pub mod health;
pub mod invitations;
pub mod menus;
pub mod oauth;
pub mod password;
pub mod permission_stream;
pub mod permissions;
pub mod roles;
pub mod sessions;
pub mod two_factor;
pub mod users;

use salvo::Router;

/// The `/auth` routes, relative to `/api/v1`: those of [`auth`] and the sign-in,
/// password, email, invitation, two-factor, session and permission-stream routes under
/// `/auth` (assembled here, so no route module imports another's router).
pub fn auth_router() -> Router {
    Router::with_path("auth")
        .push(
            Router::with_path("login")
                .post(auth::login)
                .push(two_factor::login_router()),
        )
        .push(password::router())
        .push(email::public_router())
        .push(invitations::public_router())
        .push(Router::with_path("refresh").post(auth::refresh))
        .push(Router::with_path("logout").post(auth::logout))
        .push(Router::with_path("me/permissions/stream").get(permission_stream::permission_stream))
        .push(
            Router::new()
                .hoop(crate::auth::authenticate)
                .hoop(crate::auth::reject_api_keys)
                .push(
                    Router::with_path("me")
                        .get(auth::me)
                        .push(Router::with_path("permissions").get(auth::my_permissions))
                        .push(Router::with_path("menus").get(menus::my_menus))
                        .push(Router::with_path("companies").get(auth::my_companies)),
                )
                .push(Router::with_path("switch-company").post(auth::switch_company))
                .push(Router::with_path("change-password").post(auth::change_password))
                .push(two_factor::own_router())
                .push(sessions::own_router())
                .push(email::own_router()),
        )
}
