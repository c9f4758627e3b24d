//! Everything jitgate knows about Microsoft Graph and the Entra login endpoint. TODO
