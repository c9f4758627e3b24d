//! Typed ids: a grant id cannot be passed where a request id is meant. Each is the opaque
//! text jitgate generates (`gnt_…`, `req_…`, `not_…`), stored as that text.

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(id: impl Into<String>) -> Self {
                $name(id.into())
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        stored_as_text!($name, |text| Ok($name(text.to_string())));
    };
}

id_type!(
    /// A grant (`gnt_…`).
    GrantId
);
id_type!(
    /// A JIT request (`req_…`).
    RequestId
);
id_type!(
    /// A ticket note (`not_…`).
    NoteId
);
