//! How jitgate recognises the accounts it created (it never takes over an account it did
//! not create).
//!
//! jitgate writes [`JITGATE_MARKER`] into the user's `employeeType` when it creates the
//! account, and reads it back with `$select=employeeType` before it touches an account found
//! by UPN. Why `employeeType`:
//!
//! * it is a plain v1.0 string property of `user`, set in the same `POST /users` that creates
//!   the account (no second call that a crash could skip), writable and readable with
//!   `User.ReadWrite.All`, and returned whenever it is `$select`ed;
//! * customer admins see it in the Entra admin center as "Employee type", so a JIT account is
//!   recognisable without knowing jitgate;
//! * the alternatives cost more: schema and directory extensions need an extension registered
//!   by an app and break when duplicated (https://github.com/KelvinTegelaar/CIPP/issues/3877); open extensions need a
//!   separate call or `$expand`; `onPremisesExtensionAttributes` are commonly used by the
//!   customer's own tooling and sync.
//!
//! Each account also carries the tag of the technician it belongs to in `employeeId` (a plain
//! v1.0 string property of at most 16 characters, set in the same `POST /users`): one Entra
//! account serves one technician, and an account tagged for another technician is never
//! reused, even when two technicians' names render to the same UPN. Accounts created before
//! tags existed have none and are tied to their technician by jitgate's own records.
//!
//! The marker guards against *adopting* an account; it is not an authenticator. A tenant
//! admin can edit it, which at worst makes jitgate refuse its own account (safe direction).
//! The job layer's stored user id remains the primary link to an account.

/// The value jitgate stores in `employeeType` of every account it creates.
pub const JITGATE_MARKER: &str = "jitgate JIT admin";

/// The user property that carries [`JITGATE_MARKER`].
pub const MARKER_PROPERTY: &str = "employeeType";

/// Whether a user's `employeeType` says jitgate created it.
pub fn is_marked(employee_type: Option<&str>) -> bool {
    employee_type == Some(JITGATE_MARKER)
}
