//! The [`Fastvue`] builders of [`Roles`] and [`Groups`], kept apart from their modules
//! (`roles.rs`, `groups.rs`) so the handle's file does not import them.
use crate::Fastvue;
use crate::service::groups::Groups;
use crate::service::roles::Roles;

impl Fastvue {
    /// Role administration.
    pub fn roles(&self) -> Roles<'_> {
        Roles { fv: self }
    }

    /// Group administration.
    pub fn groups(&self) -> Groups<'_> {
        Groups { fv: self }
    }
}
