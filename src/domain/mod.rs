//! Domain types that parse rather than validate: once built, they are known good.

/// Stores a type as text on either database: `as_str` writes it, `$decode` (a function from the
/// stored text to `Result<Self, String>`) reads it back.
macro_rules! stored_as_text {
    ($name:ident, $decode:expr) => {
        impl<DB: sqlx::Database> sqlx::Type<DB> for $name
        where
            for<'a> &'a str: sqlx::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <&str as sqlx::Type<DB>>::type_info()
            }
            fn compatible(ty: &DB::TypeInfo) -> bool {
                <&str as sqlx::Type<DB>>::compatible(ty)
            }
        }

        impl<'q, DB: sqlx::Database> sqlx::Encode<'q, DB> for $name
        where
            for<'a> &'a str: sqlx::Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut DB::ArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&str as sqlx::Encode<'q, DB>>::encode_by_ref(&self.as_str(), buf)
            }
        }

        impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for $name
        where
            &'r str: sqlx::Decode<'r, DB>,
        {
            fn decode(value: DB::ValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                let text = <&'r str as sqlx::Decode<'r, DB>>::decode(value)?;
                let decode: fn(&str) -> Result<$name, String> = $decode;
                decode(text).map_err(Into::into)
            }
        }
    };
}

pub mod duration;
pub mod ids;
pub mod lifecycle;
pub mod names;
pub mod roles;
pub mod time;
pub mod totp;
