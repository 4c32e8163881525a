//! The system permission codenames, as constants: the services check these, the seed
//! creates exactly [`ALL`], and tests and embedders name them without typos.
//!
//! Each `{resource}.{action}` of [`CRUD_RESOURCES`] × read/create/update/delete, then
//! the special ones.

/// Resources with the four CRUD permissions.
pub const CRUD_RESOURCES: [&str; 6] = ["user", "company", "role", "permission", "group", "menu"];

/// `user.read`: see users of a company.
pub const USER_READ: &str = "user.read";
/// `user.create`: create users.
pub const USER_CREATE: &str = "user.create";
/// `user.update`: change users (profile, activation, password reset, 2FA reset).
pub const USER_UPDATE: &str = "user.update";
/// `user.delete`: delete users.
pub const USER_DELETE: &str = "user.delete";
/// `company.read`: see companies.
pub const COMPANY_READ: &str = "company.read";
/// `company.create`: create companies.
pub const COMPANY_CREATE: &str = "company.create";
/// `company.update`: change companies.
pub const COMPANY_UPDATE: &str = "company.update";
/// `company.delete`: delete companies.
pub const COMPANY_DELETE: &str = "company.delete";
/// `role.read`: see roles.
pub const ROLE_READ: &str = "role.read";
/// `role.create`: create roles.
pub const ROLE_CREATE: &str = "role.create";
/// `role.update`: change roles and their permissions.
pub const ROLE_UPDATE: &str = "role.update";
/// `role.delete`: delete roles.
pub const ROLE_DELETE: &str = "role.delete";
/// `permission.read`: see permissions.
pub const PERMISSION_READ: &str = "permission.read";
/// `permission.create`: create permissions.
pub const PERMISSION_CREATE: &str = "permission.create";
/// `permission.update`: change permissions.
pub const PERMISSION_UPDATE: &str = "permission.update";
/// `permission.delete`: delete permissions.
pub const PERMISSION_DELETE: &str = "permission.delete";
/// `group.read`: see groups.
pub const GROUP_READ: &str = "group.read";
/// `group.create`: create groups.
pub const GROUP_CREATE: &str = "group.create";
/// `group.update`: change groups, their members and permissions.
pub const GROUP_UPDATE: &str = "group.update";
/// `group.delete`: delete groups.
pub const GROUP_DELETE: &str = "group.delete";
/// `menu.read`: see the menu entries of a company (everyone sees their own menu).
pub const MENU_READ: &str = "menu.read";
/// `menu.create`: create menu entries.
pub const MENU_CREATE: &str = "menu.create";
/// `menu.update`: change menu entries.
pub const MENU_UPDATE: &str = "menu.update";
/// `menu.delete`: delete menu entries.
pub const MENU_DELETE: &str = "menu.delete";
/// `role.assign`: give users roles and take them away.
pub const ROLE_ASSIGN: &str = "role.assign";
/// `audit.read`: read the audit log.
pub const AUDIT_READ: &str = "audit.read";
/// `cache.manage`: inspect and flush the permission cache.
pub const CACHE_MANAGE: &str = "cache.manage";
/// `apikey.read`: see a company's API keys.
pub const APIKEY_READ: &str = "apikey.read";
/// `apikey.create`: create API keys.
pub const APIKEY_CREATE: &str = "apikey.create";
/// `apikey.revoke`: revoke API keys.
pub const APIKEY_REVOKE: &str = "apikey.revoke";

/// Every system permission, in seeding order.
pub const ALL: [&str; 30] = [
    USER_READ,
    USER_CREATE,
    USER_UPDATE,
    USER_DELETE,
    COMPANY_READ,
    COMPANY_CREATE,
    COMPANY_UPDATE,
    COMPANY_DELETE,
    ROLE_READ,
    ROLE_CREATE,
    ROLE_UPDATE,
    ROLE_DELETE,
    PERMISSION_READ,
    PERMISSION_CREATE,
    PERMISSION_UPDATE,
    PERMISSION_DELETE,
    GROUP_READ,
    GROUP_CREATE,
    GROUP_UPDATE,
    GROUP_DELETE,
    MENU_READ,
    MENU_CREATE,
    MENU_UPDATE,
    MENU_DELETE,
    ROLE_ASSIGN,
    AUDIT_READ,
    CACHE_MANAGE,
    APIKEY_READ,
    APIKEY_CREATE,
    APIKEY_REVOKE,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_every_crud_permission_then_the_special_ones_without_duplicates() {
        let crud: Vec<String> = CRUD_RESOURCES
            .iter()
            .flat_map(|r| ["read", "create", "update", "delete"].map(|a| format!("{r}.{a}")))
            .collect();
        assert_eq!(
            ALL[..24],
            crud.iter().map(String::as_str).collect::<Vec<_>>()[..]
        );
        let mut sorted = ALL.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), ALL.len());
        for c in ALL {
            assert!(crate::domain::Codename::parse(c).is_ok(), "{c}");
        }
    }
}
