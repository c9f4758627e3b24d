//! The enumerated states of requests, grants, accounts and notes, as types all the way into the
//! database (stored as their text; `CHECK` constraints in the schema admit nothing else).

/// An enum stored as one of a fixed set of texts, on either database.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant,)+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            pub fn parse(text: &str) -> Option<$name> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        stored_as_text!($name, |text| {
            $name::parse(text).ok_or_else(|| format!("{text:?} is not a {}", stringify!($name)))
        });
    };
}

text_enum! {
    /// What a JIT request asks for.
    RequestKind {
        /// Access (a new grant, or an extension of the open one).
        Request = "request",
        /// End the technician's open grant now (`jit.cancelled`).
        Cancel = "cancel",
    }
}

text_enum! {
    /// Where a JIT request stands.
    RequestStatus {
        /// Accepted, its provisioning job not finished.
        Pending = "pending",
        /// A grant was started or extended.
        Provisioned = "provisioned",
        /// Not allowed (unknown technician, no delegation, …); the ticket was told why.
        Refused = "refused",
        /// Allowed but could not be done (Graph refused, retries ran out); the ticket was told.
        Failed = "failed",
        /// A cancellation that was carried out.
        Done = "done",
    }
}

text_enum! {
    /// Where a JIT request came from.
    RequestSource {
        /// A PSA webhook delivery (a ticket's trigger).
        Psa = "psa",
        /// A signed-in technician in the portal (`/portal`), with or without a ticket.
        Portal = "portal",
    }
}

text_enum! {
    /// Why a grant ended.
    EndReason {
        Expired = "expired",
        EndedByAdmin = "ended_by_admin",
        Cancelled = "cancelled",
        DelegationRemoved = "delegation_removed",
        AdminRemoved = "admin_removed",
        TechnicianRemoved = "technician_removed",
        /// The technician lost access while the account was being prepared.
        AccessRemoved = "access_removed",
    }
}

text_enum! {
    /// What happens to a JIT account when its grant ends.
    ExpiryAction {
        /// Keep it, disabled with an unknown password, for the technician's next grant.
        Disable = "disable",
        /// Delete it (it stays in Entra's deleted items for 30 days).
        Delete = "delete",
    }
}

text_enum! {
    /// A JIT account as jitgate last left it.
    AccountState {
        /// No Entra user yet (or forgotten after the customer moved tenants).
        New = "new",
        Active = "active",
        Disabled = "disabled",
        Deleted = "deleted",
    }
}

text_enum! {
    /// What a ticket note says.
    NoteKind {
        Credentials = "credentials",
        Ended = "ended",
        Refused = "refused",
        Failed = "failed",
        EndFailing = "end_failing",
    }
}

text_enum! {
    /// How a browser session was signed in.
    SignInMethod {
        /// A one-time sign-in link (`jitgate admin login-link`).
        Link = "link",
        /// OpenID Connect with the MSP's identity provider.
        Oidc = "oidc",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_round_trip() {
        for kind in EndReason::ALL {
            assert_eq!(EndReason::parse(kind.as_str()), Some(*kind));
            assert_eq!(
                serde_json::to_string(kind).unwrap(),
                format!("\"{}\"", kind.as_str())
            );
        }
        assert_eq!(RequestStatus::parse("nonsense"), None);
    }
}
